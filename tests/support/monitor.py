"""Start a real `shouwang run` process for end-to-end tests, and talk to its API."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
SHOUWANG = str(Path(sys.executable).parent / "shouwang")
TEST_TOKEN = "test-token-for-e2e-only-0123456789"


def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1") -> int:
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_config(path: Path, *, data_dir: Path, port: int, sources: dict, **extra) -> Path:
    config = {
        "node": {"name": "e2e-host", "data_dir": str(data_dir)},
        "api": {"host": "127.0.0.1", "port": port,
                "tokens": {"e2e": {"role": "system_admin",
                                   "sha256": hashlib.sha256(TEST_TOKEN.encode()).hexdigest()}}},
        "store": {"type": "sqlite"},
        "pipeline": {"batch_max_events": 1000, "batch_max_wait_secs": 0.05},
        "sources": sources,
        **extra,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class MonitorProcess:
    """`shouwang run` (or any command line that starts it, such as `make run`)."""

    def __init__(self, argv: list[str], port: int, *, cwd: Path = ROOT, env=None):
        self.argv = argv
        self.port = port
        self.cwd = cwd
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None
        self.output_path = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "MonitorProcess":
        self._output = open(self._log_file(), "w")
        # A session of its own, so that `make` and its child are signalled together.
        self.process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env,
                                        stdout=self._output, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"shouwang exited with {self.process.returncode}:\n"
                                     f"{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/healthz did not answer within {timeout}s:\n{self.output()}")

    def _log_file(self):
        import tempfile

        handle = tempfile.NamedTemporaryFile(prefix="shouwang-e2e-", suffix=".log", delete=False)
        self.output_path = handle.name
        handle.close()
        return self.output_path

    def output(self) -> str:
        return Path(self.output_path).read_text(errors="replace") if self.output_path else ""

    def api(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10,
                         headers={"Authorization": f"Bearer {TEST_TOKEN}"})

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
