"""The tcp prober: connect, optionally send a line, optionally expect an answer (RE2 pattern).

The answer is read until the pattern matches, the peer closes, `max_read_bytes` arrive, or the
probe's timeout ends it. Fails with "connection refused", "answer did not match ...".
"""
from __future__ import annotations

import asyncio
import time

from collectors.probes.http import _regex
from collectors.probes.result import ProbeResult, ResolveError, error_text, ip_version, resolve
from collectors.probes.settings import ProbeTarget


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """("::1", 53) from "[::1]:53"; ("example.org", 25) from "example.org:25"."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not port:
        if default_port is None:
            raise ValueError(f"no port in {text!r}")
        return host, default_port
    return host, int(port)


async def probe_tcp(target: ProbeTarget, prober) -> ProbeResult:
    options = target.tcp
    result = ProbeResult()
    protocol = 0
    resolve_secs = 0.0
    regex_failed = False
    try:
        host, port = split_host_port(target.target)
        family, address, resolve_secs = await resolve(host, target.ip_protocol)
        protocol = ip_version(family)
        result.fields.update({"destination.address": address, "destination.ip": address,
                              "destination.port": port})
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(address, port)
        result.fields["shouwang.probe.tcp.connect.sec"] = round(time.perf_counter() - started, 6)
        try:
            if options.send is not None:
                writer.write(options.send.encode())
                await writer.drain()
            if options.expect is not None:
                pattern = _regex(options.expect)
                answer = b""
                while not pattern.search(answer.decode("utf-8", errors="replace")):
                    chunk = await reader.read(options.max_read_bytes - len(answer))
                    answer += chunk
                    if not chunk or len(answer) >= options.max_read_bytes:
                        if not pattern.search(answer.decode("utf-8", errors="replace")):
                            regex_failed = True
                            raise ValueError(f"answer did not match {options.expect!r}: "
                                             f"{answer[:80]!r}")
                        break
            result.success = True
        finally:
            writer.close()
    except (ResolveError, ValueError) as exc:
        result.fail(str(exc))
    except OSError as exc:
        result.fail(error_text(exc))
    result.add("probe_dns_lookup_time_seconds", resolve_secs)
    result.add("probe_ip_protocol", protocol)
    if options.expect is not None:
        result.add("probe_failed_due_to_regex", 1 if regex_failed else 0)
    return result
