"""Readers of the Linux /proc and /sys files host_metrics uses: pure functions of a root path.

Each returns plain values parsed from one file and raises OSError (missing, unreadable) or
ValueError (unparsable): the caller counts those and carries on with the other readers. Units
are converted to SI here (seconds, bytes) so that exporters and events agree.
Roots are injectable (like prometheus client_python's ProcessCollector) so tests read a fixture
tree and assert exact values.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# node_exporter's defaults: pseudo and virtual filesystems, and mount points that are not disks.
PSEUDO_FS = frozenset(("autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs "
                       "fusectl hugetlbfs iso9660 mqueue nsfs overlay proc procfs pstore "
                       "rpc_pipefs securityfs selinuxfs squashfs sysfs tracefs").split())
IGNORED_MOUNTS = re.compile(
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)")
IGNORED_DISKS = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
NETDEV_FIELDS = ("receive_bytes", "receive_packets", "receive_errs", "receive_drop",
                 "receive_fifo", "receive_frame", "receive_compressed", "receive_multicast",
                 "transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop",
                 "transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed")
SECTOR_BYTES = 512  # /proc/diskstats counts 512-byte sectors whatever the device's sector size


@dataclass
class CpuStat:
    per_cpu: dict[str, dict[str, float]]  # "0" -> mode -> seconds
    total: dict[str, float]               # the aggregate "cpu" line, mode -> seconds
    boot_time: float = 0.0
    context_switches: float = 0.0
    forks: float = 0.0
    interrupts: float = 0.0
    procs_running: float = 0.0
    procs_blocked: float = 0.0


def read_stat(proc: Path, clk_tck: int) -> CpuStat:
    stat = CpuStat({}, {})
    for line in (proc / "stat").read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        if key.startswith("cpu"):
            ticks = [int(value) for value in parts[1:1 + len(CPU_MODES)]]
            modes = {mode: value / clk_tck for mode, value in zip(CPU_MODES, ticks)}
            if key == "cpu":
                stat.total = modes
            else:
                stat.per_cpu[key[3:]] = modes
        elif key == "btime":
            stat.boot_time = float(parts[1])
        elif key == "ctxt":
            stat.context_switches = float(parts[1])
        elif key == "processes":
            stat.forks = float(parts[1])
        elif key == "intr":
            stat.interrupts = float(parts[1])
        elif key == "procs_running":
            stat.procs_running = float(parts[1])
        elif key == "procs_blocked":
            stat.procs_blocked = float(parts[1])
    if not stat.total:
        raise ValueError("no cpu line in stat")
    return stat


def read_loadavg(proc: Path) -> tuple[float, float, float]:
    parts = (proc / "loadavg").read_text().split()
    return float(parts[0]), float(parts[1]), float(parts[2])


def read_meminfo(proc: Path) -> dict[str, float]:
    """Field -> value; fields in kB are converted to bytes (the name then ends in '_bytes' when
    exported), counts (HugePages_Total) are kept as they are."""
    values: dict[str, float] = {}
    for line in (proc / "meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        value = float(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            values[name.strip()] = value * 1024
        else:
            values[name.strip() + "#"] = value  # '#': a count, not bytes
    return values


def _unescape(text: str) -> str:
    """Mount table fields escape space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mounts(proc: Path) -> list[tuple[str, str, str, bool]]:
    """(device, mount point, fstype, read-only) of real filesystems, one per mount point."""
    mounts: dict[str, tuple[str, str, str, bool]] = {}
    for line in (proc / "self" / "mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        device, mountpoint, fstype, options = (_unescape(parts[0]), _unescape(parts[1]),
                                               parts[2], parts[3])
        if fstype in PSEUDO_FS or IGNORED_MOUNTS.match(mountpoint):
            continue
        # The same mount point twice (over-mounted): the last one is what a path resolves to.
        mounts[mountpoint] = (device, mountpoint, fstype, "ro" in options.split(","))
    return list(mounts.values())


def read_diskstats(proc: Path) -> dict[str, list[float]]:
    """Device -> the 11 classic counters of /proc/diskstats (partitions and loop devices left
    out, as node_exporter does)."""
    disks = {}
    for line in (proc / "diskstats").read_text().splitlines():
        parts = line.split()
        if len(parts) < 14 or IGNORED_DISKS.match(parts[2]):
            continue
        disks[parts[2]] = [float(value) for value in parts[3:14]]
    return disks


def read_netdev(proc: Path) -> dict[str, dict[str, float]]:
    interfaces = {}
    for line in (proc / "net" / "dev").read_text().splitlines()[2:]:
        name, sep, rest = line.partition(":")
        values = rest.split()
        if not sep or len(values) < len(NETDEV_FIELDS):
            continue
        interfaces[name.strip()] = {field: float(value)
                                    for field, value in zip(NETDEV_FIELDS, values)}
    return interfaces


def read_interface_state(sys_root: Path, device: str) -> tuple[float | None, float | None]:
    """(1 if operstate is 'up' else 0, mtu) from /sys/class/net; None where unreadable."""
    folder = sys_root / "class" / "net" / device
    try:
        up = 1.0 if (folder / "operstate").read_text().strip() == "up" else 0.0
    except OSError:
        up = None
    try:
        mtu = float((folder / "mtu").read_text().strip())
    except (OSError, ValueError):
        mtu = None
    return up, mtu


def read_file_nr(proc: Path) -> tuple[float, float]:
    """(allocated, maximum) file handles, fields 1 and 3 as node_exporter takes them (the
    middle 'free' field is always 0 since Linux 2.6)."""
    parts = (proc / "sys" / "fs" / "file-nr").read_text().split()
    return float(parts[0]), float(parts[2])


@dataclass
class Process:
    pid: int
    name: str
    state: str
    cpu_secs: float
    rss_bytes: float
    threads: int


def read_processes(proc: Path, clk_tck: int, page_size: int) -> list[Process]:
    """Every process readable now; ones that exit while being read are skipped."""
    processes = []
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            text = (proc / entry.name / "stat").read_text()
        except OSError:
            continue
        head, _, tail = text.rpartition(")")
        fields = tail.split()
        if len(fields) < 22:
            continue
        processes.append(Process(
            pid=int(entry.name), name=head.partition("(")[2], state=fields[0],
            cpu_secs=(int(fields[11]) + int(fields[12])) / clk_tck,
            rss_bytes=float(int(fields[21]) * page_size), threads=int(fields[17])))
    return processes
