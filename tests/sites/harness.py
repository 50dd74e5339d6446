"""The storefront as a real process in front of the nine real services, in a namespace of its own.

    site = await Storefront.open(platform)       # every service, the demo shop, then the site
    site.url                                      # http://127.0.0.1:<free port>

`python -m tools.testenv -- python -m tests.sites.harness` runs the same and keeps it up, to look at
the pages in a browser (it prints the URL); Ctrl-C stops it.
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

import httpx

from tools.platform import ROOT, SERVICES, Platform
from tools.processes import free_port, spawn, stop


@dataclass
class Storefront:
    platform: Platform
    url: str
    process: subprocess.Popen[bytes]
    port: int

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

    @staticmethod
    def _spawn(platform: Platform, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
        env = {**platform.env("profiling"), "STOREFRONT_PORT": str(port), **extra_env}
        env.pop("PROFILING_PORT")
        return spawn([sys.executable, "-m", "sites.storefront"], platform.log_path("storefront"), env=env, cwd=ROOT)

    async def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"storefront exited {self.process.returncode}:\n"
                                         f"{self.platform.tail('storefront')}")
                try:
                    if (await client.get(f"{self.url}/healthz", timeout=1)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"storefront not ready after {within}s:\n{self.platform.tail('storefront')}")

    async def restart(self, **extra_env: str) -> None:
        stop(self.process, grace_seconds=10)
        self.process = self._spawn(self.platform, self.port, **extra_env)
        await self.wait_ready()

    def close(self) -> None:
        stop(self.process, grace_seconds=10)


async def _serve() -> None:
    with tempfile.TemporaryDirectory(prefix="storefront-") as run_dir:
        platform = Platform(Path(run_dir), os.environ["KAFKA_BOOTSTRAP"], os.environ["SCHEMA_REGISTRY_URL"],
                            f"s{uuid.uuid4().hex[:8]}")
        site = await Storefront.open(platform)
        print(f"storefront on {site.url} (logs in {run_dir})", flush=True)
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            site.close()
            await platform.close()


if __name__ == "__main__":
    asyncio.run(_serve())
