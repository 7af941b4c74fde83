"""Audit log: chained appends, checkpoints, and detection of every kind of damage."""
from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.auditlog import AuditLog, verify
from crypto.sm2 import SM2PrivateKey

KEY = SM2PrivateKey.generate()


def _write(path, n=50, every=10, **kw):
    with AuditLog(path, KEY, checkpoint_every_records=every, **kw) as log:
        for i in range(n):
            log.append({"event.action": "login", "user.name": f"u{i}", "n": i})
    return path


def test_untouched_log_verifies(tmp_path):
    report = verify(_write(tmp_path / "audit.log"), KEY.public_key)
    assert report.ok, report.summary()
    assert report.records == 50 and report.checkpoints == 5


def test_reopen_continues_the_chain(tmp_path):
    path = _write(tmp_path / "audit.log", n=15)
    _write(path, n=7)
    report = verify(path, KEY.public_key)
    assert report.ok and report.records == 22


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_edited_record_is_named(tmp_path):
    path = _write(tmp_path / "audit.log")
    lines = _lines(path)
    lines[3] = lines[3].replace(b'"u3"', b'"u9"')
    path.write_bytes(b"".join(lines))
    report = verify(path, KEY.public_key)
    assert not report.ok and report.line == 4 and "edited" in report.reason


def test_deleted_record_is_named(tmp_path):
    path = _write(tmp_path / "audit.log")
    lines = _lines(path)
    del lines[5]
    path.write_bytes(b"".join(lines))
    report = verify(path, KEY.public_key)
    assert not report.ok and report.line == 6 and "deleted" in report.reason


def test_inserted_record_is_named(tmp_path):
    path = _write(tmp_path / "audit.log")
    lines = _lines(path)
    lines.insert(7, lines[6])
    path.write_bytes(b"".join(lines))
    report = verify(path, KEY.public_key)
    assert not report.ok and report.line == 8 and "inserted" in report.reason


def test_tail_truncation_is_detected_by_the_head(tmp_path):
    path = _write(tmp_path / "audit.log")
    lines = _lines(path)
    path.write_bytes(b"".join(lines[:-12]))  # whole records, chain still intact
    report = verify(path, KEY.public_key)
    assert not report.ok and "truncated" in report.reason


def test_rewritten_chain_fails_the_checkpoint_signature(tmp_path):
    # An attacker recomputes every hash after an edit: only the signatures stop them.
    import orjson
    from crypto.sm3 import sm3

    path = _write(tmp_path / "audit.log", n=30)
    out, prev = [], "0" * 64
    for raw in _lines(path):
        rec = orjson.loads(raw)
        if rec.get("data", {}).get("n") == 4:
            rec["data"]["user.name"] = "mallory"
        rec["prev"] = prev
        line = orjson.dumps(rec)
        prev = sm3(line).hex()
        out.append(line + b"\n")
    path.write_bytes(b"".join(out))
    report = verify(path, KEY.public_key)
    assert not report.ok and "signature" in report.reason


def test_other_signing_key_is_rejected(tmp_path):
    path = _write(tmp_path / "audit.log", n=12)
    report = verify(path, SM2PrivateKey.generate().public_key)
    assert not report.ok and "key" in report.reason


def test_time_based_checkpoint(tmp_path):
    now = [1000.0]
    with AuditLog(tmp_path / "a.log", KEY, checkpoint_every_records=10_000,
                  checkpoint_every_secs=5, clock=lambda: now[0]) as log:
        log.append({"a": 1})
        now[0] += 6
        log.append({"a": 2})  # T passed: a checkpoint follows this record
        assert b"checkpoint" in (tmp_path / "a.log").read_bytes()
    assert verify(tmp_path / "a.log", KEY.public_key).ok


def test_partial_last_line_is_cut_and_recorded(tmp_path):
    path = _write(tmp_path / "audit.log", n=10)
    with open(path, "ab") as f:
        f.write(b'{"seq":11,"ts":1.0,"pr')  # crash mid-write
    _write(path, n=2)
    report = verify(path, KEY.public_key)
    assert report.ok
    assert b"partial last line removed" in path.read_bytes()


def test_append_rate_meets_20k_per_second(tmp_path):
    n = 20_000
    start = time.perf_counter()
    _write(tmp_path / "rate.log", n=n, every=1000)
    rate = n / (time.perf_counter() - start)
    assert rate > 20_000, f"{rate:.0f} records/s"


# ---------------------------------------------------------------- random damage
_TEMPLATE = {}


def _template(tmp_path_factory):
    if not _TEMPLATE:
        path = tmp_path_factory.mktemp("audit") / "audit.log"
        _write(path, n=40, every=8)
        _TEMPLATE["log"] = path.read_bytes()
        _TEMPLATE["head"] = path.with_name("audit.log.head").read_bytes()
    return _TEMPLATE["log"], _TEMPLATE["head"]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_any_byte_change_or_cut_is_detected(tmp_path_factory, data):
    log, head = _template(tmp_path_factory)
    pos = data.draw(st.integers(0, len(log) - 1))
    if data.draw(st.booleans()):
        new = data.draw(st.integers(0, 255).filter(lambda b: b != log[pos]))
        damaged = log[:pos] + bytes([new]) + log[pos + 1:]
    else:
        length = data.draw(st.integers(1, len(log) - pos))
        damaged = log[:pos] + log[pos + length:]
    target = tmp_path_factory.mktemp("d") / "audit.log"
    target.write_bytes(damaged)
    target.with_name("audit.log.head").write_bytes(head)
    report = verify(target, KEY.public_key)
    assert not report.ok, (pos, report.summary())
