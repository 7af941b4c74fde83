"""Splitting a syslog TCP byte stream into messages (RFC 6587).

Two framings, detected per message: octet counting ("<len> <message>", recognised by a leading
run of 1-9 digits and a space) and newline termination (LF, with an optional CR before it).
A message longer than `max_message_bytes` is cut to that length and flagged as truncated; the
rest of it is skipped, so the connection stays in step and survives.
"""
from __future__ import annotations

import re

_OCTET_HEADER = re.compile(rb"([1-9]\d{0,8}) ")


class Framer:
    def __init__(self, max_message_bytes: int):
        self.max = max_message_bytes
        self._buffer = bytearray()
        self._discard = 0              # bytes of an over-long octet-counted message to skip
        self._skip_to_newline = False  # rest of an over-long newline-framed message

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Messages completed by `data`, each with a 'was truncated' flag."""
        buffer = self._buffer
        buffer += data
        out: list[tuple[bytes, bool]] = []
        while buffer:
            if self._discard:
                dropped = min(self._discard, len(buffer))
                del buffer[:dropped]
                self._discard -= dropped
                continue
            if self._skip_to_newline:
                cut = buffer.find(b"\n")
                if cut < 0:
                    buffer.clear()
                    break
                del buffer[:cut + 1]
                self._skip_to_newline = False
                continue
            if 48 <= buffer[0] <= 57:  # a digit: maybe an octet count
                header = _OCTET_HEADER.match(buffer)
                if header is not None:
                    length = int(header.group(1))
                    start = header.end()
                    keep = min(length, self.max)
                    if len(buffer) < start + keep:
                        break  # wait for the rest
                    message = bytes(buffer[start:start + keep])
                    del buffer[:start + keep]
                    self._discard = length - keep
                    out.append((message.rstrip(b"\r\n"), length > self.max))
                    continue
                if len(buffer) < 10 and buffer.isdigit():
                    break  # the header is still arriving
            cut = buffer.find(b"\n")
            if cut >= 0:
                message = bytes(buffer[:cut])
                del buffer[:cut + 1]
                if message.endswith(b"\r"):
                    message = message[:-1]
                if len(message) > self.max:
                    out.append((message[:self.max], True))
                elif message:
                    out.append((message, False))
                continue
            if len(buffer) > self.max:
                out.append((bytes(buffer[:self.max]), True))
                buffer.clear()
                self._skip_to_newline = True
            break
        return out

    def close(self) -> list[tuple[bytes, bool]]:
        """What is left when the peer closes: an unterminated last message."""
        rest = bytes(self._buffer).rstrip(b"\r\n")
        self._buffer.clear()
        if not rest or self._discard or self._skip_to_newline:
            return []
        return [(rest[:self.max], len(rest) > self.max)]
