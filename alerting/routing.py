"""The routing tree, with Alertmanager's semantics.

- An alert enters at the root (which matches everything) and descends: the first child whose
  matchers all match takes it, and the search stops there unless that child has `continue`.
- A node whose children took nothing is itself the match, so every alert gets at least one
  route (the root's receiver is the default).
- receiver, group_by, the three timers and escalation_policy are inherited from the parent when
  unset; mute/active time intervals are not (as in Alertmanager).
- group_by ['...'] groups by every label (no grouping): `group_by` is then None here.
- Route keys look like Alertmanager's (`{}/{severity="critical"}`) and prefix group keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from alerting.matchers import Matcher, parse_matchers
from alerting.settings import (DEFAULT_GROUP_INTERVAL_SECS, DEFAULT_GROUP_WAIT_SECS,
                               DEFAULT_REPEAT_INTERVAL_SECS, RouteSettings)


@dataclass(eq=False)
class Route:
    key: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...] | None
    group_wait_secs: float
    group_interval_secs: float
    repeat_interval_secs: float
    continue_: bool
    escalation_policy: str | None
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: list["Route"] = field(default_factory=list)

    def match(self, labels: Mapping[str, str]) -> list["Route"]:
        """Routes that take an alert with `labels` (assumes this node already matched)."""
        found: list[Route] = []
        for child in self.routes:
            if all(matcher.matches(labels) for matcher in child.matchers):
                found.extend(child.match(labels))
                if not child.continue_:
                    break
        return found or [self]

    def walk(self):
        yield self
        for child in self.routes:
            yield from child.walk()


def build_route(settings: RouteSettings, parent: Route | None = None, index: int = 0) -> Route:
    matchers = parse_matchers(settings.matchers)
    inherit = (lambda name, default: getattr(settings, name) if getattr(settings, name)
               is not None else (getattr(parent, name) if parent else default))
    group_by_setting = settings.group_by
    if group_by_setting is None:
        group_by = parent.group_by if parent else ()
    elif "..." in group_by_setting:
        group_by = None
    else:
        group_by = tuple(group_by_setting)
    matcher_text = ", ".join(str(m) for m in matchers)
    if parent is None:
        key = "{}"
    else:
        # The index keeps siblings with equal matchers apart (Alertmanager does the same).
        key = f"{parent.key}/{{{matcher_text}}}" + (f"[{index}]" if index else "")
    route = Route(
        key=key,
        receiver=inherit("receiver", None),
        matchers=matchers,
        group_by=group_by,
        group_wait_secs=inherit("group_wait_secs", DEFAULT_GROUP_WAIT_SECS),
        group_interval_secs=inherit("group_interval_secs", DEFAULT_GROUP_INTERVAL_SECS),
        repeat_interval_secs=inherit("repeat_interval_secs", DEFAULT_REPEAT_INTERVAL_SECS),
        continue_=settings.continue_,
        escalation_policy=inherit("escalation_policy", None),
        mute_time_intervals=tuple(settings.mute_time_intervals),
        active_time_intervals=tuple(settings.active_time_intervals),
    )
    route.routes = [build_route(child, route, i) for i, child in enumerate(settings.routes)]
    return route
