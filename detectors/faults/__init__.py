"""Fault detections (availability, latency, errors, saturation, silence) for ops.

Each module holds one rule type; `RULE_TYPES` lists them for detectors/catalog.py. Their
findings share one shape (faults/base.py): no ATT&CK context, `shouwang.fault.type`, and the
system and component they are about, which detectors/root_cause.py relates through the
topology. See detectors/FAULTS.md for the shipped rules and what users tune.
"""
from __future__ import annotations


def rule_types() -> list:
    from detectors.faults import (burn_rate, burst, cert, gauge, probe, ratio, silence,
                                  trend)

    return [module.RULE_TYPE for module in (probe, burn_rate, ratio, trend, gauge, cert,
                                            silence, burst)]
