"""Speed and quality of the built-in engine on a ~3-minute song with vocals.

    .venv/bin/python benchmarks/engine.py [--seconds 180] [--tags pop] [--seed 7] [--no-analysis]
        [--one-core] [--pairs 3]

Reports, for one clip rendered alone in its own process: wall and CPU seconds per stage
(compose, instruments, vocals, mix, master, preview, encode, files) and in total, and the
process's peak RSS. Stages run independent pieces (stems, the MP3) in threads where the
process has free cores, so wall < CPU there; ``--one-core`` pins the process to one core
to measure what a clip costs when every core is busy with another clip. The process starts
like an engine worker (imports, SoundFont load), outside the timings. Then the wall time of
both clips of the task rendered in parallel processes (two cores), as
``ComposeEngine(workers=2)`` does, once its workers are up (their start-up is reported on
its own: it is paid once per process), run ``--pairs`` times: the median is the figure, as
a shared 2-core machine swings by 10-20 % from one minute to the next.
Quality figures of the clip: integrated loudness (BS.1770, pyloudnorm), true peak after 4x
oversampling, null residual of the stems against song.wav and, when librosa is installed
(dev extra), the beat tracker's tempo error and the sung pitch against the score (pYIN on
the Vocals stem).
Goal: one clip <= 10 s on one core; both clips in parallel <= 10 s wall.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cadenza.compose.pipeline import ComposeEngine, _child_init, _render_one, clip_seed
from cadenza.domain.music import MusicRequest

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
LYRICS = """[Verse 1]
I walked along the river when the morning light was new
every stone was singing and the sky was turning blue
[Pre-Chorus]
hold on, hold on
[Chorus]
we are the fire in the night
we are the spark that makes it right
sing it loud and hold me tight
we are alive tonight
[Verse 2]
cities sleeping under silver rain and neon signs
I can hear your heartbeat in the spaces between lines
[Chorus]
we are the fire in the night
we are the spark that makes it right
sing it loud and hold me tight
we are alive tonight
[Verse 3]
paper boats are sailing down the gutters of the town
every window open and the music pouring down
[Chorus]
we are the fire in the night
we are the spark that makes it right
sing it loud and hold me tight
we are alive tonight
[Bridge]
and if the world goes quiet
I will find you in the sound
and if the lights go out
I will find you in the sound
[Chorus]
we are the fire in the night
we are the spark that makes it right
sing it loud and hold me tight
we are alive tonight
[Verse 4]
when the summer fades and all the songs are sung
I will keep the echo of the days when we were young
[Chorus]
we are the fire in the night
we are the spark that makes it right
sing it loud and hold me tight
we are alive tonight
[Outro]
alive tonight
we are alive tonight
"""


def _one_clip(request: dict[str, Any], out: str) -> dict[str, Any]:
    """Runs in a fresh process: compose + render clip 0, then report stages and peak RSS."""
    started = time.perf_counter()
    cpu = time.process_time()
    result, _ = _render_one(request, 0, out, SOUNDFONT, _quiet)
    total = time.perf_counter() - started
    return {
        "stages": {k: round(v, 3) for k, v in result.seconds.items()},
        # CPU seconds of the process (all its threads) during each stage: stages that run
        # pieces in parallel threads show less wall than CPU when cores are free.
        "stages_cpu": {k: round(v, 3) for k, v in result.cpu_seconds.items()},
        "total_s": round(total, 3),
        # CPU seconds of this process (eSpeak's child not included): on a loaded machine
        # the wall figures above grow, this one much less.
        "cpu_s": round(time.process_time() - cpu, 3),
        "duration_s": result.meta["duration"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "master": {
            "input_lufs": round(result.master.input_lufs, 2),
            "gain_db": round(result.master.gain_db, 2),
            "max_reduction_db": round(result.master.max_reduction_db, 2),
        },
    }


def _start(one_core: bool) -> None:
    """Start the process like one of the engine's workers, on one core if asked."""
    if one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    _child_init(None, SOUNDFONT)


def _quiet(index: int, fraction: float, stage: str) -> None:
    del index, fraction, stage


def _read(path: Path) -> np.ndarray:
    audio, _ = sf.read(str(path), dtype="float64", always_2d=True)
    return audio


def _quality(clip_dir: Path) -> dict[str, Any]:
    import pyloudnorm
    from scipy.signal import resample_poly

    song = _read(clip_dir / "song.wav")
    stems = sum(_read(p) for p in (clip_dir / "stems").glob("*.wav"))
    residual = 10 * math.log10(np.mean((stems - song) ** 2) / np.mean(song**2))
    peak = max(float(np.abs(resample_poly(song[:, c], 4, 1)).max()) for c in range(2))
    figures: dict[str, Any] = {
        "lufs": round(pyloudnorm.Meter(44100).integrated_loudness(song), 2),
        "true_peak_dbtp": round(20 * math.log10(peak), 2),
        "null_residual_db": round(residual, 1),
    }
    return figures


def _analysis(clip_dir: Path) -> dict[str, Any]:
    try:
        import librosa
        import mido
    except ImportError:
        return {"analysis": "skipped: librosa is not installed"}
    meta = json.loads((clip_dir / "meta.json").read_text())
    mono = _read(clip_dir / "song.wav").mean(axis=1)
    tempo, _ = librosa.beat.beat_track(y=mono.astype(np.float32), sr=44100)
    found = float(np.atleast_1d(tempo)[0])
    out: dict[str, Any] = {
        "tempo_score": meta["tempo"],
        "tempo_found": round(found, 2),
        "tempo_error_pct": round(abs(found - meta["tempo"]) / meta["tempo"] * 100, 2),
    }
    vocals_path = clip_dir / "stems" / "Vocals.wav"
    if not vocals_path.exists():
        return out
    midi = mido.MidiFile(str(clip_dir / "song.mid"))
    us_per_beat = next(m.tempo for m in midi.tracks[0] if m.type == "set_tempo")
    track = next(t for t in midi.tracks if t.name == "Vocals")
    notes, ticks, opened = [], 0, {}
    for msg in track:
        ticks += msg.time
        at = mido.tick2second(ticks, midi.ticks_per_beat, us_per_beat)
        if msg.type == "note_on" and msg.velocity > 0:
            opened[msg.note] = at
        elif msg.type in ("note_on", "note_off") and msg.note in opened:
            notes.append((opened.pop(msg.note), at, msg.note))
    y = librosa.resample(_read(vocals_path).mean(axis=1), orig_sr=44100, target_sr=22050)
    f0, voiced, _ = librosa.pyin(y, fmin=70, fmax=900, sr=22050, frame_length=1024, hop_length=256)
    times = librosa.times_like(f0, sr=22050, hop_length=256)
    errors: list[float] = []
    for start, end, pitch in notes:
        inside = (times >= start + 0.08) & (times <= end - 0.05) & voiced & ~np.isnan(f0)
        errors.extend(np.abs(1200 * np.log2(f0[inside] / librosa.midi_to_hz(pitch))).tolist())
    if errors:
        arr = np.array(errors)
        out["pitch_frames"] = len(arr)
        out["pitch_within_50_cents_pct"] = round(float(np.mean(arr <= 50)) * 100, 2)
        out["pitch_median_error_cents"] = round(float(np.median(arr)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180, help="longest song (max duration)")
    parser.add_argument("--tags", default="pop, upbeat")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-analysis", action="store_true", help="skip librosa figures")
    parser.add_argument("--one-core", action="store_true", help="pin the single clip to a core")
    parser.add_argument(
        "--pairs", type=int, default=3, help="parallel runs of both clips (the median is shown)"
    )
    args = parser.parse_args()

    request = MusicRequest(
        tags=args.tags, lyrics=LYRICS, max_duration_s=args.seconds, seed=args.seed,
        model="chirp-v4-5", vocal_gender="female",
    )  # fmt: skip
    context = get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="cadenza-bench-") as tmp:
        root = Path(tmp)
        # Started like the engine's workers (imports, SoundFont in the synth's cache): that
        # is paid once per process, not per clip.
        with ProcessPoolExecutor(
            1, mp_context=context, initializer=_start, initargs=(args.one_core,)
        ) as pool:
            pool.submit(_quiet, 0, 0.0, "warm-up").result()  # process start is not render time
            single = pool.submit(_one_clip, request.to_dict(), str(root / "single")).result()
        single["seed"] = clip_seed(args.seed, 0)
        single.update(_quality(root / "single"))
        if not args.no_analysis:
            single.update(_analysis(root / "single"))

        engine = ComposeEngine(workers=2)
        started = time.perf_counter()
        engine.warm()  # once per worker process, not per task
        startup = time.perf_counter() - started
        pair_walls: list[float] = []
        try:
            for attempt in range(max(1, args.pairs)):
                started = time.perf_counter()
                engine.run(
                    "MUSIC",
                    {"request": request.to_dict(), "clip_ids": ["clip-0", "clip-1"]},
                    root / f"pair-{attempt}",
                    lambda f, s: None,
                )
                pair_walls.append(time.perf_counter() - started)
        finally:
            engine.close()
        pair_wall = statistics.median(pair_walls)
        same = (root / "single" / "song.wav").read_bytes() == (
            root / "pair-0" / "clip-0" / "song.wav"
        ).read_bytes()

    report = {
        "one_clip_one_core": single,
        "two_clips_parallel_wall_s": round(pair_wall, 3),
        "two_clips_parallel_runs_s": [round(w, 3) for w in pair_walls],
        "two_clips_parallel_includes": "rendering only: the workers were started and warm",
        "parallel_startup_s": round(startup, 3),
        "clip0_identical_across_runs": same,
        "goal": {"one_clip_s": 10.0, "two_clips_wall_s": 10.0},
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    print(
        f"\none clip: {single['total_s']:.2f} s ({single['cpu_s']:.2f} s CPU) "
        f"for {single['duration_s']:.1f} s of audio "
        f"({single['duration_s'] / single['total_s']:.1f}x real time)",
        file=sys.stderr,
    )
    print(f"{'stage':<12} {'seconds':>8} {'CPU seconds':>12}", file=sys.stderr)
    for name, wall in single["stages"].items():
        cpu = single["stages_cpu"].get(name)
        shown = f"{cpu:12.2f}" if cpu is not None else f"{'-':>12}"
        print(f"{name:<12} {wall:8.2f} {shown}", file=sys.stderr)
    print(
        f"two clips in parallel: {pair_wall:.2f} s wall, median of "
        f"{', '.join(f'{w:.2f}' for w in pair_walls)} "
        f"(after {startup:.2f} s of worker start-up, paid once per process)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
