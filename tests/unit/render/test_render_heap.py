"""The heap tuning around a render: allocations inside reuse freed memory, and the
process gives the memory back afterwards."""

from __future__ import annotations

import resource

from cadenza.compose.heap import reuse_freed_memory


def _faults_of_churn() -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        # 64 MB from malloc, above the 32 MB glibc ever raises its mmap threshold to (a
        # stereo stem of 3 minutes is 60 MB); numpy arrays would ask for huge pages.
        block = bytearray(64_000_000)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def test_freed_arrays_are_reused_inside_and_released_after() -> None:
    untuned = _faults_of_churn()
    before = _resident_mb()
    with reuse_freed_memory():
        tuned = _faults_of_churn()
        held = _resident_mb()
    assert held - before > 48  # the last freed block stayed in the heap
    assert _resident_mb() - before < 16  # and went back to the system at the end
    # Without the tuning each block faults in its ~15,600 pages again.
    assert untuned > 3 * 15_000
    assert tuned < untuned / 3
