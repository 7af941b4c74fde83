"""HTTP for receivers: a one-method transport, its httpx implementation, and status handling.

    HttpTransport.post(url, body=, headers=, timeout_secs=) -> HttpReply   (the whole interface)
    HttpxTransport        the default: httpx.AsyncClient, TLS verified (optionally against a CA
                          file), no redirects, no proxies from the environment, bounded reply
    post_json(...)        JSON POST + the status rules every HTTP receiver shares:
                          2xx ok; 408, 429, 5xx and transport failures retryable; other 4xx not

A transport raises HttpTransportError for anything below HTTP (connect, TLS, timeout); it never
sees receiver names, so post_json turns failures into ReceiverError with a masked URL.
"""
from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

import httpx
from pydantic import Field

from alerting.receivers.base import (DEFAULT_TIMEOUT_SECS, MAX_TIMEOUT_SECS, ReceiverContext,
                                     ReceiverError, mask_url)
from core.settings import StrictModel

USER_AGENT = "Shouwang-Alerting/0.1"
MAX_REPLY_BYTES = 64 * 1024      # robot and webhook answers are tiny; never buffer a huge one
RETRYABLE_STATUS = frozenset((408, 429))


class HttpSettings(StrictModel):
    """Fields every HTTP receiver has."""

    timeout_secs: float = Field(DEFAULT_TIMEOUT_SECS, gt=0, le=MAX_TIMEOUT_SECS,
                                description="limit for one request, connect to last byte")
    ca_file: Path | None = Field(None, description="CA bundle that signed the server's "
                                 "certificate (default: the system's CAs)")


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def snippet(self) -> str:
        return self.body[:200].decode("utf-8", "replace")


class HttpTransportError(Exception):
    """The request did not get an HTTP answer (connect, TLS, timeout)."""


@runtime_checkable
class HttpTransport(Protocol):
    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str],
                   timeout_secs: float) -> HttpReply: ...


class HttpxTransport:
    """The default transport. One connection pool per receiver; ``aclose()`` releases it."""

    def __init__(self, ca_file: Path | None = None):
        # Verification is always on; a private CA is added, never a switch to turn it off.
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._client = httpx.AsyncClient(verify=verify, follow_redirects=False, trust_env=False)

    async def post(self, url: str, *, body: bytes, headers: Mapping[str, str],
                   timeout_secs: float) -> HttpReply:
        try:
            async with self._client.stream("POST", url, content=body, headers=dict(headers),
                                           timeout=httpx.Timeout(timeout_secs)) as response:
                received = bytearray()
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) >= MAX_REPLY_BYTES:
                        break
                return HttpReply(response.status_code, bytes(received[:MAX_REPLY_BYTES]))
        except httpx.TimeoutException:
            raise HttpTransportError(f"timed out after {timeout_secs:g}s") from None
        except httpx.TransportError as exc:
            raise HttpTransportError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


async def post_json(transport: HttpTransport, receiver: str, url: str, payload: Any, *,
                    timeout_secs: float, headers: Mapping[str, str] | None = None) -> HttpReply:
    """POST ``payload`` as UTF-8 JSON; raise ReceiverError per the module's status rules."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   **(headers or {})}
    try:
        reply = await transport.post(url, body=body, headers=all_headers,
                                     timeout_secs=timeout_secs)
    except HttpTransportError as exc:
        raise ReceiverError(receiver, f"POST {mask_url(url)}: {mask_url(str(exc))}",
                            retryable=True) from None
    if 200 <= reply.status < 300:
        return reply
    retryable = reply.status >= 500 or reply.status in RETRYABLE_STATUS
    raise ReceiverError(receiver, f"POST {mask_url(url)} answered {reply.status}: "
                        f"{mask_url(reply.snippet())}", retryable=retryable, status=reply.status)


class HttpReceiver:
    """Base of the HTTP receivers: a name, settings, a transport, and closing what it owns."""

    type = "http"

    def __init__(self, name: str, settings: HttpSettings, ctx: ReceiverContext):
        self.name = name
        self.settings = settings
        self.clock = ctx.clock
        # An injected transport is shared by every receiver; only our own one is closed here.
        self._owns_transport = ctx.http is None
        self.transport: HttpTransport = ctx.http or HttpxTransport(settings.ca_file)

    async def aclose(self) -> None:
        if self._owns_transport:
            await self.transport.aclose()  # type: ignore[attr-defined]
