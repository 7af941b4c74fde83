"""host_metrics source: this host's CPU, load, memory, filesystems, disks, network, file handles,
processes and NTP clock offset, every `interval_secs`.

Two outputs from one reading:
- Prometheus metrics with node_exporter's names (node_cpu_seconds_total{cpu,mode}, node_load1,
  node_memory_MemAvailable_bytes, node_filesystem_avail_bytes{device,fstype,mountpoint},
  node_disk_read_bytes_total{device}, node_network_receive_errs_total{device},
  node_filefd_allocated, node_processes_pids, node_ntp_offset_seconds{server}, ...) from a
  Collector on the application registry that serves the last reading (a scrape does no I/O).
  The clock offset is node_exporter's ntp collector's node_ntp_offset_seconds (offset against a
  server), not node_timex_offset_seconds (the kernel's own adjtimex state).
- Metric events (event.kind=metric) in Metricbeat's shape for the detectors: system.cpu,
  system.load, system.memory, system.filesystem, system.diskio, system.network, system.process
  (top N by CPU and by RSS), system.process.summary, system.fd, system.ntp. Percentages are
  fractions (0.25 = 25%); system.cpu.total.pct spans 0..cores, .norm.pct 0..1, both over the
  last interval (the first reading uses the counters since boot).
A file that cannot be read or parsed is a counted error (stage `read`, with a pipeline_error
event), and the rest of the reading goes on; an unreachable NTP server is a counted error
(stage `ntp`): its offset is then absent and node_ntp_sanity is 0.
"""
from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import Field

from core.components import BuildContext, ComponentSpec
from core.events import format_ts, new_event
from core.settings import StrictModel
from collectors import host_ntp, host_proc
from collectors.host_proc import CPU_MODES, NETDEV_FIELDS, SECTOR_BYTES


class HostMetricsSettings(StrictModel):
    type: Literal["host_metrics"]
    interval_secs: float = Field(15.0, gt=0)
    proc_root: Path = Field(Path("/proc"), description="where procfs is mounted")
    sys_root: Path = Field(Path("/sys"), description="where sysfs is mounted")
    rootfs: Path = Field(Path("/"), description="prefix of mount points for statvfs (the host's "
                         "/ when running in a container)")
    top_processes: int = Field(5, ge=0, le=100, description="processes reported by CPU and RSS")
    ntp_server: str | None = Field(None, description="host[:port] to measure the clock offset "
                                   "against; none: no NTP check")
    ntp_timeout_secs: float = Field(2.0, gt=0, le=30)


@dataclass
class Reading:
    """One pass over /proc and /sys; a part that failed is None and named in `problems`."""

    taken_at: float
    stat: host_proc.CpuStat | None = None
    load: tuple[float, float, float] | None = None
    memory: dict[str, float] | None = None
    filesystems: list[tuple[tuple[str, str, str, bool], os.statvfs_result | None]] | None = None
    disks: dict[str, list[float]] | None = None
    network: dict[str, dict[str, float]] | None = None
    interfaces: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    file_nr: tuple[float, float] | None = None
    processes: list[host_proc.Process] | None = None
    ntp: host_ntp.NtpReading | None = None
    ntp_server: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)


class HostReader:
    """Takes readings through injectable roots, statvfs, clock tick and page size."""

    def __init__(self, proc_root: Path, sys_root: Path, rootfs: Path = Path("/"),
                 statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
                 clk_tck: int | None = None, page_size: int | None = None,
                 clock: Callable[[], float] = time.time):
        self.proc = Path(proc_root)
        self.sys = Path(sys_root)
        self.rootfs = Path(rootfs)
        self.statvfs = statvfs
        self.clk_tck = clk_tck or os.sysconf("SC_CLK_TCK")
        self.page_size = page_size or os.sysconf("SC_PAGE_SIZE")
        self.clock = clock

    def _part(self, reading: Reading, name: str, read: Callable):
        try:
            return read()
        except (OSError, ValueError, IndexError) as exc:
            reading.problems.append((name, f"{type(exc).__name__}: {exc}"))
            return None

    def read(self) -> Reading:
        reading = Reading(self.clock())
        reading.stat = self._part(reading, "stat",
                                  lambda: host_proc.read_stat(self.proc, self.clk_tck))
        reading.load = self._part(reading, "loadavg", lambda: host_proc.read_loadavg(self.proc))
        reading.memory = self._part(reading, "meminfo", lambda: host_proc.read_meminfo(self.proc))
        mounts = self._part(reading, "mounts", lambda: host_proc.read_mounts(self.proc))
        if mounts is not None:
            reading.filesystems = [(mount, self._statvfs(mount[1])) for mount in mounts]
        reading.disks = self._part(reading, "diskstats",
                                   lambda: host_proc.read_diskstats(self.proc))
        reading.network = self._part(reading, "net/dev", lambda: host_proc.read_netdev(self.proc))
        for device in reading.network or ():
            reading.interfaces[device] = host_proc.read_interface_state(self.sys, device)
        reading.file_nr = self._part(reading, "file-nr",
                                     lambda: host_proc.read_file_nr(self.proc))
        reading.processes = self._part(reading, "processes", lambda: host_proc.read_processes(
            self.proc, self.clk_tck, self.page_size))
        return reading

    def _statvfs(self, mountpoint: str) -> os.statvfs_result | None:
        try:
            return self.statvfs(str(self.rootfs / mountpoint.lstrip("/")))
        except OSError:
            return None  # exported as node_filesystem_device_error 1


def _memory_metric_name(field_name: str) -> str:
    """node_exporter's naming: 'Active(anon)' -> node_memory_Active_anon_bytes."""
    count = field_name.endswith("#")
    name = re.sub(r"\((.*)\)", r"_\1", field_name.rstrip("#"))
    return f"node_memory_{name}" if count else f"node_memory_{name}_bytes"


DISK_COUNTERS = (  # (metric, index into the diskstats fields, scale)
    ("node_disk_reads_completed_total", 0, 1), ("node_disk_reads_merged_total", 1, 1),
    ("node_disk_read_bytes_total", 2, SECTOR_BYTES), ("node_disk_read_time_seconds_total", 3,
                                                      0.001),
    ("node_disk_writes_completed_total", 4, 1), ("node_disk_writes_merged_total", 5, 1),
    ("node_disk_written_bytes_total", 6, SECTOR_BYTES),
    ("node_disk_write_time_seconds_total", 7, 0.001),
    ("node_disk_io_time_seconds_total", 9, 0.001),
    ("node_disk_io_time_weighted_seconds_total", 10, 0.001),
)


def families(reading: Reading) -> list:
    """node_exporter-named metric families of one reading."""
    out: list = []

    def gauge(name, help_text, value, labels=None):
        family = GaugeMetricFamily(name, help_text, labels=list(labels or ()))
        out.append(family)
        if value is not None:
            family.add_metric([], value)
        return family

    if reading.stat is not None:
        stat = reading.stat
        cpu = CounterMetricFamily("node_cpu_seconds_total", "Seconds the CPUs spent in each "
                                  "mode.", labels=["cpu", "mode"])
        for number, modes in sorted(stat.per_cpu.items(), key=lambda item: int(item[0])):
            for mode in CPU_MODES:
                cpu.add_metric([number, mode], modes[mode])
        out.append(cpu)
        gauge("node_boot_time_seconds", "Node boot time, in unixtime.", stat.boot_time)
        for name, help_text, value in (
                ("node_context_switches_total", "Total number of context switches.",
                 stat.context_switches),
                ("node_forks_total", "Total number of forks.", stat.forks),
                ("node_intr_total", "Total number of interrupts serviced.", stat.interrupts)):
            counter = CounterMetricFamily(name, help_text)
            counter.add_metric([], value)
            out.append(counter)
        gauge("node_procs_running", "Number of processes in runnable state.", stat.procs_running)
        gauge("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.",
              stat.procs_blocked)
    if reading.load is not None:
        for minutes, value in zip((1, 5, 15), reading.load):
            gauge(f"node_load{minutes}", f"{minutes}m load average.", value)
    if reading.memory is not None:
        for field_name, value in reading.memory.items():
            gauge(_memory_metric_name(field_name),
                  f"Memory information field {field_name.rstrip('#')}.", value)
    if reading.filesystems is not None:
        labels = ["device", "fstype", "mountpoint"]
        size = GaugeMetricFamily("node_filesystem_size_bytes", "Filesystem size in bytes.",
                                 labels=labels)
        free = GaugeMetricFamily("node_filesystem_free_bytes", "Filesystem free space in bytes.",
                                 labels=labels)
        avail = GaugeMetricFamily("node_filesystem_avail_bytes", "Filesystem space available "
                                  "to non-root users in bytes.", labels=labels)
        files = GaugeMetricFamily("node_filesystem_files", "Filesystem total file nodes.",
                                  labels=labels)
        files_free = GaugeMetricFamily("node_filesystem_files_free", "Filesystem total free "
                                       "file nodes.", labels=labels)
        readonly = GaugeMetricFamily("node_filesystem_readonly", "Filesystem read-only status.",
                                     labels=labels)
        error = GaugeMetricFamily("node_filesystem_device_error", "Whether an error occurred "
                                  "while getting statistics for the given device.", labels=labels)
        for (device, mountpoint, fstype, ro), vfs in reading.filesystems:
            key = [device, fstype, mountpoint]
            error.add_metric(key, 0 if vfs is not None else 1)
            readonly.add_metric(key, 1 if ro else 0)
            if vfs is None:
                continue
            size.add_metric(key, vfs.f_blocks * vfs.f_frsize)
            free.add_metric(key, vfs.f_bfree * vfs.f_frsize)
            avail.add_metric(key, vfs.f_bavail * vfs.f_frsize)
            files.add_metric(key, vfs.f_files)
            files_free.add_metric(key, vfs.f_ffree)
        out.extend((size, free, avail, files, files_free, readonly, error))
    if reading.disks is not None:
        for name, index, scale in DISK_COUNTERS:
            family = CounterMetricFamily(name, f"/proc/diskstats field {index + 4}.",
                                         labels=["device"])
            for device, values in sorted(reading.disks.items()):
                family.add_metric([device], values[index] * scale)
            out.append(family)
        io_now = GaugeMetricFamily("node_disk_io_now", "The number of I/Os currently in "
                                   "progress.", labels=["device"])
        for device, values in sorted(reading.disks.items()):
            io_now.add_metric([device], values[8])
        out.append(io_now)
    if reading.network is not None:
        for field_name in NETDEV_FIELDS:
            family = CounterMetricFamily(f"node_network_{field_name}_total",
                                         f"Network device statistic {field_name}.",
                                         labels=["device"])
            for device, values in sorted(reading.network.items()):
                family.add_metric([device], values[field_name])
            out.append(family)
        up = GaugeMetricFamily("node_network_up", "Value is 1 if operstate is 'up', 0 "
                               "otherwise.", labels=["device"])
        mtu = GaugeMetricFamily("node_network_mtu_bytes", "Network device property: mtu_bytes",
                                labels=["device"])
        for device, (is_up, mtu_bytes) in sorted(reading.interfaces.items()):
            if is_up is not None:
                up.add_metric([device], is_up)
            if mtu_bytes is not None:
                mtu.add_metric([device], mtu_bytes)
        out.extend((up, mtu))
    if reading.file_nr is not None:
        gauge("node_filefd_allocated", "File descriptor statistics: allocated.",
              reading.file_nr[0])
        gauge("node_filefd_maximum", "File descriptor statistics: maximum.", reading.file_nr[1])
    if reading.processes is not None:
        gauge("node_processes_pids", "Number of PIDs", len(reading.processes))
        gauge("node_processes_threads", "Allocated threads in system",
              sum(p.threads for p in reading.processes))
    if reading.ntp_server is not None:
        labels = ["server"]
        sanity = gauge("node_ntp_sanity", "NTPD sanity according to RFC5905 heuristics and "
                       "configured limits.", None, labels)
        sanity.add_metric([reading.ntp_server], 1 if reading.ntp is not None else 0)
        if reading.ntp is not None:
            for name, help_text, value in (
                    ("node_ntp_offset_seconds", "ClockOffset between NTP and local clock.",
                     reading.ntp.offset_secs),
                    ("node_ntp_rtt_seconds", "RTT to NTP server.", reading.ntp.rtt_secs),
                    ("node_ntp_stratum", "NTPD stratum.", reading.ntp.stratum)):
                gauge(name, help_text, None, labels).add_metric([reading.ntp_server], value)
    return [family for family in out if family.samples]


class HostCollector:
    """Serves the last reading on each scrape; describe() names one family so that a second
    host_metrics source on the same registry fails loudly at build time."""

    def __init__(self):
        self.reading: Reading | None = None

    def describe(self):
        return [GaugeMetricFamily("node_load1", "1m load average.")]

    def collect(self):
        reading = self.reading
        return families(reading) if reading is not None else []


def _pct(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def events(reading: Reading, previous: Reading | None, hostname: str, top: int) -> list[dict]:
    """Metricbeat-shaped metric events of one reading (deltas against `previous`)."""
    timestamp = format_ts(reading.taken_at)
    out: list[dict] = []

    def event(dataset: str, **values) -> dict:
        item = new_event(dataset, kind="metric", timestamp=timestamp)
        item["host.name"] = hostname
        item.update(values)
        out.append(item)
        return item

    cores = len(reading.stat.per_cpu) if reading.stat else 0
    if reading.stat is not None and cores:
        now = reading.stat.total
        before = previous.stat.total if previous and previous.stat else dict.fromkeys(now, 0.0)
        delta = {mode: max(0.0, now[mode] - before.get(mode, 0.0)) for mode in CPU_MODES}
        elapsed = sum(delta.values())
        values = {"system.cpu.cores": cores}
        for mode in CPU_MODES:
            values[f"system.cpu.{mode}.norm.pct"] = _pct(delta[mode], elapsed)
            values[f"system.cpu.{mode}.pct"] = round(_pct(delta[mode], elapsed) * cores, 4)
        busy = elapsed - delta["idle"] - delta["iowait"]
        values["system.cpu.total.norm.pct"] = _pct(busy, elapsed)
        values["system.cpu.total.pct"] = round(_pct(busy, elapsed) * cores, 4)
        event("system.cpu", **values)
    if reading.load is not None:
        values = {"system.load.1": reading.load[0], "system.load.5": reading.load[1],
                  "system.load.15": reading.load[2]}
        if cores:
            values["system.load.cores"] = cores
            for minutes, value in zip((1, 5, 15), reading.load):
                values[f"system.load.norm.{minutes}"] = round(value / cores, 4)
        event("system.load", **values)
    memory = reading.memory
    if memory is not None and memory.get("MemTotal"):
        total, free = memory["MemTotal"], memory.get("MemFree", 0.0)
        available = memory.get("MemAvailable", free)
        swap_total, swap_free = memory.get("SwapTotal", 0.0), memory.get("SwapFree", 0.0)
        event("system.memory", **{
            "system.memory.total": total, "system.memory.free": free,
            "system.memory.used.bytes": total - free,
            "system.memory.used.pct": _pct(total - free, total),
            "system.memory.actual.free": available,
            "system.memory.actual.used.bytes": total - available,
            "system.memory.actual.used.pct": _pct(total - available, total),
            "system.memory.swap.total": swap_total, "system.memory.swap.free": swap_free,
            "system.memory.swap.used.bytes": swap_total - swap_free,
            "system.memory.swap.used.pct": _pct(swap_total - swap_free, swap_total)})
    for (device, mountpoint, fstype, _), vfs in reading.filesystems or ():
        if vfs is None:
            continue
        total = vfs.f_blocks * vfs.f_frsize
        used = total - vfs.f_bfree * vfs.f_frsize
        event("system.filesystem", **{
            "system.filesystem.device_name": device, "system.filesystem.mount_point": mountpoint,
            "system.filesystem.type": fstype, "system.filesystem.total": total,
            "system.filesystem.free": vfs.f_bfree * vfs.f_frsize,
            "system.filesystem.available": vfs.f_bavail * vfs.f_frsize,
            "system.filesystem.used.bytes": used, "system.filesystem.used.pct": _pct(used, total),
            "system.filesystem.files": vfs.f_files,
            "system.filesystem.free_files": vfs.f_ffree,
            "system.filesystem.files_used.pct": _pct(vfs.f_files - vfs.f_ffree, vfs.f_files)})
    for device, values in sorted((reading.disks or {}).items()):
        event("system.diskio", **{
            "system.diskio.name": device, "system.diskio.read.count": values[0],
            "system.diskio.read.bytes": values[2] * SECTOR_BYTES,
            "system.diskio.read.time": values[3], "system.diskio.write.count": values[4],
            "system.diskio.write.bytes": values[6] * SECTOR_BYTES,
            "system.diskio.write.time": values[7], "system.diskio.io.ops": values[8],
            "system.diskio.io.time": values[9]})
    for device, values in sorted((reading.network or {}).items()):
        event("system.network", **{
            "system.network.name": device,
            "system.network.in.bytes": values["receive_bytes"],
            "system.network.in.packets": values["receive_packets"],
            "system.network.in.errors": values["receive_errs"],
            "system.network.in.dropped": values["receive_drop"],
            "system.network.out.bytes": values["transmit_bytes"],
            "system.network.out.packets": values["transmit_packets"],
            "system.network.out.errors": values["transmit_errs"],
            "system.network.out.dropped": values["transmit_drop"]})
    if reading.file_nr is not None:
        event("system.fd", **{"system.fd.allocated": reading.file_nr[0],
                              "system.fd.maximum": reading.file_nr[1],
                              "system.fd.used.pct": _pct(*reading.file_nr)})
    if reading.processes is not None:
        states: dict[str, int] = {}
        for process in reading.processes:
            states[process.state] = states.get(process.state, 0) + 1
        event("system.process.summary", **{
            "system.process.summary.total": len(reading.processes),
            "system.process.summary.running": states.get("R", 0),
            "system.process.summary.sleeping": states.get("S", 0) + states.get("I", 0),
            "system.process.summary.stopped": states.get("T", 0),
            "system.process.summary.zombie": states.get("Z", 0)})
        out.extend(_top_processes(reading, previous, hostname, timestamp, top, cores))
    if reading.ntp is not None:
        event("system.ntp", **{"system.ntp.server": reading.ntp.server,
                               "system.ntp.offset.sec": reading.ntp.offset_secs,
                               "system.ntp.rtt.sec": reading.ntp.rtt_secs,
                               "system.ntp.stratum": reading.ntp.stratum})
    return out


def _top_processes(reading: Reading, previous: Reading | None, hostname: str, timestamp: str,
                   top: int, cores: int) -> list[dict]:
    if not top:
        return []
    before = {(p.pid, p.name): p.cpu_secs for p in (previous.processes or [])} \
        if previous else {}
    elapsed = reading.taken_at - previous.taken_at if previous else 0.0
    # A process new since the last reading counts from zero; on the first reading the ranking
    # is by CPU seconds since each process started and no percentage is given.
    used = {p.pid: p.cpu_secs - before.get((p.pid, p.name), 0.0) for p in reading.processes}
    by_cpu = sorted(reading.processes, key=lambda p: (-used[p.pid], p.pid))[:top]
    by_rss = sorted(reading.processes, key=lambda p: (-p.rss_bytes, p.pid))[:top]
    chosen = {p.pid: p for p in [*by_cpu, *by_rss]}
    out = []
    for process in sorted(chosen.values(), key=lambda p: p.pid):
        item = new_event("system.process", kind="metric", timestamp=timestamp)
        item["host.name"] = hostname
        item["process.pid"] = process.pid
        item["process.name"] = process.name
        item["system.process.state"] = process.state
        item["system.process.memory.rss.bytes"] = process.rss_bytes
        item["system.process.cpu.total.value"] = process.cpu_secs
        if elapsed > 0:
            pct = round(max(0.0, used[process.pid]) / elapsed, 4)
            item["system.process.cpu.total.pct"] = pct
            if cores:
                item["system.process.cpu.total.norm.pct"] = round(pct / cores, 4)
        out.append(item)
    return out


class HostMetricsSource:
    """Reads the host every interval, serves the reading to Prometheus and emits events."""

    def __init__(self, component_id: str, settings: HostMetricsSettings, ctx: BuildContext,
                 statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
                 clk_tck: int | None = None, page_size: int | None = None):
        self.id = component_id
        self.settings = settings
        self.hostname = ctx.hostname
        self.clock = ctx.clock
        self.reader = HostReader(settings.proc_root, settings.sys_root, settings.rootfs,
                                 statvfs, clk_tck, page_size, ctx.clock)
        self.collector = HostCollector()
        ctx.registry.register(self.collector)
        self.previous: Reading | None = None

    def describe(self) -> list[str]:
        where = [f"host metrics from {self.settings.proc_root} and {self.settings.sys_root}"]
        if self.settings.ntp_server:
            where.append(f"ntp offset against {self.settings.ntp_server}")
        return where

    async def run(self, emitter) -> None:
        while True:
            started = time.monotonic()
            await self.collect_once(emitter)
            await asyncio.sleep(max(0.0, self.settings.interval_secs
                                    - (time.monotonic() - started)))

    async def collect_once(self, emitter) -> Reading:
        """One reading: /proc in a thread (statvfs may block), NTP on the loop."""
        reading = await asyncio.to_thread(self.reader.read)
        errors = [emitter.error("read", reason, file=part) for part, reason in reading.problems]
        if self.settings.ntp_server:
            reading.ntp_server = self.settings.ntp_server
            try:
                reading.ntp = await host_ntp.query(self.settings.ntp_server,
                                                   self.settings.ntp_timeout_secs, self.clock)
            except host_ntp.NtpError as exc:
                errors.append(emitter.error("ntp", str(exc)))
        self.collector.reading = reading
        batch = events(reading, self.previous, self.hostname, self.settings.top_processes)
        self.previous = reading
        emitter.emit_nowait(batch + errors)
        return reading


def build(component_id: str, settings: HostMetricsSettings,
          ctx: BuildContext) -> HostMetricsSource:
    return HostMetricsSource(component_id, settings, ctx)


SPEC = ComponentSpec(type="host_metrics", settings=HostMetricsSettings, build=build,
                     description="this host's CPU, memory, disks, network, processes, clock")
