"""The audio tools engine: crop, speed adjust, concat and upload processing.

Each action reads its source files from the media store by key (the service put the keys
in the task's parameters, so this engine never touches the database) and writes ONE clip:
``song.wav``, ``song.mp3``, the covers and, for generated clips, the stems (``stems/*.wav``,
which still sum to the song), ``lyrics.json`` and ``song.mid``, all edited the same way,
so the aligned-lyrics and MIDI routes stay exact on edited clips. ``score.json`` is not
carried: a score counts beats and bars, which a cut at an arbitrary second does not keep.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import mido
import numpy as np
import soundfile as sf
import soxr

from cadenza.audio import edit, score_edit
from cadenza.audio.probe import MediaRejected, decode, probe
from cadenza.domain.actions import Action
from cadenza.domain.errors import EngineError
from cadenza.services.ports import MediaStorage, ProgressCallback

SAMPLE_RATE = 44100
COVER_FILES = ("cover.png", "cover_large.png")
STEM_PREFIX = "stems/"
SONG_FILE = "song.wav"
LYRICS_FILE = "lyrics.json"
MIDI_FILE = "song.mid"

T = TypeVar("T")

#: One edit applied to a track: its audio in every source part -> the result.
Apply = Callable[[list[edit.Audio]], edit.Audio]

#: How far past the WAV's end a crop may reach and still mean "to the end" (seconds): a
#: clip's stated duration is rounded to the millisecond.
END_SLACK_S = 0.01

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


def _read_lyrics(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_midi(path: Path) -> mido.MidiFile | None:
    try:
        return mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError):
        return None


def _fit(audio: edit.Audio, frames: int) -> edit.Audio:
    """Trim or pad with silence to ``frames``, so a stem's cuts fall where the song's do."""
    if len(audio) == frames:
        return audio
    out = np.zeros((frames, audio.shape[1]), np.float32)
    out[: min(frames, len(audio))] = audio[:frames]
    return out


def _stem_names(parts: Sequence[Mapping[str, str]]) -> list[str]:
    """Stems of the result: every name any part has, when every part has stems."""
    per_part = [
        {n for n in part if n.startswith(STEM_PREFIX) and n.endswith(".wav") and ".." not in n}
        for part in parts
    ]
    if not per_part or not all(per_part):
        return []
    return sorted(set().union(*per_part))


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

    def _read(self, key: str, dest: Path, rate: int, channels: int) -> edit.Audio:
        audio, own_rate = _read_wav(self._fetch(key, dest))
        return _match(audio, own_rate, rate, channels)

    def _songs(
        self, parts: Sequence[Mapping[str, str]], src_dir: Path
    ) -> tuple[list[edit.Audio], int]:
        """Every part's song, in the first part's sample rate and channel count."""
        songs: list[edit.Audio] = []
        rate = channels = 0
        for index, part in enumerate(parts):
            key = part.get(SONG_FILE)
            if not key:
                raise EngineError("the source clip has no WAV file")
            audio, own_rate = _read_wav(self._fetch(key, src_dir / f"p{index}" / SONG_FILE))
            if index == 0:
                rate, channels = own_rate, audio.shape[1]
            songs.append(_match(audio, own_rate, rate, channels))
        return songs, rate

    def _edit_tracks(
        self,
        parts: Sequence[Mapping[str, str]],
        songs: list[edit.Audio],
        rate: int,
        src_dir: Path,
        out_dir: Path,
        apply: Apply,
    ) -> tuple[edit.Audio, dict[str, Path]]:
        """Apply one edit to the song and to every stem, so the stems still sum to it.

        A stem that a part lacks is silence there; stems are fitted to their part's song.
        """
        from cadenza.compose.encode import write_wav

        result = apply(songs)
        files = _write_song(out_dir, result, rate)
        for number, name in enumerate(_stem_names(parts)):
            tracks = []
            for index, (part, song) in enumerate(zip(parts, songs, strict=True)):
                key = part.get(name)
                if key:
                    dest = src_dir / f"p{index}" / f"stem-{number}.wav"
                    audio = self._read(key, dest, rate, song.shape[1])
                    tracks.append(_fit(audio, len(song)))
                else:
                    tracks.append(np.zeros_like(song))
            files[name] = write_wav(out_dir / name, apply(tracks), rate, subtype="FLOAT")
        return result, files

    def _timed_files(
        self,
        parts: Sequence[Mapping[str, str]],
        maps: Sequence[Sequence[score_edit.Piece]],
        length_s: float,
        src_dir: Path,
        out_dir: Path,
        semitones: float = 0.0,
    ) -> dict[str, Path]:
        """``lyrics.json`` and ``song.mid`` through the edit's time map. MIDI only when every
        part has it (a part without would leave a silent gap in the notes); words when any
        part has them, a part with no lyrics file (an upload: nothing known to be sung)
        adding none, so an upload extended with lyrics keeps the extension's words."""
        out: dict[str, Path] = {}
        docs: list[dict[str, Any]] | None = None
        if any(part.get(LYRICS_FILE) for part in parts):
            docs = self._fetch_all(parts, LYRICS_FILE, src_dir, _read_lyrics, missing={"words": []})
        if docs is not None:
            lyrics = score_edit.edit_lyrics(list(zip(docs, maps, strict=True)))
            out[LYRICS_FILE] = out_dir / LYRICS_FILE
            out[LYRICS_FILE].write_text(json.dumps(lyrics, ensure_ascii=False, indent=2), "utf-8")
        midis = self._fetch_all(parts, MIDI_FILE, src_dir, _read_midi)
        if midis is not None:
            sources = list(zip(midis, maps, strict=True))
            midi = score_edit.edit_midi(sources, length_s, semitones=semitones)
            out[MIDI_FILE] = out_dir / MIDI_FILE
            midi.save(str(out[MIDI_FILE]))
        return out

    def _fetch_all(
        self,
        parts: Sequence[Mapping[str, str]],
        name: str,
        src_dir: Path,
        read: Callable[[Path], T | None],
        missing: T | None = None,
    ) -> list[T] | None:
        """File ``name`` of every part, read; None when one is unreadable or a part lacks
        it and no ``missing`` stands in (the edited audio is still worth having without)."""
        out: list[T] = []
        for index, part in enumerate(parts):
            key = part.get(name)
            if not key and missing is not None:
                out.append(missing)
                continue
            found = read(self._fetch(key, src_dir / f"p{index}" / name)) if key else None
            if found is None:
                return None
            out.append(found)
        return out

    # -- actions ------------------------------------------------------------------------

    def _crop(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        start = float(params["crop_start_s"])
        end = float(params["crop_end_s"])
        remove = bool(params.get("is_crop_remove"))
        sources: dict[str, str] = params.get("files") or {}

        songs, rate = self._songs([sources], src_dir)
        length_s = len(songs[0]) / rate
        if length_s < end <= length_s + END_SLACK_S:
            end = length_s  # the clip's duration is rounded: its stated end is the WAV's end

        def apply(tracks: list[edit.Audio]) -> edit.Audio:
            try:
                if remove:
                    return edit.crop_remove(tracks[0], rate, start, end)
                return edit.crop_keep(tracks[0], rate, start, end)
            except ValueError as exc:
                raise EngineError(f"crop window does not fit the audio: {exc}") from exc

        progress(0.3, "editing")
        result, files = self._edit_tracks([sources], songs, rate, src_dir, out_dir, apply)
        pieces = (
            score_edit.crop_remove_map(start, end, length_s)
            if remove
            else score_edit.crop_keep_map(start, end)
        )
        files.update(self._timed_files([sources], [pieces], len(result) / rate, src_dir, out_dir))
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
        sources: dict[str, str] = params.get("files") or {}

        songs, rate = self._songs([sources], src_dir)

        def apply(tracks: list[edit.Audio]) -> edit.Audio:
            try:
                return edit.change_speed(tracks[0], rate, multiplier, keep_pitch=keep_pitch)
            except ValueError as exc:
                raise EngineError(str(exc)) from exc

        progress(0.3, "editing")
        result, files = self._edit_tracks([sources], songs, rate, src_dir, out_dir, apply)
        # Like a tape, the pitch follows the speed unless it is kept.
        semitones = 0.0 if keep_pitch else 12 * math.log2(multiplier)
        pieces = score_edit.speed_map(multiplier, len(songs[0]) / rate)
        files.update(
            self._timed_files(
                [sources], [pieces], len(result) / rate, src_dir, out_dir, semitones=semitones
            )
        )
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
        # Older tasks name only each part's song.
        parts: list[dict[str, str]] = [
            dict(part.get("files") or {}) | {SONG_FILE: str(part["song_key"])} for part in parts_in
        ]
        songs, rate = self._songs(parts, src_dir)
        progress(0.3, "joining")
        cuts: list[int | None] = []
        for part, song in zip(parts_in[:-1], songs, strict=False):
            cut_s = part.get("cut_s")
            cuts.append(None if cut_s is None else min(len(song), edit.to_frames(cut_s, rate)))
        cuts.append(None)

        def apply(tracks: list[edit.Audio]) -> edit.Audio:
            return edit.concat(list(zip(tracks, cuts, strict=True)), rate)

        result, files = self._edit_tracks(parts, songs, rate, src_dir, out_dir, apply)
        used = [len(song) if cut is None else cut for song, cut in zip(songs, cuts, strict=True)]
        maps = score_edit.concat_maps([frames / rate for frames in used])
        files.update(self._timed_files(parts, maps, len(result) / rate, src_dir, out_dir))
        files.update(self._copy_covers(params.get("cover_files") or {}, src_dir, out_dir))
        meta = {
            "duration": len(result) / rate,
            "type": "concat",
            "concat_history": params.get("concat_history") or [],
            "edited_clip_id": params.get("source_clip_id"),
        }
        return files, self._titled(params, meta)

    def _upload(
        self, params: dict[str, Any], src_dir: Path, out_dir: Path, progress: ProgressCallback
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        import json

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
        progress(0.7, "analysing")
        # The analysis score lets extend, cover and MIDI work on the upload.
        from cadenza.compose.analysis import analyse, analysis_score
        from cadenza.compose.midi import write_midi

        try:
            tags = str(params.get("tags") or "")
            found = analyse(audio, SAMPLE_RATE)
            score = analysis_score(found, title=title, tags=tags, seed=seed)
        except Exception as exc:  # the task must end FAILURE with a reason
            raise EngineError(f"the upload could not be analysed: {type(exc).__name__}") from exc
        files["score.json"] = out_dir / "score.json"
        files["score.json"].write_text(json.dumps(score.to_dict(), ensure_ascii=False), "utf-8")
        files["song.mid"] = out_dir / "song.mid"
        write_midi(score, files["song.mid"])
        meta = {
            "duration": len(audio) / SAMPLE_RATE,
            "title": title,
            "type": "upload",
            "upload_id": params["upload_id"],
            "source_format": info.format,
            "tempo": score.tempo_bpm,
            "key": score.extra["key"],
            "beats_per_bar": score.beats_per_bar,
        }
        return files, meta

    @staticmethod
    def _titled(params: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        title = params.get("title")
        if isinstance(title, str) and title:
            meta["title"] = title
        return meta
