"""CPU time of the analysis of uploaded audio (tempo, grid, key, chords, melody, voice).

Run: .venv/bin/python benchmarks/analysis.py [--minutes 8] [--repeat 3]
The signal is a 44.1 kHz stereo chord loop with a bass line, a tune and drums at 100 bpm;
the analysis must give back 100 bpm and C major.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import numpy.typing as npt

from cadenza.compose.analysis import analyse, analysis_score

SR = 44100
BPM = 100.0
CHORDS = ((60, 64, 67), (65, 69, 72), (67, 71, 74), (60, 64, 67))
TUNE = (64, 67, 69, 67, 65, 64, 62, 60)


def _tone(pitch: int, seconds: float, amp: float) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2 ** ((pitch - 69) / 12)
    wave = sum(0.6 ** (h - 1) * np.sin(2 * np.pi * f * h * t) for h in range(1, 5))
    out: npt.NDArray[np.float64] = amp * wave * np.exp(-t * 1.5) * np.minimum(1.0, t / 0.01)
    return out


def signal(minutes: float) -> npt.NDArray[np.float32]:
    beat = 60.0 / BPM
    bar = 4 * beat
    loop = np.zeros(int(4 * bar * SR) + SR)
    kick_t = np.arange(int(0.15 * SR)) / SR
    kick = 0.8 * np.sin(2 * np.pi * (50 + 80 * np.exp(-kick_t * 30)) * kick_t)
    kick *= np.exp(-kick_t * 25)
    for i, chord in enumerate(CHORDS):
        at = int(i * bar * SR)
        for p in (*chord, chord[0] - 12):
            tone = _tone(p, bar, 0.12)
            loop[at : at + tone.size] += tone
        for k in range(4):
            b = int((i * bar + k * beat) * SR)
            loop[b : b + kick.size] += kick
            note = _tone(TUNE[(2 * i + k // 2) % len(TUNE)] + 12, beat * 0.9, 0.2)
            loop[b : b + note.size] += note
    one = loop[: int(4 * bar * SR)]
    mono = np.tile(one, int(np.ceil(minutes * 60 / (4 * bar))))[: int(minutes * 60 * SR)]
    return np.stack([mono, mono], axis=1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    audio = signal(args.minutes)
    for run in range(args.repeat):
        start = time.process_time()
        found = analyse(audio, SR)
        score = analysis_score(found)
        cpu = time.process_time() - start
        print(
            f"run {run + 1}: {args.minutes:g} min in {cpu:.2f} s CPU "
            f"(spectra {found.timings['spectra_s']:.2f} s) -> {found.tempo_bpm:.2f} bpm, "
            f"{score.extra['key']}, {found.beats_per_bar}/4, {len(found.chords)} chords, "
            f"{len(found.melody)} melody notes, voice={found.voice is not None}"
        )


if __name__ == "__main__":
    main()
