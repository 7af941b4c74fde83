"""Every shipped rule has annotated samples (tests/samples/<id>.log) and does what they say."""
from __future__ import annotations

import pytest

from collectors.parsers.catalog import build_parser, default_registry
from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.rules import load_rules
from detectors.samples import SAMPLES_DIR, check_samples, read_samples

RULES = load_rules(DEFAULT_RULES_DIR, default_rule_types(), include_disabled=True)


def test_every_rule_has_samples():
    missing = [item.rule.id for item in RULES
               if not (SAMPLES_DIR / f"{item.rule.id}.log").exists()]
    assert missing == []


@pytest.mark.parametrize("loaded", RULES, ids=lambda item: item.rule.id)
def test_rule_matches_its_samples(loaded):
    sample = read_samples(SAMPLES_DIR / f"{loaded.rule.id}.log")
    parser = build_parser("auto", default_registry())
    assert check_samples(loaded, sample, parser.parse) == []
