"""Debian's Chromium driven by Playwright (never a browser Playwright downloads), and where the
screenshots of the sites' tests go (kept as test artifacts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic"]
SCREENSHOTS = Path(os.environ.get("SITES_SCREENSHOTS", Path(__file__).resolve().parents[2] / ".run" / "screenshots"))
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def launch_options() -> dict[str, Any]:
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}
