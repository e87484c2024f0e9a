"""Commands for media and library tools, whichever dialect asks: importing audio from a
URL, personas (from a clip, a vocal excerpt or a recording), vocal excerpts, WAV, MIDI,
word timings, videos, style tags and merged lyrics.

Each handler returns the task it charged through (``services.library.charge_now`` for the
quick ones, the task queue for uploads and videos), with what it made kept on the task
(``Task.result``, its params or its clips), so a dialect answers the same data at once,
on a later retrieve and in a callback. Storage keys are kept, never URLs: those depend on
the address a client reaches.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cadenza.audio.midi_notes import midi_instruments
from cadenza.audio.probe import sniff
from cadenza.audio.waveform import min_max_aggregates, peak_envelope
from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.errors import InvalidInput, NotFound
from cadenza.domain.tasks import Task
from cadenza.net import fetch_to_file
from cadenza.services import library, media
from cadenza.services.commands import Commands, Submission, handles

#: What an aligned-words request on a clip with nothing sung is told (nothing is charged).
NO_SUNG_WORDS = "this clip has no sung lyrics (instrumental or uploaded audio): nothing to align"

# -- the commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ImportAudio:
    """Audio at a client's URL, fetched and made a clip, as an upload is."""

    url: str


@dataclass(frozen=True)
class CreatePersona:
    """A persona from a clip's singer; with a vocal span or a vocal excerpt of the clip
    (``vox_clip_id``), a vox persona whose reference is that vocal."""

    clip_id: str
    name: str = ""
    description: str = ""
    vox_clip_id: str | None = None
    vocal_start_s: float | None = None
    vocal_end_s: float | None = None


@dataclass(frozen=True)
class CloneVoice:
    """A persona from a recording of one voice at a client's URL."""

    url: str
    name: str = ""
    description: str = ""


@dataclass(frozen=True)
class ExtractVox:
    """A vocal excerpt of a clip, as a clip of its own."""

    clip_id: str
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class ExportWav:
    clip_id: str


@dataclass(frozen=True)
class ExportMidi:
    clip_id: str


@dataclass(frozen=True)
class AlignWords:
    """The sung words of a clip with their times, and the clip's waveform."""

    clip_id: str


@dataclass(frozen=True)
class RenderVideo:
    clip_id: str


@dataclass(frozen=True)
class ExpandStyle:
    """Richer style tags from a short style."""

    prompt: str


@dataclass(frozen=True)
class MergeLyrics:
    """One song's lyrics from two (``compose.lyrics_mashup``)."""

    lyrics_a: str
    lyrics_b: str


# -- helpers -------------------------------------------------------------------------


def _stored(app: Commands, task_id: str | None) -> Task:
    """The task as committed (results and state included)."""
    with app.uow(read_only=True) as u:
        task = u.tasks.get(task_id) if task_id else None
    if task is None:
        raise NotFound(f"task {task_id} not found")
    return task


def _recorded(how: Submission, result: dict[str, Any] | None = None) -> library.Recorded:
    return library.Recorded(origin=how.origin.record(), callback=how.callback, result=result)


def _earlier(app: Commands, key: ApiKey, how: Submission) -> Task | None:
    """The task a retry under the same Idempotency-Key made, so the URL is not fetched
    (and charged) again."""
    if not how.idempotency_key:
        return None
    with app.uow(read_only=True) as u:
        return u.tasks.find_by_idempotency(key.id, how.idempotency_key.strip())


@contextmanager
def _remote_audio(app: Commands, url: str) -> Iterator[tuple[Path, int, str]]:
    """The audio at ``url`` in a temporary file: (path, size, extension). The net layer
    refuses private addresses, redirects, oversized and slow answers (400, no charge)."""
    with tempfile.TemporaryDirectory(prefix="cadenza-remote-") as tmp:
        fetched = fetch_to_file(
            url,
            Path(tmp) / "remote",
            max_bytes=app.uploads.max_bytes,
            timeout_s=app.remote.timeout_s,
            allow_private=app.remote.allow_private,
        )
        with fetched.path.open("rb") as handle:
            extension = sniff(handle.read(64))
        if extension is None:
            raise InvalidInput("audio_url is not an audio file (mp3, wav, flac, ogg or m4a)")
        yield fetched.path, fetched.size, extension


# -- the handlers --------------------------------------------------------------------


@handles(ImportAudio)
def _import_audio(app: Commands, key: ApiKey, command: ImportAudio, how: Submission) -> Task:
    earlier = _earlier(app, key, how)
    if earlier is not None:
        return earlier
    with _remote_audio(app, command.url) as (path, size, extension):
        upload, _ = media.create_upload(app.uow, key, extension, app.uploads)
        stored = media.store_upload(app.uow, app.storage, upload, path, size)
    try:
        return media.submit_upload(
            app.uow,
            app.queue,
            app.storage,
            key,
            upload_id=upload.id,
            upload_filename=f"up-{upload.id}",
            policy=app.uploads,
            deadline_s=app.deadline_s,
            idempotency_key=how.idempotency_key,
            origin=how.origin.record(),
            callback=how.callback,
        )
    except InvalidInput:
        # Not audio after all: the stored copy goes (the slot expires on its own).
        if stored.storage_key:
            app.storage.delete_prefix(stored.storage_key.rsplit("/", 1)[0] + "/")
        raise


@handles(CreatePersona)
def _create_persona(app: Commands, key: ApiKey, command: CreatePersona, how: Submission) -> Task:
    spanned = command.vocal_start_s is not None or command.vocal_end_s is not None
    if command.vox_clip_id or spanned:
        persona = library.create_span_persona(
            app.uow,
            app.storage,
            key,
            clip_id=command.clip_id,
            name=command.name,
            description=command.description,
            vox_clip_id=command.vox_clip_id,
            start_s=command.vocal_start_s,
            end_s=command.vocal_end_s,
        )
    else:
        persona = library.create_persona(
            app.uow,
            app.storage,
            key,
            root_clip_id=command.clip_id,
            name=command.name,
            description=command.description,
        )
    return _stored(app, persona.task_id)


@handles(CloneVoice)
def _clone_voice(app: Commands, key: ApiKey, command: CloneVoice, how: Submission) -> Task:
    earlier = _earlier(app, key, how)
    if earlier is not None:
        return earlier
    with _remote_audio(app, command.url) as (path, _, extension):
        persona = library.create_voice_persona(
            app.uow,
            app.storage,
            key,
            path=path,
            extension=extension,
            name=command.name,
            description=command.description,
            max_duration_s=app.uploads.max_duration_s,
            recorded=_recorded(how),
        )
    return _stored(app, persona.task_id)


def vox_summary(made: library.VoxExcerpt) -> dict[str, Any]:
    """What a vox task keeps: the excerpt's clip and span, and its waveform."""
    return {
        "vox_clip_id": made.clip.id,
        "source_clip_id": made.clip.metadata.get("source_clip_id", ""),
        "audio_key": made.clip.audio_key or "",
        "start_s": made.start_s,
        "end_s": made.end_s,
        "waveform_aggregates": min_max_aggregates(made.audio),
    }


@handles(ExtractVox)
def _extract_vox(app: Commands, key: ApiKey, command: ExtractVox, how: Submission) -> Task:
    made = library.extract_vox(
        app.uow,
        app.storage,
        key,
        clip_id=command.clip_id,
        start_s=command.start_s,
        end_s=command.end_s,
        recorded=_recorded(how),
        summary=vox_summary,
    )
    return _stored(app, made.clip.task_id)


@handles(ExportWav)
def _export_wav(app: Commands, key: ApiKey, command: ExportWav, how: Submission) -> Task:
    with app.uow(read_only=True) as u:
        clip = library.complete_clip(u, key, command.clip_id)
    wav = clip.files.get("song.wav")
    if not wav:
        raise InvalidInput(f"clip {clip.id} has no WAV file")
    task: Task = library.charge_now(
        app.uow,
        key,
        Action.WAV,
        {"clip_id": clip.id},
        lambda u, made: made,
        recorded=_recorded(how, {"files": [wav]}),
    )
    return task


@handles(ExportMidi)
def _export_midi(app: Commands, key: ApiKey, command: ExportMidi, how: Submission) -> Task:
    made = library.clip_midi(
        app.uow,
        app.storage,
        key,
        command.clip_id,
        recorded=_recorded(how),
        summary=lambda data: {"instruments": midi_instruments(data)},
    )
    return _stored(app, made.task_id)


@handles(AlignWords)
def _align_words(app: Commands, key: ApiKey, command: AlignWords, how: Submission) -> Task:
    from cadenza.compose.transcribe import ANALYSIS_RATE

    clip, words = library.clip_words(app.uow, app.storage, key, command.clip_id)
    if not words:
        raise InvalidInput(NO_SUNG_WORDS)
    aligned = [
        {
            "word": str(w.get("word", "")),
            "success": True,
            "start_s": round(float(w.get("start_s", 0.0)), 3),
            "end_s": round(float(w.get("end_s", 0.0)), 3),
            # The times come from the score the song was sung from: certain.
            "p_align": 1.0,
        }
        for w in words
    ]
    waveform = peak_envelope(library.clip_audio(app.storage, clip), ANALYSIS_RATE)
    result = {
        "aligned_words": aligned,
        "waveform_data": waveform,
        # Character error rate of the alignment: none, the words are the score's.
        "hoot_cer": 0.0,
        "is_streamed": False,
    }
    task: Task = library.charge_now(
        app.uow,
        key,
        Action.ALIGNED_LYRICS,
        {"song_id": clip.id},
        lambda u, made: made,
        recorded=_recorded(how, result),
    )
    return task


@handles(RenderVideo)
def _render_video(app: Commands, key: ApiKey, command: RenderVideo, how: Submission) -> Task:
    video = media.request_video(
        app.uow,
        app.queue,
        key,
        command.clip_id,
        deadline_s=app.deadline_s,
        wait_s=0.0,
        origin=how.origin.record(),
        callback=how.callback,
    )
    if video.task is not None:
        return video.task
    # A video that came with the clip: the task that made the clip made it.
    return _stored(app, video.clip.task_id)


@handles(ExpandStyle)
def _expand_style(app: Commands, key: ApiKey, command: ExpandStyle, how: Submission) -> Task:
    from cadenza.compose.style import expand_tags

    tags = command.prompt.strip()
    if not tags:
        raise InvalidInput("prompt is required.")
    richer = expand_tags(tags)
    task: Task = library.charge_now(
        app.uow,
        key,
        Action.UPSAMPLE_TAGS,
        {"original_tags": tags},
        lambda u, made: made,
        recorded=_recorded(how, {"upsampled_tags": richer}),
    )
    return task


@handles(MergeLyrics)
def _merge_lyrics(app: Commands, key: ApiKey, command: MergeLyrics, how: Submission) -> Task:
    from cadenza.compose.lyrics_mashup import mashup_lyrics

    merged = mashup_lyrics(command.lyrics_a, command.lyrics_b)
    if not merged.text:
        raise InvalidInput("lyrics_a and lyrics_b have no lines to merge")
    task: Task = library.charge_now(
        app.uow,
        key,
        Action.LYRICS,
        {"mashup": True},
        lambda u, made: made,
        recorded=_recorded(how, {"title": merged.title, "text": merged.text, "tags": []}),
    )
    return task
