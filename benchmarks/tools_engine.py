"""End-to-end cost of the tools engine and the music video on a 3-minute clip.

Run: .venv/bin/python benchmarks/tools_engine.py [--seconds 180] [--stems 4]

Unlike ``benchmarks/tools.py`` (the edits alone), this times what a task does: fetch the
source files from a local media store, edit the song and every stem, write WAV + MP3,
copy covers. Also times ``render_video`` for the same clip (what an MP4 task runs;
``benchmarks/video.py`` adds captions and CPU time).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from cadenza.audio.video import render_video
from cadenza.compose.composer import compose
from cadenza.compose.midi import build_midi
from cadenza.compose.timings import word_timings
from cadenza.domain.music import MusicRequest
from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

SR = 44100


def _signal(seconds: float, base: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    mono = sum(0.1 * np.sin(2 * np.pi * base * k * t) for k in (1, 2, 3, 5)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def _quiet(fraction: float, message: str = "") -> None:
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--stems", type=int, default=4)
    parser.add_argument("--no-video", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        storage = LocalStorage(tmp / "media", "http://bench")
        files: dict[str, str] = {}
        for index, name in enumerate(["song"] + [f"stems/S{i}" for i in range(args.stems)]):
            path = tmp / f"{index}.wav"
            sf.write(str(path), _signal(args.seconds, 110.0 * (index + 1)), SR)
            files[f"{name}.wav"] = f"clips/src/{name}.wav"
            storage.put_file(files[f"{name}.wav"], path, "audio/wav")
        lyrics = "[Verse]\nLight on the water\nRun to the river\n[Chorus]\nHold on hold on"
        score = compose(MusicRequest(lyrics=lyrics, max_duration_s=args.seconds), 3)
        midi = io.BytesIO()
        build_midi(score).save(file=midi)
        doc = {"title": score.title, "language": "en", "words": word_timings(score)}
        storage.put_bytes("clips/src/song.mid", midi.getvalue(), "audio/midi")
        storage.put_bytes("clips/src/lyrics.json", json.dumps(doc).encode(), "application/json")
        files["song.mid"], files["lyrics.json"] = "clips/src/song.mid", "clips/src/lyrics.json"
        cover = tmp / "cover.png"
        Image.new("RGB", (1024, 1024), (30, 60, 120)).save(cover)
        storage.put_file("clips/src/cover_large.png", cover, "image/png")
        files["cover_large.png"] = "clips/src/cover_large.png"
        half = args.seconds / 2
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("crop keep", "CROP", {"crop_start_s": 10.0, "crop_end_s": half + 10.0}),
            (
                "crop remove",
                "CROP",
                {"crop_start_s": 10.0, "crop_end_s": 40.0, "is_crop_remove": True},
            ),
            ("speed 1.25 tape", "SPEED_ADJUST", {"speed_multiplier": 1.25, "keep_pitch": False}),
            (
                "speed 1.25 keep_pitch",
                "SPEED_ADJUST",
                {"speed_multiplier": 1.25, "keep_pitch": True},
            ),
            (
                "concat 2 parts",
                "CONCAT",
                {
                    "parts": [
                        {"song_key": files["song.wav"], "cut_s": half, "files": files},
                        {"song_key": files["song.wav"], "cut_s": None, "files": files},
                    ]
                },
            ),
        ]
        engine = AudioToolsEngine(storage)
        tracks = 1 + args.stems
        print(f"clip {args.seconds:.0f} s, song + {args.stems} stems")
        for index, (label, action, extra) in enumerate(cases):
            params = {"clip_ids": ["c"], "files": files, **extra}
            start = time.perf_counter()
            engine.run(action, params, tmp / f"w{index}", _quiet)
            took = time.perf_counter() - start
            print(
                f"{label:24s} {took:6.2f} s  {args.seconds / took:7.1f}x real time"
                f"  ({tracks} track(s) edited, WAV+MP3, lyrics and MIDI written)"
            )
        if args.no_video:
            return
        start = time.perf_counter()
        render_video(
            storage.path_for(files["song.wav"]), cover, tmp / "v.mp4", duration_s=args.seconds
        )
        took = time.perf_counter() - start
        print(f"{'mp4 render':24s} {took:6.2f} s  {args.seconds / took:7.1f}x real time")


if __name__ == "__main__":
    main()
