"""Abnormal filing bursts from the e-filing system's JSON-lines log, read by the JSON parser."""
from __future__ import annotations

import json

import pytest

import cli.main
from collectors.parsers.json_lines import JsonLinesParser
from detectors.filing import normalize_key_value

ADDRESSES = ["北京市海淀区学院路1号", "北京市海淀区 学院路１号。", "北京市，海淀区学院路１号"]


def submission(n, *, applicant="91110108MA0000001X", agent=None, address=ADDRESSES[0],
               hour=0, action="application_submitted"):
    return json.dumps({
        "@timestamp": f"2026-11-25T{hour:02d}:{n % 60:02d}:00Z",
        "event": {"dataset": "efiling.application", "action": action},
        "shouwang": {"filing": {"application_id": f"CN2026{n:07d}",
                                "application_type": "utility_model",
                                "applicant_id": applicant, "agent_id": agent or f"1100{n % 7}",
                                "address": address}},
        "source": {"ip": "203.0.113.70"}}, ensure_ascii=False)


def test_json_lines_parse_into_filing_fields():
    event = JsonLinesParser().parse(submission(1))
    assert event["event.dataset"] == "efiling.application"
    assert event["shouwang.filing.applicant_id"] == "91110108MA0000001X"
    assert event["shouwang.filing.application_id"] == "CN20260000001"


def test_address_spellings_normalize_to_one_key():
    assert len({normalize_key_value(a) for a in ADDRESSES}) == 1


@pytest.fixture
def detect(capsys, tmp_path):
    def run(lines):
        path = tmp_path / "efiling.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cli.main.main(["detect", str(path)])
        out, _ = capsys.readouterr()
        return [json.loads(text) for text in out.splitlines()]
    return run


def test_bursts_by_applicant_and_by_address(detect):
    lines = [submission(n, hour=n // 60, applicant=f"A{n % 2}",  # two applicants...
                        address=ADDRESSES[n % 3]) for n in range(40)]  # ...one address
    lines += [submission(1000 + n, hour=5, applicant="SOLO") for n in range(3)]
    rules = sorted((f["rule.id"], f.get("shouwang.filing.applicant_id") or
                    f.get("shouwang.filing.address")) for f in detect(lines))
    assert rules == [("filing-address-burst", "北京市海淀区学院路1号"),
                     ("filing-applicant-burst", "a0"), ("filing-applicant-burst", "a1")]


def test_resubmissions_and_drafts_do_not_count(detect):
    lines = [submission(n % 5, hour=n // 60) for n in range(60)]   # 5 applications, resent
    lines += [submission(100 + n, action="draft_saved") for n in range(40)]
    assert detect(lines) == []
