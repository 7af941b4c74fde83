"""Loading the `alerting:` block and checking the references between its sections.

`load_alerting(path)` reads a YAML file whose top level holds `alerting:` (config/alerting.yaml,
or the main configuration), validates it into AlertingSettings and checks references; every
problem is a ConfigError naming file, line and key. `check_references(settings, document,
prefix)` and `check_receivers(...)` are the same checks for a block that was validated as
part of a larger file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from pydantic import create_model, Field

from alerting.settings import AlertingSettings, RouteSettings
from core.configfile import ConfigDocument, load_layers, locate, validate
from core.errors import ConfigError
from core.settings import StrictModel

Loc = tuple


def _routes(route: RouteSettings, loc: Loc) -> Iterator[tuple[RouteSettings, Loc]]:
    yield route, loc
    for index, child in enumerate(route.routes):
        yield from _routes(child, loc + ("routes", index))


def reference_problems(settings: AlertingSettings) -> list[tuple[Loc, str]]:
    """(location inside the block, message) for every name that refers to nothing."""
    problems: list[tuple[Loc, str]] = []

    def need(kind: str, known, name: str, loc: Loc) -> None:
        if name not in known:
            options = ", ".join(sorted(known)) or "none defined"
            problems.append((loc, f"unknown {kind} {name!r} (known: {options})"))

    receivers = settings.receivers
    for route, loc in _routes(settings.route, ("route",)):
        if route.receiver is not None:
            need("receiver", receivers, route.receiver, loc + ("receiver",))
        if route.escalation_policy is not None:
            need("escalation policy", settings.escalation_policies, route.escalation_policy,
                 loc + ("escalation_policy",))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for index, name in enumerate(getattr(route, key)):
                need("time interval", settings.time_intervals, name, loc + (key, index))
    for policy_name, policy in settings.escalation_policies.items():
        for level_index, level in enumerate(policy.levels):
            base = ("escalation_policies", policy_name, "levels", level_index)
            for index, name in enumerate(level.receivers):
                need("receiver", receivers, name, base + ("receivers", index))
            for index, name in enumerate(level.oncall):
                need("oncall schedule", settings.oncall_schedules, name, base + ("oncall", index))
    for schedule_name, schedule in settings.oncall_schedules.items():
        for index, member in enumerate(schedule.rotation):
            need("receiver", receivers, member.receiver,
                 ("oncall_schedules", schedule_name, "rotation", index, "receiver"))
    return problems


def check_references(settings: AlertingSettings, document: ConfigDocument | None,
                     prefix: Loc = ("alerting",)) -> None:
    problems = reference_problems(settings)
    if not problems:
        return
    messages = []
    first = None
    for loc, message in problems:
        full = prefix + loc
        file, line = locate(document.node, full) if document else (None, None)
        key = ".".join(str(part) for part in full)
        messages.append((file or (document.files[0] if document else None), line, key, message))
        first = first or messages[-1]
    text = first[3]
    if len(messages) > 1:
        text += "\n  " + "\n  ".join(f"{f}:{l or '?'} [{k}]: {m}" for f, l, k, m in messages[1:])
    raise ConfigError(text, file=first[0], line=first[1], key=first[2])


def check_receivers(settings: AlertingSettings, document: ConfigDocument | None,
                    prefix: Loc = ("alerting",)) -> None:
    """Each receiver's settings against its type's strict model from the receiver catalog;
    the error is located at the receiver's key."""
    from alerting.receivers.catalog import receiver_catalog, validate_receiver

    catalog = receiver_catalog()
    for name, raw in settings.receivers.items():
        try:
            validate_receiver(name, raw.model_dump(), catalog)
        except ConfigError as exc:
            loc = prefix + tuple(int(p) if p.isdigit() else p
                                 for p in (exc.key or f"receivers.{name}").split("."))
            file, line = locate(document.node, loc) if document else (None, None)
            raise ConfigError(exc.message, file=file or (document.files[0] if document
                                                           else None),
                              line=line, key=".".join(str(p) for p in loc)) from None


_FILE_MODEL = create_model("AlertingFile", __base__=StrictModel,
                           alerting=(AlertingSettings, Field(...)))


def load_alerting(path: str | Path) -> AlertingSettings:
    """The alerting block of a YAML file (and its .local.yaml override), fully checked."""
    document = load_layers(path)
    if "alerting" not in document.data:
        raise ConfigError("no 'alerting:' block", file=str(path), line=1, key="alerting")
    only = ConfigDocument(data={"alerting": document.data["alerting"]}, node=document.node,
                          files=document.files)
    settings = validate(_FILE_MODEL, only).alerting
    check_references(settings, only)
    check_receivers(settings, only)
    return settings
