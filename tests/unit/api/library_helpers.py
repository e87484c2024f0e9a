"""Clips for the library route tests, built without rendering audio.

A generated clip gets the files the engine writes from its score (``score.json``,
``song.mid``, ``lyrics.json``, a vocal stem placeholder); an uploaded clip gets a short WAV
of sine tones whose melody is known.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import soundfile

from cadenza.bootstrap import Container
from cadenza.compose.composer import compose
from cadenza.compose.midi import build_midi
from cadenza.compose.score import Score
from cadenza.compose.timings import word_timings
from cadenza.domain.music import MusicRequest
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id

LYRICS = """[Verse]
Morning light on the river
Silver boats are drifting by

[Chorus]
Hold on, hold on to the summer
Sing it loud into the sky"""

#: The melody of the uploaded test clip: (MIDI pitch, seconds), each followed by a rest.
TONES: tuple[tuple[int, float], ...] = ((60, 0.4), (64, 0.4), (67, 0.5))
SAMPLE_RATE = 22050


@dataclass
class MadeClip:
    clip: Clip
    score: Score | None


def _new_task(container: Container, key_id: str) -> str:
    task = Task(
        id=new_id(),
        key_id=key_id,
        action="MUSIC",
        params={},
        price=Decimal("0"),
        status=TaskStatus.SUCCESS,
        progress=100,
        dispatched=True,
    )
    with container.uow() as u:
        u.tasks.add(task)
        u.commit()
    return task.id


def _store(container: Container, clip: Clip, files: dict[str, tuple[bytes, str]]) -> None:
    for name, (data, content_type) in files.items():
        key = f"clips/{clip.id}-test/{name}"
        container.storage.put_bytes(key, data, content_type)
        clip.files[name] = key
    with container.uow() as u:
        u.clips.add(clip)
        u.commit()


def generated_clip(
    container: Container,
    key_id: str,
    *,
    tags: str = "jazz, smooth",
    lyrics: str = LYRICS,
    instrumental: bool = False,
    seed: int = 11,
) -> MadeClip:
    request = MusicRequest(
        title="River Song", tags=tags, lyrics=lyrics, instrumental=instrumental, max_duration_s=60
    )
    score = compose(request, seed)
    midi = io.BytesIO()
    build_midi(score).save(file=midi)
    lyrics_json = {
        "title": score.title,
        "language": score.language,
        "lyrics": lyrics,
        "words": word_timings(score),
    }
    clip = Clip(
        id=new_id(),
        task_id=_new_task(container, key_id),
        key_id=key_id,
        title=score.title,
        tags=tags,
        lyrics=lyrics,
        status=ClipStatus.COMPLETE,
        duration=round(score.duration_s, 3),
    )
    stem = io.BytesIO()
    soundfile.write(stem, np.zeros((2205, 2), dtype=np.float32), SAMPLE_RATE, format="WAV")
    _store(
        container,
        clip,
        {
            "score.json": (json.dumps(score.to_dict()).encode(), "application/json"),
            "song.mid": (midi.getvalue(), "audio/midi"),
            "lyrics.json": (json.dumps(lyrics_json).encode(), "application/json"),
            "stems/Vocals.wav": (stem.getvalue(), "audio/wav"),
        },
    )
    return MadeClip(clip, score)


def tone_wav() -> bytes:
    parts = []
    for pitch, seconds in TONES:
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        ramp = np.minimum(1.0, np.minimum(t / 0.01, (seconds - t) / 0.01))
        parts.append(0.4 * np.sin(2 * np.pi * 440.0 * 2 ** ((pitch - 69) / 12) * t) * ramp)
        parts.append(np.zeros(int(SAMPLE_RATE * 0.1)))
    audio = np.concatenate(parts).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([audio, audio], axis=1), SAMPLE_RATE, format="WAV")
    return buffer.getvalue()


def uploaded_clip(container: Container, key_id: str) -> MadeClip:
    clip = Clip(
        id=new_id(),
        task_id=_new_task(container, key_id),
        key_id=key_id,
        title="Humming",
        status=ClipStatus.COMPLETE,
        duration=1.6,
    )
    _store(container, clip, {"song.wav": (tone_wav(), "audio/wav")})
    return MadeClip(clip, None)
