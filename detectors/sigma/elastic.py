"""The same Sigma rules as Elasticsearch queries, for deployments whose events live in an
Elasticsearch cluster (storage/elasticsearch.py writes data streams logs-<dataset>-<namespace>).

    queries = convert_rules([Path("config/sigma/rules")], target="esql")
    for item in queries: print(item.rule_id, item.query)

Conversion is pySigma's Elasticsearch backend (pysigma-backend-elasticsearch) with our
processing pipeline in front (detectors/sigma/pipeline.py), so a query reads the same ECS
fields and the same event.dataset values as the in-process evaluator. Targets:
`lucene` (query string; no correlations), `esql` (correlations become tumbling
`date_trunc` buckets, not our sliding windows: counts can differ at bucket edges), `eql`
(correlations become sequences), `dsl` (Lucene inside a query-DSL body).

Rules whose logsource we do not map are skipped (listed in `ConversionResult.skipped`): their
fields would not exist in our indices. The `siem_rule*` output formats are not offered: the
backend downloads ATT&CK data for them at run time, which we never do.

Dependency note: pysigma-backend-elasticsearch 2.1.1 (the newest) declares pySigma<2.0 but
converts correctly with pySigma 2.0.1 (tests/detectors/test_sigma_elastic.py); it is therefore
installed with `pip install --no-deps pysigma-backend-elasticsearch==2.1.1` and is optional:
`convert_rules` raises `ElasticBackendMissing` without it. Running the converted queries on a
schedule and turning their hits into findings is scheduled.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError

from detectors.sigma.loader import sigma_files
from detectors.sigma.mapping import SigmaMapping, load_mapping
from detectors.sigma.pipeline import build_pipeline, logsource_name

DEFAULT_INDEX = "logs-*"
TARGETS = {"lucene": ("LuceneBackend", "default"), "dsl": ("LuceneBackend", "dsl_lucene"),
           "esql": ("ESQLBackend", "default"), "eql": ("EqlBackend", "default")}


class ElasticBackendMissing(RuntimeError):
    """pysigma-backend-elasticsearch is not installed."""


@dataclass
class ConvertedRule:
    rule_id: str
    title: str
    query: Any   # str, or a dict for `dsl`


@dataclass
class ConversionResult:
    converted: list[ConvertedRule] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (rule title, reason)


def _backend(target: str, mapping: SigmaMapping, index: str):
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r} (one of: {', '.join(TARGETS)})")
    try:
        from sigma.backends import elasticsearch
    except ImportError:
        raise ElasticBackendMissing(
            "pysigma-backend-elasticsearch is not installed (pip install --no-deps "
            "pysigma-backend-elasticsearch==2.1.1)") from None
    class_name, output_format = TARGETS[target]
    backend_class = getattr(elasticsearch, class_name)
    options = {"index_names": [index]} if class_name == "LuceneBackend" else {}
    return backend_class(processing_pipeline=build_pipeline(mapping), **options), output_format


def convert_rules(paths: Iterable[str | Path], *, target: str = "lucene",
                  mapping: SigmaMapping | None = None,
                  index: str = DEFAULT_INDEX) -> ConversionResult:
    """Elasticsearch queries for the Sigma rules under `paths` (see the module docstring)."""
    mapping = mapping or load_mapping()
    backend, output_format = _backend(target, mapping, index)
    texts = [path.read_text(encoding="utf-8") for path in sigma_files(paths)]
    collection = SigmaCollection.merge([SigmaCollection.from_yaml(text, collect_errors=True,
                                                                resolve_references=False)
                                        for text in texts])
    collection.resolve_rule_references()
    result = ConversionResult()
    for rule in collection.rules:
        if rule.errors:
            result.skipped.append((rule.title or "?", str(rule.errors[0])))
            continue
        try:
            if isinstance(rule, SigmaCorrelationRule):
                queries = backend.convert_correlation_rule(rule, output_format)
            else:
                queries = backend.convert_rule(rule, output_format)
        except (SigmaError, NotImplementedError) as exc:
            result.skipped.append((rule.title, f"{type(exc).__name__}: {exc}"))
            continue
        if not isinstance(rule, SigmaCorrelationRule) and logsource_name(rule) is None:
            result.skipped.append((rule.title, "no source for logsource"))
            continue
        for query in queries:
            result.converted.append(ConvertedRule(str(rule.id), rule.title, query))
    return result
