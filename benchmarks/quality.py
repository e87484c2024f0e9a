"""How the built-in engine's songs sound to a listener, measured on a fixed set of clips.

    .venv/bin/python benchmarks/quality.py [--quick] [--seeds N] [--json out.json] [--keep DIR]

Renders each clip in-process (compose + render, as a worker does) and prints per clip:

- ``vox/band``: over the sung span (first to last lead note), the Vocals stem's integrated
  loudness minus that of the sum of the non-vocal stems (BS.1770, pyloudnorm). A produced
  mix sits between -2 and +4 LU.
- ``bv/lead``: Backing Vocals minus Vocals over the same span (below zero: under the lead).
- per-section loudness of the master (the score knows each section's bars), the worst
  dip of a section below the song's integrated loudness and the biggest jump between
  neighbouring sections. The last ``FADE_S`` seconds are left out (a designed fade-out and
  the final chord ringing out); a section with less than a second before them is skipped.
- ``wer`` / ``wer spoken``: word error rate of pocketsphinx (its bundled US-English model)
  on the Vocals stem, one utterance per sung line (cut at the line's words' times), and of
  the same lines spoken by the speech source the singer starts from (English clips only).
- ``pitch``: share of voiced frames of the Vocals stem (WORLD's DIO + StoneMask) within 50
  cents of the score's sung note, octave folded (the singer may sing a part an octave up or
  down to fit its range); frames near note edges and the last ``RELEASE_MS`` of each voiced
  stretch (where the tracker misreads a voice that is ending) are left out.
- LUFS and true peak (4x oversampled) of ``song.wav``.

Needs the dev extra (pocketsphinx). Takes a few minutes on two cores; ``--quick`` renders
three clips.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyloudnorm
import soundfile as sf
import soxr

from cadenza.compose.composer import compose
from cadenza.compose.pipeline import render_clip
from cadenza.compose.score import Score
from cadenza.domain.music import MusicRequest

SR = 44100
ASR_RATE = 16000
FLOOR = 10 ** (-60 / 20)
ASR_DRAWS = 4
FADE_S = 6.0
RELEASE_MS = 50.0
Array = npt.NDArray[np.float64]

LYRICS_RIVER = """[Verse]
I walked along the river when the morning light was new
every stone was singing and the sky was turning blue
[Chorus]
we are the fire in the night
we are the spark that makes it right
[Instrumental]
[Chorus]
we are the fire in the night
sing it loud and hold me tight
"""

LYRICS_ROAD = """[Verse]
the highway hums beneath my wheels tonight
I left the town before the morning light
[Chorus]
run away run away with me
under the stars we will be free
[Instrumental]
[Chorus]
run away run away with me
open the door and let us be
"""

LYRICS_GARDEN = """[Verse]
my mother kept a garden by the old stone wall
she planted every seed before the rain would fall
[Chorus]
so come back home
the fields are green and the door is open
[Instrumental]
[Chorus]
so come back home
the night is long but the light is near
"""

LYRICS_CITY = """[Verse]
slow lights moving on the city street
your hand in mine and the summer heat
[Chorus]
stay with me until the morning comes
we can dance until the night is done
[Instrumental]
[Chorus]
stay with me until the morning comes
hold me close until the night is done
"""

LYRICS_RAIN_ZH = """[Verse]
我在雨中等你回来
城市的灯光照亮我
[Chorus]
我们一起唱这首歌
让爱飞过每一个夜晚
[Instrumental]
[Chorus]
我们一起唱这首歌
让爱飞过每一个夜晚
"""

LYRICS_MOON_ZH = """[Verse]
月亮升起在山的那边
风吹过我的老家门前
[Chorus]
你的笑容在我心里
永远不会离开这里
[Instrumental]
[Chorus]
你的笑容在我心里
永远不会离开这里
"""


@dataclass(frozen=True)
class Clip:
    name: str
    tags: str
    gender: str
    lyrics: str
    seed: int
    quick: bool = False


CLIPS: tuple[Clip, ...] = (
    Clip("pop-f", "pop, upbeat", "female", LYRICS_RIVER, 11, quick=True),
    Clip("rock-m", "rock, energetic", "male", LYRICS_ROAD, 12, quick=True),
    Clip("folk-f", "folk, acoustic", "female", LYRICS_GARDEN, 13),
    Clip("rnb-m", "rnb, smooth", "male", LYRICS_CITY, 14),
    Clip("zh-pop-f", "pop, mandopop", "female", LYRICS_RAIN_ZH, 15, quick=True),
    Clip("zh-ballad-m", "chinese, ballad", "male", LYRICS_MOON_ZH, 16),
)


@dataclass
class Figures:
    name: str
    language: str
    genre: str
    duration_s: float
    render_s: float
    vocal_over_band_lu: float
    backing_vs_lead_lu: float | None
    sections: list[tuple[str, float, float]] = field(default_factory=list)  # label, start, LUFS
    worst_dip_lu: float = 0.0
    worst_dip_at: str = ""
    biggest_jump_lu: float = 0.0
    biggest_jump_at: str = ""
    wer: float | None = None
    wer_spoken: float | None = None
    lines: int = 0
    pitch_within_50c: float = 0.0
    lufs: float = 0.0
    true_peak_dbtp: float = 0.0


def _read(path: Path) -> Array:
    audio, rate = sf.read(str(path), dtype="float64", always_2d=True)
    assert rate == SR, rate
    return np.asarray(audio)


def _loudness(meter: pyloudnorm.Meter, audio: Array) -> float:
    if audio.shape[0] < int(0.4 * SR) or not np.any(audio):
        return -math.inf
    return float(meter.integrated_loudness(audio))


def _true_peak_db(audio: Array) -> float:
    from scipy.signal import resample_poly

    peak = max(float(np.abs(resample_poly(audio[:, c], 4, 1)).max()) for c in range(2))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _lead_notes(score: Score) -> list[tuple[float, float, int]]:
    """(start s, end s, MIDI pitch) of every note of the parts on the Vocals stem."""
    return sorted(
        (score.seconds(n.start), score.seconds(n.start + n.duration), n.pitch)
        for part in score.vocals
        if part.stem == "Vocals"
        for n in part.notes
    )


def _sung_lines(score: Score) -> list[tuple[float, float, str]]:
    """(start s, end s, text) of every sung line, from the score's word times."""
    lines: dict[tuple[int, int], list[Any]] = {}
    for word in score.words:
        lines.setdefault((word.section_index, word.line_index), []).append(word)
    out = []
    for words in lines.values():
        text = " ".join(w.text for w in words)
        out.append((score.seconds(words[0].start), score.seconds(words[-1].end), text))
    return sorted(out)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _edits(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


class _Recogniser:
    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=ASR_RATE, loglevel="FATAL")

    def words(self, mono: Array, rate: int, draw: int = 0) -> list[str]:
        audio = soxr.resample(mono.astype(np.float32), rate, ASR_RATE)
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 0:
            audio = audio * (0.7 / peak)
        # The same inaudible floor as ``benchmarks/voices.py`` (-60 dB under the peak): on
        # digital silence pocketsphinx scores a sung line far better than over any floor.
        audio = audio + np.random.default_rng(draw).standard_normal(audio.shape[0]) * 0.7 * FLOOR
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return _words(hyp.hypstr) if hyp is not None else []


def _wer(pairs: list[tuple[list[str], list[str]]]) -> float:
    ref_words = sum(len(r) for r, _ in pairs)
    return sum(_edits(r, h) for r, h in pairs) / max(1, ref_words)


def _spoken(texts: list[str], language: str, singer: str) -> list[tuple[Array, int]]:
    """The lines as the lead singer's own speech source says them (Flite for the named
    English singers, eSpeak NG otherwise), before re-timing and pitching."""
    from cadenza.compose.voice.phonemes import voice_for
    from cadenza.compose.voice.sources import source_for, speak_all

    source = source_for(singer, voice_for(language))
    return [
        (speech.samples, speech.sample_rate) for speech in speak_all([(t, source) for t in texts])
    ]


def _pitch_share(vocals: Array, notes: list[tuple[float, float, int]]) -> float:
    import pyworld

    mono = np.ascontiguousarray(vocals.mean(axis=1))
    rate = 16000
    x = soxr.resample(mono, SR, rate).astype(np.float64)
    period = 10.0
    f0, t = pyworld.dio(x, rate, f0_floor=70.0, f0_ceil=1000.0, frame_period=period)
    f0 = pyworld.stonemask(x, f0, t, rate)
    voiced = f0 > 0
    # Frames to the end of each voiced stretch: the tracker's window straddles the voice's
    # end there (a word's coda, a phrase's release before its note is over) and reads the
    # exactly synthesised pitch 40-130 cents flat; 90-95 % of the misses were these frames.
    left = np.zeros(len(f0), dtype=np.int64)
    run = 0
    for i in range(len(f0) - 1, -1, -1):
        run = run + 1 if voiced[i] else 0
        left[i] = run
    hits = total = 0
    for start, end, pitch in notes:
        inside = (t >= start + 0.08) & (t <= end - 0.05) & voiced & (left * period > RELEASE_MS)
        if not np.any(inside):
            continue
        cents = 1200.0 * np.log2(f0[inside] / (440.0 * 2 ** ((pitch - 69) / 12)))
        folded = (cents + 600.0) % 1200.0 - 600.0
        hits += int(np.sum(np.abs(folded) <= 50.0))
        total += int(inside.sum())
    return hits / total if total else 0.0


def measure(clip: Clip, out: Path, asr: _Recogniser | None) -> Figures:
    request = MusicRequest(
        tags=clip.tags, lyrics=clip.lyrics, vocal_gender=clip.gender, max_duration_s=60
    )
    started = time.perf_counter()
    score = compose(request, clip.seed)
    result = render_clip(score, out / clip.name)
    render_s = time.perf_counter() - started
    meter = pyloudnorm.Meter(SR)
    clip_dir = result.clip_dir
    song = _read(clip_dir / "song.wav")
    stems = {p.stem: _read(p) for p in sorted((clip_dir / "stems").glob("*.wav"))}
    n = song.shape[0]

    notes = _lead_notes(score)
    first, last = round(notes[0][0] * SR), min(n, round(notes[-1][1] * SR))
    band = sum(
        (a for k, a in stems.items() if k not in ("Vocals", "Backing Vocals")),
        np.zeros_like(song),
    )
    vocal_lufs = _loudness(meter, stems["Vocals"][first:last])
    band_lufs = _loudness(meter, band[first:last])
    backing = None
    if "Backing Vocals" in stems:
        backing = _loudness(meter, stems["Backing Vocals"][first:last]) - vocal_lufs

    song_lufs = _loudness(meter, song)
    cutoff = n - round(FADE_S * SR)
    sections: list[tuple[str, float, float]] = []
    for section in score.sections:
        start = round(score.seconds(section.start_bar * score.beats_per_bar) * SR)
        stop = round(score.seconds((section.start_bar + section.bars) * score.beats_per_bar) * SR)
        stop = min(stop, cutoff)
        if stop - start < SR:
            continue
        sections.append((section.label, start / SR, _loudness(meter, song[start:stop])))
    figures = Figures(
        name=clip.name,
        language=score.language,
        genre=score.genre,
        duration_s=round(n / SR, 1),
        render_s=round(render_s, 1),
        vocal_over_band_lu=vocal_lufs - band_lufs,
        backing_vs_lead_lu=backing,
        sections=sections,
        lufs=song_lufs,
        true_peak_dbtp=_true_peak_db(song),
        pitch_within_50c=_pitch_share(stems["Vocals"], notes),
    )
    if sections:
        dips = [(lufs - song_lufs, label) for label, _, lufs in sections]
        figures.worst_dip_lu, figures.worst_dip_at = min(dips)
        jumps = [(abs(b[2] - a[2]), f"{a[0]}->{b[0]}") for a, b in itertools.pairwise(sections)]
        if jumps:
            figures.biggest_jump_lu, figures.biggest_jump_at = max(jumps)
    if asr is not None and score.language == "en":
        lines = _sung_lines(score)
        lead = next(part for part in score.vocals if part.stem == "Vocals")
        vocals = stems["Vocals"].mean(axis=1)
        said = _spoken([t for _, _, t in lines], score.language, lead.voice.singer)
        sung_wers, spoken_wers = [], []
        # The recogniser swings by up to 0.3 on a clip when only its inaudible floor changes:
        # the figure is the mean over several floors.
        for draw in range(ASR_DRAWS):
            sung = []
            for start, end, text in lines:
                a, b = max(0, round((start - 0.25) * SR)), min(n, round((end + 0.35) * SR))
                sung.append((_words(text), asr.words(vocals[a:b], SR, draw)))
            spoken = [
                (_words(text), asr.words(audio, rate, draw))
                for (_, _, text), (audio, rate) in zip(lines, said, strict=True)
            ]
            sung_wers.append(_wer(sung))
            spoken_wers.append(_wer(spoken))
        figures.wer, figures.wer_spoken = statistics.fmean(sung_wers), statistics.fmean(spoken_wers)
        figures.lines = len(lines)
    return figures


def _fmt(value: float | None, digits: int = 1, sign: bool = True) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "-inf"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def report(all_figures: list[Figures]) -> None:
    head = (
        f"{'clip':<12} {'genre':<9} {'dur':>5} {'vox/band':>8} {'bv/lead':>7} {'dip':>6} "
        f"{'jump':>5} {'wer':>5} {'spoken':>6} {'pitch':>6} {'LUFS':>6} {'dBTP':>6} {'render':>6}"
    )
    print(head)
    print("-" * len(head))
    for f in all_figures:
        print(
            f"{f.name:<12} {f.genre:<9} {f.duration_s:>5.1f} {_fmt(f.vocal_over_band_lu):>8} "
            f"{_fmt(f.backing_vs_lead_lu):>7} {_fmt(f.worst_dip_lu):>6} "
            f"{_fmt(f.biggest_jump_lu, sign=False):>5} {_fmt(f.wer, 2, False):>5} "
            f"{_fmt(f.wer_spoken, 2, False):>6} {f.pitch_within_50c * 100:>5.1f}% "
            f"{_fmt(f.lufs):>6} {_fmt(f.true_peak_dbtp):>6} {f.render_s:>5.1f}s"
        )
    print()
    for f in all_figures:
        parts = " | ".join(f"{label} {at:.0f}s {_fmt(lufs)}" for label, at, lufs in f.sections)
        print(f"{f.name:<12} sections (LUFS): {parts}")
        print(
            f"{'':<12} worst dip {_fmt(f.worst_dip_lu)} LU at {f.worst_dip_at}; "
            f"biggest jump {_fmt(f.biggest_jump_lu, sign=False)} LU at {f.biggest_jump_at}"
        )
    werl = [f.wer for f in all_figures if f.wer is not None]
    per_clip: dict[str, list[float]] = {}
    for f in all_figures:
        if f.wer is not None:
            per_clip.setdefault(f.name.split("+")[0], []).append(f.wer)
    if any(len(w) > 1 for w in per_clip.values()):
        print()
        print(
            "sung WER by clip over its seeds: "
            + ", ".join(f"{k} {statistics.mean(w):.2f}" for k, w in per_clip.items())
        )
    vox = [f.vocal_over_band_lu for f in all_figures]
    print()
    print(
        f"median vox/band {statistics.median(vox):+.1f} LU (target -2..+4); "
        f"worst dip {min(f.worst_dip_lu for f in all_figures):+.1f} LU (limit -8); "
        f"biggest jump {max(f.biggest_jump_lu for f in all_figures):.1f} LU (limit 8)"
        + (f"; mean sung WER {statistics.mean(werl):.2f}" if werl else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="three clips only")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", type=Path, help="render the clips here and keep them")
    parser.add_argument("--no-wer", action="store_true", help="skip speech recognition")
    parser.add_argument("--only", help="comma-separated clip names")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="render each clip with this many seeds (the fixed one, then +1000, +2000, ...): "
        "one 60 s song has six sung lines, too few for a steady WER",
    )
    args = parser.parse_args(argv)
    clips = [c for c in CLIPS if c.quick or not args.quick]
    if args.only:
        wanted = set(args.only.split(","))
        clips = [c for c in CLIPS if c.name in wanted]
    clips = [
        replace(c, name=c.name if k == 0 else f"{c.name}+{k}", seed=c.seed + 1000 * k)
        for c in clips
        for k in range(max(1, args.seeds))
    ]
    asr = None if args.no_wer else _Recogniser()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        figures = []
        for clip in clips:
            figures.append(measure(clip, out, asr))
            print(f"rendered {clip.name} in {figures[-1].render_s:.1f} s", file=sys.stderr)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps([f.__dict__ for f in figures], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
