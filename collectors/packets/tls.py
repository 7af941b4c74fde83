"""The server name (SNI) and offered versions of a TLS ClientHello, from one TCP payload.

`parse_client_hello(buf, start, end)` returns `tls.*` fields, or None when the payload does
not start with a handshake record holding a ClientHello. Only the first segment is read: a
ClientHello split across segments (rare below ~1400 bytes, but post-quantum key shares make
it common) yields the fields present in that segment. Bounds are checked on every read.
"""
from __future__ import annotations

import struct

TLS_HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_VERSIONS = 0x002B
VERSIONS = {0x0300: "3.0", 0x0301: "1.0", 0x0302: "1.1", 0x0303: "1.2", 0x0304: "1.3"}


def parse_client_hello(buf, start: int, end: int) -> dict | None:
    if end - start < 48 or buf[start] != TLS_HANDSHAKE or buf[start + 5] != CLIENT_HELLO:
        return None
    data = bytes(buf[start:end])
    try:
        (record_len,) = struct.unpack_from("!H", data, 3)
        limit = min(len(data), 5 + record_len)
        pos = 9  # record header (5) + handshake type and length (4)
        (legacy_version,) = struct.unpack_from("!H", data, pos)
        pos += 2 + 32                              # version, random
        pos += 1 + data[pos]                       # session id
        (suites_len,) = struct.unpack_from("!H", data, pos)
        pos += 2 + suites_len
        pos += 1 + data[pos]                       # compression methods
        fields: dict = {"tls.version_protocol": "tls",
                        "tls.version": VERSIONS.get(legacy_version, f"{legacy_version:#06x}")}
        if pos + 2 > limit:
            return fields
        (ext_total,) = struct.unpack_from("!H", data, pos)
        pos += 2
        ext_end = min(limit, pos + ext_total)
        while pos + 4 <= ext_end:
            ext_type, ext_len = struct.unpack_from("!HH", data, pos)
            body = pos + 4
            if ext_type == EXT_SERVER_NAME and body + 5 <= ext_end:
                name_type, name_len = struct.unpack_from("!BH", data, body + 2)
                if name_type == 0 and body + 5 + name_len <= ext_end:
                    fields["tls.client.server_name"] = data[body + 5:body + 5 + name_len].decode(
                        "ascii", "backslashreplace")
            elif ext_type == EXT_SUPPORTED_VERSIONS and body + 1 <= ext_end:
                count = data[body] // 2
                offered = [struct.unpack_from("!H", data, body + 1 + 2 * i)[0]
                           for i in range(count) if body + 3 + 2 * i <= ext_end]
                known = [v for v in offered if v in VERSIONS]
                if known:
                    # Not an ECS field; the negotiated version is at most the highest offered.
                    fields["shouwang.tls.client.supported_versions"] = [VERSIONS[v] for v in known]
                    fields["tls.version"] = VERSIONS[max(known)]
            pos = body + ext_len
        return fields
    except (struct.error, IndexError):
        return None
