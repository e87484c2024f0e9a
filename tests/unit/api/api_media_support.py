"""Real-media helpers for the media route tests: tones, WAV/MP3 files and seeded clips."""

from __future__ import annotations

import dataclasses
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from cadenza.bootstrap import Container, build_runner
from cadenza.domain.tasks import Clip, ClipStatus, Task, TaskStatus, new_id
from cadenza.engines.registry import EngineRegistry
from cadenza.engines.tools import AudioToolsEngine
from cadenza.storage.local import LocalStorage

RATE = 44100


def tone(seconds: float, freq: float = 220.0, rate: int = RATE) -> np.ndarray:
    """A harmonic tone (stereo float32) whose pitch trackers agree on ``freq``."""
    t = np.arange(round(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    mono = (0.25 * wave).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def write_wav(path: Path, audio: np.ndarray, rate: int = RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path


def write_mp3(path: Path, seconds: float, freq: float = 330.0) -> Path:
    wav = write_wav(path.with_suffix(".src.wav"), tone(seconds, freq))
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(path)],
        check=True,
    )
    return path


def write_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (40, 90, 160)).save(path)
    return path


def with_tools(container: Container, queue: Any, music_engine: Any) -> Container:
    """The conftest container, with the real tools engine behind the edit actions."""
    tools = AudioToolsEngine(container.storage)
    engines = EngineRegistry(
        {
            "MUSIC": music_engine,
            "CROP": tools,
            "SPEED_ADJUST": tools,
            "CONCAT": tools,
            "UPLOAD": tools,
        }
    )
    runner = build_runner(container.settings, container.uow, container.storage, engines)
    queue.runner = runner
    return dataclasses.replace(container, engines=engines, runner=runner)


def seed_clip(
    container: Container,
    key_id: str,
    tmp: Path,
    *,
    seconds: float,
    freq: float = 220.0,
    title: str = "Source",
    metadata: dict[str, Any] | None = None,
    task_params: dict[str, Any] | None = None,
    stems: bool = True,
    lyrics_json: str | None = None,
) -> Clip:
    """A finished generated clip with real files in the store, as the worker leaves one."""
    clip_id, task_id = new_id(), new_id()
    folder = tmp / clip_id
    audio = tone(seconds, freq)
    local = {
        "song.wav": write_wav(folder / "song.wav", audio),
        "cover.png": write_png(folder / "cover.png"),
        "cover_large.png": write_png(folder / "cover_large.png"),
    }
    if stems:
        local["stems/Vocals.wav"] = write_wav(folder / "v.wav", audio * 0.5)
        local["stems/Drums.wav"] = write_wav(folder / "d.wav", audio * 0.25)
    if lyrics_json is not None:
        (folder / "lyrics.json").write_text(lyrics_json, encoding="utf-8")
        local["lyrics.json"] = folder / "lyrics.json"
    files: dict[str, str] = {}
    for name, path in local.items():
        key = f"clips/{clip_id}-seed/{name}"
        container.storage.put_file(key, path, "application/octet-stream")
        files[name] = key
    task = Task(
        id=task_id,
        key_id=key_id,
        action="MUSIC",
        params=task_params or {},
        price=Decimal("0"),
        status=TaskStatus.SUCCESS,
        progress=100,
        dispatched=True,
    )
    clip = Clip(
        id=clip_id,
        task_id=task_id,
        key_id=key_id,
        title=title,
        tags="pop",
        status=ClipStatus.COMPLETE,
        duration=len(audio) / RATE,
        audio_key=files["song.wav"],
        image_key=files["cover.png"],
        image_large_key=files["cover_large.png"],
        files=files,
        metadata={"type": "gen", **(metadata or {})},
    )
    with container.uow() as u:
        u.tasks.add(task)
        u.clips.add(clip)
        u.commit()
    return clip


def result_clip(container: Container, client: Any, headers: dict[str, str], task_id: str) -> Clip:
    body = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert body["status"] == "SUCCESS", body
    assert len(body["data"]) == 1
    with container.uow() as u:
        clip = u.clips.get(body["data"][0]["id"])
    assert clip is not None
    return clip


def local_path(container: Container, key: str) -> Path:
    storage = container.storage
    assert isinstance(storage, LocalStorage)
    return storage.path_for(key)


def balance(container: Container, key_id: str) -> Decimal:
    with container.uow() as u:
        key = u.keys.get(key_id)
    assert key is not None
    return Decimal(key.credits_balance)
