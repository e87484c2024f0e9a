"""Intelligibility and pitch of the built-in singer, per voice.

    .venv/bin/python benchmarks/voices.py [--voices all] [--lines 8] [--seed 3] [--json out]

For a fixed set of English lines, each voice is scored on:
- spoken WER: pocketsphinx (its bundled US-English model) on each line as the voice's
  speech source speaks it, the reference for what the singer can at best keep;
- sung WER: the same lines composed into a song by the composer (its melody and rhythm),
  sung by ``sing`` alone (the Vocals stem without the band), cut into one utterance per
  sung line;
- pitch: the share of voiced frames (WORLD harvest, 5 ms) of each held vowel within 50
  cents of the sounding note (the score's note after the singer's octave choice): from
  60 ms into the note (after the portamento) to 45 % of its length (before the coda or
  an early release; vibrato is +-35 cents);
- the time ``sing_parts`` takes for every vocal part of the song (lead, harmonies);
  ``--timing`` reports it (wall and CPU, the speech processes included) on a song with
  harmonies and a choir, per singer.
pocketsphinx is an old, small recogniser: its absolute WER is harsh even on clean speech,
so compare voices and versions with each other, in one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pyworld
import soxr

from cadenza.compose.composer import compose
from cadenza.compose.score import Score, VocalPart
from cadenza.compose.voice import sing, sing_parts
from cadenza.compose.voice.singer import _octave_shift
from cadenza.domain.music import MusicRequest

ASR_RATE = 16000
#: The recogniser hears every utterance over a noise floor this far under its peak (-60 dB).
FLOOR = 10 ** (-60 / 20)
LINES = (
    "the rain is falling on my window",
    "I will wait for you until the morning",
    "we can dance together in the light",
    "hold my hand and never let me go",
    "the river runs across the open land",
    "I remember every word you said",
    "my heart is beating like a drum",
    "tell me that you love me one more time",
)


def _wer(ref: str, hyp: str) -> float:
    r, h = ref.lower().split(), hyp.lower().split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)] / max(1, len(r))


class Recogniser:
    def __init__(self) -> None:
        from pocketsphinx import Decoder  # dev/bench extra

        self._decoder = Decoder(samprate=ASR_RATE, loglevel="FATAL")

    def __call__(self, audio: np.ndarray, rate: int) -> str:
        x = soxr.resample(audio.astype(np.float64), rate, ASR_RATE) if rate != ASR_RATE else audio
        peak = float(np.max(np.abs(x))) or 1.0
        pad = np.zeros(ASR_RATE // 4)
        padded = np.concatenate([pad, np.asarray(x, dtype=np.float64) / peak * 0.7, pad])
        # An inaudible floor: on digital silence between words pocketsphinx is far kinder
        # to a sung line (mean WER 0.63) than with any floor at all (0.78 at -60 dB, the
        # same as the mix's reverb gives); spoken lines do not care (0.05-0.22 either way).
        floor = np.random.default_rng(0).standard_normal(padded.shape[0]) * 0.7 * FLOOR
        pcm = (np.clip(padded + floor, -1.0, 1.0) * 32767).astype(np.int16)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm.tobytes(), full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def _song(gender: str, seed: int, lines: tuple[str, ...]) -> Score:
    half = len(lines) // 2
    lyrics = "[Verse 1]\n" + "\n".join(lines[:half]) + "\n[Verse 2]\n" + "\n".join(lines[half:])
    request = MusicRequest(tags="pop ballad", lyrics=lyrics, vocal_gender=gender, seed=seed)
    return compose(request, seed)


def _lead(score: Score) -> VocalPart:
    return next(p for p in score.vocals if p.stem == "Vocals")


def _line_spans(score: Score, part: VocalPart) -> list[tuple[str, float, float]]:
    beat = 60.0 / score.tempo_bpm
    texts: dict[int, list[str]] = {}
    for w in score.words:
        texts.setdefault(w.line_index, []).append(w.text)
    spans: dict[int, tuple[float, float]] = {}
    for n in part.notes:
        a, b = n.start * beat, (n.start + n.duration) * beat
        lo, hi = spans.get(n.line_index, (a, b))
        spans[n.line_index] = (min(lo, a), max(hi, b))
    seen: set[str] = set()
    out: list[tuple[str, float, float]] = []
    for index in sorted(spans):
        text = " ".join(texts.get(index, [])).lower()
        text = "".join(c for c in text if c.isalpha() or c in " '")
        if text and text not in seen:
            seen.add(text)
            out.append((text, spans[index][0] - 0.25, spans[index][1] + 0.3))
    return out


def _pitch_accuracy(audio: np.ndarray, rate: int, part: VocalPart, tempo: float) -> float:
    x = soxr.resample(audio.astype(np.float64), rate, ASR_RATE)
    f0, t = pyworld.harvest(x, ASR_RATE, f0_floor=70.0, f0_ceil=800.0, frame_period=5.0)
    beat = 60.0 / tempo
    shift = _octave_shift(part.notes, part.voice) + part.voice.transpose
    hits = total = 0
    for n in part.notes:
        # the held vowel: after the glide, before the coda (and any early release)
        a = n.start * beat + 0.06
        b = n.start * beat + max(0.1, 0.45 * n.duration * beat)
        pitch = n.pitch + shift
        while pitch < 42:
            pitch += 12
        target = 440.0 * 2 ** ((pitch - 69) / 12)
        sel = (t >= a) & (t < b) & (f0 > 0)
        if not sel.any():
            continue
        cents = 1200 * np.abs(np.log2(f0[sel] / target))
        hits += int((cents <= 50).sum())
        total += int(sel.sum())
    return hits / max(1, total)


def _spoken(voice: str, gender: str, line: str) -> tuple[np.ndarray, int]:
    try:
        from cadenza.compose.voice import sources
    except ImportError:  # before speech sources existed: eSpeak NG as the singer set it
        from cadenza.compose.voice import singer
        from cadenza.compose.voice.espeak import speak

        u = speak(line, "en-us", singer.ESPEAK_RATE_WPM, singer.ESPEAK_PITCH, singer.ESPEAK_RANGE)
        return np.frombuffer(u.pcm, dtype=np.int16) / 32768.0, u.sample_rate
    said = sources.source_for(voice, "en-us").speak_many([line])[0]
    return said.samples, said.sample_rate


def measure(voice: str, gender: str, seed: int, lines: tuple[str, ...]) -> dict[str, Any]:
    asr = Recogniser()
    score = _song(gender, seed, lines)
    lead = _lead(score)
    parts = list(score.vocals)
    if voice:
        lead = replace(lead, voice=replace(lead.voice, singer=voice))
        parts = [replace(p, voice=replace(p.voice, singer=voice)) for p in parts]
    rate = 44100
    seconds = score.duration_s
    t0 = time.perf_counter()
    sing_parts(parts, score.tempo_bpm, seconds, rate)
    parts_s = time.perf_counter() - t0
    sung = sing(lead, score.tempo_bpm, seconds, rate)
    spans = _line_spans(score, lead)
    spoken_wer, sung_wer, rows = [], [], []
    for text, a, b in spans:
        clip = sung[max(0, int(a * rate)) : int(b * rate)]
        hyp = asr(clip, rate)
        said, said_rate = _spoken(voice, lead.voice.gender, text)
        hyp_spoken = asr(said, said_rate)
        sung_wer.append(_wer(text, hyp))
        spoken_wer.append(_wer(text, hyp_spoken))
        rows.append({"line": text, "sung": hyp, "spoken": hyp_spoken})
    return {
        "voice": voice or "default",
        "gender": gender,
        "song_s": round(seconds, 1),
        "lines": len(spans),
        "spoken_wer": round(statistics.fmean(spoken_wer), 3),
        "sung_wer": round(statistics.fmean(sung_wer), 3),
        "pitch_within_50c": round(_pitch_accuracy(sung, rate, lead, score.tempo_bpm), 4),
        "sing_parts_s": round(parts_s, 2),
        "parts": len(parts),
        "detail": rows,
    }


def time_song(seed: int, singer: str = "", seconds: int = 60) -> dict[str, Any]:
    """``sing_parts`` on every vocal part of a ~50 s pop song with harmonies, sung by
    ``singer`` ('' = as composed): the first run in this process (cold) and the median of
    two more (warm: Flite's words come from its cache)."""
    lyrics = "[Verse]\n" + "\n".join(LINES[:4]) + "\n[Chorus]\n" + "\n".join(LINES[4:])
    request = MusicRequest(tags="pop, choir", lyrics=lyrics, max_duration_s=seconds, seed=seed)
    score = compose(request, seed)
    if singer:
        score.vocals = [replace(p, voice=replace(p.voice, singer=singer)) for p in score.vocals]
    runs, cpu = [], []
    for _ in range(3):
        c0 = _cpu()
        t0 = time.perf_counter()
        sing_parts(score.vocals, score.tempo_bpm, score.duration_s, 44100)
        runs.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    singers = [getattr(p.voice, "singer", "") or "espeak" for p in score.vocals]
    return {
        "song_s": round(score.duration_s, 1),
        "parts": len(score.vocals),
        "singers": singers,
        "cold_s": round(runs[0], 2),
        "cold_cpu_s": round(cpu[0], 2),
        "warm_s": round(statistics.median(runs[1:]), 2),
        "warm_cpu_s": round(statistics.median(cpu[1:]), 2),
    }


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the speech processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voices", default="male:,female:", help="gender:voice,... ('' = default)")
    parser.add_argument("--lines", type=int, default=len(LINES))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", default="")
    parser.add_argument("--detail", action="store_true")
    parser.add_argument("--timing", action="store_true", help="time sing_parts on a 60 s song")
    args = parser.parse_args()
    if args.timing:
        for item in args.voices.split(","):
            print(json.dumps(time_song(args.seed, item.partition(":")[2])), flush=True)
        return
    results = []
    for item in args.voices.split(","):
        gender, _, voice = item.partition(":")
        r = measure(voice, gender, args.seed, LINES[: args.lines])
        results.append(r)
        shown = {k: v for k, v in r.items() if k != "detail"}
        print(json.dumps(shown), flush=True)
        if args.detail:
            for row in r["detail"]:
                print("   ", json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    sung = [r["sung_wer"] for r in results]
    print(f"mean sung WER {statistics.fmean(sung):.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
