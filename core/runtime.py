"""Process-wide settings for a long-running streaming process (`shouwang run`, the agent).

CPython's cyclic garbage collector runs a young-generation pass every 700 container
allocations and a full pass whenever the survivors grow by a quarter. A stream of events
waiting in queues and batches survives the young passes, so full passes came often, and
each walked every object of every imported library (pydantic, FastAPI, scapy...): at 40k
lines/s that was a quarter of all CPU time (bench/ingest.py). Events hold no reference
cycles, so collecting rarely is safe; the objects that exist once everything is built are
frozen out of the collector's view for good.
"""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000     # allocations between young passes (CPython default: 700)
OLDER_THRESHOLDS = (20, 100)


def settle_heap() -> None:
    """Call once the process has built its components, before the stream starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
