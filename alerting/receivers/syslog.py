"""Syslog receiver (`type: syslog`): one RFC 5424 message per alert, to a SOC's collector.

    <PRI>1 TIMESTAMP HOSTNAME shouwang - firing [shouwang@32473 alertname="..." ...] BOM msg

- PRI = facility * 8 + severity; our classes map to syslog severities critical -> 2 (crit),
  high -> 3 (err), medium -> 4 (warning), low -> 5 (notice); a resolved alert is 6 (info).
- MSGID is the alert status (firing/resolved). STRUCTURED-DATA holds the alert: status,
  fingerprint, startsAt/endsAt (RFC 3339 UTC), occurrences, then every label (names cut to
  RFC 5424's 32 printable characters, values escaped: ``\\``, ``"``, ``]``). The default SD-ID
  uses 32473, the example enterprise number of RFC 5612; set your organisation's own.
- MSG is the summary (or the rule name), UTF-8 with a BOM as RFC 5424 asks.
- Transports (``SyslogTransport.send(frames)``): UDP (RFC 5426, one datagram per message,
  ``max_message_bytes`` default 2048, the size RFC 5426 says receivers should accept), TCP
  with octet-counting framing (RFC 6587: ``LEN SP MSG``), optionally TLS (RFC 5425, port
  6514) with a verified certificate. Messages longer than the limit lose the end of MSG first,
  cut on a UTF-8 boundary.
Errors: connection failures and timeouts are retryable (a collector restarting); a TLS
verification failure is not.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pydantic import Field, model_validator

from alerting.model import Alert, Notification
from alerting.receivers.base import (DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS, ReceiverContext,
                                     ReceiverError)
from alerting.receivers.im import truncate_utf8
from alerting.receivers.webhook import rfc3339
from core.settings import StrictModel

FACILITIES = {name: code for code, name in enumerate(
    ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
     "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
     "local3", "local4", "local5", "local6", "local7"))}
SEVERITY_CODES = {"critical": 2, "high": 3, "medium": 4, "low": 5}
RESOLVED_CODE = 6
DEFAULT_UDP_MAX_BYTES = 2048
DEFAULT_TCP_MAX_BYTES = 65536
BOM = "\ufeff"


class SyslogSettings(StrictModel):
    type: Literal["syslog"] = "syslog"
    host: str = Field(min_length=1)
    port: int = Field(514, ge=1, le=65535)
    protocol: Literal["udp", "tcp"] = "udp"
    tls: bool = Field(False, description="TLS over TCP (RFC 5425); verified certificate")
    ca_file: Path | None = None
    facility: Literal[tuple(FACILITIES)] = "local0"  # type: ignore[valid-type]
    app_name: str = Field("shouwang", pattern=r"^[!-~]{1,48}$")
    hostname: str | None = Field(None, pattern=r"^[!-~]{1,255}$",
                                 description="HOSTNAME field; default: this machine's name")
    sd_id: str = Field("shouwang@32473", pattern=r"^[!#-<>-\\^-~]{1,32}$",
                       description="SD-ID name@<your private enterprise number>")
    max_message_bytes: int | None = Field(None, ge=480, le=1_048_576,
                                          description="default 2048 (udp), 65536 (tcp)")
    send_resolved: bool = True
    timeout_secs: float = Field(DEFAULT_TIMEOUT_SECS, gt=0, le=MAX_TIMEOUT_SECS)

    @model_validator(mode="after")
    def _tls_needs_tcp(self):
        if self.tls and self.protocol != "tcp":
            raise ValueError("tls needs protocol: tcp")
        return self


def _sd_name(name: str) -> str:
    cleaned = "".join(ch for ch in name if "!" <= ch <= "~" and ch not in '= ]"')
    return cleaned[:32] or "_"


def _sd_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(alert: Alert, settings: SyslogSettings, *, hostname: str, now: float,
                   max_bytes: int) -> bytes:
    """One RFC 5424 message (without transport framing)."""
    status = "firing" if alert.is_active else "resolved"
    code = SEVERITY_CODES.get(alert.severity, 5) if status == "firing" else RESOLVED_CODE
    pri = FACILITIES[settings.facility] * 8 + code
    params = {"status": status, "fingerprint": alert.fingerprint,
              "startsAt": rfc3339(alert.starts_at), "occurrences": alert.occurrences}
    if not alert.is_active and alert.ends_at is not None:
        params["endsAt"] = rfc3339(alert.ends_at)
    for name, value in sorted(alert.labels.items()):
        params.setdefault(_sd_name(name), value)
    structured = "[" + settings.sd_id + "".join(
        f' {name}="{_sd_value(value)}"' for name, value in params.items()) + "]"
    header = f"<{pri}>1 {rfc3339(now)} {hostname} {settings.app_name} - {status} {structured}"
    text = alert.annotations.get("summary") or alert.labels.get("alertname", "")
    head = header.encode("utf-8") + b" "
    if len(head) > max_bytes:
        return truncate_utf8(header, max_bytes).encode("utf-8")
    room = max_bytes - len(head)
    return head + truncate_utf8(BOM + " ".join(text.split()), room).encode("utf-8")


@runtime_checkable
class SyslogTransport(Protocol):
    async def send(self, frames: list[bytes]) -> None: ...


class SyslogTransportError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        self.retryable = retryable
        super().__init__(message)


class UdpTransport:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    async def send(self, frames: list[bytes]) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, remote_addr=(self.host, self.port))
        except OSError as exc:
            raise SyslogTransportError(f"UDP {self.host}:{self.port}: {exc.strerror or exc}",
                                       retryable=True) from None
        try:
            for frame in frames:
                transport.sendto(frame)
        finally:
            transport.close()


class TcpTransport:
    """One connection per send, octet-counted frames, closed after the last byte drained."""

    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None, timeout_secs: float):
        self.host, self.port, self.tls, self.timeout_secs = host, port, tls, timeout_secs

    async def send(self, frames: list[bytes]) -> None:
        payload = b"".join(str(len(frame)).encode() + b" " + frame for frame in frames)
        try:
            await asyncio.wait_for(self._deliver(payload), self.timeout_secs)
        except asyncio.TimeoutError:
            raise SyslogTransportError(f"TCP {self.host}:{self.port}: timed out after "
                                       f"{self.timeout_secs:g}s", retryable=True) from None
        except ssl.SSLCertVerificationError as exc:
            raise SyslogTransportError(f"TLS {self.host}:{self.port}: {exc.verify_message}",
                                       retryable=False) from None
        except OSError as exc:
            raise SyslogTransportError(f"TCP {self.host}:{self.port}: {exc.strerror or exc}",
                                       retryable=True) from None

    async def _deliver(self, payload: bytes) -> None:
        reader, writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.tls, server_hostname=self.host if self.tls else None)
        try:
            writer.write(payload)
            await writer.drain()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass       # the bytes were drained; a reset on close loses nothing


class SyslogReceiver:
    type = "syslog"

    def __init__(self, name: str, settings: SyslogSettings, ctx: ReceiverContext,
                 transport: SyslogTransport | None = None):
        self.name = name
        self.settings = settings
        self._clock = ctx.clock
        self._hostname = settings.hostname or (socket.gethostname() or "-")
        self._max_bytes = settings.max_message_bytes or (
            DEFAULT_UDP_MAX_BYTES if settings.protocol == "udp" else DEFAULT_TCP_MAX_BYTES)
        self._transport = transport or self._default_transport()

    def _default_transport(self) -> SyslogTransport:
        s = self.settings
        if s.protocol == "udp":
            return UdpTransport(s.host, s.port)
        tls = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None) \
            if s.tls else None
        return TcpTransport(s.host, s.port, tls=tls, timeout_secs=s.timeout_secs)

    async def send(self, notification: Notification) -> None:
        now = self._clock()
        frames = [format_message(alert, self.settings, hostname=self._hostname, now=now,
                                 max_bytes=self._max_bytes)
                  for alert in notification.alerts
                  if self.settings.send_resolved or alert.is_active]
        if not frames:
            return
        try:
            await self._transport.send(frames)
        except SyslogTransportError as exc:
            raise ReceiverError(self.name, str(exc), retryable=exc.retryable) from None


def build(name: str, settings: SyslogSettings, ctx: ReceiverContext) -> SyslogReceiver:
    return SyslogReceiver(name, settings, ctx)
