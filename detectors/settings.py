"""The `detection:` settings block: which rule files the monitor loads and how it waits for
late events."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.settings import StrictModel
from detectors.catalog import DEFAULT_RULES_DIR
from detectors.engine import DEFAULT_ALLOWED_LATENESS_SECS
from detectors.topology import DEFAULT_TOPOLOGY_FILE


class SigmaScheduledSettings(StrictModel):
    """`detection.sigma_scheduled`: the single-event Sigma rules of `sigma_dirs` run as
    queries inside Elasticsearch (detectors/sigma/scheduled.py) instead of in-process. For a
    cluster of servers sharing one Elasticsearch store: enable it on one server only."""

    enabled: bool = Field(False, description="needs store.type elasticsearch")
    interval_secs: float = Field(60.0, ge=1, le=86_400, description="how often every rule's "
                                 "query runs")
    lookback_secs: float = Field(120.0, ge=0, le=86_400, description="each run searches again "
                                 "this far behind the previous run's end, for events indexed "
                                 "late; hits already reported are not reported twice")
    max_hits: int = Field(100, ge=1, le=10_000, description="hits one query returns; when more "
                          "match, the next run continues after the last one returned (never "
                          "dropped), counted in shouwang_sigma_scheduled_truncated_total")


class DetectionSettings(StrictModel):
    enabled: bool = True
    rules_dir: Path = Field(DEFAULT_RULES_DIR, description="directory of rule files (*.yaml); "
                            "*.local.yaml beside a rule overrides it")
    allowed_lateness_secs: float = Field(DEFAULT_ALLOWED_LATENESS_SECS, ge=0, le=3600,
                                         description="how long an event may arrive after newer "
                                         "ones and still count in its window")
    hold_secs: float = Field(0.0, ge=0, le=3600, description="how long events wait for "
                             "stragglers before rules see them: 0 alerts at once (events within "
                             "the lateness are still counted, slightly out of order); "
                             "= allowed_lateness_secs reorders exactly")
    topology_file: Path | None = Field(DEFAULT_TOPOLOGY_FILE, description="systems, components "
                                       "and their dependencies, for root-cause localization "
                                       "of fault findings; null turns it off")
    sigma_dirs: list[Path] = Field(default_factory=list, description="directories of "
                                   "SigmaHQ-format rules (*.yml) evaluated in-process; rules "
                                   "whose logsource we collect nothing for load inactive")
    sigma_scheduled: SigmaScheduledSettings = Field(default_factory=SigmaScheduledSettings)
    reload_poll_secs: float = Field(2.0, gt=0, le=3600, description="how often rule files "
                                    "are checked for changes (SIGHUP reloads at once)")
    tick_secs: float = Field(0.5, gt=0, le=60, description="how often buffered events are "
                             "released when no new batch arrives")
