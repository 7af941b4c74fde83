"""Scrapers beyond their quota and scanners by their 404 share, from nginx access lines
through `shouwang detect`; readers and a client polling one missing URL stay quiet."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import cli.main

T0 = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone(timedelta(hours=8)))


def line(secs, ip, path, status=200, ua="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"):
    stamp = (T0 + timedelta(seconds=secs)).strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} 900 "-" "{ua}"'


@pytest.fixture
def detect(capsys, tmp_path):
    def run(lines, *rules):
        path = tmp_path / "access.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        argv = ["detect", str(path)]
        for rule in rules:
            argv += ["--rule", rule]
        code = cli.main.main(argv)
        out, _ = capsys.readouterr()
        return [json.loads(text) for text in out.splitlines()]
    return run


def test_document_scraper_is_caught_at_its_quota(detect):
    lines = [line(n * 0.5, "203.0.113.20", f"/patent/CN{112000000 + n}A") for n in range(700)]
    findings = detect(lines, "scraping-documents", "scraping-search")
    assert [(f["rule.id"], f["source.ip"]) for f in findings] == \
        [("scraping-documents", "203.0.113.20")]
    assert findings[0]["shouwang.evidence.count"] == 500
    assert findings[0]["threat.technique.id"] == "T1119"


def test_search_scraper_and_quota_override(detect, tmp_path):
    lines = [line(n, "203.0.113.21", f"/search?q=battery&page={n}") for n in range(320)]
    assert [f["rule.id"] for f in detect(lines, "scraping-search")] == ["scraping-search"]


def test_readers_stay_under_the_quota(detect):
    lines = []
    for reader in range(50):  # 50 readers, each 40 pages and searches in 10 minutes
        for n in range(40):
            path = f"/search?q=t{n}" if n % 4 == 0 else f"/patent/CN11{reader:03d}{n:04d}A"
            lines.append(line(n * 15 + reader * 0.1, f"192.0.2.{reader + 1}", path))
    lines.sort(key=lambda text: text.split("[")[1])
    assert detect(lines) == []


def test_scanner_with_mostly_404_is_flagged_by_its_share(detect):
    lines = []
    for n in range(24):  # a slow scanner: one request every 5 s, 2 of 3 missing
        path = "/" if n % 3 == 0 else f"/probe{n}.php"
        lines.append(line(n * 5, "203.0.113.30", path, 200 if n % 3 == 0 else 404))
    findings = detect(lines, "scan-web-404-ratio", "web-scanner-behaviour")
    assert [(f["rule.id"], f["source.ip"]) for f in findings] == \
        [("scan-web-404-ratio", "203.0.113.30")]
    assert findings[0]["shouwang.ratio.value"] >= 0.5


def test_polling_one_missing_url_is_not_a_scan(detect):
    lines = [line(n * 2, "192.0.2.99", "/api/v1/notifications", 404) for n in range(100)]
    assert detect(lines, "scan-web-404-ratio") == []
