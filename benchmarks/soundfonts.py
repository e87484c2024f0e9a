"""FluidR3 against another General MIDI SoundFont on the same scores.

    .venv/bin/python benchmarks/soundfonts.py [--other /usr/share/sounds/sf3/MuseScore_General.sf3]
    .venv/bin/python benchmarks/soundfonts.py --drum-kit /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2

For each SoundFont, in a fresh process: the load time and the resident memory it adds
(``preload``), then the instrument stems of the quality benchmark's songs rendered from
the same scores: render seconds, and per stem its integrated loudness (BS.1770) and
spectral centroid (a rough brightness). The loudness differences are what per-program
gains would have to make up if the other SoundFont became the default.

``--drum-kit`` compares a drum-kit SoundFont (AVL's acoustic kits, Debian
``avldrums.lv2-soundfont``: one preset, bank 0) with FluidR3's standard kit key by key,
for every drum key the engine plays: the load time and memory each adds, then one hit per
key (velocity 100, one second): its level and spectral centroid. A key the kit has no
sound for plays a neighbour's sample, or nearly nothing.
"""

from __future__ import annotations

import argparse
import json
import math
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


def _hits(soundfont: str, bank: int) -> dict[str, Any]:
    import fluidsynth

    from cadenza.compose.style import DRUM_KEYS

    rate = 44100
    before = _rss_mb()
    started = time.perf_counter()
    synth = fluidsynth.Synth(
        gain=0.5,
        samplerate=float(rate),
        channels=16,
        **{"synth.reverb.active": 0, "synth.chorus.active": 0},
    )
    font = synth.sfload(soundfont)
    out: dict[str, Any] = {
        "load_s": round(time.perf_counter() - started, 2),
        "rss_added_mb": round(_rss_mb() - before),
    }
    synth.program_select(9, font, bank, 0)
    for name, key in DRUM_KEYS.items():
        synth.noteon(9, key, 100)
        held = synth.get_samples(int(0.05 * rate))
        synth.noteoff(9, key)
        tail = synth.get_samples(int(0.95 * rate))
        mono = np.concatenate([held, tail]).astype(np.float64).reshape(-1, 2).mean(axis=1)
        power = np.abs(np.fft.rfft(mono / 32768.0)) ** 2
        freqs = np.fft.rfftfreq(mono.shape[0], 1 / rate)
        total = float(power.sum())
        out[name] = {
            "db": round(10 * math.log10(total + 1e-20), 1),
            "centroid_hz": round(float((power * freqs).sum()) / max(total, 1e-20)),
        }
    synth.delete()
    return out


def _drum_kits(kit: str) -> int:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        base = pool.apply(_hits, (FLUIDR3, 128))
    with context.Pool(1) as pool:
        other = pool.apply(_hits, (kit, 0))
    print(f"load: {base['load_s']} s / {other['load_s']} s; ", end="")
    print(f"memory added: {base['rss_added_mb']} MB / {other['rss_added_mb']} MB")
    print(f"{'key':<10} {'FluidR3 dB':>10} {'Hz':>6} {'kit dB':>8} {'Hz':>6}")
    for name, figures in base.items():
        if isinstance(figures, dict):
            theirs = other[name]
            print(
                f"{name:<10} {figures['db']:>10} {figures['centroid_hz']:>6}"
                f" {theirs['db']:>8} {theirs['centroid_hz']:>6}"
            )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--other", default=MUSESCORE)
    parser.add_argument("--drum-kit", help="a drum-kit SoundFont to compare key by key")
    args = parser.parse_args()
    if args.drum_kit:
        return _drum_kits(args.drum_kit)
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
