"""Keep libgmssl's failure traces off our stderr.

libgmssl prints ``file.c:line:func():`` lines on fd 2 whenever a verify or decrypt fails. In a
monitoring product that is noise that looks like a fault, so calls that may fail run inside
``quiet_stderr()``: fd 2 is pointed at a private temporary file for the duration of the call,
under a process-wide lock (fd 2 is process state, so two threads must not swap it at once).
Afterwards anything captured that is not a GmSSL trace (a line some other thread wrote during
the window) is written back to the real stderr, so nothing else is lost; traces go to the
``crypto.gmssl`` logger at DEBUG.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading

_log = logging.getLogger("crypto.gmssl")
_lock = threading.Lock()
_capture_fd: int | None = None
_TRACE = re.compile(rb"^/?[\w./-]+\.c:\d+:\w+\(\):")


def _capture() -> int:
    global _capture_fd
    if _capture_fd is None:
        handle = tempfile.TemporaryFile()  # unlinked at once; private to this process
        _capture_fd = os.dup(handle.fileno())
        handle.close()
    return _capture_fd


@contextlib.contextmanager
def quiet_stderr():
    """Run the body with fd 2 captured; release it before returning."""
    with _lock:
        capture = _capture()
        saved = os.dup(2)
        try:
            os.dup2(capture, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(capture, 0, os.SEEK_CUR)
            if size:
                _forward(capture, size)

def _forward(capture: int, size: int) -> None:
    data = os.pread(capture, size, 0)
    os.ftruncate(capture, 0)
    os.lseek(capture, 0, os.SEEK_SET)
    other = []
    for line in data.splitlines(keepends=True):
        if _TRACE.match(line):
            _log.debug("libgmssl: %s", line.decode("utf-8", "replace").rstrip())
        else:
            other.append(line)
    if other:
        os.write(2, b"".join(other))
