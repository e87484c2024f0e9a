"""Speed of the audio tools on a 3-minute stereo clip, as multiples of real time.

Run: .venv/bin/python benchmarks/tools.py [--seconds 180]
Measures the edit itself (wall and CPU time, best of 3: CPU time is steadier on a shared
machine) and the edit with WAV read/write around it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
from rich.console import Console
from rich.table import Table

from cadenza.audio import edit

SR = 44100


def test_signal(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * SR)) / SR
    tones = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (110, 220, 330, 440, 660))
    noise = 0.02 * rng.standard_normal(len(t))
    mono = (tones + noise).astype(np.float32)
    return np.stack([mono, np.roll(mono, 100)], axis=1)


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """Best wall and best CPU seconds over ``repeat`` runs."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    args = parser.parse_args()
    audio = test_signal(args.seconds)
    ops: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "crop keep 12.5-28 s": lambda a: edit.crop_keep(a, SR, 12.5, 28.0),
        "crop remove 12.5-28 s": lambda a: edit.crop_remove(a, SR, 12.5, 28.0),
        "concat (cut at 60 s + whole)": lambda a: edit.concat([(a, 60 * SR), (a, None)], SR),
        "speed 1.25x, tape": lambda a: edit.change_speed(a, SR, 1.25, keep_pitch=False),
        "speed 1.25x, keep pitch": lambda a: edit.change_speed(a, SR, 1.25, keep_pitch=True),
    }
    table = Table(title=f"Audio tools on a {args.seconds:.0f} s stereo clip (best of 3)")
    columns = ("operation", "edit s", "x real time", "edit CPU s", "x", "with WAV I/O s", "x")
    for column in columns:
        table.add_column(column, justify="right" if column != "operation" else "left")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.wav"
        soundfile.write(src, audio, SR, subtype="FLOAT")
        for name, op in ops.items():
            alone, alone_cpu = timed(lambda op=op: op(audio))

            def with_io(op: Callable[[np.ndarray], np.ndarray] = op) -> None:
                data, _ = soundfile.read(src, dtype="float32", always_2d=True)
                soundfile.write(Path(tmp) / "out.wav", op(data), SR, subtype="FLOAT")

            both, _ = timed(with_io)
            table.add_row(
                name,
                f"{alone:.3f}",
                f"{args.seconds / alone:.0f}",
                f"{alone_cpu:.3f}",
                f"{args.seconds / alone_cpu:.0f}",
                f"{both:.3f}",
                f"{args.seconds / both:.0f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
