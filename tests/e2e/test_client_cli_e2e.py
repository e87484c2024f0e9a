"""``cadenza generate``, ``tasks`` and ``fetch`` run as commands against a real server,
with the key and server from the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_serving import Server, launch, new_key, stop

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = launch(tmp_path_factory.mktemp("client-cli"))
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, str]:
    key = new_key(server, "1000", "--rpm", "1000", "--concurrency", "8")
    return {**server.env, "CADENZA_SERVER": server.base, "CADENZA_API_KEY": key}


def cadenza(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cadenza.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_generate_downloads_song_midi_video_and_stems(env: dict[str, str], tmp_path: Path) -> None:
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text("[Verse]\nSun on the hill\n", encoding="utf-8")
    out = tmp_path / "out"
    done = cadenza(
        env,
        "generate",
        "--lyrics",
        str(lyrics),
        "--tags",
        "folk",
        "--title",
        "Hill",
        "--model",
        "chirp-v4",
        "--seed",
        "5",
        "--midi",
        "--video",
        "--stems",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "100%" in done.stdout and "SUCCESS" in done.stdout
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2
    for folder in folders:
        assert (folder / "song.mp3").stat().st_size > 10_000
        assert (folder / "song.mid").read_bytes().startswith(b"MThd")
        assert (folder / "video.mp4").read_bytes()[4:8] == b"ftyp"
        assert (folder / "cover.png").read_bytes().startswith(b"\x89PNG")
        assert "Sun on the hill" in (folder / "lyrics.txt").read_text(encoding="utf-8")
        stems = sorted(p.name for p in (folder / "stems").iterdir())
        assert stems == ["Instrumental.mp3", "Vocals.mp3"]
    task_id = done.stdout.split("task ", 1)[1].split()[0]

    listed = cadenza(env, "tasks", "--json", "--action", "MUSIC")
    assert listed.returncode == 0, listed.stderr
    assert task_id in [t["id"] for t in json.loads(listed.stdout)]
    shown = cadenza(env, "fetch", task_id, "--json")
    assert shown.returncode == 0, shown.stderr
    task = json.loads(shown.stdout)
    assert task["status"] == "SUCCESS"
    assert sorted(c["id"] for c in task["clips"]) == [p.name for p in folders]
    table = cadenza(env, "fetch", task_id)
    assert "Hill" in table.stdout and task_id in table.stdout


def test_generate_in_the_acedata_dialect_writes_midi_from_its_notes(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = cadenza(
        {**env, "CADENZA_DIALECT": "acedata"},
        "generate",
        "--prompt",
        "a short song about the sea",
        "--model",
        "chirp-v4",
        "--midi",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr + done.stdout
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 2
    for folder in folders:
        assert (folder / "song.mid").read_bytes().startswith(b"MThd")
        assert (folder / "song.mp3").exists()


def test_errors_are_the_servers_message(env: dict[str, str], tmp_path: Path) -> None:
    both = cadenza(env, "generate", "--prompt", "x", "--lyrics", __file__)
    assert both.returncode == 1 and "exactly one of --prompt and --lyrics" in both.stderr
    unknown = cadenza({**env, "CADENZA_API_KEY": "sk_nope"}, "tasks")
    assert unknown.returncode == 1 and "401 unauthorized" in unknown.stderr
    missing = cadenza(env, "fetch", "no-such-task")
    assert missing.returncode == 1 and "404 not_found" in missing.stderr
