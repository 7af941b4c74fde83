"""The shipped Alertmanager configuration in a real Alertmanager (Debian): notifications reach
Shouwang's intake with the bearer token from the credentials file, grouped per alert and
system, and a system that is down mutes its own probe alerts (only the root cause is sent)."""
from __future__ import annotations

import datetime
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import yaml

from tests.deploy.tools import DEPLOY, alertmanager_server

pytestmark = pytest.mark.slow
TOKEN = "am-intake-token-for-tests-only"


class Intake(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append({"path": self.path,
                              "authorization": self.headers.get("Authorization"),
                              "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def intake():
    Intake.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Intake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], Intake.received
    server.shutdown()
    server.server_close()


def test_root_cause_delivered_with_token_and_symptoms_inhibited(tmp_path, intake):
    port, received = intake
    config = yaml.safe_load((DEPLOY / "alertmanager/alertmanager.yml").read_text())
    token_file = tmp_path / "shouwang_token"
    token_file.write_text(TOKEN + "\n")
    (webhook,) = config["receivers"][0]["webhook_configs"]
    webhook["url"] = webhook["url"].replace("http://shouwang:8700",
                                            f"http://127.0.0.1:{port}")
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    # Test timings: the shipped 10-30 s waits are for people, not for a test.
    for route in [config["route"], *config["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    server = alertmanager_server(path, tmp_path).start()
    try:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        alerts = [
            {"alertname": "ServiceDown", "system": "exam", "severity": "critical"},
            {"alertname": "ProbeFailing", "system": "exam", "severity": "high",
             "target": "https://exam.example/"},
            {"alertname": "ProbeFailing", "system": "portal", "severity": "high",
             "target": "https://portal.example/"},
        ]
        response = httpx.post(f"{server.url}/api/v2/alerts", timeout=5, json=[
            {"labels": labels, "annotations": {"summary": "test"}, "startsAt": now}
            for labels in alerts])
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(received) < 2:
            time.sleep(0.2)
        time.sleep(2)   # room for a wrongly sent symptom to arrive
        delivered = sorted((hook["body"]["groupLabels"]["alertname"],
                            hook["body"]["groupLabels"]["system"]) for hook in received)
        assert delivered == [("ProbeFailing", "portal"), ("ServiceDown", "exam")]
        assert {hook["path"] for hook in received} == {"/api/v1/alertmanager"}
        assert {hook["authorization"] for hook in received} == {f"Bearer {TOKEN}"}
        muted = httpx.get(f"{server.url}/api/v2/alerts", timeout=5, params={
            "filter": ['alertname="ProbeFailing"', 'system="exam"']}).json()
        assert [alert["status"]["state"] for alert in muted] == ["suppressed"]
        assert muted[0]["status"]["inhibitedBy"]
    finally:
        server.stop()
