"""FluidR3 against another General MIDI SoundFont on the same scores.

    .venv/bin/python benchmarks/soundfonts.py [--other /usr/share/sounds/sf3/MuseScore_General.sf3]

For each SoundFont, in a fresh process: the load time and the resident memory it adds
(``preload``), then the instrument stems of the quality benchmark's songs rendered from
the same scores: render seconds, and per stem its integrated loudness (BS.1770) and
spectral centroid (a rough brightness). The loudness differences are what per-program
gains would have to make up if the other SoundFont became the default.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FLUIDR3 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
MUSESCORE = "/usr/share/sounds/sf3/MuseScore_General.sf3"
CLIPS = ("pop-f", "rock-m", "folk-f", "rnb-m")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _measure(soundfont: str) -> dict[str, Any]:
    import pyloudnorm

    sys.path.insert(0, str(Path(__file__).parent))
    import quality

    from cadenza.compose.composer import compose
    from cadenza.compose.synth import SAMPLE_RATE, preload, render_tracks
    from cadenza.domain.music import MusicRequest

    before = _rss_mb()
    started = time.perf_counter()
    preload(Path(soundfont), 1)
    load_s = time.perf_counter() - started
    added_mb = _rss_mb() - before
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    out: dict[str, Any] = {"load_s": round(load_s, 2), "rss_added_mb": round(added_mb)}
    for clip in (c for c in quality.CLIPS if c.name in CLIPS):
        request = MusicRequest(
            tags=clip.tags, lyrics=clip.lyrics, vocal_gender=clip.gender, max_duration_s=60
        )
        score = compose(request, clip.seed)
        started = time.perf_counter()
        stems = render_tracks(score, Path(soundfont), SAMPLE_RATE)
        figures: dict[str, Any] = {"render_s": round(time.perf_counter() - started, 2)}
        for name, audio in stems.items():
            mono = audio.mean(axis=1).astype(np.float64)
            spectrum = np.abs(np.fft.rfft(mono[: SAMPLE_RATE * 30]))
            freqs = np.fft.rfftfreq(min(mono.shape[0], SAMPLE_RATE * 30), 1 / SAMPLE_RATE)
            centroid = float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-12))
            lufs = float(meter.integrated_loudness(audio.astype(np.float64)))
            figures[name] = {"lufs": round(lufs, 1), "centroid_hz": round(centroid)}
        out[clip.name] = figures
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--other", default=MUSESCORE)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results = {}
    for soundfont in (FLUIDR3, args.other):
        with context.Pool(1) as pool:
            results[soundfont] = pool.apply(_measure, (soundfont,))
    base, other = results[FLUIDR3], results[args.other]
    print(json.dumps(results, indent=1))
    print(f"load: {base['load_s']} s / {other['load_s']} s; ", end="")
    print(f"memory added: {base['rss_added_mb']} MB / {other['rss_added_mb']} MB")
    for clip in CLIPS:
        diffs = []
        for stem, figures in base[clip].items():
            if stem == "render_s" or stem not in other[clip]:
                continue
            theirs = other[clip][stem]
            diffs.append(
                f"{stem} {theirs['lufs'] - figures['lufs']:+.1f} LU "
                f"({figures['centroid_hz']}->{theirs['centroid_hz']} Hz)"
            )
        print(
            f"{clip}: render {base[clip]['render_s']} s / {other[clip]['render_s']} s; "
            + "; ".join(diffs)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
