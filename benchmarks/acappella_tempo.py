"""Tempo read from a lone voice (an a cappella upload) and from the full mix of the same song.

Run: .venv/bin/python benchmarks/acappella_tempo.py [--cache DIR] [--save F] [--against F]

Songs are rendered by the engine at known tempi (slow ballads to fast pop); each one's
Vocals stem is the a cappella input and its ``song.wav`` the mix. Renders are cached in
``--cache``, so reruns only analyse. The table gives, per clip, the true tempo, the tempo
read and whether it is off by an octave (double or half), and counts the clips read within
2 % (octave included), which is what arranging under an uploaded vocal needs. ``--save``
keeps the readings as JSON and ``--against`` shows a saved run's readings beside these.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from cadenza.compose.analysis import analyse
from cadenza.compose.composer import compose
from cadenza.compose.pipeline import clip_seed, render_clip
from cadenza.domain.music import MusicRequest

LYRICS = """[Verse]
I walked along the river when the evening light was low
Every window in the village had a candle burning slow
And I counted all the footsteps that would carry me back home
Through the orchard and the meadow where the winter roses grow

[Chorus]
Hold on to me, hold on
Till the morning comes along
Every word you never said
Is a song inside my head

[Verse]
There's a letter in the drawer that I never meant to send
There's a picture on the wall of a summer with a friend
"""

#: (tags, seed): the tags' ``N bpm`` sets the tempo; genres vary the groove and the singing.
SONGS: tuple[tuple[str, int], ...] = (
    ("ballad, piano, 66 bpm", 11),
    ("slow soul, female vocals, 70 bpm", 12),
    ("ballad, 71 bpm", 13),
    ("folk, acoustic, 74 bpm", 14),
    ("slow soul, male vocals, 78 bpm", 15),
    ("country ballad, 84 bpm", 16),
    ("folk pop, 90 bpm", 17),
    ("r&b, 96 bpm", 18),
    ("folk pop, 104 bpm", 19),
    ("pop, 112 bpm", 20),
    ("pop, upbeat, 120 bpm", 21),
    ("rock, 128 bpm", 22),
    ("dance pop, 140 bpm", 23),
    ("punk rock, 152 bpm", 24),
    ("pop punk, 160 bpm", 25),
    ("ballad, female vocals, 60 bpm", 31),
    ("slow soul, 64 bpm", 32),
    ("ballad, male vocals, 68 bpm", 33),
    ("gospel, slow, 72 bpm", 34),
    ("folk ballad, 76 bpm", 35),
    ("slow blues, 80 bpm", 36),
    ("acoustic pop, 100 bpm", 37),
    ("indie pop, 116 bpm", 38),
    ("funk, 124 bpm", 39),
    ("synth pop, 132 bpm", 40),
    ("rock, 136 bpm", 41),
    ("electropop, 144 bpm", 42),
    ("pop rock, 148 bpm", 43),
    ("punk, 168 bpm", 44),
    ("drum and bass, 174 bpm", 45),
)
#: More songs (tempi and genres drawn at random), kept apart from ``SONGS`` to check that
#: thresholds set on those hold on songs they were not set on.
CHECK: tuple[tuple[str, int], ...] = (
    ("rock, 94 bpm", 100),
    ("slow soul, 118 bpm", 101),
    ("pop, 65 bpm", 102),
    ("slow soul, 108 bpm", 103),
    ("country, 142 bpm", 104),
    ("folk, 62 bpm", 105),
    ("hip hop, 126 bpm", 106),
    ("indie pop, 65 bpm", 107),
    ("hip hop, 65 bpm", 108),
    ("pop, 62 bpm", 109),
    ("slow soul, 77 bpm", 110),
    ("reggae, 150 bpm", 111),
    ("indie pop, 62 bpm", 112),
    ("rock, 62 bpm", 113),
    ("hip hop, 86 bpm", 114),
    ("pop, 69 bpm", 115),
    ("dance pop, 150 bpm", 116),
    ("r&b, 146 bpm", 117),
    ("country, 67 bpm", 118),
    ("pop, 108 bpm", 119),
    ("folk, 146 bpm", 120),
    ("slow soul, 150 bpm", 121),
    ("country, 156 bpm", 122),
    ("hip hop, 138 bpm", 123),
)


def render(tags: str, seed: int, cache: Path) -> tuple[float, Path, Path]:
    """(true bpm, a cappella path, mix path), rendering only what the cache lacks."""
    slug = "".join(c if c.isalnum() else "-" for c in tags).strip("-") + f"-{seed}"
    clip = cache / slug
    info = clip / "truth.json"
    vocals, mix = clip / "stems" / "Vocals.wav", clip / "song.wav"
    if info.exists() and vocals.exists() and mix.exists():
        return float(json.loads(info.read_text())["bpm"]), vocals, mix
    req = MusicRequest(
        title="T", tags=tags, lyrics=LYRICS, max_duration_s=40, seed=seed, model="chirp-v5-5"
    )
    score = compose(req, clip_seed(seed, 0))
    result = render_clip(score, clip)
    info.write_text(json.dumps({"bpm": score.tempo_bpm, "genre": score.genre}))
    return score.tempo_bpm, result.files["stems/Vocals.wav"], result.files["song.wav"]


def read_bpm(path: Path) -> tuple[float, float]:
    """(bpm read, CPU seconds of the analysis)."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    clock = time.process_time()
    found = analyse(audio, sr)
    return found.tempo_bpm, time.process_time() - clock


def verdict(truth: float, read: float) -> str:
    """ "ok" within 2 %, "x2"/"/2" (or "x3/2"...) for an octave slip, else "off"."""
    if abs(read / truth - 1.0) <= 0.02:
        return "ok"
    for name, ratio in (("x2", 2.0), ("/2", 0.5), ("x3/2", 1.5), ("x2/3", 2 / 3)):
        if abs(read / (truth * ratio) - 1.0) <= 0.02:
            return name
    return "off"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, default=Path("/tmp/cadenza-acappella-tempo"))
    parser.add_argument("--save", type=Path, help="write this run's readings as JSON")
    parser.add_argument("--against", type=Path, help="a saved run to show beside this one")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    before = json.loads(args.against.read_text()) if args.against else {}
    rows: dict[str, dict[str, float]] = {}
    cpu: list[float] = []
    head = f"{'clip':38} {'true':>5} | {'a cappella':>15} | {'mix':>15}"
    if before:
        head += f" | {'before: a cap.':>15} | {'before: mix':>15}"
    print(head)
    print("-" * len(head))
    for tags, seed in (*SONGS, *CHECK):
        truth, vocals, mix = render(tags, seed, args.cache)
        voice_bpm, voice_cpu = read_bpm(vocals)
        mix_bpm, mix_cpu = read_bpm(mix)
        cpu += [voice_cpu, mix_cpu]
        key = f"{tags} #{seed}"
        rows[key] = {"truth": truth, "acappella": voice_bpm, "mix": mix_bpm}
        line = (
            f"{key[:38]:38} {truth:5.0f} | {voice_bpm:7.1f} {verdict(truth, voice_bpm):>7} | "
            f"{mix_bpm:7.1f} {verdict(truth, mix_bpm):>7}"
        )
        if key in before:
            old = before[key]
            line += (
                f" | {old['acappella']:7.1f} {verdict(truth, old['acappella']):>7}"
                f" | {old['mix']:7.1f} {verdict(truth, old['mix']):>7}"
            )
        print(line, flush=True)
    for kind in ("acappella", "mix"):
        for name, songs in (("songs", SONGS), ("check", CHECK)):
            keys = [f"{tags} #{seed}" for tags, seed in songs]
            good = sum(verdict(rows[k]["truth"], rows[k][kind]) == "ok" for k in keys)
            print(f"{kind} ({name}): {good}/{len(keys)} within 2 %", end="")
            if all(k in before for k in keys):
                was = sum(verdict(rows[k]["truth"], before[k][kind]) == "ok" for k in keys)
                print(f" (before: {was}/{len(keys)})", end="")
            print()
    print(f"analysis CPU per clip: median {np.median(cpu):.2f} s, max {max(cpu):.2f} s")
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
