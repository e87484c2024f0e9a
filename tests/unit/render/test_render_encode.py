"""Audio files: 16-bit song, float stems, MP3 at 192 kbps, identical bytes for identical audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from cadenza.compose.encode import EncodeError, encode_mp3, to_pcm16, write_mp3, write_wav

SR = 44100


def _audio(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.stack(
        [0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], 1
    ).astype(np.float32)


def test_pcm16_rounds_and_clips() -> None:
    pcm = to_pcm16(np.array([0.0, 0.5, -1.0, 1.5, -2.0], np.float32))
    assert pcm.tolist() == [0, 16384, -32768, 32767, -32768]


def test_wav_pcm16_and_float(tmp_path: Path) -> None:
    audio = _audio()
    write_wav(tmp_path / "song.wav", audio, SR)
    write_wav(tmp_path / "stems" / "Bass.wav", audio, SR, subtype="FLOAT")
    info = sf.info(str(tmp_path / "song.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (SR, 2, "PCM_16")
    back, rate = sf.read(str(tmp_path / "stems" / "Bass.wav"), dtype="float32")
    assert rate == SR and np.array_equal(back, audio)
    assert sf.info(str(tmp_path / "stems" / "Bass.wav")).subtype == "FLOAT"
    first = (tmp_path / "stems" / "Bass.wav").read_bytes()
    write_wav(tmp_path / "again.wav", audio, SR, subtype="FLOAT")
    assert (tmp_path / "again.wav").read_bytes() == first  # no timestamped PEAK chunk
    back16, _ = sf.read(str(tmp_path / "song.wav"), dtype="float32")
    assert np.max(np.abs(back16 - audio)) < 1 / 32768 + 1e-7


def test_mp3_bitrate_and_determinism(tmp_path: Path) -> None:
    audio = _audio(3.0)
    path = write_mp3(tmp_path / "song.mp3", audio, SR)
    data = path.read_bytes()
    assert data == encode_mp3(audio, SR)
    seconds = len(audio) / SR
    assert len(data) * 8 / seconds / 1000 >= 190  # constant 192 kbps (plus a partial frame)
    header = data[:4]
    assert header[0] == 0xFF and header[1] & 0xE0 == 0xE0  # an MPEG frame sync, no ID3 tag
    assert (header[2] >> 4) == 0b1011  # MPEG-1 Layer III bitrate index 11 = 192 kbps
    decoded, rate = sf.read(str(path), dtype="float32")
    assert rate == SR and decoded.shape[1] == 2


def test_mp3_rejects_many_channels() -> None:
    with pytest.raises(EncodeError):
        encode_mp3(np.zeros((100, 3), np.float32), SR)


def test_pcm16_input_gives_the_same_files(tmp_path: Path) -> None:
    audio = _audio()
    pcm = to_pcm16(audio)
    assert np.array_equal(to_pcm16(pcm), pcm)
    assert encode_mp3(pcm, SR) == encode_mp3(audio, SR)
    write_wav(tmp_path / "a.wav", audio, SR)
    write_wav(tmp_path / "b.wav", pcm, SR)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


@pytest.mark.parametrize("channels", [1, 2])
def test_pcm16_wav_has_the_bytes_libsndfile_writes(tmp_path: Path, channels: int) -> None:
    audio = _audio()[:, :channels]
    data = audio[:, 0] if channels == 1 else audio
    write_wav(tmp_path / "ours.wav", data, SR)
    sf.write(str(tmp_path / "theirs.wav"), to_pcm16(data), SR, subtype="PCM_16", format="WAV")
    assert (tmp_path / "ours.wav").read_bytes() == (tmp_path / "theirs.wav").read_bytes()


def test_long_wavs_are_written_in_pieces_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cadenza.compose.encode as encode

    audio = _audio(1.0)
    write_wav(tmp_path / "whole.wav", audio, SR, subtype="FLOAT")
    write_wav(tmp_path / "whole16.wav", audio, SR)
    monkeypatch.setattr(encode, "WRITE_CHUNK_BYTES", 1000)  # not a multiple of a frame
    write_wav(tmp_path / "pieces.wav", audio, SR, subtype="FLOAT")
    write_wav(tmp_path / "pieces16.wav", audio, SR)
    assert (tmp_path / "pieces.wav").read_bytes() == (tmp_path / "whole.wav").read_bytes()
    assert (tmp_path / "pieces16.wav").read_bytes() == (tmp_path / "whole16.wav").read_bytes()
    back, _ = sf.read(str(tmp_path / "pieces.wav"), dtype="float32")
    assert np.array_equal(back, audio)
