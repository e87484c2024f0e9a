"""How a render uses the C heap: reuse freed memory during a render, give it back after.

A render allocates and frees song-length arrays (60 MB per stereo stem) many times. glibc
serves blocks that large with fresh ``mmap`` pages and unmaps them on free, so every new
array page-faults its whole length again. Kept in the heap, freed blocks are reused: a
3-minute song on a VM takes ~75,000 page faults instead of ~185,000 and 0.2-0.3 s less CPU,
for ~100 MB more peak memory. Trimming after the render returns the memory to the system,
so an idle worker does not hold its peak.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator
from contextlib import contextmanager

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: glibc's defaults, restored after a render.
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """glibc, or None where the C library is another one (tuning is then skipped)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


@contextmanager
def reuse_freed_memory() -> Iterator[None]:
    """Inside: large freed blocks stay in the heap for the next array; after: trimmed, and
    glibc's defaults back (one render at a time per process, as the engine runs them)."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    try:
        yield
    finally:
        if libc is not None:
            libc.malloc_trim(0)
            libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
