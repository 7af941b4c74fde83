"""The rule types Shouwang ships, registered explicitly (nothing registers itself on import)."""
from __future__ import annotations

from pathlib import Path

from core.registry import Registry
from detectors.rules import RuleType

DEFAULT_RULES_DIR = Path(__file__).resolve().parent.parent / "config" / "rules"


def default_rule_types() -> Registry[RuleType]:
    from detectors import distinct, sequence, threshold, web_attack
    from detectors import dns_tunnel, filing, flood, gap, ratio

    types: Registry[RuleType] = Registry("rule type")
    for module in (threshold, distinct, sequence, web_attack,
                   ratio, flood, dns_tunnel, filing, gap):
        types.register(module.RULE_TYPE.name, module.RULE_TYPE)
    from detectors import anomaly, faults

    for kind in faults.rule_types() + [anomaly.RULE_TYPE]:
        types.register(kind.name, kind)
    return types
