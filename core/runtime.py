"""Process-wide settings for a long-running streaming process (`shouwang run`, the agent).

Garbage collector: CPython runs a young-generation pass every 700 container allocations and
a full pass whenever the survivors grow by a quarter. A stream of events waiting in queues
and batches survives the young passes, so full passes came often, and each walked every
object of every imported library (pydantic, FastAPI, scapy...): at 40k lines/s that was a
quarter of all CPU time (bench/ingest.py). Events hold no reference cycles, so collecting
rarely is safe; the objects that exist once everything is built are frozen out of the
collector's view for good.

C heap: each batch allocates a few MB (row documents, request bodies) and frees them
together. glibc gives the top of its heap back to the kernel as soon as 128 KiB are free, so
every batch faulted its pages in again: building the rows of 2M events spent 2.7 of its 8.5 s
in page faults (0.01 s with this). The heap now keeps up to TRIM_THRESHOLD of free memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

YOUNG_THRESHOLD = 50_000     # allocations between young passes (CPython default: 700)
OLDER_THRESHOLDS = (20, 100)

M_TRIM_THRESHOLD = -1        # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 64 << 20
# Setting the trim threshold freezes glibc's adaptive mmap threshold at 128 KiB; blocks up to
# this size (SQLite's page cache chunks, large bodies) stay on the reusable heap instead.
MMAP_THRESHOLD = 4 << 20


def settle_heap() -> None:
    """Call once the process has built its components, before the stream starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    _keep_free_heap()


def _keep_free_heap() -> None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):     # not glibc (musl, macOS): nothing to tune
        return
    mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
