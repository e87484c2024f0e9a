"""A song streamed as it renders: ``POST /suno/audios`` with ``Accept: application/x-ndjson``
against a real ``cadenza serve`` and the real engine. A ``running`` clip carries a playable
URL (the song's first section) before the task ends, and that URL plays at that moment."""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from e2e_serving import Server, launch, new_key, stop

from cadenza.audio.probe import decode, probe

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

LYRIC = """[Intro]
[Verse]
I walked along the river when the morning light was new
every stone was singing and the sky was turning blue
[Chorus]
we are the fire in the night
we are the spark that makes it right
[Verse]
cities sleeping under silver rain and neon signs
I can hear your heartbeat in the spaces between lines
[Chorus]
we are the fire in the night
we are the spark that makes it right
[Outro]
alive tonight
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = launch(tmp_path_factory.mktemp("e2e-previews"))
    try:
        yield running
    finally:
        stop(running)


def _decoded_seconds(audio: bytes, where: Path) -> float:
    """Seconds of sound in MP3 bytes, decoded by the project's own media tools."""
    where.write_bytes(audio)
    info = probe(where, max_bytes=50 * 1024 * 1024, max_duration_s=600)
    assert info.format == "mp3", info
    samples = decode(where, info, max_duration_s=600)
    assert np.abs(samples).max() > 0.01  # sound, not silence
    return float(samples.shape[0] / 44100)


def test_ndjson_stream_plays_a_running_clip_before_the_song_ends(
    server: Server, tmp_path: Path
) -> None:
    headers = {
        "Authorization": f"Bearer {new_key(server, '100')}",
        "Accept": "application/x-ndjson",
    }
    body = {
        "action": "generate",
        "custom": True,
        "lyric": LYRIC,
        "style": "pop, upbeat",
        "title": "Preview",
        "model": "chirp-v3-5",
    }
    lines: list[tuple[float, dict[str, Any]]] = []
    played: list[tuple[float, str, float]] = []  # (at, url, decoded seconds)
    started = time.monotonic()
    with (
        httpx.Client(base_url=server.base, timeout=httpx.Timeout(30, read=300)) as client,
        client.stream("POST", "/suno/audios", json=body, headers=headers) as stream,
    ):
        assert stream.status_code == 200, stream.read()
        assert stream.headers["content-type"].startswith("application/x-ndjson")
        for raw in stream.iter_lines():
            if not raw.strip():
                continue
            at = time.monotonic() - started
            line = json.loads(raw)
            lines.append((at, line))
            running = [
                c for c in line.get("data") or [] if c["state"] == "running" and c["audio_url"]
            ]
            if running and not played:
                # Fetched the moment the line arrives, while the song still renders.
                url = running[0]["audio_url"]
                audio = client.get(url)
                assert audio.status_code == 200, url
                assert audio.headers["content-type"] == "audio/mpeg"
                seconds = _decoded_seconds(audio.content, tmp_path / "preview.mp3")
                played.append((at, url, seconds))
                assert running[0]["duration"] == pytest.approx(seconds, abs=0.2)

    assert len(lines) >= 2, lines
    final_at, final = lines[-1]
    assert final["success"] is True and final["trace_id"], final
    assert [c["state"] for c in final["data"]] == ["succeeded", "succeeded"], final
    assert all("trace_id" not in line for _, line in lines[:-1])
    assert played, [line for _, line in lines]
    preview_at, preview_url, preview_s = played[0]
    assert preview_at < final_at
    assert preview_s >= 5.0, preview_s
    # The earlier line really was a running task, and the final song is longer.
    for clip in final["data"]:
        assert clip["audio_url"] and clip["audio_url"] != preview_url
        assert clip["duration"] > preview_s
    song = httpx.get(final["data"][0]["audio_url"], timeout=30)
    assert song.status_code == 200
    assert _decoded_seconds(song.content, tmp_path / "song.mp3") > preview_s
    print(
        f"preview line at {preview_at:.1f} s ({preview_s:.1f} s of audio), "
        f"final line at {final_at:.1f} s"
    )
