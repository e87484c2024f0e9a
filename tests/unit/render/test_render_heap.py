"""The heap tuning around a render: allocations inside reuse freed memory, and the
process gives the memory back afterwards.

Measured in a fresh interpreter: a test process that has run other tests holds free heap
of its own, which would hide what the tuning does.
"""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import resource

from cadenza.compose.heap import reuse_freed_memory


def faults_of_churn():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(4):
        # 64 MB from malloc, above the 32 MB glibc ever raises its mmap threshold to (a
        # stereo stem of 3 minutes is 60 MB); numpy arrays would ask for huge pages.
        block = bytearray(64_000_000)
        del block
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


untuned = faults_of_churn()
before = resident_mb()
with reuse_freed_memory():
    tuned = faults_of_churn()
    held = resident_mb()
after = resident_mb()
print(untuned, tuned, held - before, after - before)
"""


def test_freed_arrays_are_reused_inside_and_released_after() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True
    )
    untuned, tuned, held, left = (float(v) for v in result.stdout.split())
    assert held > 48  # the last freed block stayed in the heap
    assert left < 16  # and went back to the system at the end
    # Without the tuning each block faults in its ~15,600 pages again.
    assert untuned > 3 * 15_000
    assert tuned < untuned / 3
