"""Target labels, and the collector that exports the latest result of every target.

Contract:
- A target's `labels` are valid Prometheus label names that do not clash with the ones we set
  (target, module, phase, version, ...); a clash is a configuration error, not a silent overwrite.
- One `LatestResults` collector exists per registry and kind: several sources of one type share it
  through `BuildContext.extras`, so no metric family is ever exposed twice on /metrics.
- Every sample of a family carries the same label names: the fixed ones, then the union of all
  targets' label names (sorted), a missing one as "" (which Prometheus treats as absent).
- Reading happens on scrape from the cached last results; collect() never does I/O.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Annotated, Iterable

from prometheus_client.core import GaugeMetricFamily
from pydantic import AfterValidator

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({"target", "module", "phase", "version", "job", "instance", "le",
                             "quantile", "server", "ip_protocol"})


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for name in labels:
        if not LABEL_NAME.match(name) or name.startswith("__"):
            raise ValueError(f"label name {name!r} is not a valid Prometheus label name")
        if name in RESERVED_LABELS:
            raise ValueError(f"label name {name!r} is set by Shouwang itself; choose another")
    return labels


TargetLabels = Annotated[dict[str, str], AfterValidator(_check_labels)]


@dataclass(frozen=True)
class Family:
    """A gauge family: its help text and the label names of its own (e.g. `phase`)."""

    help: str
    extra_labels: tuple[str, ...] = ()


# One sample: family name, value, values of the family's extra labels.
Sample = tuple[str, float, tuple[str, ...]]


class LatestResults:
    """A prometheus Collector holding the last samples of each target, keyed by the caller."""

    def __init__(self, families: dict[str, Family], fixed_labels: tuple[str, ...]):
        self.families = families
        self.fixed_labels = fixed_labels
        self._results: dict[str, tuple[dict[str, str], list[Sample]]] = {}
        # collect() runs in the HTTP server's thread while sources update from the event loop.
        self._lock = threading.Lock()

    def update(self, key: str, labels: dict[str, str], samples: list[Sample]) -> None:
        with self._lock:
            self._results[key] = (labels, samples)

    def get(self, key: str) -> tuple[dict[str, str], list[Sample]] | None:
        with self._lock:
            return self._results.get(key)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        with self._lock:
            results = list(self._results.values())
        extra_names = sorted({name for labels, _ in results for name in labels}
                             - set(self.fixed_labels))
        label_names = [*self.fixed_labels, *extra_names]
        out = {name: GaugeMetricFamily(name, family.help,
                                       labels=[*label_names, *family.extra_labels])
               for name, family in self.families.items()}
        for labels, samples in results:
            base = [labels.get(name, "") for name in label_names]
            for name, value, extra in samples:
                family = out.get(name)
                if family is not None:
                    family.add_metric([*base, *extra], value)
        return [family for family in out.values() if family.samples]


def shared_results(ctx, key: str, families: dict[str, Family],
                   fixed_labels: tuple[str, ...]) -> LatestResults:
    """The registry's `LatestResults` for `key`, created and registered on first use."""
    results = ctx.extras.get(key)
    if results is None:
        results = LatestResults(families, fixed_labels)
        ctx.registry.register(results)
        ctx.extras[key] = results
    return results
