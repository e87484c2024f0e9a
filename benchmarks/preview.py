"""What rendering a clip's preview first costs: one ~3-minute song with vocals rendered with
the preview off and on, alternately, in one process (the engine's worker start-up paid
before, outside the timings).

    .venv/bin/python benchmarks/preview.py [--pairs 3] [--seconds 180] [--one-core]

Reports per mode the wall and CPU seconds of the whole render (CPU: this process, all its
threads; eSpeak's child process is the same in both modes), with the preview on the
seconds until the preview was handed over and its length, the overhead of the preview
(median on / median off - 1, wall and CPU; goal: at most 10 %) and whether both modes gave
the very same ``song.wav``. A shared machine swings by 10-20 % from one minute to the next,
which is why the modes alternate, the medians are compared and CPU time is the steadier
figure.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from engine import LYRICS, SOUNDFONT

from cadenza.compose.composer import compose
from cadenza.compose.pipeline import _child_init, clip_seed, render_clip
from cadenza.domain.music import MusicRequest


def _render(score: Any, out: Path, preview: bool) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    handed: list[tuple[float, float]] = []

    def on_preview(path: Path, seconds: float) -> None:
        handed.append((time.perf_counter() - started, seconds))

    render_clip(score, out, soundfont=Path(SOUNDFONT), on_preview=on_preview if preview else None)
    figures = {"total_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu}
    if handed:
        figures["preview_at_s"], figures["preview_length_s"] = handed[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=180, help="longest song (max duration)")
    parser.add_argument("--one-core", action="store_true", help="pin the process to a core")
    args = parser.parse_args()
    if args.one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _child_init(None, SOUNDFONT)
    request = MusicRequest(
        tags="pop, upbeat", lyrics=LYRICS, max_duration_s=args.seconds, seed=7,
        model="chirp-v4-5", vocal_gender="female",
    )  # fmt: skip
    score = compose(request, clip_seed(7, 0))
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="cadenza-preview-") as tmp:
        root = Path(tmp)
        for pair in range(max(1, args.pairs)):
            order = ("off", "on") if pair % 2 == 0 else ("on", "off")
            for mode in order:
                runs[mode].append(_render(score, root / f"{mode}-{pair}", mode == "on"))
        same = filecmp.cmp(root / "off-0" / "song.wav", root / "on-0" / "song.wav", shallow=False)
    off = statistics.median(r["total_s"] for r in runs["off"])
    on = statistics.median(r["total_s"] for r in runs["on"])
    cpu_off = statistics.median(r["cpu_s"] for r in runs["off"])
    cpu_on = statistics.median(r["cpu_s"] for r in runs["on"])
    report = {
        "song_s": round(score.duration_s, 1),
        "off_total_s": [round(r["total_s"], 2) for r in runs["off"]],
        "on_total_s": [round(r["total_s"], 2) for r in runs["on"]],
        "on_preview_at_s": [round(r["preview_at_s"], 2) for r in runs["on"]],
        "preview_length_s": runs["on"][0]["preview_length_s"],
        "median_off_s": round(off, 2),
        "median_on_s": round(on, 2),
        "overhead_pct": round((on / off - 1) * 100, 1),
        "off_cpu_s": [round(r["cpu_s"], 2) for r in runs["off"]],
        "on_cpu_s": [round(r["cpu_s"], 2) for r in runs["on"]],
        "cpu_overhead_pct": round((cpu_on / cpu_off - 1) * 100, 1),
        "same_song_wav": same,
        "goal": {"overhead_pct": 10.0},
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
