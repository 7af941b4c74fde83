"""Per-target schedules: each target runs every `interval_secs`, at a stable offset of its own.

The offset is derived from the target's key (as Prometheus spreads scrapes), so 1,000 targets with
one interval do not all fire in the same instant, and a target keeps its phase across restarts,
which keeps rates computed from its samples regular. A run that overruns its interval skips the
ticks it missed instead of firing a burst to catch up.
"""
from __future__ import annotations

import asyncio
import time
import zlib
from typing import Awaitable, Callable


def start_offset(key: str, interval_secs: float) -> float:
    """A stable offset in [0, interval_secs) for `key`."""
    return zlib.crc32(key.encode()) / 2**32 * interval_secs


async def run_periodically(key: str, interval_secs: float, job: Callable[[], Awaitable[None]],
                           *, clock: Callable[[], float] = time.monotonic,
                           first_run_now: bool = False) -> None:
    """Run `job` every `interval_secs` until cancelled (`job` must not raise)."""
    next_at = clock() + (0.0 if first_run_now else start_offset(key, interval_secs))
    while True:
        delay = next_at - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        await job()
        next_at += interval_secs
        now = clock()
        if next_at < now:
            next_at += ((now - next_at) // interval_secs + 1) * interval_secs
