"""Hostile and honest media through the probe and decoder."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cadenza.audio.probe import MediaRejected, decode, probe

SR = 44100
MB = 1024 * 1024


def make_audio(path: Path, seconds: float, codec_args: list[str]) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}:sample_rate={SR}", "-ac", "2",
         *codec_args, str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize(
    ("name", "args", "fmt"),
    [
        ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"], "mp3"),
        ("a.wav", [], "wav"),
        ("a.flac", [], "flac"),
        ("a.ogg", ["-c:a", "libvorbis"], "ogg"),
        ("a.m4a", ["-c:a", "aac"], "m4a"),
    ],
)
def test_accepted_formats_round_trip(tmp_path: Path, name: str, args: list[str], fmt: str) -> None:
    path = make_audio(tmp_path / name, 2.0, args)
    info = probe(path, max_bytes=10 * MB, max_duration_s=480)
    assert info.format == fmt
    assert abs(info.duration_s - 2.0) < 0.1
    pcm = decode(path, info, max_duration_s=480)
    assert pcm.shape[1] == 2
    assert abs(len(pcm) / SR - 2.0) < 0.1
    assert 0.05 < np.max(np.abs(pcm)) <= 1.0


def test_type_comes_from_bytes_not_name(tmp_path: Path) -> None:
    wav = make_audio(tmp_path / "a.wav", 1.0, [])
    disguised = tmp_path / "song.mp3"
    disguised.write_bytes(wav.read_bytes())
    assert probe(disguised, max_bytes=10 * MB, max_duration_s=60).format == "wav"


def test_over_long_audio_is_refused(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "long.flac", 5.0, [])
    with pytest.raises(MediaRejected, match="longer"):
        probe(path, max_bytes=10 * MB, max_duration_s=3)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    path = make_audio(tmp_path / "a.wav", 2.0, [])
    with pytest.raises(MediaRejected, match="larger"):
        probe(path, max_bytes=1000, max_duration_s=60)


def test_wav_header_claiming_gigabytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.wav"
    data_size = 0xFFFF0000
    header = b"RIFF" + struct.pack("<I", data_size + 36) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, SR, SR * 4, 4, 16)
    header += b"data" + struct.pack("<I", data_size)
    path.write_bytes(header + b"\x00" * 4000)
    with pytest.raises(MediaRejected):
        probe(path, max_bytes=10 * MB, max_duration_s=480)


@pytest.mark.parametrize(
    "content",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile '/etc/passwd'\n",
        b"hello, this is not audio at all",
        b"<html><body>hi</body></html>",
    ],
)
def test_playlists_and_text_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "evil.mp3"
    path.write_bytes(content)
    with pytest.raises(MediaRejected, match="unsupported"):
        probe(path, max_bytes=10 * MB, max_duration_s=480)


def test_truncated_garbage_after_valid_magic_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fake.flac"
    path.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    with pytest.raises(MediaRejected):
        info = probe(path, max_bytes=10 * MB, max_duration_s=480)
        decode(path, info, max_duration_s=480)


def test_decode_never_exceeds_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    soundfile.write(path, np.zeros((SR * 4, 2), np.float32), SR)
    info = probe(path, max_bytes=10 * MB, max_duration_s=60)
    pcm = decode(path, info, max_duration_s=1.5)
    assert len(pcm) <= round(1.5 * SR) + 1
