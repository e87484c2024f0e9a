"""Lyrics as a task of its own: a description in, a title and sectioned lyrics out.

The built-in writer (``cadenza.compose.writer``) is deterministic by seed and follows the
description's language (Mandarin for a Chinese description, else English). It takes
milliseconds, so the API runs these tasks itself rather than queueing them behind renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cadenza.compose.writer import write_lyrics
from cadenza.domain.lyrics import LyricsRequest
from cadenza.services.ports import ProgressCallback


def tidy(text: str) -> str:
    """Each sung line starts with a capital letter, as lyrics sheets are written."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and not stripped.startswith("[") and stripped[0].islower():
            line = line[: len(line) - len(stripped)] + stripped[0].upper() + stripped[1:]
        lines.append(line)
    return "\n".join(lines)


class LyricsEngine:
    name = "lyrics"

    def run(
        self,
        action: str,
        params: dict[str, Any],
        workdir: Path,
        progress: ProgressCallback,
    ) -> list[dict[str, Any]]:
        request = LyricsRequest.from_dict(params["request"])
        title, text = write_lyrics(request.prompt, request.seed)
        return [{"result": {"title": title, "text": tidy(text)}}]
