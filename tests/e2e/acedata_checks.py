"""Checks of AceData answers shared by the end-to-end tests: a finished clip holds the
contract's fields with the right types, and its media are real (the MP3 decodes to the
duration the clip states, the cover is a PNG)."""

from __future__ import annotations

import re
import subprocess
import uuid
from typing import Any

import httpx

CLIP_FIELDS = (
    "id",
    "title",
    "image_url",
    "lyric",
    "audio_url",
    "video_url",
    "created_at",
    "model",
    "state",
    "prompt",
    "style",
    "duration",
)
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
#: MP3 frames and the encoder's padding: the decoded length may differ this much.
DURATION_SLACK_S = 0.12


def decoded_seconds(mp3: bytes) -> float:
    """Decodes the whole file with ffmpeg (gapless info honoured); a decoding error fails."""
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "44100", "-"],
        input=mp3,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr, result.stderr.decode()[:500]
    return len(result.stdout) / 2 / 44100


def assert_clip(http: httpx.Client, clip: dict[str, Any], *, model: str) -> None:
    """A finished clip as the contract gives it (§2.4), and its media real."""
    assert set(CLIP_FIELDS) <= set(clip), clip
    for name in CLIP_FIELDS:
        if name != "duration":
            assert isinstance(clip[name], str), (name, clip[name])
    uuid.UUID(clip["id"])
    assert clip["state"] == "succeeded"
    assert clip["model"] == model
    assert ISO_Z.match(clip["created_at"]), clip["created_at"]
    duration = clip["duration"]
    assert isinstance(duration, float | int) and not isinstance(duration, bool)
    assert duration > 1
    audio = http.get(clip["audio_url"])
    assert audio.status_code == 200, clip["audio_url"]
    assert audio.headers["content-type"] == "audio/mpeg"
    assert abs(decoded_seconds(audio.content) - duration) <= DURATION_SLACK_S, duration
    image = http.get(clip["image_url"])
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    assert clip["video_url"] == ""
