"""Cost of rendering the music video (``GET /suno/act/mp4``) of a 3-minute clip.

Run: .venv/bin/python benchmarks/video.py [--seconds 180] [--repeat 2]

Reports wall time and the CPU time ffmpeg used (children's user+system time, the figure
that matters on a busy worker), for a clip with sung captions and a drawn cover.

On the 2-core development machine, 180 s clip: 49.0 s wall / 52.5 s CPU when the cover was
looped as an input (decoded and scaled again for every frame); 13.8 s / 13.9 s with the
cover prepared once and repeated by the ``loop`` filter.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from cadenza.audio.video import render_video
from cadenza.compose.cover import draw_cover

SR = 44100


def _signal(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(round(seconds * SR)) / SR
    beat = (np.sin(2 * np.pi * 2.0 * t) > 0.6).astype(np.float64)
    tones = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (110, 220, 330, 440))
    mono = (tones * (0.4 + 0.6 * beat) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)
    return np.stack([mono, np.roll(mono, 100)], axis=1)


def _words(seconds: float) -> list[dict[str, object]]:
    words: list[dict[str, object]] = []
    at, line = 2.0, 0
    while at < seconds - 2:
        for i in range(6):
            words.append(
                {"word": f"word{i}", "start_s": at, "end_s": at + 0.4, "line": line, "section": 0}
            )
            at += 0.5
        at += 1.0
        line += 1
    return words


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-video-") as name:
        tmp = Path(name)
        audio = tmp / "song.wav"
        soundfile.write(str(audio), _signal(args.seconds), SR, subtype="PCM_16")
        cover = tmp / "cover.png"
        draw_cover("Benchmark Song", "synthwave, dreamy", 3, 1024).save(cover, format="PNG")
        words = _words(args.seconds)
        walls, cpus = [], []
        for _ in range(args.repeat):
            cpu0, wall0 = _children_cpu(), time.perf_counter()
            out = render_video(
                audio, cover, tmp / "v.mp4", duration_s=args.seconds, words=words, title="Bench"
            )
            walls.append(time.perf_counter() - wall0)
            cpus.append(_children_cpu() - cpu0)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration,size", "-of", "json",
             str(out)],
            capture_output=True, check=True,
        )  # fmt: skip
        fmt = json.loads(probe.stdout)["format"]
        print(
            f"clip {args.seconds:.0f} s, {len(words)} words, video {int(fmt['size']) // 1024} KiB,"
            f" {float(fmt['duration']):.2f} s long"
        )
        print(
            f"mp4 render wall: best {min(walls):6.2f} s"
            f"  ({args.seconds / min(walls):5.1f}x real time)"
        )
        print(f"mp4 render cpu:  best {min(cpus):6.2f} s  (ffmpeg user+system)")


if __name__ == "__main__":
    main()
