"""The Debian Prometheus tools the deploy tests run, and loopback servers of them.

Binaries come from Debian (deploy/test-packages.txt: prometheus, prometheus-alertmanager); a
missing one skips its tests with the package to install, as the other fixtures do.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.monitor import ROOT, free_port
from tests.support.processes import stop_process

DEPLOY = ROOT / "deploy"
PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus",
            "amtool": "prometheus-alertmanager",
            "prometheus-alertmanager": "prometheus-alertmanager"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package: {PACKAGES[name]})")
    return path


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([tool(name), *args], capture_output=True, text=True, timeout=30,
                          cwd=cwd)


class Server:
    """A Prometheus or Alertmanager process on 127.0.0.1:<free port>, stopped by its PID."""

    def __init__(self, argv: list[str], port: int, log: Path):
        self.argv = argv
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "Server":
        self._log = self.log.open("w")
        self.process = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.argv[0]} exited {self.process.returncode}:\n"
                                     f"{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"{self.argv[0]} not ready in {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        stop_process(self.process)
        if getattr(self, "_log", None):
            self._log.close()


def prometheus_server(config: Path, workdir: Path) -> Server:
    port = free_port()
    return Server([tool("prometheus"), f"--config.file={config}",
                   f"--storage.tsdb.path={workdir / 'prom-data'}",
                   f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                  port, workdir / "prometheus.log")


def alertmanager_server(config: Path, workdir: Path) -> Server:
    port = free_port()
    # --cluster.listen-address= : no gossip port on 0.0.0.0:9094, no HA settle wait.
    return Server([tool("prometheus-alertmanager"), f"--config.file={config}",
                   f"--storage.path={workdir / 'am-data'}",
                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                   "--log.level=warn"], port, workdir / "alertmanager.log")
