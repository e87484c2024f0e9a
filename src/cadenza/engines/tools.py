"""The audio tools engine: crop, speed adjust, concat and upload processing.

Each action reads its source files from the media store by key (the service put the keys
in the task's parameters, so this engine never touches the database) and writes ONE clip:
``song.wav``, ``song.mp3``, the covers and, for crop and speed of generated clips, the
stems edited the same way.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from cadenza.audio import edit
from cadenza.audio.probe import MediaRejected, decode, probe
from cadenza.domain.actions import Action
from cadenza.domain.errors import EngineError
from cadenza.services.ports import MediaStorage, ProgressCallback

SAMPLE_RATE = 44100
COVER_FILES = ("cover.png", "cover_large.png")
STEM_PREFIX = "stems/"

#: Longest concat chain followed (a guard against pathological data, not a product limit).
MAX_CHAIN = 64


def _read_wav(path: Path) -> tuple[edit.Audio, int]:
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise EngineError(f"cannot read {path.name}") from exc
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def _write_song(out_dir: Path, audio: edit.Audio, rate: int) -> dict[str, Path]:
    from cadenza.compose.encode import write_mp3, write_wav

    out_dir.mkdir(parents=True, exist_ok=True)
    wav = write_wav(out_dir / "song.wav", audio, rate)
    mp3 = write_mp3(out_dir / "song.mp3", audio, rate)
    return {"song.wav": wav, "song.mp3": mp3}


def _match(audio: edit.Audio, rate: int, target_rate: int, channels: int) -> edit.Audio:
    """Resample and up/down-mix a concat part to the first part's format."""
    data = edit.as_frames(audio)
    if rate != target_rate:
        data = np.asarray(soxr.resample(data, rate, target_rate, quality="HQ"), np.float32)
        data = edit.as_frames(data)
    if data.shape[1] != channels:
        mono = data.mean(axis=1, keepdims=True)
        data = np.repeat(mono, channels, axis=1).astype(np.float32)
    return data


class AudioToolsEngine:
    """Implements ``Engine`` for CROP, SPEED_ADJUST, CONCAT and UPLOAD."""

    name = "tools"
    actions = (
        Action.CROP.value,
        Action.SPEED_ADJUST.value,
        Action.CONCAT.value,
        Action.UPLOAD.value,
    )

    def __init__(self, storage: MediaStorage) -> None:
        self._storage = storage

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        clip_ids = list(params.get("clip_ids") or [])
        if not clip_ids:
            raise EngineError("no clip to fill")
        out_dir = workdir / "out"
        src_dir = workdir / "src"
        src_dir.mkdir(parents=True, exist_ok=True)
        progress(0.05, "fetching")
        if action == Action.CROP:
            files, meta = self._crop(params, src_dir, out_dir, progress)
        elif action == Action.SPEED_ADJUST:
            files, meta = self._speed(params, src_dir, out_dir, progress)
        elif action == Action.CONCAT:
            files, meta = self._concat(params, src_dir, out_dir, progress)
        elif action == Action.UPLOAD:
            files, meta = self._upload(params, src_dir, out_dir, progress)
        else:
            raise EngineError(f"the tools engine does not handle {action}")
        progress(0.95, "storing")
        return [{"id": clip_ids[0], "files": {k: str(v) for k, v in files.items()}, "meta": meta}]

    # -- helpers ------------------------------------------------------------------------

    def _fetch(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return self._storage.fetch_to(key, dest)

    def _copy_covers(
        self, sources: dict[str, str], src_dir: Path, out_dir: Path
    ) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for name in COVER_FILES:
            key = sources.get(name)
            if key:
                fetched = self._fetch(key, src_dir / "covers" / name)
                target = out_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fetched, target)
                out[name] = target
        return out

    def _stems(self, sources: dict[str, str]) -> list[tuple[str, str]]:
        return sorted(
            (name, key)
            for name, key in sources.items()
            if name.startswith(STEM_PREFIX) and name.endswith(".wav") and ".." not in name
        )

    def _edit_stems(
        self,
        sources: dict[str, str],
        src_dir: Path,
        out_dir: Path,
        apply: Callable[[edit.Audio, int], edit.Audio],
    ) -> dict[str, Path]:
        from cadenza.compose.encode import write_wav

        out: dict[str, Path] = {}
        for index, (name, key) in enumerate(self._stems(sources)):
            fetched = self._fetch(key, src_dir / f"stem-{index}.wav")
            audio, rate = _read_wav(fetched)
            out[name] = write_wav(out_dir / name, apply(audio, rate), rate, subtype="FLOAT")
        return out

    def _source(self, params: dict[str, Any], src_dir: Path) -> tuple[edit.Audio, int]:
        sources: dict[str, str] = params.get("files") or {}
        key = sources.get("song.wav")
        if not key:
            raise EngineError("the source clip has no WAV file")
        return _read_wav(self._fetch(key, src_dir / "song.wav"))

    # -- actions ------------------------------------------------------------------------

    def _crop(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        start = float(params["crop_start_s"])
        end = float(params["crop_end_s"])
        remove = bool(params.get("is_crop_remove"))

        def apply(audio: edit.Audio, rate: int) -> edit.Audio:
            try:
                if remove:
                    return edit.crop_remove(audio, rate, start, end)
                return edit.crop_keep(audio, rate, start, end)
            except ValueError as exc:
                raise EngineError(f"crop window does not fit the audio: {exc}") from exc

        song, rate = self._source(params, src_dir)
        result = apply(song, rate)
        progress(0.4, "encoding")
        files = _write_song(out_dir, result, rate)
        sources = params.get("files") or {}
        files.update(self._edit_stems(sources, src_dir, out_dir, apply))
        files.update(self._copy_covers(sources, src_dir, out_dir))
        meta = {
            "duration": len(result) / rate,
            "type": "edit_crop",
            "edited_clip_id": params.get("source_clip_id"),
            "crop_start_s": start,
            "crop_end_s": end,
            "is_crop_remove": remove,
        }
        return files, self._titled(params, meta)

    def _speed(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        multiplier = float(params["speed_multiplier"])
        keep_pitch = bool(params.get("keep_pitch"))

        def apply(audio: edit.Audio, rate: int) -> edit.Audio:
            try:
                return edit.change_speed(audio, rate, multiplier, keep_pitch=keep_pitch)
            except ValueError as exc:
                raise EngineError(str(exc)) from exc

        song, rate = self._source(params, src_dir)
        result = apply(song, rate)
        progress(0.4, "encoding")
        files = _write_song(out_dir, result, rate)
        sources = params.get("files") or {}
        files.update(self._edit_stems(sources, src_dir, out_dir, apply))
        files.update(self._copy_covers(sources, src_dir, out_dir))
        meta = {
            "duration": len(result) / rate,
            "type": "edit_speed",
            "edited_clip_id": params.get("source_clip_id"),
            "speed_multiplier": multiplier,
            "keep_pitch": keep_pitch,
        }
        return files, self._titled(params, meta)

    def _concat(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        parts_in: list[dict[str, Any]] = list(params.get("parts") or [])
        if len(parts_in) < 2 or len(parts_in) > MAX_CHAIN:
            raise EngineError("a concat needs an extend chain of 2 or more clips")
        parts: list[tuple[edit.Audio, int | None]] = []
        target_rate = 0
        channels = 0
        for index, part in enumerate(parts_in):
            audio, rate = _read_wav(self._fetch(str(part["song_key"]), src_dir / f"p{index}.wav"))
            if index == 0:
                target_rate, channels = rate, audio.shape[1]
            audio = _match(audio, rate, target_rate, channels)
            cut_s = part.get("cut_s")
            cut = None if cut_s is None else min(len(audio), edit.to_frames(cut_s, target_rate))
            parts.append((audio, cut))
            progress(0.05 + 0.5 * (index + 1) / len(parts_in), "joining")
        parts[-1] = (parts[-1][0], None)
        result = edit.concat(parts, target_rate)
        files = _write_song(out_dir, result, target_rate)
        files.update(self._copy_covers(params.get("cover_files") or {}, src_dir, out_dir))
        meta = {
            "duration": len(result) / target_rate,
            "type": "concat",
            "concat_history": params.get("concat_history") or [],
            "edited_clip_id": params.get("source_clip_id"),
        }
        return files, self._titled(params, meta)

    def _upload(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        from cadenza.compose.cover import write_covers

        max_bytes = int(params["max_bytes"])
        max_duration = float(params["max_duration_s"])
        source = self._fetch(str(params["storage_key"]), src_dir / "upload.bin")
        try:
            # Probed again: the stored object is what counts, not what the API saw.
            info = probe(source, max_bytes=max_bytes, max_duration_s=max_duration)
            audio = decode(
                source, info, sample_rate=SAMPLE_RATE, channels=2, max_duration_s=max_duration
            )
        except MediaRejected as exc:
            raise EngineError(exc.message) from exc
        progress(0.5, "encoding")
        files = _write_song(out_dir, audio, SAMPLE_RATE)
        title = str(params.get("title") or "Untitled")
        seed = int.from_bytes(hashlib.sha256(str(params["upload_id"]).encode()).digest()[:4])
        small, large = write_covers(
            title, "", seed, out_dir / "cover.png", out_dir / "cover_large.png"
        )
        files["cover.png"], files["cover_large.png"] = small, large
        meta = {
            "duration": len(audio) / SAMPLE_RATE,
            "title": title,
            "type": "upload",
            "upload_id": params["upload_id"],
            "source_format": info.format,
        }
        return files, meta

    @staticmethod
    def _titled(params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        title = params.get("title")
        if isinstance(title, str) and title:
            meta["title"] = title
        return meta
