"""The http prober: one HTTP/1.1 exchange per hop on raw asyncio streams, timed by phase.

Phases as blackbox_exporter reports them, summed over redirects: resolve (name lookup), connect
(TCP handshake), tls (TLS handshake), processing (request sent -> response head read), transfer
(body read). Raw streams rather than an HTTP client library because the phases must be measured
exactly and 1,000 targets every 15 s must cost little CPU.

Failure reasons a person can act on: "connection refused", "status 500 is not valid",
"certificate verify failed: certificate has expired", "body matched 'maintenance'". A certificate
that fails verification fails the probe, and its expiry is still exported (read over a second,
unverified handshake).
"""
from __future__ import annotations

import asyncio
import functools
import ssl
import time
from urllib.parse import urljoin, urlsplit

import re2

from core.events import format_ts
from collectors.probes.result import ProbeResult, ResolveError, error_text, ip_version, resolve
from collectors.probes.settings import HttpOptions, ProbeTarget
from collectors.probes.tls import cert_validity, tls_version_name

PHASES = ("resolve", "connect", "tls", "processing", "transfer")
MAX_HEAD_BYTES = 64 * 1024
USER_AGENT = "Shouwang-probe/0.1"


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str):
    return re2.compile(pattern)


class _Failed(Exception):
    def __init__(self, reason: str, *, regex: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.regex = regex


class _Exchange:
    """What the hops of one probe found out."""

    def __init__(self):
        self.phases = dict.fromkeys(PHASES, 0.0)
        self.status = 0
        self.redirects = 0
        self.ip_protocol = 0
        self.address = None
        self.port = None
        self.tls_version = None
        self.not_after = None
        self.content_length = -1
        self.body = b""
        self.url = ""


def _request(method: str, parts, options: HttpOptions) -> bytes:
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host = parts.netloc.rpartition("@")[2]
    headers = {"Host": host, "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    headers.update(options.headers)
    body = (options.body or "").encode()
    if body or method == "POST":
        headers["Content-Length"] = str(len(body))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or \
            not status_line[1].isdigit():
        raise _Failed(f"not an HTTP response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status_line[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str], limit: int) -> bytes:
    too_big = _Failed(f"body larger than {limit} bytes")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size_line = await reader.readline()
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Failed("malformed chunked body") from None
            if size == 0:
                while (await reader.readline()).strip():
                    pass  # trailers
                return bytes(body)
            if len(body) + size > limit:
                raise too_big
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise _Failed("malformed Content-Length") from None
        if length > limit:
            raise too_big
        return await reader.readexactly(length)
    body = await reader.read(limit + 1)
    while body and len(body) <= limit:
        more = await reader.read(limit + 1 - len(body))
        if not more:
            break
        body += more
    if len(body) > limit:
        raise too_big
    return body


async def _peer_cert_unverified(address: str, port: int, server_name: str, prober) -> bytes | None:
    """The server's certificate over a handshake that does not verify (to export its expiry)."""
    try:
        _, writer = await asyncio.open_connection(
            address, port, ssl=prober.tls_context(None, verify=False), server_hostname=server_name)
    except (OSError, ssl.SSLError):
        return None
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return der


async def _hop(url: str, target: ProbeTarget, found: _Exchange, prober) -> dict[str, str]:
    options = target.http
    parts = urlsplit(url)
    https = parts.scheme == "https"
    if not parts.hostname:
        raise _Failed(f"no host in URL {url!r}")
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        raise _Failed(f"bad port in URL {url!r}") from None
    family, address, took = await resolve(parts.hostname, target.ip_protocol)
    found.phases["resolve"] += took
    found.ip_protocol = ip_version(family)
    found.address, found.port, found.url = address, port, url
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD_BYTES)
    found.phases["connect"] += time.perf_counter() - started
    try:
        if https:
            server_name = options.server_name or parts.hostname
            verify = not options.insecure_skip_verify
            started = time.perf_counter()
            try:
                await writer.start_tls(prober.tls_context(options.ca_file, verify=verify),
                                       server_hostname=server_name)
            except ssl.SSLCertVerificationError as exc:
                found.phases["tls"] += time.perf_counter() - started
                der = await _peer_cert_unverified(address, port, server_name, prober)
                if der:
                    found.not_after = _not_after(der)
                raise _Failed(f"certificate verify failed: {exc.verify_message}") from None
            found.phases["tls"] += time.perf_counter() - started
            ssl_object = writer.get_extra_info("ssl_object")
            found.tls_version = ssl_object.version()
            found.not_after = _not_after(ssl_object.getpeercert(binary_form=True))
        else:
            found.tls_version = None
        started = time.perf_counter()
        writer.write(_request(options.method, parts, options))
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _Failed(f"response head larger than {MAX_HEAD_BYTES} bytes") from None
        found.phases["processing"] += time.perf_counter() - started
        found.status, headers = _parse_head(head)
        started = time.perf_counter()
        if options.method == "HEAD" or found.status in (204, 304) or found.status < 200:
            found.body = b""
        else:
            found.body = await _read_body(reader, headers, options.max_body_bytes)
        found.phases["transfer"] += time.perf_counter() - started
        found.content_length = int(headers["content-length"]) \
            if headers.get("content-length", "").isdigit() else -1
        return headers
    finally:
        writer.close()


def _not_after(der: bytes | None) -> float | None:
    if not der:
        return None
    try:
        return cert_validity(der)[1]
    except ValueError:
        return None


async def probe_http(target: ProbeTarget, prober) -> ProbeResult:
    options = target.http
    result = ProbeResult()
    found = _Exchange()
    url = target.target
    regex_failed = False
    try:
        while True:
            headers = await _hop(url, target, found, prober)
            location = headers.get("location")
            if 300 <= found.status < 400 and options.follow_redirects and location:
                found.redirects += 1
                if found.redirects > options.max_redirects:
                    raise _Failed(f"more than {options.max_redirects} redirects")
                url = urljoin(url, location)
                continue
            break
        valid = options.valid_status_codes
        if (found.status not in valid) if valid else not 200 <= found.status < 300:
            raise _Failed(f"status {found.status} is not valid")
        if options.fail_if_not_ssl and found.tls_version is None:
            raise _Failed("the final response did not come over TLS")
        text = found.body.decode("utf-8", errors="replace")
        for pattern in options.body_must_match:
            if not _regex(pattern).search(text):
                raise _Failed(f"body did not match {pattern!r}", regex=True)
        for pattern in options.body_must_not_match:
            if _regex(pattern).search(text):
                raise _Failed(f"body matched {pattern!r}", regex=True)
        result.success = True
    except _Failed as exc:
        result.fail(exc.reason)
        regex_failed = exc.regex
    except ResolveError as exc:
        result.fail(str(exc))
    except asyncio.IncompleteReadError:
        result.fail("connection closed before the response was complete")
    except ssl.SSLError as exc:
        result.fail(f"TLS handshake failed: {exc.reason or exc}")
    except OSError as exc:
        result.fail(error_text(exc))
    for phase, seconds in found.phases.items():
        result.add("probe_http_duration_seconds", seconds, phase)
    result.add("probe_dns_lookup_time_seconds", found.phases["resolve"])
    result.add("probe_ip_protocol", found.ip_protocol)
    result.add("probe_http_status_code", found.status)
    result.add("probe_http_redirects", found.redirects)
    result.add("probe_http_ssl", 1 if found.tls_version else 0)
    result.add("probe_http_content_length", found.content_length)
    result.add("probe_http_uncompressed_body_length", len(found.body))
    result.add("probe_failed_due_to_regex", 1 if regex_failed else 0)
    if found.tls_version:
        result.add("probe_tls_version_info", 1, tls_version_name(found.tls_version))
    if found.not_after is not None:
        result.add("probe_ssl_earliest_cert_expiry", found.not_after)
    fields = result.fields
    fields["url.full"] = found.url or target.target
    if found.address:
        fields["destination.address"] = found.address
        fields["destination.ip"] = found.address
        fields["destination.port"] = found.port
    if found.status:
        fields["http.response.status_code"] = found.status
    if found.redirects:
        fields["shouwang.probe.redirects"] = found.redirects
    if found.tls_version:
        fields["tls.version"] = tls_version_name(found.tls_version).split()[-1]
        fields["tls.version_protocol"] = "tls"
    if found.not_after is not None:
        fields["tls.server.not_after"] = format_ts(found.not_after)
    for phase, seconds in found.phases.items():
        fields[f"shouwang.probe.http.{phase}.sec"] = round(seconds, 6)
    return result
