"""Commands for media and library tools, whichever dialect asks: importing audio from a
URL, personas (from a clip, a vocal excerpt or a recording), vocal excerpts, WAV, MIDI,
word timings, videos, style tags and merged lyrics.

Each handler returns the task it charged through (``services.library.charge_now`` for the
quick ones, the task queue for uploads and videos), with what it made kept on the task
(``Task.result``, its params or its clips), so a dialect answers the same data at once,
on a later retrieve and in a callback. Storage keys are kept, never URLs: those depend on
the address a client reaches. A command that is a ``Yields[R]`` also hands back what it
made (``Done``), for a dialect that answers it as it is (a persona, MIDI bytes, words).
"""

from __future__ import annotations

import dataclasses
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
from cadenza.domain.errors import (
    IdempotencyConflict,
    IdempotencyKeyTaken,
    InvalidInput,
    NotFound,
)
from cadenza.domain.library import Persona
from cadenza.domain.tasks import Task
from cadenza.net import fetch_to_file
from cadenza.services import library, media, tasks
from cadenza.services.commands import (
    Commands,
    Done,
    Submission,
    Yields,
    follow_up_route,
    handles,
)

#: What an aligned-words request on a clip with nothing sung is told (nothing is charged).
NO_SUNG_WORDS = "this clip has no sung lyrics (instrumental or uploaded audio): nothing to align"


class NothingSung(InvalidInput):
    """An aligned-words request on a clip with nothing sung: refused, nothing charged (a
    dialect may answer it as an empty list)."""


# -- the commands --------------------------------------------------------------------


@dataclass(frozen=True)
class ImportAudio:
    """Audio at a client's URL, fetched and made a clip, as an upload is."""

    url: str


@dataclass(frozen=True)
class CreatePersona(Yields[Persona]):
    """A persona from a clip's singer; with a vocal span or a vocal excerpt of the clip
    (``vox_clip_id``), a vox persona whose reference is that vocal; with ``vox_stem``, a
    vox persona from the clip's vocal stem, ``vox_duration_s`` long from its first sung
    note. ``clip_ids`` adds clips whose style the persona takes (an empty ``clip_id``: the
    first of them sings); ``persona_type`` is "singer" or "vox", as the client wrote it."""

    clip_id: str
    name: str = ""
    description: str = ""
    vox_clip_id: str | None = None
    vocal_start_s: float | None = None
    vocal_end_s: float | None = None
    clip_ids: tuple[str, ...] = ()
    is_public: bool = False
    persona_type: str | None = None
    vox_stem: bool = False
    vox_duration_s: float | None = None


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
class ExportMidi(Yields[library.MidiFile]):
    """The clip's MIDI; ``task_id`` is the client's hint of the task that made the clip,
    kept with the task (every instance reads the shared store)."""

    clip_id: str
    task_id: str | None = None


@dataclass(frozen=True)
class AlignWords(Yields[list[dict[str, Any]]]):
    """The sung words of a clip with their times (``library.timed_words``), and, with
    ``waveform``, the clip's waveform kept on the task. A clip with nothing sung is
    ``NothingSung``."""

    clip_id: str
    waveform: bool = True


@dataclass(frozen=True)
class RenderVideo(Yields[media.VideoRequest]):
    """The clip's music video, its task waited for up to ``wait_s``."""

    clip_id: str
    wait_s: float = 0.0


@dataclass(frozen=True)
class ExpandStyle(Yields[str]):
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


@handles(ImportAudio, Action.UPLOAD)
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


@handles(CreatePersona, Action.PERSONA, Action.VOX_PERSONA)
def _create_persona(
    app: Commands, key: ApiKey, command: CreatePersona, how: Submission
) -> Done[Persona]:
    spanned = command.vocal_start_s is not None or command.vocal_end_s is not None
    if command.vox_stem:
        persona = library.create_vox_persona(
            app.uow,
            app.storage,
            key,
            song_id=command.clip_id,
            duration=command.vox_duration_s,
            name=command.name,
            description=command.description,
            recorded=_recorded(how),
        )
    elif command.vox_clip_id or spanned:
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
            recorded=_recorded(how),
        )
    else:
        persona = library.create_persona(
            app.uow,
            app.storage,
            key,
            root_clip_id=command.clip_id,
            clip_ids=list(command.clip_ids),
            name=command.name,
            description=command.description,
            is_public=command.is_public,
            persona_type=command.persona_type,
            recorded=_recorded(how),
        )
    return Done(_stored(app, persona.task_id), persona)


@handles(CloneVoice, Action.PERSONA)
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


@handles(ExtractVox, Action.VOX)
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


@handles(ExportWav, Action.WAV)
def _export_wav(app: Commands, key: ApiKey, command: ExportWav, how: Submission) -> Task:
    with app.uow(read_only=True) as u:
        clip = library.complete_clip(u, key, command.clip_id)
    route = follow_up_route(app, key, clip.id, Action.WAV)
    if route is not None:
        # A relayed clip's WAV is upstream's: exported there and mirrored here, its task
        # queued for the relay lane and holding the same result as an export made here.
        return tasks.submit(
            app.uow,
            app.queue,
            key,
            Action.WAV.value,
            {"clip_id": clip.id, "source_clip_id": clip.id},
            idempotency_key=how.idempotency_key,
            deadline_s=app.deadline_s,
            route=route,
            origin=how.origin.record(),
            callback=how.callback,
        )
    wav = clip.files.get("song.wav")
    if not wav:
        raise InvalidInput(f"clip {clip.id} has no WAV file")
    # A relaying server asks again under the same Idempotency-Key when an answer was
    # lost: the repeat answers the first export, charged once.
    idempotency_key = tasks.checked_idempotency_key(how.idempotency_key)
    earlier = _earlier_export(app, key, idempotency_key, clip.id)
    if earlier is not None:
        return earlier
    recorded = _recorded(how, {"files": [wav]})
    try:
        task: Task = library.charge_now(
            app.uow,
            key,
            Action.WAV,
            {"clip_id": clip.id},
            lambda u, made: made,
            recorded=dataclasses.replace(recorded, idempotency_key=idempotency_key),
        )
    except IdempotencyKeyTaken:
        earlier = _earlier_export(app, key, idempotency_key, clip.id)
        if earlier is None:
            raise IdempotencyConflict(
                "this Idempotency-Key is in use by a request still running"
            ) from None
        return earlier
    return task


def _earlier_export(
    app: Commands, key: ApiKey, idempotency_key: str | None, clip_id: str
) -> Task | None:
    """The export an earlier request under this Idempotency-Key made; another request
    under it is a conflict."""
    if idempotency_key is None:
        return None
    with app.uow(read_only=True) as u:
        earlier = u.tasks.find_by_idempotency(key.id, idempotency_key)
    if earlier is None:
        return None
    if earlier.action != Action.WAV.value or earlier.params.get("clip_id") != clip_id:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    return earlier


@handles(ExportMidi, Action.MIDI)
def _export_midi(
    app: Commands, key: ApiKey, command: ExportMidi, how: Submission
) -> Done[library.MidiFile]:
    made = library.clip_midi(
        app.uow,
        app.storage,
        key,
        command.clip_id,
        command.task_id,
        recorded=_recorded(how),
        summary=lambda data: {"instruments": midi_instruments(data)},
    )
    return Done(_stored(app, made.task_id), made)


@handles(AlignWords, Action.ALIGNED_LYRICS)
def _align_words(
    app: Commands, key: ApiKey, command: AlignWords, how: Submission
) -> Done[list[dict[str, Any]]]:
    from cadenza.compose.transcribe import ANALYSIS_RATE

    clip, words = library.clip_words(app.uow, app.storage, key, command.clip_id)
    if not words and app.relayed is not None:
        # Made upstream: only the channel that made it knows its words.
        words = app.relayed.sung_words(clip) or []
    if not words:
        raise NothingSung(NO_SUNG_WORDS)
    timed = library.timed_words(words)
    aligned = [
        {
            "word": w["word"],
            "success": True,
            "start_s": round(w["start_s"], 3),
            "end_s": round(w["end_s"], 3),
            # The score's times are certain; a relayed clip's are its channel's.
            "p_align": w["p_align"],
        }
        for w in timed
    ]
    result: dict[str, Any] = {"aligned_words": aligned}
    if command.waveform:
        result["waveform_data"] = peak_envelope(
            library.clip_audio(app.storage, clip), ANALYSIS_RATE
        )
    # Character error rate of the alignment: none, the words are the score's (or the
    # channel's, which says none).
    result.update(hoot_cer=0.0, is_streamed=False)
    task: Task = library.charge_now(
        app.uow,
        key,
        Action.ALIGNED_LYRICS,
        {"song_id": clip.id},
        lambda u, made: made,
        recorded=_recorded(how, result),
    )
    return Done(task, timed)


@handles(RenderVideo, Action.MP4)
def _render_video(
    app: Commands, key: ApiKey, command: RenderVideo, how: Submission
) -> Done[media.VideoRequest]:
    video = media.request_video(
        app.uow,
        app.queue,
        key,
        command.clip_id,
        deadline_s=app.deadline_s,
        wait_s=command.wait_s,
        origin=how.origin.record(),
        callback=how.callback,
    )
    if video.task is not None:
        return Done(video.task, video)
    # A video that came with the clip: the task that made the clip made it.
    return Done(_stored(app, video.clip.task_id), video)


@handles(ExpandStyle, Action.UPSAMPLE_TAGS)
def _expand_style(app: Commands, key: ApiKey, command: ExpandStyle, how: Submission) -> Done[str]:
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
    return Done(task, richer)


@handles(MergeLyrics, Action.LYRICS)
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
