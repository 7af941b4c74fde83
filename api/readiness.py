"""Readiness: is this process able to do its job right now?

Contract:
- Ready means every check is ok: the store answers `ping()` (always checked) and every
  check the injected `readiness` callable reports (the application passes
  `pipeline_readiness(pipeline)`, which reports each source).
- The injected callable returns ``{name: bool | {"ok": bool, "detail": str, ...}}``.
- Each check is bounded by a timeout; a check that raises or times out is not ok, and its
  detail says why. Nothing here raises.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from storage.base import Store

Readiness = Callable[[], Awaitable[dict]]


def _normalize(value) -> dict:
    if isinstance(value, dict):
        check = dict(value)
        check["ok"] = bool(check.get("ok"))
        return check
    return {"ok": bool(value)}


async def _store_check(store: Store, timeout_secs: float) -> dict:
    try:
        ok = await asyncio.wait_for(store.ping(), timeout_secs)
    except TimeoutError:
        return {"ok": False, "detail": f"ping took longer than {timeout_secs:g}s"}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    check = {"ok": bool(ok), "backend": getattr(store, "name", type(store).__name__)}
    if not ok:
        check["detail"] = "ping failed"
    return check


async def run_checks(store: Store, readiness: Readiness | None,
                     timeout_secs: float) -> tuple[bool, dict[str, dict]]:
    checks = {"store": await _store_check(store, timeout_secs)}
    if readiness is not None:
        try:
            reported = await asyncio.wait_for(readiness(), timeout_secs)
        except TimeoutError:
            reported = {"readiness": {"ok": False,
                                      "detail": f"took longer than {timeout_secs:g}s"}}
        except Exception as exc:
            reported = {"readiness": {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}}
        for name, value in reported.items():
            checks[str(name)] = _normalize(value)
    return all(check["ok"] for check in checks.values()), checks


def pipeline_readiness(pipeline) -> Readiness:
    """Readiness of a `core.pipeline.Pipeline`: one check per source, ok while it runs."""

    async def check() -> dict:
        result = {}
        for source_id, state in pipeline.states.items():
            entry = {"ok": bool(state.running)}
            if state.error:
                entry["detail"] = state.error
            elif not state.running:
                entry["detail"] = "not running"
            result[f"source:{source_id}"] = entry
        return result

    return check
