"""Sigma rules converted to Elasticsearch queries with our pipeline (no Elasticsearch needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sigma.backends.elasticsearch",
                    reason="pysigma-backend-elasticsearch not installed (optional, --no-deps)")

from detectors.sigma.elastic import convert_rules  # noqa: E402
from tests.detectors.test_sigma_correlation import correlation  # noqa: E402
from tests.detectors.test_sigma_support import rule_text  # noqa: E402

SIGMA_RULES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma-rules"
TRAVERSAL = "rules/web/webserver_generic/web_path_traversal_exploitation_attempt.yml"
needs_rules = pytest.mark.skipif(not SIGMA_RULES.is_dir(), reason="shared Sigma rules absent")


@needs_rules
def test_lucene_query_reads_our_ecs_fields_and_datasets():
    result = convert_rules([SIGMA_RULES / TRAVERSAL], target="lucene")
    (converted,) = result.converted
    assert converted.rule_id == "7745c2ea-24a5-4290-b680-04359cb84b35"
    assert "event.dataset:(nginx.access OR apache.access)" in converted.query
    assert "url.original:" in converted.query and "cs-uri-query" not in converted.query


@needs_rules
def test_esql_and_eql_and_dsl_targets():
    esql = convert_rules([SIGMA_RULES / TRAVERSAL], target="esql").converted[0].query
    assert esql.startswith("from logs-* ") or esql.startswith("from ")
    assert 'event.dataset in ("nginx.access", "apache.access")' in esql
    eql = convert_rules([SIGMA_RULES / TRAVERSAL], target="eql").converted[0].query
    assert eql.startswith("any where ")
    dsl = convert_rules([SIGMA_RULES / TRAVERSAL], target="dsl").converted[0].query
    assert "query_string" in str(dsl)


@needs_rules
def test_unmapped_logsources_are_skipped_not_converted():
    directory = SIGMA_RULES / "rules" / "linux" / "auditd"
    result = convert_rules([directory], target="lucene")
    assert not result.converted
    assert result.skipped and all(reason == "no source for logsource"
                                  for _, reason in result.skipped)


def test_event_count_correlation_to_esql(tmp_path):
    # ES|QL has no full-text keywords: the member rule tests a field
    (tmp_path / "a.yml").write_text(rule_text("""
        selection: {User: root}
        condition: selection""", logsource="product: linux\nservice: sshd",
        extra="name: ssh_failed\n"))
    (tmp_path / "b.yml").write_text(correlation("""
        type: event_count
        rules: [ssh_failed]
        group-by: [c-ip]
        timespan: 5m
        condition: {gte: 10}""", title="ssh burst"))
    result = convert_rules([tmp_path], target="esql")
    queries = [item.query for item in result.converted if item.title == "ssh burst"]
    assert queries, result.skipped
    query = queries[0]
    # group-by is the ECS field and the window a 5-minute bucket (tumbling, see elastic.py)
    assert "source.ip" in query and "5minutes" in query.replace(" ", "")
    assert "event_count >= 10" in query
