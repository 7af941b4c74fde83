"""The rules of a running monitor: loaded from the `detection:` settings, and reloaded when a
rule file changes or on SIGHUP, without a restart. Engine.reload keeps the windows of the
rules that did not change; a rule file with an error leaves the running rules in place (the
error, with file and line, goes to the log and to shouwang_rules_reloads_total{outcome}).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

from core.errors import ShouwangError
from detectors.catalog import default_rule_types
from detectors.engine import Engine
from detectors.rules import load_rules
from detectors.settings import DetectionSettings

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yaml", ".yml")


def rule_files_signature(directories) -> tuple:
    """(path, mtime, size) of every rule file under `directories`: a change in any means
    reload (also used by detectors/sigma/scheduled.py)."""
    found = []
    for directory in directories:
        for path in sorted(Path(directory).rglob("*")):
            if path.suffix in RULE_SUFFIXES:
                try:
                    stat = path.stat()
                except OSError:
                    continue
                found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class LiveRules:
    def __init__(self, settings: DetectionSettings, registry: CollectorRegistry):
        self.settings = settings
        self.registry = registry
        self.reloads = Counter("shouwang_rules_reloads", "Rule reloads, by outcome",
                               ["outcome"], registry=registry)
        self._signature = self.signature()

    def load(self) -> list:
        rules = load_rules(self.settings.rules_dir, default_rule_types())
        if self.settings.sigma_dirs:
            from detectors.sigma.loader import SIGMA_RULE_TYPE, load_sigma_rules

            sigma = load_sigma_rules(self.settings.sigma_dirs)
            log.info("%s", sigma.summary())
            active = sigma.active
            if self.settings.sigma_scheduled.enabled:
                # single-event rules run as Elasticsearch queries (detectors/sigma/scheduled.py);
                # running them here too would raise every alert twice
                active = [item for item in active if item.kind is not SIGMA_RULE_TYPE]
            rules = rules + active
        return rules

    def build_engine(self) -> Engine:
        return Engine.build(self.load(), registry=self.registry, live=True,
                            allowed_lateness_secs=self.settings.allowed_lateness_secs,
                            hold_secs=self.settings.hold_secs)

    def signature(self) -> tuple:
        return rule_files_signature((self.settings.rules_dir, *self.settings.sigma_dirs))

    def reload(self, engine: Engine) -> dict | None:
        try:
            counts = engine.reload(self.load())
        except ShouwangError as exc:
            self.reloads.labels("error").inc()
            log.error("rules not reloaded, the running rules stay: %s", exc)
            return None
        self.reloads.labels("ok").inc()
        log.info("rules reloaded: %(kept)d unchanged (windows kept), %(started)d new or "
                 "changed, %(removed)d removed", counts)
        return counts

    async def watch(self, engine: Engine, requested: asyncio.Event, poll_secs: float) -> None:
        """Reload when asked (SIGHUP sets `requested`) or when the files change."""
        while True:
            try:
                await asyncio.wait_for(requested.wait(), poll_secs)
            except TimeoutError:
                pass
            asked = requested.is_set()
            requested.clear()
            signature = self.signature()
            if asked or signature != self._signature:
                self._signature = signature
                self.reload(engine)
