"""A real nginx (Debian package) on 127.0.0.1 for attack-tool tests: a temp prefix and config,
access and error logs in the temp dir, HTTP basic auth on /protected/ (htpasswd file), a
parameterised page /item?id= and static pages. Started in the foreground (`daemon off`) as our
child, stopped by its pid."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.monitor import free_port
from tests.support.processes import stop_process

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
USER = "admin"
PASSWORD = "Correct-Horse-7"

CONFIG = """\
{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 512; }}
http {{
  access_log {prefix}/logs/access.log combined;
  client_body_temp_path {prefix}/tmp/body;
  proxy_temp_path {prefix}/tmp/proxy;
  fastcgi_temp_path {prefix}/tmp/fastcgi;
  uwsgi_temp_path {prefix}/tmp/uwsgi;
  scgi_temp_path {prefix}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {prefix}/html;
    location /protected/ {{
      auth_basic "examiners";
      auth_basic_user_file {prefix}/htpasswd;
    }}
    location /item {{ default_type text/plain; return 200 "item $arg_id\\n"; }}
    location /search {{ default_type text/plain; return 200 "results for $arg_q\\n"; }}
  }}
}}
"""


class Nginx:
    """nginx serving under `prefix` on a free port; `access_log`, `error_log`, `url`."""

    def __init__(self, prefix: Path):
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = prefix / "logs" / "access.log"
        self.error_log = prefix / "logs" / "error.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "Nginx":
        for sub in ("logs", "tmp", "html/protected"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        (self.prefix / "html" / "index.html").write_text("<h1>CNIPA test portal</h1>\n")
        (self.prefix / "html" / "protected" / "index.html").write_text("examiner area\n")
        subprocess.run(["htpasswd", "-bcB", str(self.prefix / "htpasswd"), USER, PASSWORD],
                       check=True, capture_output=True, timeout=30)
        # as root, workers would drop to "nobody" and could not read a 0700 temp dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = self.prefix / "nginx.conf"
        conf.write_text(CONFIG.format(user=user, prefix=self.prefix, port=self.port))
        self.access_log.touch()
        self.error_log.touch()
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"nginx exited: {self.process.stderr.read().decode()}")
            try:
                httpx.get(self.url + "/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("nginx did not answer within 10 s")

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
