"""The music video engine (MP4 tasks): the source clip's audio, cover and word timings in,
one ``video.mp4`` out.

The service put the source files' storage keys in the task's parameters, so this engine
never touches the database. Its result fills the task's own clip; the service then links
the video to the source clip.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from cadenza.domain.actions import Action
from cadenza.domain.errors import EngineError
from cadenza.services.ports import MediaStorage, ProgressCallback

log = logging.getLogger(__name__)

#: Longest an encode may run, whatever the clip's length.
MAX_RENDER_S = 600.0


def caption_words(path: Path) -> list[dict[str, object]]:
    """The well-formed words of a ``lyrics.json``; an unreadable file means no captions."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    words = data.get("words") if isinstance(data, dict) else None
    if not isinstance(words, list):
        return []
    good: list[dict[str, object]] = []
    for word in words:
        if not isinstance(word, dict) or not str(word.get("word", "")).strip():
            continue
        try:
            float(word["start_s"])
            float(word["end_s"])
        except (KeyError, TypeError, ValueError):
            continue
        good.append(word)
    return good


def usable_cover(path: Path, title: str, tags: str) -> Path:
    """The cover, or a freshly drawn one when it does not decode (ffmpeg would fail)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
        return path
    except (OSError, UnidentifiedImageError, ValueError):
        from cadenza.compose.cover import draw_cover

        log.warning("cover %s is unreadable; drawing one", path.name)
        drawn = path.with_name("drawn-cover.png")
        draw_cover(title or "Untitled", tags, 0, 512).save(drawn, format="PNG")
        return drawn


class VideoEngine:
    """Implements ``Engine`` for MP4."""

    name = "video"
    actions = (Action.MP4.value,)

    def __init__(self, storage: MediaStorage) -> None:
        self._storage = storage

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        from cadenza.audio.video import render_video

        if action != Action.MP4:
            raise EngineError(f"the video engine does not handle {action}")
        clip_ids = list(params.get("clip_ids") or [])
        if not clip_ids:
            raise EngineError("no clip to fill")
        try:
            audio_key = str(params["audio_key"])
            audio_name = str(params.get("audio_name") or "song.wav")
            cover_key = str(params["cover_key"])
            duration = float(params["duration"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError(f"bad parameters for the video engine: {exc}") from exc
        if audio_name not in ("song.wav", "song.mp3"):
            raise EngineError("the source audio must be song.wav or song.mp3")
        title = str(params.get("title") or "")
        src = workdir / "src"
        src.mkdir(parents=True, exist_ok=True)
        progress(0.05, "fetching")
        audio = self._storage.fetch_to(audio_key, src / audio_name)
        cover = usable_cover(
            self._storage.fetch_to(cover_key, src / "cover.png"),
            title,
            str(params.get("tags") or ""),
        )
        words: list[dict[str, object]] = []
        lyrics_key = params.get("lyrics_key")
        if isinstance(lyrics_key, str) and lyrics_key:
            words = caption_words(self._storage.fetch_to(lyrics_key, src / "lyrics.json"))
        progress(0.1, "rendering")
        try:
            out = render_video(
                audio,
                cover,
                workdir / "video.mp4",
                duration_s=duration,
                words=words,
                title=title,
                timeout_s=min(MAX_RENDER_S, 60.0 + 2.0 * duration),
            )
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise EngineError("video rendering failed") from exc
        meta = {
            "duration": duration,
            "type": "video",
            "video_of_clip_id": params.get("source_clip_id"),
        }
        return [{"id": clip_ids[0], "files": {"video.mp4": str(out)}, "meta": meta}]
