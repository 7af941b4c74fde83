"""The path ops staff depend on, through the real command: a service goes down -> the probe
fails -> a fault finding -> one alert -> DingTalk and e-mail, each delivered once; the monitor
is restarted in the middle of the outage and neither loses nor repeats anything; the service
comes back -> one resolved notification on each channel."""
from __future__ import annotations

import email
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.alerting.test_receivers_im import SECRET, TOKEN, dingtalk_answer
from tests.alerting.test_receivers_support import LocalHttpServer
from tests.support.monitor import SHOUWANG, MonitorProcess, free_port, write_config

pytestmark = pytest.mark.slow


class Portal:
    """The monitored service: an HTTP server that can be stopped and started on its port."""

    def __init__(self):
        self.port = free_port()
        self.server = None

    def start(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.timeout(120)
def test_outage_pages_once_survives_a_restart_and_resolves(tmp_path):
    portal = Portal()
    portal.start()
    dingtalk = LocalHttpServer(dingtalk_answer)
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    config = write_config(
        tmp_path / "shouwang.yaml", data_dir=tmp_path / "var", port=port,
        sources={"portal_probe": {"type": "probes", "interval_secs": 0.3, "timeout_secs": 1,
                                  "targets": [{"module": "http",
                                               "target": f"http://127.0.0.1:{portal.port}/",
                                               "labels": {"system": "public-portal"}}]}},
        detection={"tick_secs": 0.2},
        alerting={
            "tick_secs": 0.1,
            "route": {"receiver": "ops-dingtalk", "group_by": ["alertname", "system"],
                      "group_wait_secs": 0, "group_interval_secs": 1,
                      "repeat_interval_secs": 3600,
                      "routes": [{"matchers": ['system="public-portal"'],
                                  "receiver": "ops-dingtalk", "continue": True},
                                 {"matchers": ['system="public-portal"'],
                                  "receiver": "ops-mail"}]},
            "receivers": {
                "ops-dingtalk": {"type": "dingtalk", "url": dingtalk.url + "/robot/send",
                                 "access_token": "env:DING_TOKEN", "secret": "env:DING_SECRET"},
                "ops-mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port,
                             "security": "none", "from_address": "shouwang@ipo.example.cn",
                             "to": ["ops@ipo.example.cn"]},
            },
        })
    argv = [SHOUWANG, "run", "--config", str(config)]
    env = {"DING_TOKEN": TOKEN, "DING_SECRET": SECRET}
    accepted = lambda: [r for r in dingtalk.requests if "sign" in r.query]  # noqa: E731
    monitor = MonitorProcess(argv, port, env=env)
    try:
        monitor.start()
        time.sleep(2)
        assert not dingtalk.requests and not mailbox.messages, "alert while the portal is up"

        portal.stop()
        outage = time.monotonic()
        wait_until(lambda: accepted() and mailbox.messages, 15, "the outage notifications")
        print(f"\noutage -> DingTalk and mail in {time.monotonic() - outage:.1f} s")
        firing = accepted()[0].json()["markdown"]
        assert "告警" in firing["title"] and "public-portal" in firing["text"]
        assert "public-portal" in mailbox.messages[0]["Subject"] + \
            mailbox.messages[0].get_body(("plain",)).get_content()

        monitor.stop()          # restart in the middle of the outage
        monitor = MonitorProcess(argv, port, env=env).start()
        time.sleep(3)
        assert len(accepted()) == 1, "the restart repeated the DingTalk notification"
        assert len(mailbox.messages) == 1, "the restart repeated the mail"

        portal.start()
        wait_until(lambda: len(accepted()) >= 2 and len(mailbox.messages) >= 2, 20,
                   "the resolved notifications")
        time.sleep(1.5)
        assert len(accepted()) == 2 and len(mailbox.messages) == 2
        assert "已恢复" in accepted()[1].json()["markdown"]["title"]
    finally:
        monitor.stop()
        dingtalk.close()
        smtp.stop()
