"""HTTP/1.x request lines and their Host and User-Agent headers, from one TCP payload.

`parse_http_request(buf, start, end)` returns ECS `http.*`, `url.*` and `user_agent.original`
fields, or None when the payload does not begin with a request line. Only what is inside this
one segment is read (a request head split across segments yields what the first part holds);
header values are capped at `MAX_VALUE_CHARS`.
"""
from __future__ import annotations

METHODS = (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT",
           b"TRACE", b"PROPFIND")
# First bytes of the methods: the per-packet test that keeps other payloads cheap.
METHOD_FIRST_BYTES = frozenset(m[0] for m in METHODS)
MAX_HEAD_BYTES = 8192
MAX_VALUE_CHARS = 2048


def parse_http_request(buf, start: int, end: int) -> dict | None:
    head = bytes(buf[start:min(end, start + MAX_HEAD_BYTES)])
    space = head.find(b" ", 0, 10)
    if space < 3 or head[:space] not in METHODS:
        return None
    line_end = head.find(b"\r\n")
    line = head[:line_end] if line_end >= 0 else head
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return None
    method = parts[0].decode("ascii")
    target = parts[1].decode("utf-8", "backslashreplace")[:MAX_VALUE_CHARS]
    fields = {
        "http.request.method": method,
        "http.version": parts[2][5:].decode("ascii", "backslashreplace"),
        "url.original": target,
    }
    if target.startswith(("http://", "https://")):
        scheme, _, rest = target.partition("://")
        authority, slash, path_query = rest.partition("/")
        fields["url.scheme"] = scheme
        fields["url.domain"] = authority.rsplit(":", 1)[0] if authority.count(":") == 1 \
            else authority
        path_query = slash + path_query
    else:
        path_query = target
    path, question, query = path_query.partition("?")
    if method != "CONNECT":
        fields["url.path"] = path
    if question:
        fields["url.query"] = query
    if line_end >= 0:
        for raw in head[line_end + 2:].split(b"\r\n"):
            if not raw:
                break
            name, colon, value = raw.partition(b":")
            if not colon:
                continue
            lowered = name.strip().lower()
            if lowered == b"host":
                host = value.strip().decode("utf-8", "backslashreplace")[:MAX_VALUE_CHARS]
                fields["url.domain"] = _host_without_port(host)
                if host != fields["url.domain"]:
                    port = host.rsplit(":", 1)[1]
                    if port.isdigit():
                        fields["url.port"] = int(port)
            elif lowered == b"user-agent":
                fields["user_agent.original"] = value.strip().decode(
                    "utf-8", "backslashreplace")[:MAX_VALUE_CHARS]
    return fields


def _host_without_port(host: str) -> str:
    if host.startswith("["):  # [v6]:port
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host
