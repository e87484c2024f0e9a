"""Personas, playlists and the synchronous tools: MIDI, aligned lyrics, style tags, prompt art.

Synchronous routes are charged through a task row like any other work, so the ledger's
"one CONSUME and at most one REFUND per task" constraint covers them too:

* ``charge_now`` — work that cannot fail after the charge (it is only database rows):
  one transaction locks the key, checks the price, records a task already SUCCESS,
  debits, and writes what the route creates.
* ``charge_for_work`` — work that can fail (decoding audio, drawing and storing art): the
  charge and an IN_PROGRESS task commit first (the task counts against the key's
  concurrency limit while it runs), then the work runs, then one transaction marks the task
  SUCCESS with its results; on failure ``settle_failure`` refunds exactly once. A process
  dying in between leaves a task the reaper times out and refunds at its deadline.
"""

from __future__ import annotations

import json
import logging
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from cadenza.domain.actions import Action
from cadenza.domain.billing import ApiKey
from cadenza.domain.callbacks import Callback
from cadenza.domain.errors import (
    DomainError,
    EngineError,
    Forbidden,
    InvalidInput,
    NotFound,
    UpstreamUnavailable,
)
from cadenza.domain.library import (
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PERSONA_CLIPS,
    MAX_PLAYLIST_CLIPS,
    Persona,
    PersonaType,
    Playlist,
)
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id, utcnow
from cadenza.services import ownership
from cadenza.services.billing import charge_and_commit
from cadenza.services.ports import MediaStorage, UnitOfWork, UnitOfWorkFactory
from cadenza.services.tasks import settle_failure

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A synchronous task still IN_PROGRESS after this long is timed out and refunded.
SYNC_DEADLINE_S = 300
SYNC_WORKER = "sync"
MAX_TAGS = 1000
MAX_PROMPT = 1000
#: Caps on the audio a transcription or voice analysis decodes.
MAX_ANALYSIS_BYTES = 512 * 1024 * 1024
MAX_ANALYSIS_S = 20 * 60.0
VOX_DEFAULT_S = 30.0
VOX_MAX_S = 600.0
#: Shortest recording ``create_voice_persona`` takes (AceData asks for at least 10 s).
VOICE_MIN_S = 10.0
#: ``Clip.metadata["type"]`` of a vocal excerpt made by ``extract_vox``.
VOX_CLIP_TYPE = "vox"

SCORE_FILE = "score.json"
MIDI_FILE = "song.mid"
LYRICS_FILE = "lyrics.json"
VOCAL_STEM = "stems/Vocals.wav"
AUDIO_FILES = ("song.wav", "song.mp3")


# ------------------------------------------------------------------ charging


@dataclass(frozen=True)
class Recorded:
    """What a dialect keeps with a synchronous tool's task, so it can be retrieved and
    its outcome POSTed like any other: where it came from (``Task.origin``), the callback,
    and the data it made (``Task.result``; may also be set later by ``result_of``)."""

    origin: dict[str, Any] | None = None
    callback: Callback | None = None
    result: dict[str, Any] | None = None
    #: Kept where a repeat must find the first task (a relaying server's retry).
    idempotency_key: str | None = None


def _open_task(
    u: UnitOfWork,
    key: ApiKey,
    action: Action,
    params: dict[str, Any],
    *,
    running: bool,
    recorded: Recorded | None = None,
) -> Task:
    """Check the price (403) and record the task; ``charge_and_commit`` then charges it."""
    kept = recorded or Recorded()
    price = u.prices.get(action.value)
    if price is None or not price.enabled:
        raise Forbidden(f"action {action.value} is not available")
    now = utcnow()
    task = Task(
        id=new_id(),
        key_id=key.id,
        action=action.value,
        params=params,
        price=price.price,
        status=TaskStatus.IN_PROGRESS if running else TaskStatus.SUCCESS,
        progress=0 if running else 100,
        submit_time=now,
        start_time=now,
        finish_time=None if running else now,
        deadline=now + timedelta(seconds=SYNC_DEADLINE_S),
        attempts=1,
        dispatched=True,  # never handed to a queue: the reaper must not enqueue it
        worker=SYNC_WORKER,
        origin=kept.origin,
        result=kept.result,
        callback_url=kept.callback.url if kept.callback else None,
        callback_dialect=kept.callback.dialect if kept.callback else None,
        idempotency_key=kept.idempotency_key,
    )
    u.tasks.add(task)
    return task


def charge_now(
    uow: UnitOfWorkFactory,
    key: ApiKey,
    action: Action,
    params: dict[str, Any],
    record: Callable[[UnitOfWork, Task], T],
    *,
    recorded: Recorded | None = None,
) -> T:
    """Charge and create in one transaction; ``record`` writes the rows the route makes."""
    with uow() as u:
        task = _open_task(u, key, action, params, running=False, recorded=recorded)
        result = record(u, task)
        charge_and_commit(u, task, limit_active=False)
    return result


def charge_for_work(
    uow: UnitOfWorkFactory,
    key: ApiKey,
    action: Action,
    params: dict[str, Any],
    work: Callable[[Task], T],
    record: Callable[[UnitOfWork, Task, T], None] | None = None,
    *,
    recorded: Recorded | None = None,
    result_of: Callable[[T], dict[str, Any]] | None = None,
) -> T:
    """Charge, run ``work``, then record it with SUCCESS; any failure refunds exactly once.
    ``result_of`` turns what the work made into the task's ``result``."""
    with uow() as u:
        task = _open_task(u, key, action, params, running=True, recorded=recorded)
        # The running task counts against the key's limit like a queued one.
        charge_and_commit(u, task, limit_active=True)
    try:
        result = work(task)
        with uow() as u:
            fresh = u.tasks.get(task.id, for_update=True)
            if fresh is None or fresh.status is not TaskStatus.IN_PROGRESS:
                raise UpstreamUnavailable("the request took too long and was cancelled")
            fresh.move_to(TaskStatus.SUCCESS)
            if result_of is not None:
                fresh.result = result_of(result)
            u.tasks.update(fresh)
            if record is not None:
                record(u, fresh, result)
            u.commit()
        return result
    except Exception as exc:
        reason = exc.message if isinstance(exc, DomainError) else str(exc) or type(exc).__name__
        if not isinstance(exc, DomainError | EngineError):
            log.warning("synchronous %s failed", action.value, exc_info=True)
            reason = f"internal error ({type(exc).__name__})"
        settle_failure(uow, task.id, reason)
        raise


# ------------------------------------------------------------------ clips


def owned_clip(u: UnitOfWork, key: ApiKey, clip_id: str) -> Clip:
    """The key's clip; a missing and a foreign clip are the same 404."""
    return ownership.owned_clip(u, key.id, clip_id)


def complete_clip(u: UnitOfWork, key: ApiKey, clip_id: str) -> Clip:
    """The key's finished clip (tools read its files); 404 for another key's."""
    clip = owned_clip(u, key, clip_id)
    if clip.status is not ClipStatus.COMPLETE:
        raise InvalidInput(f"clip {clip_id} is not complete yet")
    return clip


def _read_json(storage: MediaStorage, clip: Clip, name: str) -> dict[str, Any] | None:
    key = clip.files.get(name)
    if not key:
        return None
    try:
        data = json.loads(storage.get_bytes(key))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EngineError(f"the clip's {name} is unreadable") from exc
    return data if isinstance(data, dict) else None


def _score(storage: MediaStorage, clip: Clip) -> Any:
    """The clip's Score, or None for clips the engine did not write (uploads: their
    analysis score describes the audio, it sang nothing)."""
    data = _read_json(storage, clip, SCORE_FILE)
    if data is None or (data.get("extra") or {}).get("analysed"):
        return None
    from cadenza.compose.score import Score

    try:
        return Score.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError("the clip's score is unreadable") from exc


def clip_audio(storage: MediaStorage, clip: Clip) -> npt.NDArray[np.float32]:
    """The clip's audio as 16 kHz mono, decoded with the safe, capped media decoder."""
    from cadenza.audio.probe import MediaRejected, decode, probe
    from cadenza.compose.transcribe import ANALYSIS_RATE

    name = next((n for n in AUDIO_FILES if n in clip.files), None)
    key = clip.files[name] if name else clip.audio_key
    if not key:
        raise InvalidInput("the clip has no audio to analyse")
    with tempfile.TemporaryDirectory(prefix="cadenza-analysis-") as tmp:
        path = storage.fetch_to(key, Path(tmp) / (name or "audio"))
        try:
            info = probe(path, max_bytes=MAX_ANALYSIS_BYTES, max_duration_s=MAX_ANALYSIS_S)
            pcm = decode(
                path,
                info,
                sample_rate=ANALYSIS_RATE,
                channels=1,
                max_duration_s=MAX_ANALYSIS_S,
            )
        except MediaRejected as exc:
            raise InvalidInput(f"the clip's audio cannot be analysed: {exc.message}") from exc
    return pcm[:, 0]


# ------------------------------------------------------------------ personas


def _lead_voice(score: Any) -> dict[str, Any] | None:
    """The lead part's VoiceSettings and the range of pitches it sang."""
    from dataclasses import asdict

    lead = next((p for p in score.vocals if p.stem == "Vocals" and p.notes), None)
    if lead is None:
        return None
    voice: dict[str, Any] = asdict(lead.voice)
    pitches = [n.pitch + lead.voice.transpose for n in lead.notes]
    voice["range_low"] = int(min(pitches))
    voice["range_high"] = int(max(pitches))
    return voice


def _analysed_voice(storage: MediaStorage, clip: Clip) -> dict[str, Any] | None:
    from cadenza.compose.transcribe import ANALYSIS_RATE, pitch_track, voice_from_track

    track = pitch_track(clip_audio(storage, clip), ANALYSIS_RATE)
    found = voice_from_track(track)
    return dict(found) if found is not None else None


def _merge_tags(tag_lists: list[str]) -> str:
    seen: list[str] = []
    lowered: set[str] = set()
    for tags in tag_lists:
        for tag in tags.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in lowered:
                seen.append(tag)
                lowered.add(tag.lower())
    return ", ".join(seen)[:MAX_TAGS]


@dataclass(frozen=True)
class _Singer:
    voice: dict[str, Any]
    style: dict[str, Any]
    source: str  # "score" | "analysis"


def _singer_of(storage: MediaStorage, root: Clip, clips: list[Clip]) -> _Singer:
    score = _score(storage, root)
    if score is not None:
        voice = _lead_voice(score)
        if voice is None:
            raise InvalidInput(f"clip {root.id} is instrumental: a persona needs a sung clip")
        genre, source = score.genre, "score"
    else:
        voice = _analysed_voice(storage, root)
        if voice is None:
            raise InvalidInput(f"no voice could be found in clip {root.id}")
        genre, source = "", "analysis"
    tags = _merge_tags([root.tags or (score.tags if score is not None else "")])
    tags = _merge_tags([tags, *(c.tags for c in clips if c.id != root.id)])
    return _Singer(voice=voice, style={"tags": tags, "genre": genre}, source=source)


def _text(value: str | None, name: str, limit: int) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters")
    return text


def create_persona(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    *,
    root_clip_id: str | None,
    clip_ids: list[str] | None = None,
    name: str | None = None,
    description: str | None = None,
    is_public: bool = False,
    persona_type: str | None = None,
    recorded: Recorded | None = None,
) -> Persona:
    """A persona from the key's clips: the root clip's lead voice, the clips' style."""
    ids = list(dict.fromkeys(i for i in (clip_ids or []) if i))
    root_id = root_clip_id or (ids[0] if ids else "")
    if not root_id:
        raise InvalidInput("give root_clip_id or clips")
    if root_id not in ids:
        ids.insert(0, root_id)
    if len(ids) > MAX_PERSONA_CLIPS:
        raise InvalidInput(f"at most {MAX_PERSONA_CLIPS} clips per persona")
    kind = (persona_type or PersonaType.SINGER.value).strip().lower()
    if kind not in {t.value for t in PersonaType}:
        raise InvalidInput("persona_type must be 'singer' or 'vox'")
    if kind == PersonaType.VOX.value:
        root = _load_owned(uow, key, [root_id])[0]
        return _vox_persona(
            uow, storage, key, root, VOX_DEFAULT_S, name, description, is_public, recorded=recorded
        )
    title = _text(name, "name", MAX_NAME)
    about = _text(description, "description", MAX_DESCRIPTION)
    clips = _load_owned(uow, key, ids)
    singer = _singer_of(storage, clips[0], clips)
    persona = Persona(
        id=new_id(),
        key_id=key.id,
        name=title or f"{clips[0].title or 'Untitled'} persona",
        persona_type=PersonaType.SINGER,
        description=about,
        is_public=bool(is_public),
        root_clip_id=root_id,
        clip_ids=ids,
        voice=singer.voice,
        style=singer.style,
        reference={"source": singer.source},
    )

    def record(u: UnitOfWork, task: Task) -> Persona:
        persona.task_id = task.id
        u.personas.add(persona)
        return persona

    params = {"root_clip_id": root_id, "clip_ids": ids, "persona_id": persona.id}
    return charge_now(uow, key, Action.PERSONA, params, record, recorded=recorded)


def _load_owned(uow: UnitOfWorkFactory, key: ApiKey, ids: list[str]) -> list[Clip]:
    with uow() as u:
        return [complete_clip(u, key, clip_id) for clip_id in ids]


def create_vox_persona(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    *,
    song_id: str,
    duration: float | None = None,
    name: str | None = None,
    description: str | None = None,
    recorded: Recorded | None = None,
) -> Persona:
    """A vox persona from a clip's vocal stem (the score's voice for generated clips)."""
    if duration is None:
        length = VOX_DEFAULT_S
    else:
        length = float(duration)
        if not 1.0 <= length <= VOX_MAX_S:
            raise InvalidInput(f"duration must be between 1 and {VOX_MAX_S:.0f} seconds")
    root = _load_owned(uow, key, [song_id])[0]
    return _vox_persona(
        uow, storage, key, root, length, name, description, False, recorded=recorded
    )


def _vox_persona(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    root: Clip,
    length: float,
    name: str | None,
    description: str | None,
    is_public: bool,
    *,
    start_s: float | None = None,
    vox: Clip | None = None,
    recorded: Recorded | None = None,
) -> Persona:
    """``start_s`` picks where the reference vocal starts (default: the first sung note);
    ``vox`` is a vocal excerpt made by ``extract_vox``, used as the reference as it is."""
    title = _text(name, "name", MAX_NAME)
    about = _text(description, "description", MAX_DESCRIPTION)
    singer = _singer_of(storage, root, [root])
    start = 0.0
    if start_s is not None:
        start = start_s
    elif singer.source == "score":
        score = _score(storage, root)
        lead = next(p for p in score.vocals if p.stem == "Vocals" and p.notes)
        start = round(score.seconds(min(n.start for n in lead.notes)), 3)
    clip_length = float(root.duration or 0.0)
    if clip_length > 0:
        if start >= clip_length:
            raise InvalidInput("vocal_start is past the end of the clip")
        start = min(start, max(0.0, clip_length - length)) if start_s is None else start
        length = min(length, clip_length - start)
    reference_key = root.files.get(VOCAL_STEM) or next(
        (root.files[n] for n in AUDIO_FILES if n in root.files), root.audio_key
    )
    extra: dict[str, Any] = {}
    if vox is not None:
        start = float(vox.metadata.get("vocal_start_s") or 0.0)
        length = float(vox.duration or 0.0)
        reference_key = vox.files.get("song.wav") or vox.audio_key
        extra = {"vox_clip_id": vox.id}
    persona = Persona(
        id=new_id(),
        key_id=key.id,
        name=title or f"{root.title or 'Untitled'} vox",
        persona_type=PersonaType.VOX,
        description=about,
        is_public=bool(is_public),
        root_clip_id=root.id,
        clip_ids=[root.id],
        voice=singer.voice,
        style=singer.style,
        reference={
            "source": singer.source,
            "audio_key": reference_key or "",
            "stem": VOCAL_STEM if root.files.get(VOCAL_STEM) else "",
            "start_s": round(start, 3),
            "duration_s": round(length, 3),
            **extra,
        },
    )

    def record(u: UnitOfWork, task: Task) -> Persona:
        persona.task_id = task.id
        u.personas.add(persona)
        return persona

    params = {"song_id": root.id, "duration": length, "persona_id": persona.id, **extra}
    return charge_now(uow, key, Action.VOX_PERSONA, params, record, recorded=recorded)


def create_span_persona(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    *,
    clip_id: str,
    name: str | None = None,
    description: str | None = None,
    vox_clip_id: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    recorded: Recorded | None = None,
) -> Persona:
    """A vox persona from a span of a clip's vocal stem, or from a vocal excerpt that
    ``extract_vox`` made of that clip (``vox_clip_id``, Persona-v2-vox)."""
    with uow() as u:
        root = complete_clip(u, key, clip_id)
        vox = complete_clip(u, key, vox_clip_id) if vox_clip_id else None
    if vox is not None and (
        vox.metadata.get("type") != VOX_CLIP_TYPE or vox.metadata.get("source_clip_id") != root.id
    ):
        raise InvalidInput("vox_audio_id is not a vocal excerpt of audio_id")
    length = VOX_DEFAULT_S if end_s is None else end_s - (start_s or 0.0)
    if not 0 < length <= VOX_MAX_S:
        raise InvalidInput(f"the vocal span must be at most {VOX_MAX_S:.0f} seconds")
    return _vox_persona(
        uow,
        storage,
        key,
        root,
        length,
        name,
        description,
        False,
        start_s=start_s,
        vox=vox,
        recorded=recorded,
    )


def _voice_of_recording(path: Path, max_duration_s: float) -> dict[str, Any]:
    """The singer of a recording (pitch range, gender, vibrato) by analysis."""
    from cadenza.audio.probe import MediaRejected, decode, probe
    from cadenza.compose.transcribe import ANALYSIS_RATE, pitch_track, voice_from_track

    try:
        info = probe(path, max_bytes=MAX_ANALYSIS_BYTES, max_duration_s=max_duration_s)
        pcm = decode(
            path, info, sample_rate=ANALYSIS_RATE, channels=1, max_duration_s=max_duration_s
        )
    except MediaRejected as exc:
        raise InvalidInput(f"audio_url is not usable audio: {exc.message}") from exc
    seconds = len(pcm) / ANALYSIS_RATE
    if seconds < VOICE_MIN_S:
        raise InvalidInput(
            f"audio_url holds {seconds:.1f} s of audio; a voice needs at least {VOICE_MIN_S:.0f} s"
        )
    found = voice_from_track(pitch_track(pcm[:, 0], ANALYSIS_RATE))
    if found is None:
        raise InvalidInput("no singing voice could be found in audio_url")
    return dict(found)


def create_voice_persona(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    *,
    path: Path,
    extension: str,
    name: str | None = None,
    description: str | None = None,
    max_duration_s: float = MAX_ANALYSIS_S,
    recorded: Recorded | None = None,
) -> Persona:
    """A persona from a recording of one voice (AceData's ``/suno/voices``). The voice is
    analysed before anything is charged, so a recording with no voice costs nothing."""
    title = _text(name, "name", MAX_NAME)
    about = _text(description, "description", MAX_DESCRIPTION)
    voice = _voice_of_recording(path, max_duration_s)
    persona = Persona(
        id=new_id(),
        key_id=key.id,
        name=title or "My voice",
        persona_type=PersonaType.VOX,
        description=about,
        voice=voice,
        style={"tags": "", "genre": ""},
    )

    def record(u: UnitOfWork, task: Task) -> Persona:
        storage_key = f"voices/{persona.id}-{secrets.token_urlsafe(12)}/voice.{extension}"
        storage.put_file(storage_key, path, "application/octet-stream")
        persona.task_id = task.id
        persona.reference = {
            "source": "analysis",
            "source_type": "voice",
            "audio_key": storage_key,
        }
        u.personas.add(persona)
        return persona

    params = {"persona_id": persona.id, "source_type": "voice", "name": persona.name}
    return charge_now(uow, key, Action.PERSONA, params, record, recorded=recorded)


def list_personas(
    uow: UnitOfWorkFactory, key: ApiKey, *, limit: int = 50, offset: int = 0
) -> tuple[list[Persona], int]:
    """A page of the key's personas, newest first, and how many it has in all."""
    with uow(read_only=True) as u:
        found = u.personas.list_for_key(key.id, limit=limit, offset=offset)
        total = u.personas.count_for_key(key.id)
    return found, total


def delete_persona(uow: UnitOfWorkFactory, key: ApiKey, persona_id: str) -> None:
    """Delete one of the key's personas; another key's is the same 404 as a missing one.
    Songs already made with it keep the voice they were given."""
    with uow() as u:
        gone = u.personas.delete(persona_id, key.id) if persona_id else False
        u.commit()
    if not gone:
        raise NotFound(f"persona {persona_id} not found")


# ------------------------------------------------------------------ vocal excerpts

VOX_RATE = 44100
#: Longest vocal excerpt (AceData's clients ask for under 30 s).
VOX_EXCERPT_MAX_S = 30.0


@dataclass(frozen=True)
class VoxExcerpt:
    """A vocal excerpt: its own clip (id usable as a persona's ``vox_audio_id``), the span
    of the source it covers, and the audio for its waveform."""

    clip: Clip
    start_s: float
    end_s: float
    audio: npt.NDArray[np.float32]


def _first_sung_s(storage: MediaStorage, clip: Clip) -> float:
    score = _score(storage, clip)
    if score is None:
        return 0.0
    lead = next((p for p in score.vocals if p.stem == "Vocals" and p.notes), None)
    return round(score.seconds(min(n.start for n in lead.notes)), 3) if lead else 0.0


def _encode_m4a(wav: Path, out: Path) -> Path:
    import subprocess

    from cadenza.audio.probe import _ffmpeg

    cmd = [_ffmpeg(), "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a"]
    done = subprocess.run([*cmd, "160k", str(out)], capture_output=True, timeout=120, check=False)
    if done.returncode != 0 or not out.exists():
        raise EngineError("the vocal excerpt could not be encoded")
    return out


def extract_vox(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    *,
    clip_id: str,
    start_s: float | None = None,
    end_s: float | None = None,
    recorded: Recorded | None = None,
    summary: Callable[[VoxExcerpt], dict[str, Any]] | None = None,
) -> VoxExcerpt:
    """Cut ``[start_s, end_s)`` of the clip's vocal stem (the whole mix for a clip without
    stems, such as an upload) into a new clip: ``song.wav`` and ``vocals.m4a``. The span
    defaults to 30 s from the first sung note. Cut before the charge: a failure costs
    nothing."""
    from cadenza.audio.probe import MediaRejected, decode, probe
    from cadenza.compose.encode import write_wav

    with uow() as u:
        source = complete_clip(u, key, clip_id)
    length = float(source.duration or 0.0)
    begin = _first_sung_s(storage, source) if start_s is None else float(start_s)
    finish = min(begin + VOX_EXCERPT_MAX_S, length) if end_s is None else float(end_s)
    if length > 0 and begin >= length:
        raise InvalidInput(f"vocal_start is past the end of the clip ({length:.3f} s)")
    if length > 0 and finish > length + 1e-3:
        raise InvalidInput(f"vocal_end is past the end of the clip ({length:.3f} s)")
    if finish - begin > VOX_EXCERPT_MAX_S + 1e-6:
        raise InvalidInput(f"the vocal span must be at most {VOX_EXCERPT_MAX_S:.0f} seconds")
    if finish - begin < 1.0:
        raise InvalidInput("the vocal span must be at least 1 second")
    stem = VOCAL_STEM if VOCAL_STEM in source.files else None
    name = stem or next((n for n in AUDIO_FILES if n in source.files), None)
    if name is None:
        raise InvalidInput(f"clip {source.id} has no audio to cut vocals from")
    excerpt = Clip(
        id=new_id(),
        task_id="",
        key_id=key.id,
        title=f"{source.title or 'Untitled'} (Vocals)"[:MAX_NAME],
        tags=source.tags,
        lyrics=source.lyrics,
        model_name=source.model_name,
        status=ClipStatus.COMPLETE,
        duration=round(finish - begin, 3),
        image_key=source.image_key,
        image_large_key=source.image_large_key,
        metadata={
            "type": VOX_CLIP_TYPE,
            "source_clip_id": source.id,
            "vocal_start_s": round(begin, 3),
            "vocal_end_s": round(finish, 3),
            "stem": stem or "",
        },
    )
    with tempfile.TemporaryDirectory(prefix="cadenza-vox-") as tmp:
        folder = Path(tmp)
        local = storage.fetch_to(source.files[name], folder / "source")
        try:
            info = probe(local, max_bytes=MAX_ANALYSIS_BYTES, max_duration_s=MAX_ANALYSIS_S)
            audio = decode(
                local, info, sample_rate=VOX_RATE, channels=2, max_duration_s=MAX_ANALYSIS_S
            )
        except MediaRejected as exc:
            raise InvalidInput(f"the clip's audio cannot be read: {exc.message}") from exc
        cut = audio[round(begin * VOX_RATE) : round(finish * VOX_RATE)]
        if len(cut) == 0:
            raise InvalidInput("the vocal span holds no audio")
        wav = write_wav(folder / "vocals.wav", cut, VOX_RATE)
        m4a = _encode_m4a(wav, folder / "vocals.m4a")
        prefix = f"clips/{excerpt.id}-{secrets.token_urlsafe(12)}"
        excerpt.files = {"song.wav": f"{prefix}/song.wav", "vocals.m4a": f"{prefix}/vocals.m4a"}
        excerpt.audio_key = excerpt.files["vocals.m4a"]
        made = VoxExcerpt(excerpt, round(begin, 3), round(finish, 3), cut)
        kept = recorded or Recorded()
        if summary is not None:
            kept = Recorded(kept.origin, kept.callback, summary(made))

        def record(u: UnitOfWork, task: Task) -> VoxExcerpt:
            storage.put_file(excerpt.files["song.wav"], wav, "audio/wav")
            storage.put_file(excerpt.files["vocals.m4a"], m4a, "audio/mp4")
            excerpt.task_id = task.id
            u.clips.add(excerpt)
            return made

        params = {
            "clip_id": source.id,
            "vox_clip_id": excerpt.id,
            "start_s": begin,
            "end_s": finish,
        }
        return charge_now(uow, key, Action.VOX, params, record, recorded=kept)


def get_persona(uow: UnitOfWorkFactory, key: ApiKey, persona_id: str) -> Persona:
    with uow() as u:
        return ownership.owned_persona(u, key.id, persona_id)


def vox_persona(uow: UnitOfWorkFactory, key: ApiKey, persona_id: str) -> Persona:
    """The key's persona made from a vocal stem (Persona-v2-vox: a vox excerpt, then a
    persona with it), which artist_consistency_vox sings with."""
    with uow(read_only=True) as u:
        persona = ownership.owned_persona(u, key.id, persona_id)
    if persona.persona_type is not PersonaType.VOX:
        raise InvalidInput(
            "persona_id must be a vox persona (made with vox_audio_id) when"
            " artist_consistency_vox audio"
        )
    return persona


def persona_sources(uow: UnitOfWorkFactory, personas: Sequence[Persona]) -> dict[str, str]:
    """The storage key of the audio each persona's voice came from: the recording of a
    persona made from a voice, else the audio of the owner's clip it was made from ("" when
    there is none)."""
    found: dict[str, str] = {}
    with uow(read_only=True) as u:
        for persona in personas:
            key = ""
            if persona.reference.get("source_type") == "voice":
                key = str(persona.reference.get("audio_key") or "")
            elif persona.root_clip_id:
                clip = u.clips.get(persona.root_clip_id)
                if clip is not None and clip.key_id == persona.key_id:
                    key = clip.audio_key or ""
            found[persona.id] = key
    return found


# ------------------------------------------------------------------ MIDI


@dataclass(frozen=True)
class MidiFile:
    data: bytes
    source: str  # "score" | "analysis"
    clip_id: str
    #: The task it was charged through.
    task_id: str = ""


def _midi_source(clip: Clip) -> str:
    return "analysis" if clip.metadata.get("type") == "upload" else "score"


def clip_midi(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    clip_id: str,
    task_id: str | None = None,
    *,
    recorded: Recorded | None = None,
    summary: Callable[[bytes], dict[str, Any]] | None = None,
) -> MidiFile:
    """The score's MIDI for generated clips; for uploaded audio, the MIDI of its analysis
    (tempo, melody, bass and chords), made at upload or, for older uploads, on first ask.

    ``task_id`` is a routing hint in seed 000 (which instance holds the files); here every
    instance reads the shared store, so it is recorded, not required to match.
    ``summary`` turns the MIDI into the task's ``result`` (a dialect that answers notes).
    """
    with uow() as u:
        clip = complete_clip(u, key, clip_id)
    params = {"clip_id": clip.id, "task_id": task_id or ""}
    stored = clip.files.get(MIDI_FILE)
    if stored or SCORE_FILE in clip.files:
        data = storage.get_bytes(stored) if stored else _midi_from_score(storage, clip)
        source = _midi_source(clip)
        kept = recorded or Recorded()
        if summary is not None:
            kept = Recorded(kept.origin, kept.callback, summary(data))
        return charge_now(
            uow,
            key,
            Action.MIDI,
            params,
            lambda u, task: MidiFile(data, source, clip.id, task.id),
            recorded=kept,
        )

    def work(task: Task) -> MidiFile:
        return MidiFile(_transcribe(storage, clip), "analysis", clip.id, task.id)

    def record(u: UnitOfWork, task: Task, result: MidiFile) -> None:
        # Kept with the clip, so the next request reads it instead of analysing again.
        fresh = u.clips.get(clip.id)
        if fresh is not None and MIDI_FILE not in fresh.files:
            storage_key = f"clips/{clip.id}-{secrets.token_urlsafe(12)}/{MIDI_FILE}"
            storage.put_bytes(storage_key, result.data, "audio/midi")
            fresh.files = {**fresh.files, MIDI_FILE: storage_key}
            u.clips.update(fresh)

    return charge_for_work(
        uow,
        key,
        Action.MIDI,
        params,
        work,
        record,
        recorded=recorded,
        result_of=None if summary is None else (lambda made: summary(made.data)),
    )


def _midi_from_score(storage: MediaStorage, clip: Clip) -> bytes:
    import io

    from cadenza.compose.midi import build_midi
    from cadenza.compose.score import Score

    data = _read_json(storage, clip, SCORE_FILE)
    if data is None:
        raise InvalidInput("the clip has no score")
    try:
        score = Score.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise EngineError("the clip's score is unreadable") from exc
    buffer = io.BytesIO()
    build_midi(score).save(file=buffer)
    return buffer.getvalue()


def _transcribe(storage: MediaStorage, clip: Clip) -> bytes:
    """The MIDI of an analysis of the clip's audio: tempo-correct melody, bass and chords."""
    import io

    from cadenza.compose.analysis import analyse, analysis_score
    from cadenza.compose.midi import build_midi
    from cadenza.compose.transcribe import ANALYSIS_RATE

    found = analyse(clip_audio(storage, clip), ANALYSIS_RATE, detect_voice=False)
    buffer = io.BytesIO()
    build_midi(analysis_score(found, title=clip.title or "", tags=clip.tags or "")).save(
        file=buffer
    )
    return buffer.getvalue()


# ------------------------------------------------------------------ aligned lyrics


def clip_words(
    uow: UnitOfWorkFactory, storage: MediaStorage, key: ApiKey, clip_id: str
) -> tuple[Clip, list[dict[str, Any]]]:
    """The key's finished clip and its sung words with exact timings (from its
    ``lyrics.json``, else its score): ``word``, ``start_s``, ``end_s``, ``line``,
    ``section``. No words for a clip with nothing sung (instrumentals, uploads)."""
    with uow() as u:
        clip = complete_clip(u, key, clip_id)
    words: list[dict[str, Any]] | None = None
    lyrics = _read_json(storage, clip, LYRICS_FILE)
    if lyrics is not None and isinstance(lyrics.get("words"), list):
        words = [w for w in lyrics["words"] if isinstance(w, dict)]
    else:
        score = _score(storage, clip)
        if score is not None:
            from cadenza.compose.timings import word_timings

            words = word_timings(score)
    return clip, list(words or [])


def timed_words(words: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Word timings in the gcui-art proxy's shape: read from the clip's score (exact), or
    as the channel that made a relayed clip reported them (its ``p_align``)."""
    return [
        {
            "word": str(w.get("word", "")),
            "start_s": float(w.get("start_s", 0.0)),
            "end_s": float(w.get("end_s", 0.0)),
            "success": True,
            "p_align": float(w.get("p_align", 1.0)),
            "line": int(w.get("line", 0)),
            "section": str(w.get("section", "")),
        }
        for w in words
    ]


# ------------------------------------------------------------------ playlists


def create_playlist(
    uow: UnitOfWorkFactory,
    key: ApiKey,
    *,
    name: str | None,
    clip_ids: list[str],
    task_id: str | None = None,
    recorded: Recorded | None = None,
) -> Playlist:
    """A playlist of the key's clips; any missing or foreign clip is a 404 (no charge)."""
    title = _text(name, "name", MAX_NAME)
    if not title:
        raise InvalidInput("name is required")
    ids = list(dict.fromkeys(i for i in clip_ids if i))
    if len(ids) > MAX_PLAYLIST_CLIPS:
        raise InvalidInput(f"at most {MAX_PLAYLIST_CLIPS} clips per playlist")
    playlist = Playlist(id=new_id(), key_id=key.id, name=title, clip_ids=ids)

    def record(u: UnitOfWork, task: Task) -> Playlist:
        for clip_id in ids:  # inside the transaction: the clips cannot change owner meanwhile
            owned_clip(u, key, clip_id)
        playlist.task_id = task.id
        u.playlists.add(playlist)
        return playlist

    params = {"name": title, "clip_ids": ids, "task_id": task_id or ""}
    return charge_now(uow, key, Action.PLAYLIST, params, record, recorded=recorded)


# ------------------------------------------------------------------ tags and art


@dataclass(frozen=True)
class PromptImage:
    storage_key: str
    url: str
    #: The task it was charged through.
    task_id: str = ""


def prompt_image(
    uow: UnitOfWorkFactory,
    storage: MediaStorage,
    key: ApiKey,
    prompt: str,
    *,
    recorded: Recorded | None = None,
) -> PromptImage:
    """Draw art for ``prompt`` and store it; the same prompt always draws the same picture."""
    text = _text(prompt, "prompt", MAX_PROMPT)
    if not text:
        raise InvalidInput("prompt is required")

    def work(task: Task) -> PromptImage:
        from cadenza.compose.prompt_art import prompt_art_png

        storage_key = f"images/{task.id}-{secrets.token_urlsafe(12)}.png"
        storage.put_bytes(storage_key, prompt_art_png(text), "image/png")
        return PromptImage(storage_key, storage.url(storage_key), task.id)

    return charge_for_work(
        uow,
        key,
        Action.PROMPT_IMAGE,
        {"prompt": text},
        work,
        recorded=recorded,
        result_of=lambda made: {"image_key": made.storage_key},
    )
