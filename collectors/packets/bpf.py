"""BPF filters for capture files: compiled by libpcap (through scapy), run by libpcap's
`bpf_filter` interpreter on each frame, so a filter means exactly what tcpdump means by it.

Live capture attaches the filter in the kernel instead (capture.py); this is only for files.
`check_expression` validates an expression once at configuration time.
"""
from __future__ import annotations

import ctypes


def _libpcap():
    from scapy.libs import winpcapy  # loads libpcap; ImportError/OSError when it is missing

    lib = winpcapy._lib
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    return lib


def compile_expression(expression: str, linktype: int):
    """A compiled bpf_program for `linktype`; ValueError names what libpcap disliked."""
    from scapy.arch.common import compile_filter
    from scapy.error import Scapy_Exception

    try:
        return compile_filter(expression, linktype=linktype)
    except (Scapy_Exception, ImportError, OSError) as exc:
        raise ValueError(f"BPF filter {expression!r}: {exc}") from exc


def check_expression(expression: str) -> None:
    compile_expression(expression, 1)


class OfflineFilter:
    """`matches(linktype, buf, offset, caplen, origlen)`: does the frame pass the filter?"""

    def __init__(self, expression: str):
        self.expression = expression
        self._lib = _libpcap()
        self._programs: dict[int, tuple] = {}

    def _program(self, linktype: int):
        program = self._programs.get(linktype)
        if program is None:
            compiled = compile_expression(self.expression, linktype)
            # Keep the program object alive: its instructions are what bpf_filter reads.
            program = self._programs[linktype] = (compiled, ctypes.cast(compiled.bf_insns,
                                                                         ctypes.c_void_p))
        return program[1]

    def matches(self, linktype: int, buf, off: int, caplen: int, origlen: int) -> bool:
        return bool(self._lib.bpf_filter(self._program(linktype), bytes(buf[off:off + caplen]),
                                         origlen, caplen))
