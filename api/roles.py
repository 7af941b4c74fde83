"""Roles and what each may do: the one table the API consults (MLPS separation of duties).

Roles: system_admin, security_admin and audit_admin are the three MLPS administrator duties;
operator reads only; agent is a machine role that may only ship events. Routes ask for a
`Permission`, never for a role, so changing who may do what is an edit of `GRANTS` alone.
"""
from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    SYSTEM_ADMIN = "system_admin"
    SECURITY_ADMIN = "security_admin"
    AUDIT_ADMIN = "audit_admin"
    OPERATOR = "operator"
    AGENT = "agent"


class Permission(str, Enum):
    EVENTS_READ = "events:read"
    INGEST = "events:ingest"
    # Operational endpoints (/readyz, /metrics) and the API description.
    MONITOR_READ = "monitor:read"
    # Alerts, silences, maintenance windows, on-call (api/alerts_routes.py).
    ALERTS_READ = "alerts:read"
    ALERTS_MANAGE = "alerts:manage"


_HUMANS = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN, Role.OPERATOR})

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.EVENTS_READ: _HUMANS,
    Permission.INGEST: frozenset({Role.AGENT, Role.SYSTEM_ADMIN}),
    Permission.MONITOR_READ: _HUMANS,
    Permission.ALERTS_READ: _HUMANS,
    Permission.ALERTS_MANAGE: frozenset({Role.SECURITY_ADMIN, Role.SYSTEM_ADMIN}),
}


ROLES: frozenset[str] = frozenset(role.value for role in Role)


def allows(role: Role, permission: Permission) -> bool:
    return role in GRANTS.get(permission, frozenset())
