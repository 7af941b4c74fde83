"""Security overview: what was found, how severe, which ATT&CK techniques, from where, when."""
from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries

from tools.dashboards.common import (ELASTICSEARCH, PROMETHEUS, Board, findings_table, query,
                                     steps)

UID = "shouwang-security"




def build():
    board = Board(UID, "Shouwang · Security overview / 安全态势",
                  "Alerts and findings by severity (national incident classes) and ATT&CK "
                  "technique, top attacking sources, attack timeline, notifications.")

    board.row("Alerts / 告警")
    board.add(stat.Panel().title("Firing alerts by severity / 各级别告警").datasource(PROMETHEUS)
              .description("critical 特别重大, high 重大, medium 较大, low 一般 (GB/Z 20986).")
              .thresholds(steps((None, "green"), (1, "red")))
              .with_target(query('sum by (severity) (shouwang_alerts{state="firing"})',
                                 "{{severity}}")),
              width=12, height=5)
    board.add(stat.Panel().title("Alerts by state / 告警状态").datasource(PROMETHEUS)
              .with_target(query("sum by (state) (shouwang_alerts)", "{{state}}")),
              width=12, height=5)

    board.row("Findings / 检测发现")
    board.add(timeseries.Panel().title("Attack timeline: findings per rule / 攻击时间线")
              .datasource(PROMETHEUS).unit("short").with_target(query(
                  "sum by (rule) (increase(shouwang_detector_findings_total"
                  "[$__rate_interval]))", "{{rule}}")),
              width=24, height=8)
    board.add(timeseries.Panel().title("Findings by severity / 各级别发现").datasource(PROMETHEUS)
              .unit("short").with_target(query(
                  "sum by (severity) (increase(shouwang_findings_total[$__rate_interval]))",
                  "{{severity}}")),
              width=12, height=8)
    board.add(bargauge.Panel().title("Top ATT&CK techniques / ATT&CK 技术排行")
              .datasource(PROMETHEUS).with_target(query(
                  "topk(10, sum by (technique) (increase(shouwang_findings_total[$__range])))",
                  "{{technique}}", instant=True)),
              width=12, height=8)
    board.add(table.Panel().title("Top attacking sources / 攻击来源排行")
              .datasource(ELASTICSEARCH)
              .description("From the event store: attacking addresses are unbounded, so they "
                           "are never Prometheus labels.")
              .with_target(findings_table("source.ip")),
              width=12, height=8)
    board.add(timeseries.Panel().title("Authentication failures on Shouwang / 平台认证失败")
              .datasource(PROMETHEUS).unit("ops")
              .description("Refused API requests: guessing tokens against the monitor itself.")
              .with_target(query(
                  "sum by (reason) (rate(shouwang_api_auth_failures_total[$__rate_interval]))",
                  "{{reason}}")),
              width=12, height=8)

    board.row("Notifications and audit / 通知与审计")
    board.add(timeseries.Panel().title("Notifications by receiver / 通知发送").datasource(PROMETHEUS)
              .unit("ops").with_target(query(
                  "sum by (receiver, outcome) (rate(shouwang_notifications_total"
                  "[$__rate_interval]))", "{{receiver}} {{outcome}}")),
              width=8, height=8)
    board.add(timeseries.Panel().title("Notification latency p95 / 通知延迟").datasource(PROMETHEUS)
              .unit("s").with_target(query(
                  "histogram_quantile(0.95, sum by (le, receiver) (rate("
                  "shouwang_notification_latency_seconds_bucket[$__rate_interval])))",
                  "{{receiver}}")),
              width=8, height=8)
    board.add(stat.Panel().title("Audit log write failures / 审计写入失败").datasource(PROMETHEUS)
              .description("Must stay 0: a change that is not audited breaks MLPS level 3.")
              .thresholds(steps((None, "green"), (1, "red")))
              .with_target(query("sum(increase(shouwang_api_audit_failures_total[$__range]))",
                                 "failures")),
              width=8, height=8)
    return board.build()
