"""The routing tree, with cases from Alertmanager's documentation (configuration.md's example
route and doc/examples/simple.yml), and the config errors a user sees."""
from __future__ import annotations

import pytest

from alerting.config import load_alerting
from alerting.matchers import parse_matcher
from alerting.routing import build_route
from alerting.settings import RouteSettings
from core.errors import ConfigError

# configuration.md, "Example" under <route> (durations in seconds).
DOCUMENTED = {
    "receiver": "default-receiver", "group_wait_secs": 30, "group_interval_secs": 300,
    "repeat_interval_secs": 14400, "group_by": ["cluster", "alertname"],
    "routes": [
        {"receiver": "database-pager", "group_wait_secs": 10,
         "matchers": ['service=~"mysql|cassandra"']},
        {"receiver": "frontend-pager", "group_by": ["product", "environment"],
         "matchers": ['team="frontend"']},
        {"receiver": "dev-pager", "matchers": ['service="inhouse-service"'],
         "continue": True},
        {"receiver": "on-call-pager", "matchers": ['service="inhouse-service"']},
    ],
}


def routes_for(tree: dict, labels: dict) -> list:
    return build_route(RouteSettings.model_validate(tree)).match(labels)


def test_regex_route_takes_mysql_and_inherits_grouping():
    [route] = routes_for(DOCUMENTED, {"service": "mysql", "alertname": "Down"})
    assert route.receiver == "database-pager"
    assert route.group_wait_secs == 10
    assert route.group_by == ("cluster", "alertname")          # inherited
    assert route.group_interval_secs == 300 and route.repeat_interval_secs == 14400


def test_regex_is_anchored_like_alertmanager():
    [route] = routes_for(DOCUMENTED, {"service": "mysql-replica"})
    assert route.receiver == "default-receiver"
    assert not parse_matcher('severity=~"crit"').matches({"severity": "critical"})
    assert parse_matcher('severity!~"crit"').matches({"severity": "critical"})


def test_child_group_by_overrides_the_parent():
    [route] = routes_for(DOCUMENTED, {"team": "frontend"})
    assert route.receiver == "frontend-pager"
    assert route.group_by == ("product", "environment")


def test_continue_lets_the_next_sibling_match_too():
    routes = routes_for(DOCUMENTED, {"service": "inhouse-service"})
    assert [r.receiver for r in routes] == ["dev-pager", "on-call-pager"]


def test_first_match_wins_without_continue():
    tree = {"receiver": "root", "routes": [
        {"receiver": "first", "matchers": ['team="db"']},
        {"receiver": "second", "matchers": ['team="db"']}]}
    assert [r.receiver for r in routes_for(tree, {"team": "db"})] == ["first"]


def test_unmatched_alert_goes_to_the_root_receiver():
    [route] = routes_for(DOCUMENTED, {"service": "other"})
    assert route.receiver == "default-receiver"


def test_nested_routes_from_simple_yml():
    tree = {"receiver": "team-X-mails", "group_by": ["alertname", "cluster", "service"],
            "routes": [{"matchers": ['service=~"foo1|foo2|baz"'], "receiver": "team-X-mails",
                        "routes": [{"matchers": ['severity="critical"'],
                                    "receiver": "team-X-pager"}]},
                       {"matchers": ['service="files"'], "receiver": "team-Y-mails",
                        "routes": [{"matchers": ['severity="critical"'],
                                    "receiver": "team-Y-pager"}]}]}
    assert [r.receiver for r in routes_for(tree, {"service": "foo1", "severity": "critical"})] \
        == ["team-X-pager"]
    assert [r.receiver for r in routes_for(tree, {"service": "baz", "severity": "warning"})] \
        == ["team-X-mails"]
    assert [r.receiver for r in routes_for(tree, {"service": "files", "severity": "critical"})] \
        == ["team-Y-pager"]


def test_not_equal_and_missing_labels():
    assert parse_matcher('team!="db"').matches({})
    assert parse_matcher('team=""').matches({"other": "x"})
    assert not parse_matcher('team="db"').matches({})


def test_group_by_dots_means_every_label():
    [route] = routes_for({"receiver": "r", "group_by": ["..."]}, {"a": "1"})
    assert route.group_by is None


async def test_grouping_puts_same_group_labels_in_one_notification(build):
    h = build({"route": {"receiver": "default", "group_by": ["alertname"],
                         "group_wait_secs": 30, "group_interval_secs": 300}})
    for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        await h.take({"event.kind": "alert", "rule.id": "ssh", "rule.name": "ssh",
                      "source.ip": ip})
    await h.step(30)
    [notification] = h.receivers["default"].sent
    assert len(notification.alerts) == 3
    assert notification.group_labels == {"alertname": "ssh"}
    assert notification.group_key == '{}:{alertname="ssh"}'


def write(tmp_path, text: str):
    path = tmp_path / "alerting.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_regex_is_a_config_error_naming_file_line_and_key(tmp_path):
    path = write(tmp_path, """alerting:
  receivers:
    ops: {type: webhook, url: "http://127.0.0.1:9/"}
  route:
    receiver: ops
    routes:
      - receiver: ops
        matchers: ['service=~"(unclosed"']
""")
    with pytest.raises(ConfigError) as caught:
        load_alerting(path)
    assert caught.value.file == str(path)
    assert caught.value.line == 8
    assert caught.value.key == "alerting.route.routes.0.matchers"
    assert "regex" in caught.value.message


def test_unknown_receiver_in_a_route_is_located(tmp_path):
    path = write(tmp_path, """alerting:
  receivers:
    ops: {type: webhook}
  route:
    receiver: ops
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
""")
    with pytest.raises(ConfigError) as caught:
        load_alerting(path)
    assert (caught.value.line, caught.value.key) == (8, "alerting.route.routes.0.receiver")
    assert "unknown receiver 'pager'" in caught.value.message


def test_typo_in_a_route_key_is_rejected(tmp_path):
    path = write(tmp_path, """alerting:
  receivers: {ops: {type: webhook}}
  route:
    receiver: ops
    group_wait: 30s
""")
    with pytest.raises(ConfigError) as caught:
        load_alerting(path)
    assert caught.value.key == "alerting.route.group_wait" and caught.value.line == 5


def test_shipped_example_config_loads():
    settings = load_alerting("config/alerting.yaml")
    route = build_route(settings.route)
    [critical] = route.match({"severity": "critical", "alertname": "x"})
    assert critical.escalation_policy is not None
    [low] = route.match({"severity": "low", "alertname": "x"})
    assert low.receiver != critical.receiver


def test_receiver_settings_are_checked_by_the_receiver_catalog(tmp_path):
    path = write(tmp_path, """alerting:
  receivers:
    ops:
      type: webhook
      url: "ftp://nowhere"
  route:
    receiver: ops
""")
    with pytest.raises(ConfigError) as caught:
        load_alerting(path)
    assert (caught.value.line, caught.value.key) == (5, "alerting.receivers.ops.url")
