"""Counts of (all, bad) events per fixed time bucket over a bounded span: the state of the
ratio and burn-rate rules.

Buckets start at multiples of `bucket_secs` (epoch-aligned, so every key closes a bucket at the
same instants). At most span_secs / bucket_secs + 1 buckets are kept: memory per key is fixed by
the rule, whatever the event rate. Sums over a window count whole buckets that start inside it,
so a window is exact to one bucket.

Running totals of the kept buckets are updated as buckets are counted and dropped: a window of
most of the span is the totals minus the few oldest buckets, not a walk over hundreds of them
per event (a 6 h burn-rate window holds 360 one-minute buckets).
"""
from __future__ import annotations

from collections import deque


class BucketCounts:
    __slots__ = ("bucket_secs", "span_secs", "_buckets", "_total", "_bad")

    def __init__(self, bucket_secs: float, span_secs: float):
        self.bucket_secs = bucket_secs
        self.span_secs = span_secs
        self._buckets: deque[list] = deque()  # [start, total, bad], oldest first
        self._total = self._bad = 0           # over all kept buckets

    def add(self, ts: float, bad: bool) -> None:
        start = ts - ts % self.bucket_secs
        buckets = self._buckets
        if buckets and buckets[-1][0] == start:
            bucket = buckets[-1]
        elif not buckets or start > buckets[-1][0]:
            bucket = [start, 0, 0]
            buckets.append(bucket)
            horizon = start - self.span_secs
            while buckets[0][0] < horizon:
                _, count, failed = buckets.popleft()
                self._total -= count
                self._bad -= failed
        else:
            # an older event (released early by the engine's overflow): its bucket, if kept
            bucket = next((b for b in buckets if b[0] == start), None)
            if bucket is None:
                return
        bucket[1] += 1
        self._total += 1
        if bad:
            bucket[2] += 1
            self._bad += 1

    def sums(self, now: float, window_secs: float) -> tuple[int, int]:
        """(all, bad) in the buckets starting within `window_secs` before `now`."""
        since = now - window_secs
        if window_secs * 2 > self.span_secs:   # fewer buckets before the window than in it
            total, bad = self._total, self._bad
            for start, count, failed in self._buckets:
                if start >= since:
                    break
                total -= count
                bad -= failed
            return total, bad
        total = bad = 0
        for start, count, failed in reversed(self._buckets):
            if start < since:
                break
            total += count
            bad += failed
        return total, bad
