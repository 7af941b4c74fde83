"""Helpers for the receiver and template tests (no tests here): sample alerts and
notifications, a context with a fresh prometheus registry, and a real HTTP server on 127.0.0.1
whose handler function answers like the service it stands for."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry

from alerting.model import Alert, AlertState, Notification
from alerting.receivers.base import ReceiverContext

START = 1_764_078_215.713          # 2025-11-25 13:43:35.713 UTC = 21:43:35 in Shanghai


def make_alert(name: str = "SSH brute force", *, severity: str = "critical",
               state: AlertState = AlertState.FIRING, fingerprint: str | None = None,
               labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, ends_at: float | None = None,
               occurrences: int = 42) -> Alert:
    all_labels = {"alertname": name, "severity": severity, "system": "patent-exam",
                  "component": "sshd", "host": "web-1", "source_ip": "203.0.113.7",
                  "technique": "T1110", "tactic": "Credential Access", **(labels or {})}
    all_notes = {"summary": f"{occurrences} failed SSH logins from 203.0.113.7 in 60s",
                 "technique_name": "Brute Force", "root_cause": "weak password policy",
                 "runbook_url": "https://wiki.example.cn/runbooks/ssh-brute-force",
                 "dashboard_url": "https://grafana.example.cn/d/sec?var-host=web-1",
                 **(annotations or {})}
    if state is AlertState.RESOLVED and ends_at is None:
        ends_at = START + 300
    return Alert(fingerprint=fingerprint or f"fp-{name}-{severity}".replace(" ", "_"),
                 labels=all_labels, annotations=all_notes, state=state, starts_at=START,
                 ends_at=ends_at, updated_at=START + 1, occurrences=occurrences,
                 generator_url="http://127.0.0.1:8700/rules/ssh-brute-force")


def make_notification(*alerts: Alert, language: str = "zh", receiver: str = "ops",
                      notification_id: str = "n-1") -> Notification:
    alerts = alerts or (make_alert(),)
    common = {k: v for k, v in alerts[0].labels.items()
              if all(a.labels.get(k) == v for a in alerts)}
    return Notification(
        receiver=receiver, group_key='{}:{alertname="%s"}' % alerts[0].labels["alertname"],
        status="firing" if any(a.is_active for a in alerts) else "resolved",
        group_labels={"alertname": alerts[0].labels["alertname"]}, common_labels=common,
        common_annotations={}, alerts=list(alerts), external_url="http://127.0.0.1:8700",
        notification_id=notification_id, language=language)


def make_context(clock: Callable[[], float] = time.time, **kwargs: Any) -> ReceiverContext:
    return ReceiverContext(registry=CollectorRegistry(), clock=clock, **kwargs)


def metric(ctx: ReceiverContext, name: str, **labels: str) -> float:
    return ctx.registry.get_sample_value(name, labels) or 0.0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, Any]       # (status, JSON-able body or bytes)


@dataclass
class LocalHttpServer:
    """A real HTTP server on 127.0.0.1; ``handler(request) -> (status, body)`` answers."""

    handler: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    delay_secs: float = 0.0

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:      # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                request = Request("POST", parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()},
                                  self.rfile.read(length))
                outer.requests.append(request)
                if outer.delay_secs:
                    time.sleep(outer.delay_secs)
                status, body = outer.handler(request)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass                    # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
