"""host_metrics over a fixture /proc and /sys tree (exact values), and its NTP check against a
tiny SNTP responder on 127.0.0.1."""
import asyncio
import os
import shutil
import struct
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from collectors.host_metrics import SPEC, HostMetricsSettings, HostMetricsSource
from collectors.host_ntp import from_ntp, to_ntp
from core.components import BuildContext
from core.metrics import PipelineMetrics
from core.pipeline import Pipeline
from core.registry import Registry

FIXTURE = Path(__file__).parent / "fixtures_proc"
GIB = 1024**3


def statvfs_of(path):
    # bsize, frsize, blocks, bfree, bavail, files, ffree, favail, flag, namemax
    table = {"/": (4096, 4096, 262144, 65536, 52428, 100000, 75000, 75000, 0, 255),
             "/srv/patent data": (4096, 1024, 1000, 0, 0, 10, 1, 1, 1, 255),
             "/run": (4096, 4096, 100, 100, 100, 50, 49, 49, 0, 255)}
    if path not in table:
        raise OSError(5, "Input/output error")
    return os.statvfs_result(table[path])


def make_source(tmp_path, proc_root=FIXTURE / "proc", clock=None, **config):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="exam-db-1",
                       clock=clock or (lambda: 1_800_000_000.0))
    settings = HostMetricsSettings(type="host_metrics", proc_root=proc_root,
                                   sys_root=FIXTURE / "sys", top_processes=1, **config)
    source = HostMetricsSource("host", settings, ctx, statvfs=statvfs_of, clk_tck=100,
                               page_size=4096)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    return source, pipeline, registry


def drain(pipeline):
    events = [event for item in pipeline.queue._items for event in item.events]
    pipeline.queue._items.clear()
    pipeline.queue.size = 0
    return events


def by_dataset(events, dataset):
    return [e for e in events if e["event.dataset"] == dataset]


async def test_prometheus_metrics_follow_node_exporter_names_with_exact_values(tmp_path):
    source, pipeline, registry = make_source(tmp_path)
    await source.collect_once(pipeline.emitter("host"))
    value = registry.get_sample_value
    assert value("node_cpu_seconds_total", {"cpu": "1", "mode": "user"}) == 10.0
    assert value("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}) == 35.0
    assert value("node_cpu_seconds_total", {"cpu": "0", "mode": "steal"}) == 0.5
    assert value("node_boot_time_seconds") == 1795616705
    assert value("node_context_switches_total") == 700183
    assert value("node_procs_blocked") == 1
    assert (value("node_load1"), value("node_load5"), value("node_load15")) == (0.98, 0.54, 0.22)
    assert value("node_memory_MemAvailable_bytes") == 3000000 * 1024
    assert value("node_memory_Active_anon_bytes") == 200000 * 1024
    assert value("node_memory_SwapFree_bytes") == 1500000 * 1024
    assert value("node_memory_HugePages_Total") == 4
    root = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    assert value("node_filesystem_size_bytes", root) == GIB
    assert value("node_filesystem_avail_bytes", root) == 52428 * 4096
    assert value("node_filesystem_free_bytes", root) == GIB / 4
    assert value("node_filesystem_files_free", root) == 75000
    data = {"device": "/dev/vdb1", "fstype": "xfs", "mountpoint": "/srv/patent data"}
    assert value("node_filesystem_readonly", data) == 1
    assert value("node_filesystem_size_bytes", data) == 1024000
    broken = {"device": "/dev/vdc1", "fstype": "ext4", "mountpoint": "/broken"}
    assert value("node_filesystem_device_error", broken) == 1
    assert value("node_filesystem_size_bytes", broken) is None
    assert value("node_filesystem_size_bytes", {"device": "proc", "fstype": "proc",
                                                "mountpoint": "/proc"}) is None
    assert value("node_filesystem_size_bytes", {"device": "tmpfs", "fstype": "tmpfs",
                                                "mountpoint": "/run"}) == 409600
    assert value("node_disk_read_bytes_total", {"device": "vda"}) == 20000 * 512
    assert value("node_disk_written_bytes_total", {"device": "vda"}) == 40000 * 512
    assert value("node_disk_io_time_seconds_total", {"device": "vda"}) == 3.0
    assert value("node_disk_io_now", {"device": "vda"}) == 2
    assert value("node_disk_reads_completed_total", {"device": "nvme0n1"}) == 10
    for partition in ("vda1", "loop0", "nvme0n1p1"):
        assert value("node_disk_reads_completed_total", {"device": partition}) is None
    assert value("node_network_receive_bytes_total", {"device": "eth0"}) == 9000000
    assert value("node_network_receive_errs_total", {"device": "eth0"}) == 7
    assert value("node_network_transmit_drop_total", {"device": "eth0"}) == 1
    assert value("node_network_up", {"device": "eth0"}) == 1
    assert value("node_network_up", {"device": "lo"}) == 0
    assert value("node_network_mtu_bytes", {"device": "eth0"}) == 1500
    assert value("node_filefd_allocated") == 2048
    assert value("node_filefd_maximum") == float(9223372036854775807)
    assert value("node_processes_pids") == 3
    assert value("node_processes_threads") == 42
    assert value("node_ntp_sanity", {"server": "x"}) is None  # no ntp_server configured


async def test_metric_events_for_the_detectors(tmp_path):
    source, pipeline, _ = make_source(tmp_path)
    await source.collect_once(pipeline.emitter("host"))
    events = drain(pipeline)
    assert all(e["event.kind"] == "metric" and e["host.name"] == "exam-db-1" for e in events)
    assert {e["@timestamp"] for e in events} == {"2027-01-15T08:00:00.000000Z"}
    [cpu] = by_dataset(events, "system.cpu")
    # since boot: busy = user 20 + nice 1 + system 5 + softirq 1 + steal 1 = 28 of 100 s
    assert cpu["system.cpu.total.norm.pct"] == 0.28
    assert cpu["system.cpu.total.pct"] == 0.56
    assert cpu["system.cpu.cores"] == 2
    [load] = by_dataset(events, "system.load")
    assert load["system.load.norm.1"] == 0.49
    [memory] = by_dataset(events, "system.memory")
    assert memory["system.memory.actual.used.pct"] == 0.25
    assert memory["system.memory.used.pct"] == 0.75
    assert memory["system.memory.swap.used.pct"] == 0.25
    filesystems = {e["system.filesystem.mount_point"]: e
                   for e in by_dataset(events, "system.filesystem")}
    assert set(filesystems) == {"/", "/run", "/srv/patent data"}
    assert filesystems["/"]["system.filesystem.used.pct"] == 0.75
    assert filesystems["/srv/patent data"]["system.filesystem.used.pct"] == 1.0
    assert filesystems["/"]["system.filesystem.files_used.pct"] == 0.25
    [eth0] = [e for e in by_dataset(events, "system.network")
              if e["system.network.name"] == "eth0"]
    assert eth0["system.network.in.errors"] == 7
    assert {e["system.diskio.name"] for e in by_dataset(events, "system.diskio")} == \
        {"vda", "nvme0n1"}
    [fd] = by_dataset(events, "system.fd")
    assert fd["system.fd.allocated"] == 2048
    [summary] = by_dataset(events, "system.process.summary")
    assert (summary["system.process.summary.total"], summary["system.process.summary.running"]) \
        == (3, 1)
    [top] = by_dataset(events, "system.process")  # top 1 by CPU and top 1 by RSS: the same one
    assert (top["process.pid"], top["process.name"]) == (4242, "java (exam)")
    assert top["system.process.memory.rss.bytes"] == 50000 * 4096


async def test_second_reading_gives_cpu_percentages_over_the_interval(tmp_path):
    proc = tmp_path / "proc"
    shutil.copytree(FIXTURE / "proc", proc)
    now = [1_800_000_000.0]
    source, pipeline, _ = make_source(tmp_path, proc_root=proc, clock=lambda: now[0])
    await source.collect_once(pipeline.emitter("host"))
    drain(pipeline)
    # 10 s later: 20 s of CPU time on 2 cores, 5 busy (user), 15 idle; sshd used 2.5 s
    (proc / "stat").write_text((proc / "stat").read_text().replace(
        "cpu  2000 100 500 7000", "cpu  2500 100 500 8500"))
    (proc / "777" / "stat").write_text((proc / "777" / "stat").read_text().replace(
        " 10 10 0 0 20", " 260 10 0 0 20"))
    now[0] += 10
    await source.collect_once(pipeline.emitter("host"))
    events = drain(pipeline)
    [cpu] = by_dataset(events, "system.cpu")
    assert cpu["system.cpu.total.norm.pct"] == 0.25
    assert cpu["system.cpu.user.pct"] == 0.5
    [top_cpu, top_rss] = sorted(by_dataset(events, "system.process"),
                                key=lambda e: e["process.pid"])
    assert (top_cpu["process.name"], top_cpu["system.process.cpu.total.pct"]) == ("sshd", 0.25)
    assert top_cpu["system.process.cpu.total.norm.pct"] == 0.125
    assert top_rss["process.name"] == "java (exam)"


async def test_missing_and_garbled_files_are_counted_errors_not_crashes(tmp_path):
    proc = tmp_path / "proc"
    shutil.copytree(FIXTURE / "proc", proc)
    (proc / "loadavg").unlink()
    (proc / "stat").write_text("cpu garbage here\n")
    source, pipeline, registry = make_source(tmp_path, proc_root=proc)
    await source.collect_once(pipeline.emitter("host"))
    events = drain(pipeline)
    errors = [e for e in events if e["event.kind"] == "pipeline_error"]
    assert sorted(e["file"] for e in errors) == ["loadavg", "stat"]
    assert registry.get_sample_value("shouwang_component_errors_total",
                                     {"component": "host", "stage": "read"}) == 2
    assert registry.get_sample_value("node_load1") is None
    assert registry.get_sample_value("node_memory_MemTotal_bytes") == 4000000 * 1024
    assert by_dataset(events, "system.memory") and not by_dataset(events, "system.cpu")


class SntpResponder(asyncio.DatagramProtocol):
    """Answers SNTP queries with a clock `skew_secs` ahead of this host's, stratum 2."""

    def __init__(self, skew_secs):
        self.skew_secs = skew_secs

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        received = to_ntp(time.time() + self.skew_secs)
        reply = bytes([0x24, 2, 6, 0xEC]) + bytes(20) + data[40:48] + received + \
            to_ntp(time.time() + self.skew_secs)
        self.transport.sendto(reply, addr)


async def test_ntp_offset_against_a_local_sntp_responder(tmp_path):
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: SntpResponder(1.5),
                                                       local_addr=("127.0.0.1", 0))
    server = f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    source, pipeline, registry = make_source(tmp_path, clock=time.time, ntp_server=server)
    await source.collect_once(pipeline.emitter("host"))
    transport.close()
    offset = registry.get_sample_value("node_ntp_offset_seconds", {"server": server})
    assert offset == pytest.approx(1.5, abs=0.02)
    assert registry.get_sample_value("node_ntp_stratum", {"server": server}) == 2
    assert registry.get_sample_value("node_ntp_sanity", {"server": server}) == 1
    assert 0 <= registry.get_sample_value("node_ntp_rtt_seconds", {"server": server}) < 0.05
    [ntp] = by_dataset(drain(pipeline), "system.ntp")
    assert ntp["system.ntp.offset.sec"] == pytest.approx(1.5, abs=0.02)


async def test_unreachable_ntp_server_is_a_counted_error_and_no_offset(tmp_path):
    source, pipeline, registry = make_source(tmp_path, clock=time.time,
                                             ntp_server="127.0.0.1:9", ntp_timeout_secs=0.3)
    await source.collect_once(pipeline.emitter("host"))
    [error] = [e for e in drain(pipeline) if e["event.kind"] == "pipeline_error"]
    assert error["shouwang.stage"] == "ntp"
    assert registry.get_sample_value("shouwang_component_errors_total",
                                     {"component": "host", "stage": "ntp"}) == 1
    assert registry.get_sample_value("node_ntp_offset_seconds", {"server": "127.0.0.1:9"}) is None
    assert registry.get_sample_value("node_ntp_sanity", {"server": "127.0.0.1:9"}) == 0


def test_ntp_timestamps_round_trip():
    assert from_ntp(to_ntp(1_800_000_000.25)) == pytest.approx(1_800_000_000.25, abs=1e-9)
    assert struct.unpack("!I", to_ntp(0)[:4])[0] == 2_208_988_800


async def test_spec_builds_on_the_real_proc_and_a_second_one_fails_loudly(tmp_path):
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    ctx = BuildContext(data_dir=tmp_path, registry=registry, metrics=metrics,
                       parsers=Registry("format"), hostname="h")
    settings = HostMetricsSettings(type="host_metrics", interval_secs=0.1)
    source = SPEC.build("host", settings, ctx)
    pipeline = Pipeline(sources=[], sinks=[], metrics=metrics)
    task = asyncio.create_task(source.run(pipeline.emitter("host")))
    await asyncio.sleep(0.35)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert registry.get_sample_value("node_load1") is not None
    assert registry.get_sample_value("node_memory_MemTotal_bytes") > 0
    assert registry.get_sample_value("shouwang_component_received_events_total",
                                     {"component": "host"}) >= 2 * 8
    with pytest.raises(ValueError, match="Duplicated"):
        SPEC.build("host2", settings, ctx)
