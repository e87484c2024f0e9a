"""Writing audio files: WAV through soundfile, MP3 through LAME (lameenc).

Audio layout is ``(samples, channels)`` float32. Conversion to 16-bit rounds without dither
so the same samples always give the same bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import lameenc
import numpy as np
import numpy.typing as npt
import soundfile as sf

AudioArray = npt.NDArray[np.float32]

MP3_BITRATE_KBPS = 192
#: LAME's algorithm quality (2 best .. 7 fast); 7 halves the time of 5 at the same bitrate.
MP3_QUALITY = 7


class EncodeError(RuntimeError):
    """An audio file could not be written."""


def to_pcm16(audio: AudioArray | npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Round to 16-bit PCM with clipping (the master keeps peaks below full scale); 16-bit
    input is returned as it is, so one conversion can serve the WAV and the MP3.

    Converted in chunks so a long song needs no float temporaries of its full length.
    """
    if audio.dtype == np.int16:
        return np.asarray(audio, dtype=np.int16)
    samples = np.asarray(audio, dtype=np.float32)
    out = np.empty(audio.shape, dtype=np.int16)
    step = 1 << 16
    for start in range(0, audio.shape[0], step):
        chunk = np.clip(samples[start : start + step], -1.0, 32767.0 / 32768.0) * np.float32(32768)
        out[start : start + step] = np.rint(chunk)
    return out


def _write_float_wav(path: Path, audio: AudioArray, sample_rate: int) -> None:
    """A 32-bit float WAV (format 3, with the ``fact`` chunk non-PCM files need).

    Written by hand because libsndfile adds a PEAK chunk with a timestamp to float files,
    which would make identical audio give different bytes.
    """
    frames = np.ascontiguousarray(audio if audio.ndim == 2 else audio[:, None], dtype="<f4")
    fact = b"fact" + struct.pack("<II", 4, frames.shape[0])
    _write_riff_wav(path, frames, sample_rate, format_tag=3, extra=fact)


def _write_pcm16_wav(path: Path, pcm: npt.NDArray[np.int16], sample_rate: int) -> None:
    """A 16-bit PCM WAV with the canonical 44-byte header (the bytes libsndfile writes)."""
    frames = np.ascontiguousarray(pcm if pcm.ndim == 2 else pcm[:, None], dtype="<i2")
    _write_riff_wav(path, frames, sample_rate, format_tag=1, extra=b"")


def _write_riff_wav(
    path: Path,
    frames: npt.NDArray[np.generic],
    sample_rate: int,
    *,
    format_tag: int,
    extra: bytes,
) -> None:
    """RIFF/WAVE with a ``fmt `` chunk, the ``extra`` chunks, then ``frames`` as data."""
    channels = frames.shape[1]
    width = frames.dtype.itemsize
    size = frames.nbytes
    fmt = struct.pack(
        "<HHIIHH",
        format_tag,
        channels,
        sample_rate,
        sample_rate * channels * width,
        channels * width,
        8 * width,
    )
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    chunks += b"data" + struct.pack("<I", size)
    with path.open("wb", buffering=0) as handle:
        handle.write(b"RIFF" + struct.pack("<I", 4 + len(chunks) + size) + b"WAVE" + chunks)
        _write_frames(handle, frames)


#: Bytes per ``write`` call of a long WAV. Measured on the stems of a 3-minute song
#: (7 x 60 MB): written whole, each in one call, they cost the kernel 0.5-0.6 s of CPU;
#: in 256 KB calls, 0.13-0.15 s.
WRITE_CHUNK_BYTES = 1 << 18


def _write_frames(handle: BinaryIO, frames: npt.NDArray[np.generic]) -> None:
    """Write a C-contiguous array's bytes in ``WRITE_CHUNK_BYTES`` pieces (no copies)."""
    data = frames.reshape(-1).view(np.uint8).data
    for start in range(0, len(data), WRITE_CHUNK_BYTES):
        piece = data[start : start + WRITE_CHUNK_BYTES]
        while piece:  # a short write leaves the rest to write
            written = handle.write(piece)
            if not written:
                raise OSError("the file took no more bytes")
            piece = piece[written:]


def write_wav(
    path: Path,
    audio: AudioArray | npt.NDArray[np.int16],
    sample_rate: int,
    *,
    subtype: str = "PCM_16",
) -> Path:
    """Write a WAV file; ``subtype`` ``FLOAT`` keeps stems exact, ``PCM_16`` suits players
    (``audio`` may already be 16-bit PCM for it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if subtype == "FLOAT":
            _write_float_wav(path, np.asarray(audio, dtype=np.float32), sample_rate)
        elif subtype == "PCM_16":
            _write_pcm16_wav(path, to_pcm16(audio), sample_rate)
        else:
            sf.write(str(path), audio, sample_rate, subtype=subtype, format="WAV")
    except (sf.LibsndfileError, OSError, RuntimeError, TypeError, ValueError) as exc:
        raise EncodeError(f"could not write {path.name}: {exc}") from exc
    return path


def encode_mp3(
    audio: AudioArray | npt.NDArray[np.int16],
    sample_rate: int,
    *,
    bitrate_kbps: int = MP3_BITRATE_KBPS,
    quality: int = MP3_QUALITY,
) -> bytes:
    """Constant-bitrate MP3 bytes of ``(n, channels)`` audio (mono or stereo; float or
    16-bit PCM). LAME releases the GIL, so this can run beside other work in a thread."""
    if audio.ndim == 1:
        audio = audio[:, None]
    channels = audio.shape[1]
    if channels not in (1, 2):
        raise EncodeError("MP3 needs mono or stereo audio")
    encoder = lameenc.Encoder()
    try:
        encoder.set_bit_rate(bitrate_kbps)
        encoder.set_in_sample_rate(sample_rate)
        encoder.set_channels(channels)
        encoder.set_quality(quality)
        pcm = to_pcm16(audio)
        step = 1 << 18
        data = bytearray()
        for start in range(0, pcm.shape[0], step):
            data += encoder.encode(pcm[start : start + step].tobytes())
        data += encoder.flush()
    except (RuntimeError, ValueError) as exc:
        raise EncodeError(f"MP3 encoding failed: {exc}") from exc
    return bytes(data)


def write_mp3(
    path: Path, audio: AudioArray, sample_rate: int, *, bitrate_kbps: int = MP3_BITRATE_KBPS
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_mp3(audio, sample_rate, bitrate_kbps=bitrate_kbps))
    return path
