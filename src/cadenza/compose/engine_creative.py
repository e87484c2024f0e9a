"""The compose engine's creative actions on a finished clip: replace_section
(``REPLACE_SECTION``), Add Vocals (``ADD_VOCALS``, AceData's overpainting), Add
Instrumental (``ADD_INSTRUMENTAL``, AceData's underpainting) and samples (``SAMPLES``).

The first two read the source clip's score and audio from storage, write new vocals into the score
(``compose.creative``) and keep the source's own audio wherever nothing changed:

- replace_section renders the edited score and takes only the window from it; outside
  the window (and everywhere in the stems) the samples are the source's, joined with a
  short linear crossfade at each seam. The new clip's MIDI, word timings and score are
  the edited score's, so they hold the new words exactly.
- Add Vocals sings the new lead alone and adds it to the source's audio: the source is
  the new clip's instrumental, untouched but for one gain that keeps the sum's peaks
  under full scale.
- Add Instrumental arranges a band in the asked style under an a cappella upload: its
  analysed tempo, beat grid and key, chords harmonised from its sung melody bar by bar
  (``compose.creative.accompaniment_score``). The band is rendered and mixed alone, set
  under the voice, and added to the upload's own audio, which is the new clip's Vocals
  stem, untouched but for one gain that keeps the sum's peaks under full scale.
- samples chops the window's first bars into a loop and lays it on every bar line of a
  new song written in the source's key, tempo and meter (no stretching or re-pitching
  needed), in the sample's own stem, mastered with the song.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from cadenza.compose.creative import (
    Reference,
    Window,
    accompaniment_score,
    bar_window,
    fit_to_chords,
    inspired_score,
    mashup_score,
    melody_notes,
    overpaint_score,
    replace_section_score,
    sample_bars,
    sample_song,
)
from cadenza.compose.encode import encode_mp3, to_pcm16, write_mp3, write_wav
from cadenza.compose.mix import AudioArray
from cadenza.compose.pipeline import (
    ProgressFn,
    _clip_entry,
    _fade_out,
    _preview_samples,
    clip_seed,
    render_clip,
)
from cadenza.compose.score import STEM_NAMES, Score
from cadenza.compose.synth import DEFAULT_SOUNDFONT, SAMPLE_RATE
from cadenza.domain.errors import EngineError
from cadenza.domain.music import MusicRequest
from cadenza.services.ports import MediaStorage

#: Length of the linear crossfade at each seam of a replaced section (seconds).
SEAM_S = 0.04
#: Stems a score's voices are in (a melody kept for the MIDI, never played).
VOICE_STEMS = frozenset({"Vocals", "Backing Vocals"})
#: Stem that carries a source's audio whose parts are unknown (an upload).
WHOLE_STEM = "FX"
#: Largest sample peak of Add Vocals' sum before the whole is scaled down.
PEAK_CEILING = 0.95
#: Where the new lead sits against the instrumental over the window (LU above it).
VOCAL_LIFT_LU = -1.0

#: The sample sits this far under the new song's mix (LU), and fades in and out at each
#: copy's edges so a loop never clicks (seconds).
SAMPLE_UNDER_LU = 2.0
SAMPLE_EDGE_S = 0.005
#: The stem the sample is kept in.
SAMPLE_STEM = "FX"

#: The task parameter that carries the second source's score storage key (a mashup).
SECOND_SCORE_PARAM = "second_score_key"

#: ``audio_weight`` when the request gives none: close to the references.
DEFAULT_WEIGHT = 0.85

#: Where an a cappella sits over the band arranged under it (LU, over the window): a
#: lead a little over its band, as the engine's own songs are mixed.
VOCAL_OVER_BAND_LU = 2.0

ACTIONS = ("REPLACE_SECTION", "ADD_VOCALS", "ADD_INSTRUMENTAL", "SAMPLES", "MASHUP", "INSPO")


def handles(action: str) -> bool:
    return action.upper() in ACTIONS


def _read(path: Path) -> AudioArray:
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise EngineError(f"cannot read {path.name}") from exc
    if int(rate) != SAMPLE_RATE:
        raise EngineError(f"{path.name} is at {rate} Hz, not {SAMPLE_RATE} Hz")
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    return np.ascontiguousarray(data[:, :2], dtype=np.float32)


def _sum(parts: list[AudioArray], frames: int) -> AudioArray:
    """The plain sum of ``(frames, 2)`` arrays (silence for none)."""
    out = np.zeros((frames, 2), np.float32)
    for part in parts:
        out += part
    return out


def _fit(audio: AudioArray, frames: int) -> AudioArray:
    if len(audio) == frames:
        return audio
    out = np.zeros((frames, audio.shape[1]), np.float32)
    out[: min(frames, len(audio))] = audio[:frames]
    return out


class _Source:
    """The source clip's files in storage, fetched on demand into ``folder``."""

    def __init__(self, storage: MediaStorage, files: Mapping[str, str], folder: Path) -> None:
        self.storage = storage
        self.files = dict(files)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def audio(self, name: str) -> AudioArray:
        key = self.files.get(name)
        if not key:
            raise EngineError(f"the source clip has no {name}")
        dest = self.folder / name.replace("/", "_")
        try:
            path = self.storage.fetch_to(key, dest)
        except Exception as exc:  # a missing object
            raise EngineError(f"could not read the source clip's {name}") from exc
        return _read(path)

    def stems(self) -> list[str]:
        names = [k[len("stems/") : -len(".wav")] for k in self.files if k.startswith("stems/")]
        return [n for n in STEM_NAMES if n in names]


def seam_weights(frames: int, start_s: float, end_s: float, seam_s: float = SEAM_S) -> AudioArray:
    """0 outside ``[start_s, end_s)``, 1 inside, linear ramps ``seam_s`` long centred on
    each seam; ``(frames, 1)`` float32."""
    t = (np.arange(frames, dtype=np.float64) + 0.5) / SAMPLE_RATE
    half = seam_s / 2
    rise = np.clip((t - (start_s - half)) / seam_s, 0.0, 1.0)
    fall = np.clip(((end_s + half) - t) / seam_s, 0.0, 1.0)
    if start_s <= 0:
        rise = np.ones_like(t)
    return np.minimum(rise, fall).astype(np.float32)[:, None]


def _request(params: Mapping[str, Any], source: Score) -> MusicRequest:
    return MusicRequest(
        title=str(params.get("title") or source.title),
        tags=str(params.get("tags") or source.tags),
        lyrics=params.get("lyrics") or None,
        model=str(params.get("model_name") or ""),
        major_model_version=str(params.get("major_model_version") or ""),
        seed=int(params.get("seed") or 0),
        vocal_gender=params.get("vocal_gender") or None,
    )


def _span(params: Mapping[str, Any]) -> tuple[float, float | None]:
    try:
        start = float(params.get("start_s") or 0.0)
        end = params.get("end_s")
        return start, None if end is None else float(end)
    except (TypeError, ValueError) as exc:
        raise EngineError(f"bad window for the creative action: {exc}") from exc


def _write_song(out_dir: Path, score: Score, song: AudioArray, files: dict[str, Path]) -> None:
    """``song.wav``, ``song.mp3`` and ``preview.mp3`` of ``song``, replacing the render's."""
    pcm = to_pcm16(song)
    files["song.wav"] = write_wav(out_dir / "song.wav", pcm, SAMPLE_RATE)
    (out_dir / "song.mp3").write_bytes(encode_mp3(pcm, SAMPLE_RATE))
    files["song.mp3"] = out_dir / "song.mp3"
    cut = _fade_out(song[: _preview_samples(score, len(song))].copy())
    files["preview.mp3"] = write_mp3(out_dir / "preview.mp3", cut, SAMPLE_RATE)


def _write_stems(out_dir: Path, stems: Mapping[str, AudioArray], files: dict[str, Path]) -> None:
    for key in [k for k in files if k.startswith("stems/")]:
        files.pop(key).unlink(missing_ok=True)
    for name, audio in stems.items():
        files[f"stems/{name}.wav"] = write_wav(
            out_dir / "stems" / f"{name}.wav", audio, SAMPLE_RATE, subtype="FLOAT"
        )


def _score_file(out_dir: Path, score: Score, files: dict[str, Path]) -> None:
    path = out_dir / "score.json"
    path.write_text(json.dumps(score.to_dict(), ensure_ascii=False) + "\n", "utf-8")
    files["score.json"] = path


def _write_clip(
    out_dir: Path, score: Score, song: AudioArray, stems: Mapping[str, AudioArray], seed: int
) -> dict[str, Path]:
    """Every file of a clip made from ``score`` whose audio is ``song`` (the sum of
    ``stems``), but ``meta.json``."""
    from cadenza.compose.cover import write_covers
    from cadenza.compose.midi import write_midi
    from cadenza.compose.pipeline import _write_json, lyrics_text
    from cadenza.compose.timings import word_timings

    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    _write_song(out_dir, score, song, written)
    _write_stems(out_dir, stems, written)
    cover, large = write_covers(
        score.title, score.tags, seed, out_dir / "cover.png", out_dir / "cover_large.png"
    )
    written["cover.png"], written["cover_large.png"] = cover, large
    write_midi(score, out_dir / "song.mid")
    written["song.mid"] = out_dir / "song.mid"
    written["lyrics.json"] = _write_json(
        out_dir / "lyrics.json",
        {
            "title": score.title,
            "language": score.language,
            "lyrics": lyrics_text(score),
            "words": word_timings(score),
        },
    )
    _score_file(out_dir, score, written)
    return written


def _history(params: Mapping[str, Any], clip_id: str, window: Window) -> list[dict[str, Any]]:
    """``concat_history`` as Suno shows a replaced section: the source with the infill."""
    duration = float(params.get("source_duration") or window.end_s)
    return [
        {
            "id": params.get("source_clip_id"),
            "type": "upload" if params.get("source_type") == "upload" else "gen",
            "source": "web",
            "infill_start_s": window.start_s,
            "infill_end_s": window.end_s,
            "infill_dur_s": round(window.end_s - window.start_s, 4),
            "infill_context_start_s": 0,
            "infill_context_end_s": round(min(duration, window.end_s + 30.0), 4),
            "include_future_s": 2,
            "include_history_s": 2,
            "infill": True,
            "infill_lyrics": str(params.get("infill_lyrics") or params.get("lyrics") or ""),
        },
        {"id": clip_id},
    ]


def replace_section(
    params: Mapping[str, Any],
    source: Score,
    files: _Source,
    clip_id: str,
    out_dir: Path,
    progress: ProgressFn,
    soundfont: Path,
) -> dict[str, Any]:
    """One replace_section clip (see the module's docstring)."""
    t = time.perf_counter()
    start, end = _span(params)
    window = bar_window(source, start, end)
    request = _request(params, source)
    score = replace_section_score(
        source,
        window,
        lyrics=request.lyrics,
        infill_lyrics=params.get("infill_lyrics") or None,
        seed=request.seed,
        tags=str(params.get("tags") or ""),
        vocal_gender=request.vocal_gender,
    )
    score.title = request.title
    composed = time.perf_counter() - t
    result = render_clip(
        score,
        out_dir,
        lambda f, stage: progress(0.85 * f, stage),
        model=request.model,
        soundfont=soundfont,
        prior_seconds={"compose": composed},
    )
    progress(0.88, "splicing")
    original = files.audio("song.wav")
    frames = len(original)
    w = seam_weights(frames, window.start_s, window.end_s)
    rendered = {
        name: _fit(_read(path), frames)
        for name, path in result.files.items()
        if name.startswith("stems/")
    }
    source_stems = files.stems()
    if source_stems:
        # Every stem joined at the seams: the song is their sum, as every clip's is.
        names = [n for n in STEM_NAMES if n in source_stems or f"stems/{n}.wav" in rendered]
        stems: dict[str, AudioArray] = {}
        for name in names:
            old = files.audio(f"stems/{name}.wav") if name in source_stems else None
            new = rendered.get(f"stems/{name}.wav")
            old = _fit(old, frames) if old is not None else np.zeros((frames, 2), np.float32)
            new = new if new is not None else np.zeros((frames, 2), np.float32)
            stems[name] = (old * (1.0 - w) + new * w).astype(np.float32)
        song = _sum(list(stems.values()), frames)
        _write_stems(out_dir, stems, result.files)
    else:
        # An upload: its audio has no parts to join, only the song.
        new_song = _sum(list(rendered.values()), frames)
        song = (original * (1.0 - w) + new_song * w).astype(np.float32)
        _write_stems(out_dir, {}, result.files)
    _write_song(out_dir, score, song, result.files)
    extra = {
        "type": "replace_section",
        "edited_clip_id": params.get("source_clip_id"),
        "duration": round(frames / SAMPLE_RATE, 3),
        "replace_section_start_s": window.start_s,
        "replace_section_end_s": window.end_s,
        "replace_section_requested": [start, end],
        "infill_lyrics": str(params.get("infill_lyrics") or ""),
        "concat_history": _history(params, clip_id, window),
        "stems": sorted(k[len("stems/") : -len(".wav")] for k in result.files if "stems/" in k),
    }
    result.meta.update(extra)
    entry = _clip_entry(clip_id, result, request)
    entry["meta"].update(extra)
    return entry


def _loudness(audio: AudioArray) -> float:
    from cadenza.compose.master import integrated_loudness

    return float(integrated_loudness(audio, SAMPLE_RATE))


def add_vocals(
    params: Mapping[str, Any],
    source: Score,
    files: _Source,
    clip_id: str,
    out_dir: Path,
    progress: ProgressFn,
    index: int,
) -> dict[str, Any]:
    """One Add Vocals clip (see the module's docstring)."""
    from cadenza.compose.mix import mix_stems
    from cadenza.compose.pipeline import _sing, _write_json, lyrics_text
    from cadenza.compose.voice import VoiceBank

    t = time.perf_counter()
    start, end = _span(params)
    window = bar_window(source, start, end)
    request = _request(params, source)
    seed = clip_seed(request.seed, index)
    score = overpaint_score(
        source,
        window,
        lyrics=request.lyrics or "",
        seed=seed,
        vocal_gender=request.vocal_gender,
    )
    score.title = request.title
    composed = time.perf_counter() - t
    original = files.audio("song.wav")
    frames = len(original)
    progress(0.1, "vocals")
    sung = _sing(score, frames, lambda f: progress(0.1 + 0.6 * f, "vocals"), VoiceBank())
    progress(0.7, "mix")
    sung = mix_stems(sung, SAMPLE_RATE)
    a, b = round(window.start_s * SAMPLE_RATE), round(window.end_s * SAMPLE_RATE)
    voice = _sum(list(sung.values()), frames)
    under = _loudness(original[a:b])
    over = _loudness(voice[a:b])
    lift = 1.0
    if np.isfinite(under) and np.isfinite(over):
        lift = float(10 ** ((under + VOCAL_LIFT_LU - over) / 20))
    for name in sung:
        sung[name] = (sung[name] * lift).astype(np.float32)
    source_stems = files.stems()
    stems: dict[str, AudioArray] = (
        {name: _fit(files.audio(f"stems/{name}.wav"), frames) for name in source_stems}
        if source_stems
        else {WHOLE_STEM: original}
    )
    for name, audio in sung.items():
        stems[name] = stems[name] + audio if name in stems else audio
    song, gain = _peak_gain(stems, frames)
    progress(0.8, "encode")
    written = _write_clip(out_dir, score, song, stems, seed)
    lyrics = lyrics_text(score)
    key = str(score.extra.get("key") or "")
    meta: dict[str, Any] = {
        "title": score.title,
        "tags": request.tags,
        "negative_tags": "",
        "duration": round(frames / SAMPLE_RATE, 3),
        "lyrics": lyrics,
        "prompt": lyrics,
        "gpt_description_prompt": "",
        "model_name": request.model,
        "major_model_version": request.major_model_version,
        "seed": seed,
        "tempo": score.tempo_bpm,
        "key": key,
        "instrumental": False,
        "engine": "compose",
        "engine_version": score.engine_version,
        "type": "overpainting",
        "edited_clip_id": params.get("source_clip_id"),
        "overpainting_start_s": window.start_s,
        "overpainting_end_s": window.end_s,
        "instrumental_gain": round(gain, 6),
        "vocal_gain_db": round(20 * float(np.log10(max(lift, 1e-9))), 2),
        "stems": sorted(stems),
        "seconds": {"compose": round(composed, 3)},
    }
    written["meta.json"] = _write_json(out_dir / "meta.json", meta)
    progress(1.0, "done")
    return {"id": clip_id, "files": {k: str(v) for k, v in written.items()}, "meta": meta}


def _peak_gain(stems: dict[str, AudioArray], frames: int) -> tuple[AudioArray, float]:
    """The stems' sum and the one gain (applied to it and to every stem, in place) that
    keeps its sample peaks under ``PEAK_CEILING``."""
    song = _sum(list(stems.values()), frames)
    peak = float(np.max(np.abs(song))) if song.size else 0.0
    gain = min(1.0, PEAK_CEILING / peak) if peak > 0 else 1.0
    if gain < 1.0:
        song *= np.float32(gain)
        for name in stems:
            stems[name] = (stems[name] * np.float32(gain)).astype(np.float32)
    return song, gain


def add_instrumental(
    params: Mapping[str, Any],
    source: Score,
    files: _Source,
    clip_id: str,
    out_dir: Path,
    progress: ProgressFn,
    soundfont: Path,
    index: int,
) -> dict[str, Any]:
    """One Add Instrumental clip (see the module's docstring)."""
    import dataclasses

    from cadenza.compose.mix import MixPlan, mix_stems
    from cadenza.compose.pipeline import _write_json
    from cadenza.compose.synth import render_tracks

    t = time.perf_counter()
    start, end = _span(params)
    window = bar_window(source, start, end)
    request = _request(params, source)
    seed = clip_seed(request.seed, index)
    score = accompaniment_score(source, window, request, seed)
    score.title = request.title
    composed = time.perf_counter() - t
    voice = files.audio("song.wav")
    frames = len(voice)
    progress(0.05, "instruments")
    # The melody track (kept for the MIDI) is the voice's: never rendered.
    band_only = dataclasses.replace(
        score, tracks=[t for t in score.tracks if t.stem not in VOICE_STEMS]
    )
    rendered = render_tracks(
        band_only, soundfont, SAMPLE_RATE, lambda f: progress(0.05 + 0.6 * f, "instruments")
    )
    if not rendered:
        raise EngineError("the arrangement has no notes to play")
    progress(0.65, "mix")
    plan = MixPlan.from_score(band_only, SAMPLE_RATE, frames)
    band = mix_stems({k: _fit(v, frames) for k, v in rendered.items()}, SAMPLE_RATE, plan)
    del rendered
    a, b = round(window.start_s * SAMPLE_RATE), round(window.end_s * SAMPLE_RATE)
    over = _loudness(voice[a:b])
    under = _loudness(_sum(list(band.values()), frames)[a:b])
    level = 1.0
    if np.isfinite(under) and np.isfinite(over):
        level = float(10 ** ((over - VOCAL_OVER_BAND_LU - under) / 20))
    stems: dict[str, AudioArray] = {
        name: (audio * np.float32(level)).astype(np.float32) for name, audio in band.items()
    }
    stems["Vocals"] = voice
    song, gain = _peak_gain(stems, frames)
    progress(0.8, "encode")
    written = _write_clip(out_dir, score, song, stems, seed)
    fit = fit_to_chords(melody_notes(source), score.chords, score.key_root, score.mode)
    meta: dict[str, Any] = {
        "title": score.title,
        "tags": score.tags,
        "negative_tags": "",
        "duration": round(frames / SAMPLE_RATE, 3),
        "lyrics": "",
        "prompt": "",
        "gpt_description_prompt": "",
        "model_name": request.model,
        "major_model_version": request.major_model_version,
        "seed": seed,
        "tempo": round(score.tempo_bpm, 2),
        "key": str(score.extra.get("key") or ""),
        "instrumental": False,
        "engine": "compose",
        "engine_version": score.engine_version,
        "type": "underpainting",
        "edited_clip_id": params.get("source_clip_id"),
        "underpainting_start_s": window.start_s,
        "underpainting_end_s": window.end_s,
        "vocal_gain": round(gain, 6),
        "band_gain_db": round(20 * float(np.log10(max(level, 1e-9))), 2),
        "chord_tone_share": fit["chord_tone_share"],
        "scale_tone_share": fit["scale_tone_share"],
        "stems": sorted(stems),
        "seconds": {"compose": round(composed, 3)},
    }
    written["meta.json"] = _write_json(out_dir / "meta.json", meta)
    progress(1.0, "done")
    return {"id": clip_id, "files": {k: str(v) for k, v in written.items()}, "meta": meta}


def _edges(loop: AudioArray) -> AudioArray:
    """The loop with ``SAMPLE_EDGE_S`` linear fades at both ends."""
    out = loop.copy()
    edge = min(len(out) // 2, round(SAMPLE_EDGE_S * SAMPLE_RATE))
    if edge > 0:
        ramp = np.linspace(0.0, 1.0, edge, dtype=np.float32)[:, None]
        out[:edge] *= ramp
        out[-edge:] *= ramp[::-1]
    return out


def samples(
    params: Mapping[str, Any],
    source: Score,
    files: _Source,
    clip_id: str,
    out_dir: Path,
    progress: ProgressFn,
    soundfont: Path,
    index: int,
) -> dict[str, Any]:
    """One samples clip: the window's first bars (``sample_bars``) looped on every bar
    line of a new song written in the source's key, tempo and meter."""
    from cadenza.compose.master import integrated_loudness

    t = time.perf_counter()
    start, end = _span(params)
    window = bar_window(source, start, end)
    bars = sample_bars(source, window)
    original = files.audio("song.wav")
    first = round(window.start_s * SAMPLE_RATE)
    length = round(source.seconds(bars * source.beats_per_bar) * SAMPLE_RATE)
    loop = _edges(_fit(original[first : first + length], length))
    seed = clip_seed(int(params.get("seed") or 0), index)
    description = str(params.get("description") or "") or None
    request = MusicRequest(
        title=str(params.get("title") or ""),
        tags=str(params.get("tags") or ""),
        lyrics=params.get("lyrics") or None,
        description=description,
        instrumental=bool(params.get("instrumental")),
        model=str(params.get("model_name") or ""),
        major_model_version=str(params.get("major_model_version") or ""),
        max_duration_s=int(params.get("max_duration_s") or 240),
        seed=seed,
        vocal_gender=params.get("vocal_gender") or None,
    )
    score = sample_song(source, request, seed)
    if not request.tags:
        score.tags = source.tags
    composed = time.perf_counter() - t
    step = bars * score.beats_per_bar
    at_beats = [float(b) for b in range(0, int(score.total_beats), step)]
    placed: list[float] = []

    def add_sample(stems: dict[str, AudioArray]) -> None:
        frames = len(next(iter(stems.values())))
        track = np.zeros((frames, 2), np.float32)
        for beat in at_beats:
            at = round(score.seconds(beat) * SAMPLE_RATE)
            if at >= frames:
                break
            piece = loop[: frames - at]
            track[at : at + len(piece)] += piece
            placed.append(round(score.seconds(beat), 4))
        mix = _sum(list(stems.values()), frames)
        under, level = (
            integrated_loudness(mix, SAMPLE_RATE),
            integrated_loudness(track, SAMPLE_RATE),
        )
        if np.isfinite(under) and np.isfinite(level):
            track *= np.float32(10 ** ((under - SAMPLE_UNDER_LU - level) / 20))
        stems[SAMPLE_STEM] = stems[SAMPLE_STEM] + track if SAMPLE_STEM in stems else track

    result = render_clip(
        score,
        out_dir,
        lambda f, stage: progress(f, stage),
        model=request.model,
        soundfont=soundfont,
        prior_seconds={"compose": composed},
        post_mix=add_sample,
    )
    extra = {
        "type": "samples",
        "edited_clip_id": params.get("source_clip_id"),
        "samples_start_s": window.start_s,
        "samples_end_s": window.end_s,
        "sample_s": [window.start_s, round(window.start_s + length / SAMPLE_RATE, 4)],
        "sample_bars": bars,
        "sample_placements_s": placed,
        "stems": sorted(k[len("stems/") : -len(".wav")] for k in result.files if "stems/" in k),
    }
    result.meta.update(extra)
    entry = _clip_entry(clip_id, result, request)
    entry["meta"].update(extra)
    return entry


def mashup(
    params: Mapping[str, Any],
    first: Score,
    second: Score,
    clip_id: str,
    out_dir: Path,
    progress: ProgressFn,
    soundfont: Path,
    index: int,
) -> dict[str, Any]:
    """One mashup clip: a new song from both sources (see ``mashup_score``)."""
    t = time.perf_counter()
    seed = clip_seed(int(params.get("seed") or 0), index)
    request = MusicRequest(
        title=str(params.get("title") or ""),
        tags=str(params.get("tags") or ""),
        lyrics=params.get("lyrics") or None,
        description=params.get("description") or None,
        instrumental=bool(params.get("instrumental")),
        model=str(params.get("model_name") or ""),
        major_model_version=str(params.get("major_model_version") or ""),
        max_duration_s=int(params.get("max_duration_s") or 240),
        seed=seed,
    )
    score = mashup_score(first, second, request, seed)
    composed = time.perf_counter() - t
    result = render_clip(
        score,
        out_dir,
        progress,
        model=request.model,
        soundfont=soundfont,
        prior_seconds={"compose": composed},
    )
    extra = {
        "type": "mashup",
        "mashup_clip_ids": list(params.get("mashup_clip_ids") or []),
        "mashup_tempi": score.extra["mashup"]["tempi"],
    }
    result.meta.update(extra)
    entry = _clip_entry(clip_id, result, request)
    entry["meta"].update(extra)
    return entry


def _reference(storage: MediaStorage, key: str, folder: Path, max_s: float) -> Reference:
    """A reference fetched, decoded and analysed."""
    from cadenza.audio.probe import MediaRejected, decode, probe
    from cadenza.compose.analysis import analyse

    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = storage.fetch_to(key, folder / key.rsplit("/", 1)[-1])
    except Exception as exc:  # a missing object
        raise EngineError("could not read an inspo reference") from exc
    try:
        info = probe(path, max_bytes=path.stat().st_size + 1, max_duration_s=max_s)
        audio = decode(path, info, sample_rate=SAMPLE_RATE, channels=2, max_duration_s=max_s)
    except MediaRejected as exc:
        raise EngineError(exc.message) from exc
    found = analyse(audio, SAMPLE_RATE)
    voice = str(found.voice["gender"]) if found.voice else None
    return Reference(found.tempo_bpm, found.key_root, found.mode, voice)


def run_inspo(
    params: dict[str, Any],
    workdir: Path,
    progress: ProgressFn,
    *,
    storage: MediaStorage,
    soundfont: Path,
) -> list[dict[str, Any]]:
    """Two songs in the style of the references (see ``inspired_score``)."""
    from cadenza.compose.engine_edits import _clip_ids

    clip_ids = _clip_ids(params)
    keys = [str(k) for k in params.get("reference_keys") or []]
    if not 1 <= len(keys) <= 4:
        raise EngineError("inspo needs 1 to 4 references")
    progress(0.02, "analysing")
    t = time.perf_counter()
    max_s = float(params.get("max_reference_s") or 480.0)
    references = [
        _reference(storage, key, workdir / "references" / str(i), max_s)
        for i, key in enumerate(keys)
    ]
    analysed = time.perf_counter() - t
    weight = params.get("audio_weight")
    weight = DEFAULT_WEIGHT if weight is None else float(weight)
    entries: list[dict[str, Any]] = []
    for index, clip_id in enumerate(clip_ids):
        seed = clip_seed(int(params.get("seed") or 0), index)
        request = MusicRequest(
            title=str(params.get("title") or ""),
            tags=str(params.get("tags") or ""),
            lyrics=params.get("lyrics") or None,
            description=params.get("description") or None,
            instrumental=bool(params.get("instrumental")),
            model=str(params.get("model_name") or ""),
            major_model_version=str(params.get("major_model_version") or ""),
            max_duration_s=int(params.get("max_duration_s") or 240),
            vocal_gender=params.get("vocal_gender") or None,
            seed=seed,
        )
        t = time.perf_counter()
        score = inspired_score(references, request, seed, weight)
        composed = time.perf_counter() - t

        def report(fraction: float, stage: str, index: int = index) -> None:
            progress(min(1.0, 0.1 + 0.9 * (index + fraction) / len(clip_ids)), stage)

        try:
            result = render_clip(
                score,
                workdir / clip_id,
                report,
                model=request.model,
                soundfont=soundfont,
                prior_seconds={"analyse": analysed, "compose": composed},
            )
        except EngineError:
            raise
        except Exception as exc:  # the task must end FAILURE with a reason, never hang
            raise EngineError(f"inspo failed: {type(exc).__name__}: {exc}") from exc
        extra = {"type": "inspo", "inspo": score.extra["inspo"]}
        result.meta.update(extra)
        entry = _clip_entry(clip_id, result, request)
        entry["meta"].update(extra)
        entries.append(entry)
    return entries


def run_creative(
    action: str,
    params: dict[str, Any],
    workdir: Path,
    progress: ProgressFn,
    *,
    storage: MediaStorage | None,
    soundfont: Path = DEFAULT_SOUNDFONT,
) -> list[dict[str, Any]]:
    """Run a creative task; one result per clip id."""
    from cadenza.compose.engine_edits import _clip_ids, load_source

    if storage is None:
        raise EngineError("the compose engine has no media storage to read the source clip from")
    if action.upper() == "INSPO":
        return run_inspo(params, workdir, progress, storage=storage, soundfont=soundfont)
    clip_ids = _clip_ids(params)
    source = load_source(storage, params, workdir)
    second = None
    if action.upper() == "MASHUP":
        key = params.get(SECOND_SCORE_PARAM)
        second = load_source(storage, {"source_score_key": key}, workdir / "second")
    files = _Source(storage, dict(params.get("source_files") or {}), workdir / "source")
    entries: list[dict[str, Any]] = []
    share = 1.0 / len(clip_ids)
    for index, clip_id in enumerate(clip_ids):

        def report(fraction: float, stage: str, index: int = index) -> None:
            progress(min(1.0, (index + fraction) * share), stage)

        try:
            if second is not None:
                entries.append(
                    mashup(
                        params, source, second, clip_id, workdir / clip_id, report, soundfont, index
                    )
                )
            elif action.upper() == "REPLACE_SECTION":
                entries.append(
                    replace_section(
                        params, source, files, clip_id, workdir / clip_id, report, soundfont
                    )
                )
            elif action.upper() == "ADD_INSTRUMENTAL":
                entries.append(
                    add_instrumental(
                        params, source, files, clip_id, workdir / clip_id, report, soundfont, index
                    )
                )
            elif action.upper() == "SAMPLES":
                entries.append(
                    samples(
                        params, source, files, clip_id, workdir / clip_id, report, soundfont, index
                    )
                )
            else:
                entries.append(
                    add_vocals(params, source, files, clip_id, workdir / clip_id, report, index)
                )
        except EngineError:
            raise
        except Exception as exc:  # the task must end FAILURE with a reason, never hang
            raise EngineError(f"{action.lower()} failed: {type(exc).__name__}: {exc}") from exc
    return entries
