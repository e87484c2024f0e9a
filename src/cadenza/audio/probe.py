"""Safe probing and decoding of untrusted media.

Every upload is hostile until proven otherwise: its type is sniffed from its bytes (never
from its name), its size and declared duration are checked before anything decodes it,
and ffmpeg only ever reads the one local file, in a forced format, with the protocol
whitelist pinned, a bounded probe size, a duration cap and a wall-clock timeout. Playlists
(HLS, ffconcat) are refused by the sniffing step, so they cannot make ffmpeg read other
files.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

#: Our format name -> (ffmpeg demuxer, file extension).
FORMATS: dict[str, str] = {
    "mp3": "mp3",
    "wav": "wav",
    "flac": "flac",
    "ogg": "ogg",
    "m4a": "mov",
}

PROBE_TIMEOUT_S = 10.0
DECODE_TIMEOUT_S = 60.0


class MediaRejected(Exception):
    """The file is not acceptable media; ``message`` is safe to show to the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MediaInfo:
    format: str
    duration_s: float
    sample_rate: int
    channels: int
    size_bytes: int


def sniff(head: bytes) -> str | None:
    """The format from the first bytes of a file, or None when it is none we accept."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp" and head[8:11] in (b"M4A", b"mp4", b"iso", b"M4B", b"dash"):
        return "m4a"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"
    return None


def _ffprobe() -> str:
    found = shutil.which("ffprobe")
    if found is None:
        raise RuntimeError("ffprobe is not installed")
    return found


def _ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise RuntimeError("ffmpeg is not installed")
    return found


def _declared_wav_data_bytes(path: Path) -> int:
    """The ``data`` chunk size the RIFF header declares (libsndfile clamps it silently)."""
    with path.open("rb") as handle:
        handle.seek(12)
        for _ in range(64):
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                return int(chunk_size)
            handle.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)
    raise MediaRejected("the WAV file has no data chunk")


def _check_wav_header(path: Path, size: int, max_duration_s: float) -> None:
    """A WAV header can claim gigabytes in a tiny file: compare it with the real size."""
    if _declared_wav_data_bytes(path) > size:
        raise MediaRejected("the WAV header claims more audio than the file holds")
    try:
        info = soundfile.info(str(path))
    except RuntimeError as exc:
        raise MediaRejected("the WAV file is malformed") from exc
    if info.samplerate <= 0 or not 0 < info.channels <= 8:
        raise MediaRejected("the WAV file has an impossible format")
    if info.frames / info.samplerate > max_duration_s:
        raise MediaRejected(f"audio is longer than {max_duration_s:.0f} seconds")


def probe(
    path: Path,
    *,
    max_bytes: int,
    max_duration_s: float,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> MediaInfo:
    """Check a local file before any decoding; raise ``MediaRejected`` with the reason."""
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("the file is empty")
    if size > max_bytes:
        raise MediaRejected(f"the file is larger than {max_bytes // (1024 * 1024)} MB")
    with path.open("rb") as handle:
        head = handle.read(64)
    fmt = sniff(head)
    if fmt is None:
        raise MediaRejected("unsupported file type; send mp3, wav, flac, ogg or m4a")
    if fmt == "wav":
        _check_wav_header(path, size, max_duration_s)
    cmd = [
        _ffprobe(),
        "-v", "error",
        "-protocol_whitelist", "file",
        "-probesize", "5000000",
        "-analyzeduration", "10000000",
        "-f", FORMATS[fmt],
        "-show_entries", "format=duration,format_name:stream=codec_type,sample_rate,channels",
        "-of", "json",
        "file:" + str(path),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise MediaRejected("the file took too long to inspect") from exc
    if done.returncode != 0:
        raise MediaRejected(f"the file is not valid {fmt} audio")
    try:
        data = json.loads(done.stdout)
        audio = [s for s in data.get("streams", []) if s.get("codec_type") == "audio"]
        duration = float(data["format"]["duration"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MediaRejected("the audio's duration cannot be read") from exc
    if not audio:
        raise MediaRejected("the file has no audio stream")
    if not duration > 0:
        raise MediaRejected("the audio has no length")
    if duration > max_duration_s:
        raise MediaRejected(f"audio is longer than {max_duration_s:.0f} seconds")
    return MediaInfo(
        format=fmt,
        duration_s=duration,
        sample_rate=int(audio[0].get("sample_rate") or 0),
        channels=int(audio[0].get("channels") or 0),
        size_bytes=size,
    )


def decode(
    path: Path,
    info: MediaInfo,
    *,
    sample_rate: int = 44100,
    channels: int = 2,
    max_duration_s: float,
    timeout_s: float = DECODE_TIMEOUT_S,
) -> npt.NDArray[np.float32]:
    """Decode a probed file to float32 ``(frames, channels)``, never past the caps."""
    cap_frames = int(max_duration_s * sample_rate) + sample_rate
    cmd = [
        _ffmpeg(),
        "-nostdin", "-v", "error",
        "-protocol_whitelist", "file,pipe",
        "-probesize", "5000000",
        "-f", FORMATS[info.format],
        "-i", "file:" + str(path),
        "-t", f"{max_duration_s:.3f}",
        "-vn", "-sn", "-dn",
        "-ac", str(channels),
        "-ar", str(sample_rate),
        "-f", "f32le",
        "pipe:1",
    ]  # fmt: skip
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={"PATH": os.defpath}
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            raise MediaRejected("the file took too long to decode") from exc
    if proc.returncode != 0:
        raise MediaRejected(f"the file is not valid {info.format} audio")
    frames = len(out) // (4 * channels)
    if frames == 0:
        raise MediaRejected("the file decodes to no audio")
    pcm = np.frombuffer(out[: frames * 4 * channels], dtype="<f4").reshape(frames, channels)
    return np.ascontiguousarray(pcm[:cap_frames], dtype=np.float32)
