"""Ops overview: is every examination and public-service system up, fast and error-free; is a
certificate about to expire; is a host saturating; which alert is the root cause."""
from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries

from tools.dashboards.common import (ELASTICSEARCH, PROMETHEUS, REAL_FS, Board, findings_table,
                                     label_variable, query, steps)

UID = "shouwang-ops"
SYSTEM = 'system=~"$system"'


def build():
    board = Board(UID, "Shouwang · Ops overview / 运维总览",
                  "Availability, latency and errors per system from Shouwang's probes "
                  "(probe_* with the system label), certificates, host saturation, root causes.")
    board.variable(label_variable("system", "system", "probe_success", "System / 业务系统"))

    board.row("Availability / 可用性")
    board.add(stat.Panel().title("Availability over the range / 时段可用率").datasource(PROMETHEUS)
              .description("Share of successful probes per system over the dashboard range.")
              .unit("percentunit").min(0).max(1).decimals(2)
              .thresholds(steps((None, "red"), (0.99, "orange"), (0.999, "green")))
              .with_target(query(f"avg by (system) (avg_over_time(probe_success{{{SYSTEM}}}"
                                 "[$__range]))", "{{system}}")),
              width=8, height=6)
    board.add(statetimeline.Panel().title("Up / down per system / 系统状态").datasource(PROMETHEUS)
              .description("Down (red) when every probe of the system fails, as ServiceDown.")
              .min(0).max(1).thresholds(steps((None, "red"), (1, "green")))
              .with_target(query(f"max by (system) (probe_success{{{SYSTEM}}})", "{{system}}")),
              width=16, height=6)
    board.add(table.Panel().title("Failing probes / 失败的探测").datasource(PROMETHEUS)
              .description("Probes failing right now; a system with all probes here is down.")
              .with_target(query(f"probe_success{{{SYSTEM}}} == 0", instant=True)),
              width=24, height=6)

    board.row("Latency and errors / 延迟与错误")
    board.add(timeseries.Panel().title("Probe duration per system / 探测耗时").datasource(PROMETHEUS)
              .unit("s").with_target(query(
                  f"max by (system) (probe_duration_seconds{{{SYSTEM}}})", "{{system}}")),
              width=12, height=8)
    board.add(timeseries.Panel().title("HTTP phases / HTTP 各阶段耗时").datasource(PROMETHEUS)
              .unit("s").with_target(query(
                  f"avg by (system, phase) (probe_http_duration_seconds{{{SYSTEM}}})",
                  "{{system}} {{phase}}")),
              width=12, height=8)
    board.add(timeseries.Panel().title("Probe error rate / 探测失败率").datasource(PROMETHEUS)
              .description("Share of failed probes per system.").unit("percentunit").min(0)
              .with_target(query(
                  f"1 - avg by (system) (avg_over_time(probe_success{{{SYSTEM}}}"
                  "[$__rate_interval]))", "{{system}}")),
              width=12, height=8)
    board.add(timeseries.Panel().title("HTTP status codes / HTTP 状态码").datasource(PROMETHEUS)
              .with_target(query(f"probe_http_status_code{{{SYSTEM}}}", "{{system}} {{target}}")),
              width=12, height=8)

    board.row("Certificates / 证书")
    board.add(bargauge.Panel().title("Days until certificate expiry / 证书剩余天数")
              .datasource(PROMETHEUS).unit("d").min(0)
              .description("Earliest expiry in each probed TLS chain; alerts at 30 and 7 days.")
              .thresholds(steps((None, "red"), (7, "orange"), (30, "green")))
              .with_target(query(f"(probe_ssl_earliest_cert_expiry{{{SYSTEM}}} - time()) / 86400",
                                 "{{system}} {{target}}", instant=True)),
              width=24, height=6)

    board.row("Host saturation / 主机饱和度")
    board.add(timeseries.Panel().title("CPU busy / CPU 使用率").datasource(PROMETHEUS)
              .unit("percentunit").min(0).max(1).with_target(query(
                  '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}'
                  '[$__rate_interval]))', "{{instance}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Memory used / 内存使用率").datasource(PROMETHEUS)
              .unit("percentunit").min(0).max(1).with_target(query(
                  "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
                  "{{instance}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Load per core / 每核负载").datasource(PROMETHEUS)
              .with_target(query(
                  'node_load1 / on (instance) count by (instance) '
                  '(node_cpu_seconds_total{mode="idle"})', "{{instance}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Disk used / 磁盘使用率").datasource(PROMETHEUS)
              .unit("percentunit").min(0).max(1).with_target(query(
                  f"1 - node_filesystem_avail_bytes{{{REAL_FS}}} / "
                  f"node_filesystem_size_bytes{{{REAL_FS}}}", "{{instance}} {{mountpoint}}")),
              width=12, height=8)
    board.add(timeseries.Panel().title("Free space predicted in 4 h / 预测 4 小时后可用空间")
              .datasource(PROMETHEUS).unit("bytes")
              .description("Below zero: the disk fills within 4 hours (DiskWillFillIn4Hours).")
              .with_target(query(
                  f"predict_linear(node_filesystem_avail_bytes{{{REAL_FS}}}[1h], 4 * 3600)",
                  "{{instance}} {{mountpoint}}")),
              width=12, height=8)

    board.row("Root cause / 根因")
    board.add(table.Panel().title("Root causes of alerts / 告警根因").datasource(ELASTICSEARCH)
              .description("Findings that Shouwang's root-cause analysis attributed "
                           "(shouwang.root_cause), by cause and system, from the event store.")
              .with_target(findings_table("shouwang.root_cause", "shouwang.system",
                                          query_text="_exists_:shouwang.root_cause")),
              width=12, height=8)
    board.add(table.Panel().title("Prometheus alerts, pending and firing / 规则告警")
              .datasource(PROMETHEUS)
              .description("From deploy/prometheus/rules; Alertmanager mutes the symptoms of a "
                           "system that is down (ServiceDown).")
              .with_target(query("ALERTS", instant=True)),
              width=12, height=8)
    return board.build()
