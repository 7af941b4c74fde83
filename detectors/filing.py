"""`filing_burst` rules: abnormal filing bursts (非正常申请) — many distinct applications from one
applicant, patent agency (代理机构) or address within a window.

E-filing events (the contract the e-filing system's JSON-lines log follows; the JSON parser
flattens nested objects, so `{"shouwang": {"filing": {...}}}` and dotted keys both work):

    event.dataset                       "efiling.application"
    event.action                        "application_submitted" (others are not counted)
    @timestamp                          when the application was submitted
    shouwang.filing.application_id      application / submission number (申请号), unique
    shouwang.filing.application_type    invention | utility_model | design | trademark
    shouwang.filing.applicant_id        applicant (申请人): unified social credit code or ID
    shouwang.filing.applicant_name      applicant name as filed
    shouwang.filing.agent_id            patent/trademark agency code (代理机构代码), if any
    shouwang.filing.agent_name          agency name
    shouwang.filing.address             applicant address as filed (申请人地址)
    source.ip, user.name                the e-filing session that submitted it

The detector is a `distinct` count of `field` (the application id: a resubmission of the same
application does not count twice) per key, where the key values are normalized first: Unicode
NFKC (full-width letters and digits become ASCII), case folded, and whitespace and punctuation
removed, so "北京市海淀区 学院路１号。" and "北京市海淀区学院路1号" are the same address.
"""
from __future__ import annotations

import unicodedata
from typing import Literal

from detectors.distinct import DistinctDetector, DistinctRule
from detectors.rules import RuleType

_DROPPED_CATEGORIES = ("Z", "P", "C")  # separators, punctuation, control characters


def normalize_key_value(value) -> str:
    """The comparable form of an applicant, agency or address (see module docstring)."""
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return "".join(ch for ch in text
                   if not unicodedata.category(ch).startswith(_DROPPED_CATEGORIES))


class FilingBurstRule(DistinctRule):
    type: Literal["filing_burst"]  # type: ignore[assignment]


class FilingBurstDetector(DistinctDetector):
    @staticmethod
    def key_transform(key: tuple) -> tuple | None:
        normalized = tuple(normalize_key_value(value) for value in key)
        return None if "" in normalized else normalized


RULE_TYPE = RuleType("filing_burst", FilingBurstRule, FilingBurstDetector,
                     "distinct applications per normalized applicant, agency or address")
