"""Detectors: events -> findings (ECS alert events with rule.* and ATT&CK threat.* fields).

engine.py runs window detectors (threshold, distinct, sequence, web_attack) over event batches
in event-time order; rules.py loads the YAML rule files of config/rules/; catalog.py registers
the rule types explicitly.
"""
