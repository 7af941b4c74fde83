"""file_tail on real files: appends, rotation, copytruncate, .gz, multiline, offsets after ack."""
import asyncio
import gzip
import os
import time

import orjson
import pytest

from collectors.file_tail import SPEC, FileTailSettings
from core.errors import ConfigError
from core.pipeline import Pipeline
from tests.collectors.harness import CollectingEmitter, build_context, wait_for

POLL = 0.02


def line(n: int) -> str:
    return f"Nov 25 14:25:{n % 60:02d} web01 sshd[{100 + n}]: Invalid user u{n} from 192.0.2.{n % 250} port {1000 + n}"


def settings(*paths, **extra) -> FileTailSettings:
    extra.setdefault("poll_interval_secs", POLL)
    return FileTailSettings(type="file_tail", paths=[str(p) for p in paths], **extra)


class Running:
    """A source running in the background with a collecting emitter."""

    def __init__(self, tmp_path, config, *, ack=True, component_id="logs"):
        self.source = SPEC.build(component_id, config, build_context(tmp_path))
        self.emitter = CollectingEmitter(component_id, ack=ack)

    async def __aenter__(self):
        self.task = asyncio.create_task(self.source.run(self.emitter))
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def until_lines(self, count: int):
        await wait_for(lambda: len(self.emitter.lines()) >= count)
        await asyncio.sleep(POLL * 5)  # and nothing more arrives
        return self.emitter.lines()


def write(path, lines, mode="a"):
    with open(path, mode, encoding="utf-8") as handle:
        handle.write("".join(f"{text}\n" for text in lines))


async def test_appended_lines_are_parsed_and_partial_lines_wait(tmp_path):
    log = tmp_path / "auth.log"
    write(log, [line(1), line(2)])
    async with Running(tmp_path, settings(log, read_from="beginning")) as run:
        await run.until_lines(2)
        with open(log, "a") as handle:
            handle.write(line(3)[:20])
            handle.flush()
            await asyncio.sleep(POLL * 5)
            assert len(run.emitter.lines()) == 2  # the half line is not emitted
            handle.write(line(3)[20:] + "\n")
        lines = await run.until_lines(3)
    assert lines == [line(1), line(2), line(3)]
    event = run.emitter.events[2]
    assert event["event.action"] == "ssh_invalid_user"
    assert event["source.ip"] == "192.0.2.3"


async def test_first_start_reads_existing_files_from_end_and_new_files_from_beginning(tmp_path):
    old = tmp_path / "old.log"
    write(old, [line(1), line(2)])
    async with Running(tmp_path, settings(tmp_path / "*.log")) as run:
        await asyncio.sleep(POLL * 5)
        write(old, [line(3)])
        write(tmp_path / "new.log", [line(4), line(5)])  # appears after start
        lines = await run.until_lines(3)
    assert sorted(lines) == sorted([line(3), line(4), line(5)])
    assert any("new.log" in entry for entry in run.source.describe())


async def test_missing_file_is_watched_for(tmp_path):
    log = tmp_path / "later.log"
    async with Running(tmp_path, settings(log)) as run:
        await asyncio.sleep(POLL * 5)
        write(log, [line(1)])
        assert await run.until_lines(1) == [line(1)]


async def test_rename_rotation_reads_old_inode_to_end_then_new_file(tmp_path):
    log = tmp_path / "app.log"
    write(log, [line(1)])
    async with Running(tmp_path, settings(log, read_from="beginning")) as run:
        await run.until_lines(1)
        writer = open(log, "a")
        os.rename(log, tmp_path / "app.log.1")
        writer.write(line(2) + "\n")  # the daemon writes to the old inode until reopened
        writer.close()
        write(log, [line(3), line(4)], mode="w")
        lines = await run.until_lines(4)
    assert lines == [line(1), line(2), line(3), line(4)]


async def test_copytruncate_restarts_at_zero(tmp_path):
    log = tmp_path / "app.log"
    write(log, [line(i) for i in range(1, 6)])
    async with Running(tmp_path, settings(log, read_from="beginning")) as run:
        await run.until_lines(5)
        with open(log, "r+") as handle:
            handle.truncate(0)
        write(log, [line(9)])
        lines = await run.until_lines(6)
    assert lines[-1] == line(9) and len(lines) == 6


def make_gz(path, lines, age_secs=60):
    path.write_bytes(gzip.compress("".join(f"{t}\n" for t in lines).encode()))
    past = time.time() - age_secs
    os.utime(path, (past, past))


async def test_rotated_gz_is_read_once_across_restarts(tmp_path):
    make_gz(tmp_path / "app.log.2.gz", [line(1), line(2)])
    config = settings(tmp_path / "app.log*", read_from="beginning")
    async with Running(tmp_path, config) as run:
        assert await run.until_lines(2) == [line(1), line(2)]
    async with Running(tmp_path, config) as again:
        await asyncio.sleep(POLL * 10)
    assert again.emitter.lines() == []


async def test_compressed_rotation_is_not_read_twice(tmp_path):
    log = tmp_path / "app.log"
    write(log, [line(i) for i in range(1, 30)])  # > 256 bytes: a full fingerprint
    async with Running(tmp_path, settings(tmp_path / "app.log*", read_from="beginning")) as run:
        await run.until_lines(29)
        # logrotate with compress: rename, compress, remove; a new file takes the name.
        content = log.read_bytes() + (line(30) + "\n").encode()  # one line came in late
        os.remove(log)
        packed = tmp_path / "app.log.1.gz"
        packed.write_bytes(gzip.compress(content))
        past = time.time() - 60
        os.utime(packed, (past, past))
        write(log, [line(31)], mode="w")
        lines = await run.until_lines(31)
    assert sorted(lines) == sorted(line(i) for i in range(1, 32))


async def test_truncated_gz_keeps_what_is_valid_and_reports(tmp_path):
    data = gzip.compress("".join(f"{line(i)}\n" for i in range(5000)).encode())
    packed = tmp_path / "app.log.1.gz"
    packed.write_bytes(data[: len(data) // 2])
    past = time.time() - 60
    os.utime(packed, (past, past))
    async with Running(tmp_path, settings(tmp_path / "*.gz", read_from="beginning")) as run:
        await wait_for(lambda: run.emitter.errors())
        await asyncio.sleep(POLL * 5)
    lines = run.emitter.lines()
    assert 100 < len(lines) < 5000
    assert lines[:100] == [line(i) for i in range(100)]
    [error] = run.emitter.errors()
    assert "truncated" in error["error.message"]
    assert run.emitter.count("shouwang_component_errors_total", component="logs",
                             stage="gzip") == 1


async def test_multiline_stack_trace_becomes_one_event(tmp_path):
    log = tmp_path / "app.log"
    trace = ["2026-11-25 14:25:43 ERROR boom", "Traceback (most recent call last):",
             '  File "x.py", line 1, in <module>', "ValueError: bad"]
    write(log, trace + ["2026-11-25 14:25:44 INFO fine"])
    config = settings(log, read_from="beginning",
                      multiline={"pattern": r"^\d{4}-\d\d-\d\d ", "mode": "start",
                                 "timeout_secs": 0.1})
    async with Running(tmp_path, config) as run:
        lines = await run.until_lines(2)
    assert lines == ["\n".join(trace), "2026-11-25 14:25:44 INFO fine"]


async def test_offsets_advance_only_after_ack(tmp_path):
    log = tmp_path / "app.log"
    write(log, [line(1), line(2)])
    config = settings(log, read_from="beginning")
    async with Running(tmp_path, config, ack=False) as crashed:
        await crashed.until_lines(2)  # read, handed over, never stored
    async with Running(tmp_path, config) as restarted:
        assert await restarted.until_lines(2) == [line(1), line(2)]  # read again
    write(log, [line(3)])
    async with Running(tmp_path, config) as third:
        assert await third.until_lines(1) == [line(3)]  # stored ones are not repeated
    state = orjson.loads((tmp_path / "data" / "offsets" / "logs.json").read_bytes())
    [entry] = state["files"].values()
    assert entry["offset"] == log.stat().st_size


async def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    log = tmp_path / "app.log"
    log.write_bytes(b"Nov 25 14:25:43 h app[1]: caf\xe9\nNov 25 14:25:44 h app[1]: ok\n")
    async with Running(tmp_path, settings(log, read_from="beginning")) as run:
        await run.until_lines(2)
    assert run.emitter.events[0]["message"] == "caf\ufffd"
    assert run.emitter.count("shouwang_component_errors_total", component="logs",
                             stage="decode") == 1
    assert len(run.emitter.errors()) == 1


async def test_overlong_lines_are_truncated(tmp_path):
    log = tmp_path / "app.log"
    write(log, ["x" * 5000, "short"])
    async with Running(tmp_path, settings(log, read_from="beginning",
                                          max_line_bytes=1000)) as run:
        lines = await run.until_lines(2)
    assert lines == ["x" * 1000, "short"]
    assert run.emitter.errors()[0]["shouwang.stage"] == "line_too_long"


async def test_unparsed_lines_are_kept_and_counted(tmp_path):
    log = tmp_path / "app.log"
    write(log, ["complete nonsense"])
    async with Running(tmp_path, settings(log, read_from="beginning", format="sshd")) as run:
        await run.until_lines(1)
    assert run.emitter.events[0]["tags"] == ["unparsed"]
    assert run.emitter.count("shouwang_unparsed_lines_total", component="logs") == 1


async def test_through_a_real_pipeline_offsets_follow_storage(tmp_path):
    log = tmp_path / "app.log"
    write(log, [line(i) for i in range(1, 2001)])
    ctx = build_context(tmp_path)
    source = SPEC.build("logs", settings(log, read_from="beginning"), ctx)

    class MemorySink:
        name = "memory"

        def __init__(self):
            self.events = []

        async def write(self, events):
            self.events.extend(events)

    sink = MemorySink()
    pipeline = Pipeline(sources=[source], sinks=[sink], metrics=ctx.metrics,
                        batch_max_wait_secs=0.01)
    await pipeline.start()
    state = tmp_path / "data" / "offsets" / "logs.json"

    def checkpointed() -> int:
        if not state.exists():
            return -1
        return list(orjson.loads(state.read_bytes())["files"].values())[0]["offset"]

    await wait_for(lambda: checkpointed() == log.stat().st_size)
    await pipeline.stop()
    assert len(sink.events) == 2000


def test_unknown_format_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'nginx'"):
        SPEC.build("x", settings(tmp_path / "a.log", format="ngnix"), build_context(tmp_path))
