"""Building the alerting service from the configuration: the one function the composition
root calls (cli/monitor.py), so the wiring there stays three lines.

    service = build_alerting(settings.alerting, data_dir=..., registry=..., clock=...)
    await service.start()      ...     await service.close()
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from alerting.service import AlertingService
from alerting.settings import AlertingSettings


def build_receivers(settings: AlertingSettings, registry, clock: Callable[[], float],
                    on_deferred: Callable | None = None) -> dict:
    """Every configured receiver, built by the receiver catalog (alerting/receivers).
    `on_deferred(name, ids, error)` hears how rate-limited digests went."""
    from alerting.receivers.base import ReceiverContext
    from alerting.receivers.catalog import build_receiver, receiver_catalog

    ctx = ReceiverContext(registry=registry, clock=clock)
    catalog = receiver_catalog()

    def outcome_of(name: str):
        if on_deferred is None:
            return None
        return lambda ids, error: on_deferred(name, ids, error)

    return {name: build_receiver(name, raw.model_dump(), ctx, catalog=catalog,
                                 on_deferred=outcome_of(name))
            for name, raw in settings.receivers.items()}


def build_alerting(settings: AlertingSettings, *, data_dir: Path, registry,
                   clock: Callable[[], float] = time.time,
                   receivers: dict | None = None) -> AlertingService:
    state_dir = settings.state_path if settings.state_path.is_absolute() else \
        Path(data_dir) / settings.state_path
    service: AlertingService | None = None

    def on_deferred(name: str, ids: list[str], error) -> None:
        if service is not None:
            service.deliverer.deferred_outcome(name, ids, error)

    if receivers is None:
        receivers = build_receivers(settings, registry, clock, on_deferred)
    service = AlertingService(settings, receivers=receivers, state_dir=state_dir,
                              registry=registry, clock=clock)
    return service
