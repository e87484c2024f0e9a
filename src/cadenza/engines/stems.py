"""The stems engine: a clip's stems as clips of their own (``STEMS`` and ``ALL_STEMS``).

No separation happens here: the built-in engine renders every part on its own and keeps
the parts as ``stems/<Stem>.wav`` (float, already named by Suno's twelve stems: its
instrument catalogue files each GM program under one, e.g. programs 24-31 under Guitar,
a choir pad under Backing Vocals), so a split is exact. Mixing and mastering act on each
stem alone (the master is one gain envelope applied to every stem and to the mix), so the
stored stems sum to ``song.wav``: Vocals + Instrumental reproduce the song to within its
16-bit rounding.

``STEMS`` makes two clips: Vocals (every voice: lead and backing) and Instrumental (all
the rest). ``ALL_STEMS`` makes two candidate sets of the twelve stems, in Suno's order:

- set 1, the mix: each stem as it sounds in the song. They sum to the song, for remixing.
- set 2, solo: the same parts each brought to the song's loudness (ITU-R BS.1770, gain
  capped so the true peak stays under -1 dBTP), for listening to one part alone, sampling
  or playing along: a shaker mixed 20 dB down is as audible as the lead. Its gain is in
  each clip's metadata (``gain_db``); a part already as loud as the song (often the lead
  vocal) keeps nearly its level, while the accompaniment moves by 10-25 dB.

A second render of the score (another seed, another mix) would be a different song, and
the sibling clip of the source's task is one too: neither is a candidate split of THIS
clip, which is what a client asking for stems wants. A stem the song has no part for is
silence of the song's length in both sets (``silent: true`` in its metadata).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cadenza.audio import edit
from cadenza.domain.actions import Action
from cadenza.domain.errors import EngineError
from cadenza.domain.stems import (
    SET_KINDS,
    SETS,
    STEM_ORDER,
    SUNG,
    TWO_STEMS,
    stem_of_file,
    stem_title,
)
from cadenza.services.ports import MediaStorage, ProgressCallback

SONG_FILE = "song.wav"
#: Set 2's true-peak ceiling (dBTP), the master's own.
SOLO_CEILING_DBTP = -1.0


@dataclass(frozen=True)
class _Group:
    """Source stems summed into the clips at ``indexes`` (one, or one per set)."""

    name: str
    stems: tuple[str, ...]
    indexes: tuple[int, ...]


@dataclass(frozen=True)
class _Source:
    rate: int
    frames: int
    channels: int
    #: Stem -> local paths of the source's files under it.
    tracks: Mapping[str, Sequence[Path]]
    #: The song's integrated loudness (LUFS), the solo set's target.
    loudness: float


def _read_wav(path: Path) -> tuple[edit.Audio, int]:
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise EngineError(f"cannot read {path.name}") from exc
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def _fit(audio: edit.Audio, frames: int) -> edit.Audio:
    """Trim or pad with silence to the song's length."""
    if len(audio) == frames:
        return audio
    out = np.zeros((frames, audio.shape[1]), np.float32)
    out[: min(frames, len(audio))] = audio[:frames]
    return out


def solo_gain_db(audio: edit.Audio, rate: int, target_lufs: float) -> float:
    """The gain (dB) that brings a stem to ``target_lufs`` without its true peak passing
    ``SOLO_CEILING_DBTP``; 0 for a stem too quiet to measure (below the -70 LUFS gate)."""
    from cadenza.compose.master import integrated_loudness, true_peak_dbtp

    loudness = integrated_loudness(audio, rate)
    peak = true_peak_dbtp(audio, rate)
    if not (np.isfinite(loudness) and np.isfinite(peak) and np.isfinite(target_lufs)):
        return 0.0
    return round(float(min(target_lufs - loudness, SOLO_CEILING_DBTP - peak)), 3)


def _write_clip(folder: Path, audio: edit.Audio, rate: int) -> dict[str, Path]:
    """``song.wav`` (16-bit, like every clip's) and ``song.mp3``."""
    from cadenza.compose.encode import encode_mp3, to_pcm16, write_wav

    folder.mkdir(parents=True, exist_ok=True)
    pcm = to_pcm16(audio)
    wav = write_wav(folder / "song.wav", pcm, rate)
    mp3 = folder / "song.mp3"
    mp3.write_bytes(encode_mp3(pcm, rate))
    return {"song.wav": wav, "song.mp3": mp3}


def _copy_clip(files: Mapping[str, Path], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: Path(shutil.copyfile(path, folder / name)) for name, path in files.items()}


def groups_for(full: bool) -> list[_Group]:
    """What each clip holds: Vocals and Instrumental, or each of the twelve stems in both
    sets (set 1 at index ``i``, set 2 at ``12 + i``)."""
    if not full:
        sung = tuple(s for s in STEM_ORDER if s in SUNG)
        rest = tuple(s for s in STEM_ORDER if s not in SUNG)
        return [_Group(TWO_STEMS[0], sung, (0,)), _Group(TWO_STEMS[1], rest, (1,))]
    count = len(STEM_ORDER)
    return [
        _Group(stem, (stem,), tuple(i + n * count for n in range(SETS)))
        for i, stem in enumerate(STEM_ORDER)
    ]


class StemsEngine:
    """Implements ``Engine`` for STEMS and ALL_STEMS over the media store."""

    name = "stems"
    actions = (Action.STEMS.value, Action.ALL_STEMS.value)

    def __init__(self, storage: MediaStorage, *, threads: int = 2) -> None:
        self._storage = storage
        #: Stems written at once; each holds a song-length array or two (LAME and numpy
        #: release the GIL, so threads do run in parallel).
        self._threads = max(1, threads)

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        if action not in self.actions:
            raise EngineError(f"the stems engine does not handle {action}")
        full = action == Action.ALL_STEMS
        groups = groups_for(full)
        clip_ids = [str(c) for c in params.get("clip_ids") or []]
        wanted = sum(len(g.indexes) for g in groups)
        if len(clip_ids) != wanted:
            raise EngineError(f"a {action} task needs {wanted} clips, not {len(clip_ids)}")
        progress(0.02, "fetching")
        source = self._source(params.get("files") or {}, workdir / "src", full)
        progress(0.1, "stems")
        out_dir = workdir / "out"
        silence: dict[str, Path] = {}
        if any(not any(s in source.tracks for s in g.stems) for g in groups):
            zeros = np.zeros((source.frames, source.channels), np.float32)
            silence = _write_clip(out_dir / "silence", zeros, source.rate)
        title = str(params.get("title") or "Untitled")
        common = {
            "type": "stem",
            "stem_from_id": params.get("source_clip_id"),
            "duration": round(source.frames / source.rate, 3),
        }
        results: dict[int, dict[str, Any]] = {}
        with ThreadPoolExecutor(self._threads) as pool:
            written = pool.map(lambda g: self._make(g, source, out_dir, silence, full), groups)
            for done, parts in enumerate(written, start=1):
                for index, (files, meta) in parts.items():
                    results[index] = {
                        "id": clip_ids[index],
                        "files": {k: str(v) for k, v in files.items()},
                        "meta": {
                            **common,
                            **meta,
                            "title": stem_title(title, str(meta["stem"]), full),
                        },
                    }
                progress(0.1 + 0.85 * done / len(groups), "stems")
        return [results[i] for i in range(wanted)]

    # -- reading ------------------------------------------------------------------------

    def _fetch(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return self._storage.fetch_to(key, dest)

    def _source(self, files: Mapping[str, str], src: Path, full: bool) -> _Source:
        """The source's stems fetched, checked against its song's format."""
        song_key = files.get(SONG_FILE)
        stems = {n: k for n, k in files.items() if stem_of_file(n) is not None}
        if not song_key or not stems:
            raise EngineError("the source clip has no stems")
        song, rate = _read_wav(self._fetch(song_key, src / SONG_FILE))
        frames, channels = song.shape
        loudness = -np.inf
        if full:
            from cadenza.compose.master import integrated_loudness

            loudness = integrated_loudness(song, rate)
        del song
        tracks: dict[str, list[Path]] = {}
        for number, (name, key) in enumerate(sorted(stems.items())):
            stem = stem_of_file(name)
            assert stem is not None
            path = self._fetch(key, src / f"stem-{number}.wav")
            try:
                info = sf.info(str(path))
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise EngineError(f"cannot read stem {name}") from exc
            if info.samplerate != rate or info.channels != channels:
                raise EngineError(f"stem {name} does not match the song's format")
            tracks.setdefault(stem, []).append(path)
        return _Source(rate, frames, channels, tracks, float(loudness))

    # -- writing ------------------------------------------------------------------------

    def _make(
        self,
        group: _Group,
        source: _Source,
        out_dir: Path,
        silence: Mapping[str, Path],
        full: bool,
    ) -> dict[int, tuple[dict[str, Path], dict[str, Any]]]:
        """The group's clips: index -> (files, metadata)."""
        present = [s for s in group.stems if s in source.tracks]
        base: dict[str, Any] = {"stem": group.name, "silent": not present}
        if not full:
            base["stems"] = present
        audio: edit.Audio | None = None
        for stem in present:
            for path in source.tracks[stem]:
                part = _fit(_read_wav(path)[0], source.frames)
                audio = part if audio is None else audio + part
        made: dict[int, tuple[dict[str, Path], dict[str, Any]]] = {}
        for number, index in enumerate(group.indexes):
            meta = dict(base)
            folder = out_dir / f"{index:02d}"
            if full:
                meta.update(stem_set=number + 1, stem_set_kind=SET_KINDS[number])
            if audio is None:
                made[index] = (_copy_clip(silence, folder), meta)
                continue
            sound = audio
            if full and SET_KINDS[number] == "solo":
                gain_db = solo_gain_db(audio, source.rate, source.loudness)
                meta["gain_db"] = gain_db
                sound = audio * np.float32(10.0 ** (gain_db / 20.0))
            made[index] = (_write_clip(folder, sound, source.rate), meta)
        return made
