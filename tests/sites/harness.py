"""The sites as real processes in front of the nine real services, in a namespace of their own.

    site = await Storefront.open(platform)       # every service, the demo shop, then the site
    site.url                                      # http://127.0.0.1:<free port>
    office = await BackOffice.open(platform)      # the back-office, in front of the same services

`python -m tools.testenv -- python -m tests.sites.harness` runs both and keeps them up, to look at the
pages in a browser (it prints the URLs and the demo admin's credentials); Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx

from tools.demo_data import ADMIN_EMAIL, ADMIN_PASSWORD
from tools.platform import ROOT, SERVICES, Platform
from tools.processes import free_port, spawn, stop


@dataclass
class Site:
    """A site's process (`python -m sites.<NAME>`) on a free port, in front of the platform's services."""

    NAME: ClassVar[str]
    platform: Platform
    url: str
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def _spawn(cls, platform: Platform, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {**platform.env("profiling"), f"{cls.NAME.upper()}_PORT": str(port), **extra_env}
        env.pop("PROFILING_PORT")
        return spawn([sys.executable, "-m", f"sites.{cls.NAME}"], platform.log_path(cls.NAME), env=env, cwd=ROOT)

    async def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.NAME} exited {self.process.returncode}:\n"
                                         f"{self.platform.tail(self.NAME)}")
                try:
                    if (await client.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.NAME} not ready after {within}s:\n{self.platform.tail(self.NAME)}")

    async def restart(self, **extra_env: str) -> None:
        stop(self.process, grace_seconds=10)
        self.process = self._spawn(self.platform, self.port, **extra_env)
        await self.wait_ready()

    def close(self) -> None:
        stop(self.process, grace_seconds=10)


@dataclass
class Storefront(Site):
    NAME = "storefront"

    @classmethod
    async def open(cls, platform: Platform, *, demo: bool = True, **extra_env: str) -> Storefront:
        await platform.start(*SERVICES, within=240)  # nine processes at once: slow on a busy machine
        port = free_port()
        env = {**platform.env("profiling"), "STOREFRONT_URL": f"http://127.0.0.1:{port}"}
        env.pop("PROFILING_PORT")
        if demo:
            loaded = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "tools.demo_data"], env=env,
                                             cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert loaded.returncode == 0, loaded.stderr or loaded.stdout
        site = cls(platform, f"http://127.0.0.1:{port}", cls._spawn(platform, port, **extra_env), port)
        await site.wait_ready()
        return site


@dataclass
class BackOffice(Site):
    """The back-office, in front of a platform whose services are already up (Storefront.open started them
    and loaded the demo shop, whose admin signs in here)."""

    NAME = "backoffice"

    @classmethod
    async def open(cls, platform: Platform, **extra_env: str) -> BackOffice:
        port = free_port()
        site = cls(platform, f"http://127.0.0.1:{port}", cls._spawn(platform, port, **extra_env), port)
        await site.wait_ready()
        return site


async def _serve() -> None:
    with tempfile.TemporaryDirectory(prefix="storefront-") as run_dir:
        platform = Platform(Path(run_dir), os.environ["KAFKA_BOOTSTRAP"], os.environ["SCHEMA_REGISTRY_URL"],
                            f"s{uuid.uuid4().hex[:8]}")
        site = await Storefront.open(platform)
        office = await BackOffice.open(platform)
        print(f"storefront on {site.url}, back-office on {office.url} (logs in {run_dir})", flush=True)
        print(f"  staff admin: {ADMIN_EMAIL} / {ADMIN_PASSWORD}", flush=True)
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            office.close()
            site.close()
            await platform.close()


if __name__ == "__main__":
    asyncio.run(_serve())
