"""What the dashboards share: datasource refs, query and panel helpers, and a grid layout.

Layout is ours, not the SDK's: its automatic flow places a third 12-wide panel at x=18 (past
the 24-column grid). `Board.add` wraps rows itself and numbers panels, so ids and positions
are stable from one generation to the next (provisioned dashboards are diffed in review).
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, elasticsearch, prometheus
from grafana_foundation_sdk.models.elasticsearch import TermsOrder
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, GridPos, Threshold,
                                                     ThresholdsMode, VariableOption, VariableRefresh,
                                                     VariableSort)

# The uids in deploy/grafana/provisioning/datasources/shouwang.yml.
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
ELASTICSEARCH = DataSourceRef(type_val="elasticsearch", uid="shouwang-events")
GRID_COLUMNS = 24
# Filesystems that are not disks: excluded from saturation panels as in the alert rules.
REAL_FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs"'
TAGS = ["shouwang", "守望"]


def query(expr: str, legend: str = "__auto", *, ref: str = "A", instant: bool = False):
    """A Prometheus target; instant ones are tables (one row per series, labels as columns)."""
    target = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
    if instant:
        return target.instant().format(PromQueryFormat.TABLE)
    return target.range()


def findings_table(*fields: str, query_text: str = "", size: int = 10):
    """Elasticsearch: count of findings (event.kind:alert) by `fields`, the largest first."""
    text = " AND ".join(part for part in ("event.kind:alert", query_text) if part)
    buckets = [elasticsearch.Terms().id(str(index + 2)).field(field).settings(
                   elasticsearch.ElasticsearchTermsSettings().size(str(size))
                   .order(TermsOrder.DESC))
               for index, field in enumerate(fields)]
    return (elasticsearch.Dataquery().ref_id("A").datasource(ELASTICSEARCH).query(text)
            .time_field("@timestamp").metrics([elasticsearch.Count().id("1")])
            .bucket_aggs(buckets))


def steps(*pairs) -> dashboard.ThresholdsConfig:
    """Absolute thresholds: steps((None, "green"), (0.8, "orange"), (0.9, "red"))."""
    return (dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=value, color=color) for value, color in pairs]))


def label_variable(name: str, label: str, metric: str, text: str):
    """A multi-select, all-by-default variable over one label; "All" is the regex .* so
    `label=~"$name"` keeps working with series that lack the label."""
    return (dashboard.QueryVariable(name).label(text).datasource(PROMETHEUS)
            .query(f"label_values({metric}, {label})").multi(True).include_all(True)
            .all_value(".*").current(VariableOption(selected=True, text=["All"], value=["$__all"]))
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC))


class Board:
    """A dashboard being laid out: rows and panels in reading order."""

    def __init__(self, uid: str, title: str, description: str):
        self.builder = (dashboard.Dashboard(title).uid(uid).description(description).tags(TAGS)
                        .refresh("30s").time("now-6h", "now").timezone("browser")
                        .readonly())
        self._next_id = 1
        self._x = 0
        self._y = 0
        self._row_height = 0

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def variable(self, variable) -> "Board":
        self.builder.with_variable(variable)
        return self

    def row(self, title: str) -> "Board":
        self._newline()
        self.builder.with_row(dashboard.Row(title).id(self._id())
                              .grid_pos(GridPos(h=1, w=GRID_COLUMNS, x=0, y=self._y)))
        self._y += 1
        return self

    def add(self, panel, *, width: int, height: int) -> "Board":
        if self._x + width > GRID_COLUMNS:
            self._newline()
        panel.id(self._id()).grid_pos(GridPos(h=height, w=width, x=self._x, y=self._y))
        self.builder.with_panel(panel)
        self._x += width
        self._row_height = max(self._row_height, height)
        return self

    def _newline(self) -> None:
        self._y += self._row_height
        self._x = 0
        self._row_height = 0

    def build(self):
        return self.builder.build()
