"""Pipeline health: is Shouwang receiving, storing and keeping up with every source."""
from __future__ import annotations

from grafana_foundation_sdk.builders import stat, statetimeline, timeseries

from tools.dashboards.common import PROMETHEUS, Board, label_variable, query, steps

UID = "shouwang-pipeline"
COMPONENT = 'component=~"$component"'


def build():
    board = Board(UID, "Shouwang · Pipeline health / 采集流水线",
                  "Events per second per source, drops, errors, queue depth, batch latency, "
                  "store spool, source and agent status.")
    board.variable(label_variable("component", "component", "shouwang_source_up",
                                  "Source / 采集源"))

    board.row("Throughput / 吞吐")
    board.add(timeseries.Panel().title("Events received per source / 各采集源事件速率")
              .datasource(PROMETHEUS).unit("ops").with_target(query(
                  f"sum by (component) (rate(shouwang_component_received_events_total"
                  f"{{{COMPONENT}}}[$__rate_interval]))", "{{component}}")),
              width=12, height=8)
    board.add(timeseries.Panel().title("Events stored / 入库速率").datasource(PROMETHEUS)
              .unit("ops").with_target(query(
                  "sum by (component) (rate(shouwang_component_sent_events_total"
                  "[$__rate_interval]))", "{{component}}")),
              width=12, height=8)
    board.add(statetimeline.Panel().title("Source up / 采集源状态").datasource(PROMETHEUS)
              .min(0).max(1).thresholds(steps((None, "red"), (1, "green")))
              .with_target(query(f"shouwang_source_up{{{COMPONENT}}}", "{{component}}")),
              width=24, height=5)

    board.row("Losses and errors / 丢弃与错误")
    board.add(timeseries.Panel().title("Dropped events / 丢弃事件").datasource(PROMETHEUS)
              .unit("ops").description("Only telemetry may drop; security events block instead.")
              .with_target(query(
                  f"sum by (component, reason) (rate(shouwang_component_dropped_events_total"
                  f"{{{COMPONENT}}}[$__rate_interval]))", "{{component}} {{reason}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Errors by stage / 各阶段错误").datasource(PROMETHEUS)
              .unit("ops").with_target(query(
                  f"sum by (component, stage) (rate(shouwang_component_errors_total"
                  f"{{{COMPONENT}}}[$__rate_interval]))", "{{component}} {{stage}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Unparsed lines / 未识别日志行").datasource(PROMETHEUS)
              .unit("ops").description("Kept as raw events; a rise means a log format changed.")
              .with_target(query(
                  f"sum by (component) (rate(shouwang_unparsed_lines_total{{{COMPONENT}}}"
                  "[$__rate_interval]))", "{{component}}")),
              width=8, height=8)

    board.row("Queue and store / 队列与存储")
    board.add(timeseries.Panel().title("Queue depth / 队列深度").datasource(PROMETHEUS)
              .with_target(query("shouwang_pipeline_queue_events", "queued {{instance}}"))
              .with_target(query("shouwang_pipeline_queue_capacity_events",
                                 "capacity {{instance}}", ref="B")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Batch write latency / 批量写入延迟").datasource(PROMETHEUS)
              .unit("s").with_target(query(
                  "histogram_quantile(0.5, sum by (le, sink) (rate("
                  "shouwang_batch_latency_seconds_bucket[$__rate_interval])))", "p50 {{sink}}"))
              .with_target(query(
                  "histogram_quantile(0.99, sum by (le, sink) (rate("
                  "shouwang_batch_latency_seconds_bucket[$__rate_interval])))", "p99 {{sink}}",
                  ref="B")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Events per batch / 每批事件数").datasource(PROMETHEUS)
              .with_target(query(
                  "histogram_quantile(0.5, sum by (le) (rate(shouwang_batch_events_bucket"
                  "[$__rate_interval])))", "p50")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Store spool / 存储本地缓冲").datasource(PROMETHEUS)
              .unit("bytes").description("Grows while the store refuses writes "
                                         "(StoreSpoolGrowing).")
              .with_target(query("shouwang_store_spool_bytes", "{{store}}")),
              width=12, height=8)
    board.add(stat.Panel().title("Store accepts writes / 存储可写").datasource(PROMETHEUS)
              .thresholds(steps((None, "red"), (1, "green")))
              .with_target(query("shouwang_store_backend_up", "{{store}}")),
              width=12, height=8)

    board.row("Agents / 代理")
    board.add(timeseries.Panel().title("Seconds since each agent's last batch / 代理静默时长")
              .datasource(PROMETHEUS).unit("s")
              .thresholds(steps((None, "green"), (300, "red")))
              .with_target(query("time() - shouwang_agent_last_seen_timestamp_seconds",
                                 "{{agent}}")),
              width=24, height=6)
    return board.build()
