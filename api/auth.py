"""Who is calling: bearer tokens checked against configured SHA-256 digests, and the route
guards built on them.

Contract:
- A presented token is hashed once and compared with `hmac.compare_digest` against every
  configured digest, without stopping at a match, so timing does not tell which token (or
  whether any) matched.
- 401 (with ``WWW-Authenticate: Bearer``) when no usable token is presented; 403 when the
  token's role lacks the route's permission (api/roles.py). Each failure increments
  ``shouwang_api_auth_failures_total{reason}``; reasons: missing, malformed, invalid_token,
  forbidden_role, no_tokens_configured.
- Loopback clients may call routes guarded with ``loopback_trusted=True`` without a token when
  `ApiSettings.trusted_loopback` is on. With no token configured at all, only those routes and
  /healthz answer, and only to loopback clients.
- Token values are never logged, stored or echoed; logs name the token id at most.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

from fastapi import Request, Security
from fastapi.security import HTTPBearer

from api.errors import ApiError
from api.metrics import ApiMetrics
from api.roles import Permission, Role, allows
from api.settings import ApiSettings
from api.tokens import MIN_TOKEN_CHARS
from core.errors import ConfigError

log = logging.getLogger(__name__)

REALM = 'Bearer realm="shouwang"'

# Declared on guarded routes so OpenAPI shows the scheme; the guard parses the header itself to
# tell a missing token from a malformed one.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="API token (`shouwang token` makes one)")


@dataclass(frozen=True)
class Principal:
    """The caller of a request. `token_id` is None for a trusted loopback client."""

    token_id: str | None
    role: Role | None
    client_ip: str | None

    @property
    def name(self) -> str:
        return self.token_id if self.token_id is not None else "loopback"


@dataclass(frozen=True)
class _Entry:
    token_id: str
    digest: bytes
    role: Role


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


class Authenticator:
    """Maps a presented token to its configured id and role."""

    def __init__(self, settings: ApiSettings):
        self._entries: list[_Entry] = []
        owners: dict[bytes, str] = {}
        for token_id, token in sorted(settings.tokens.items()):
            if token.sha256 is not None:
                digest = bytes.fromhex(token.sha256)
            else:
                value = token.secret.reveal()
                if len(value) < MIN_TOKEN_CHARS:
                    raise ConfigError(f"token is shorter than {MIN_TOKEN_CHARS} characters; "
                                      "make one with `shouwang token`",
                                      key=f"api.tokens.{token_id}.secret")
                digest = hashlib.sha256(value.encode("utf-8")).digest()
            if digest in owners:
                # One value under two ids would make the audit log name the wrong one.
                raise ConfigError(f"same token as {owners[digest]!r}",
                                  key=f"api.tokens.{token_id}")
            owners[digest] = token_id
            self._entries.append(_Entry(token_id, digest, token.role))

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    def identify(self, token: str) -> _Entry | None:
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        match = None
        for entry in self._entries:
            # No early exit: the same work is done whichever entry matches.
            if hmac.compare_digest(presented, entry.digest):
                match = entry
        return match


Guard = Callable[..., Awaitable[Principal]]


class Gatekeeper:
    """Builds the FastAPI dependencies that guard routes."""

    def __init__(self, authenticator: Authenticator, metrics: ApiMetrics, *,
                 trusted_loopback: bool):
        self.authenticator = authenticator
        self.metrics = metrics
        self.trusted_loopback = trusted_loopback

    def _fail(self, request: Request, reason: str, status: int = 401,
              token_id: str | None = None) -> ApiError:
        self.metrics.auth_failures.labels(reason).inc()
        request.state.auth_failure = reason
        client = request.client.host if request.client else None
        log.warning("api auth failure: reason=%s client=%s path=%s token_id=%s",
                    reason, client, request.url.path, token_id or "-")
        if status == 403:
            return ApiError(403, "this token's role may not do that", {"reason": reason},
                            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'})
        messages = {
            "missing": "a bearer token is required",
            "malformed": "the Authorization header must be 'Bearer <token>'",
            "invalid_token": "the token is not valid",
            "no_tokens_configured": "no API tokens are configured; this endpoint is closed "
                                    "(configure api.tokens, see `shouwang token`)",
        }
        header = REALM if reason == "missing" else f'{REALM}, error="invalid_token"'
        return ApiError(401, messages[reason], {"reason": reason},
                        headers={"WWW-Authenticate": header})

    def require(self, permission: Permission, *, loopback_trusted: bool = False) -> Guard:
        """A dependency admitting callers whose role holds `permission` (and, when
        `loopback_trusted`, token-less loopback clients if the settings trust them)."""

        async def guard(request: Request, _=Security(bearer_scheme)) -> Principal:
            client = request.client.host if request.client else None
            header = request.headers.get("authorization")
            if header is None:
                if loopback_trusted and self.trusted_loopback and is_loopback(client):
                    return self._admit(request, Principal(None, None, client))
                if not self.authenticator.configured:
                    raise self._fail(request, "no_tokens_configured")
                raise self._fail(request, "missing")
            if not self.authenticator.configured:
                raise self._fail(request, "no_tokens_configured")
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise self._fail(request, "malformed")
            entry = self.authenticator.identify(token)
            if entry is None:
                raise self._fail(request, "invalid_token")
            if not allows(entry.role, permission):
                request.state.principal = Principal(entry.token_id, entry.role, client)
                raise self._fail(request, "forbidden_role", 403, entry.token_id)
            return self._admit(request, Principal(entry.token_id, entry.role, client))

        guard.__name__ = f"require_{permission.name.lower()}"
        return guard

    def liveness(self) -> Guard:
        """/healthz: anyone once tokens are configured; loopback only while none is."""

        async def guard(request: Request) -> Principal:
            client = request.client.host if request.client else None
            if not self.authenticator.configured and not is_loopback(client):
                raise self._fail(request, "no_tokens_configured")
            return Principal(None, None, client)

        return guard

    @staticmethod
    def _admit(request: Request, principal: Principal) -> Principal:
        request.state.principal = principal
        return principal
