"""What the creative actions cost, against rendering the song they start from.

Run: .venv/bin/python benchmarks/creative.py [--seconds 60]

Renders a sung song and an instrumental (``render_clip``, the source clips), stores them
in a local media store as a finished task would, then times what each creative task runs
(``engine_creative.run_creative``: fetch, compose, render, join, write every file):
replace_section (one clip, a 4-bar window), Add Vocals (two clips over the instrumental),
Add Instrumental (two clips under the sung song's Vocals stem, uploaded and analysed),
samples and mashup (two new songs each). Wall seconds, on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from cadenza.compose.composer import compose
from cadenza.compose.engine_creative import run_creative
from cadenza.compose.pipeline import render_clip
from cadenza.domain.music import MusicRequest
from cadenza.storage.local import LocalStorage

LYRIC = (
    "[Verse]\nHello river\nCarry me home\nDown to the sea\nWhere the lanterns glow\n\n"
    "[Chorus]\nOh the river\nRunning so free\nOh the river\nCarry me home"
)


def _quiet(fraction: float, stage: str = "") -> None:
    return None


def _source(
    storage: LocalStorage, tmp: Path, name: str, request: MusicRequest
) -> tuple[dict[str, str], float, float]:
    """A rendered clip stored under ``clips/<name>/``: its files' keys, its length and
    the seconds its render took."""
    t = time.perf_counter()
    result = render_clip(compose(request, request.seed), tmp / name, _quiet)
    took = time.perf_counter() - t
    keys: dict[str, str] = {}
    for layout, path in result.files.items():
        keys[layout] = f"clips/{name}/{layout.replace(' ', '-')}"
        storage.put_file(keys[layout], Path(path), "application/octet-stream")
    return keys, float(result.meta["duration"]), took


def _a_cappella(storage: LocalStorage, tmp: Path, vocals_key: str) -> tuple[dict[str, str], float]:
    """The sung song's Vocals stem as an upload (analysed, as ``/suno/upload`` does)."""
    from cadenza.engines.tools import AudioToolsEngine

    made = AudioToolsEngine(storage).run(
        "UPLOAD",
        {
            "clip_ids": ["vocal"],
            "upload_id": "vocal",
            "storage_key": vocals_key,
            "title": "A cappella",
            "max_bytes": 100 * 1024 * 1024,
            "max_duration_s": 600.0,
        },
        tmp / "upload",
        _quiet,
    )[0]
    keys: dict[str, str] = {}
    for layout, path in made["files"].items():
        keys[layout] = f"clips/vocal/{layout}"
        storage.put_file(keys[layout], Path(path), "application/octet-stream")
    return keys, float(made["meta"]["duration"])


def _params(keys: dict[str, str], duration: float, **extra: Any) -> dict[str, Any]:
    return {
        "source_clip_id": "source",
        "source_score_key": keys["score.json"],
        "source_files": {k: v for k, v in keys.items() if k == "song.wav" or "stems/" in k},
        "source_duration": duration,
        "seed": 7,
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        storage = LocalStorage(tmp / "media", "http://bench")
        sung, sung_s, sung_took = _source(
            storage,
            tmp,
            "sung",
            MusicRequest(lyrics=LYRIC, tags="folk pop", max_duration_s=args.seconds, seed=3),
        )
        band, band_s, band_took = _source(
            storage,
            tmp,
            "band",
            MusicRequest(
                tags="acoustic pop", instrumental=True, max_duration_s=args.seconds, seed=4
            ),
        )
        vocal, vocal_s = _a_cappella(storage, tmp, sung["stems/Vocals.wav"])
        print(f"source renders: sung {sung_s:.1f} s in {sung_took:.2f} s,")
        print(f"                instrumental {band_s:.1f} s in {band_took:.2f} s")
        jobs: list[tuple[str, str, dict[str, Any]]] = [
            (
                "replace_section (1 clip)",
                "REPLACE_SECTION",
                _params(
                    sung,
                    sung_s,
                    clip_ids=["r1"],
                    start_s=8.0,
                    end_s=18.0,
                    infill_lyrics="Golden morning light\nSinging on the water",
                ),
            ),
            (
                "add vocals (2 clips)",
                "ADD_VOCALS",
                _params(
                    band,
                    band_s,
                    clip_ids=["v1", "v2"],
                    start_s=2.0,
                    end_s=min(band_s - 2, 30.0),
                    lyrics="[Verse]\nLantern in the window\nCalling me back home",
                ),
            ),
            (
                "add instrumental (2 clips)",
                "ADD_INSTRUMENTAL",
                _params(vocal, vocal_s, clip_ids=["i1", "i2"], tags="piano ballad"),
            ),
            (
                "samples (2 clips)",
                "SAMPLES",
                _params(
                    sung,
                    sung_s,
                    clip_ids=["s1", "s2"],
                    start_s=4.0,
                    end_s=12.0,
                    lyrics="[Verse]\nNeon on the river\nBreaking into light",
                    tags="hip hop",
                ),
            ),
            (
                "mashup (2 clips)",
                "MASHUP",
                _params(
                    sung,
                    sung_s,
                    clip_ids=["m1", "m2"],
                    second_score_key=band["score.json"],
                    lyrics="[Verse]\nTwo rivers meet",
                ),
            ),
        ]
        for label, action, params in jobs:
            t = time.perf_counter()
            made = run_creative(action, params, tmp / action.lower(), _quiet, storage=storage)
            took = time.perf_counter() - t
            lengths = ", ".join(f"{m['meta']['duration']:.1f} s" for m in made)
            print(f"{label:28s} {took:6.2f} s  ({lengths})")


if __name__ == "__main__":
    main()
