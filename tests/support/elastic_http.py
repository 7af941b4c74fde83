"""What every Elasticsearch look-alike of the tests answers with: JSON and the
X-Elastic-Product header, without which the official client refuses to talk."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class ElasticHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: dict | None = None) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
