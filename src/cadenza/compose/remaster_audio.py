"""Remastering a clip from its audio alone: for uploads, which have no score to perform
again (transcribing one would change the music, not master it).

The chain is a mastering engineer's usual one: a tilt EQ (rumble out, a little weight and
air in, a touch of mud out), a gentle three-band compressor, bus "glue" compression, a
wider stereo image above the bass, then ``master.master_stems`` for -14 LUFS with true
peaks at or below -1 dBTP. The variation sets how far each stage goes.

Audio layout is ``(samples, channels)`` float32.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy.signal import butter, sosfilt

from cadenza.compose.master import CEILING_DBTP, TARGET_LUFS, MasterReport, master_stems
from cadenza.domain.errors import EngineError
from cadenza.services.ports import MediaStorage, ProgressCallback

AudioArray = npt.NDArray[np.float32]

#: The task parameter that asks for an audio remaster instead of a score re-render.
AUDIO_REMASTER_PARAM = "audio_remaster"
#: How strongly each stage acts, per variation.
STRENGTH = {"subtle": 0.35, "normal": 0.65, "high": 1.0}
#: Crossovers of the multiband compressor (Hz).
LOW_MID_HZ = 200.0
MID_HIGH_HZ = 3000.0
#: Below this the stereo image is left alone, so the bass stays centred (Hz).
WIDTH_FROM_HZ = 150.0
COPIED_FILES = ("cover.png", "cover_large.png", "lyrics.json")


def _lr4(audio: AudioArray, rate: int, cutoff: float, kind: str) -> AudioArray:
    """A 4th-order Linkwitz-Riley half: low and high halves sum to an all-pass.

    Filtered in float32 (float64 coefficients would make scipy work on float64 copies, which
    doubles the memory of an 8-minute upload's remaster for no audible gain)."""
    sos = butter(2, cutoff, btype=kind, fs=rate, output="sos").astype(np.float32)
    once = sosfilt(sos, audio, axis=0)
    return np.asarray(sosfilt(sos, once, axis=0), dtype=np.float32)


def _rms_db(audio: AudioArray) -> float:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return 20.0 * math.log10(rms) if rms > 1e-9 else -120.0


def _compress(
    audio: AudioArray, rate: int, *, above_rms_db: float, ratio: float, attack_ms: float
) -> AudioArray:
    """Compression whose threshold follows the material's level, so it is always gentle."""
    from pedalboard import Compressor

    threshold = min(0.0, _rms_db(audio) + above_rms_db)
    compressor = Compressor(
        threshold_db=threshold, ratio=ratio, attack_ms=attack_ms, release_ms=180.0
    )
    out = compressor(np.ascontiguousarray(audio.T), rate)
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


def _tilt(audio: AudioArray, rate: int, strength: float) -> AudioArray:
    from pedalboard import HighpassFilter, HighShelfFilter, LowShelfFilter, PeakFilter
    from pedalboard._pedalboard import Pedalboard

    board = Pedalboard(
        [
            HighpassFilter(cutoff_frequency_hz=25.0),
            LowShelfFilter(cutoff_frequency_hz=90.0, gain_db=1.5 * strength, q=0.7),
            PeakFilter(cutoff_frequency_hz=300.0, gain_db=-1.0 * strength, q=1.0),
            HighShelfFilter(cutoff_frequency_hz=7000.0, gain_db=2.5 * strength, q=0.7),
        ]
    )
    out = board(np.ascontiguousarray(audio.T), rate)
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)


def _multiband(audio: AudioArray, rate: int, strength: float) -> AudioArray:
    ratio = 1.0 + 1.2 * strength
    above = 8.0 - 4.0 * strength
    # Bands are made, compressed and added one at a time, so few song-length arrays live.
    rest = _lr4(audio, rate, LOW_MID_HZ, "highpass")
    out = _compress(
        _lr4(rest, rate, MID_HIGH_HZ, "lowpass"), rate, above_rms_db=above, ratio=ratio,
        attack_ms=15.0,
    )  # fmt: skip
    out += _compress(
        _lr4(rest, rate, MID_HIGH_HZ, "highpass"), rate, above_rms_db=above, ratio=ratio,
        attack_ms=5.0,
    )  # fmt: skip
    del rest
    low = _lr4(audio, rate, LOW_MID_HZ, "lowpass")
    # The low band gets the upper crossover's all-pass too, so the bands sum back flat.
    low = _lr4(low, rate, MID_HIGH_HZ, "lowpass") + _lr4(low, rate, MID_HIGH_HZ, "highpass")
    out += _compress(low, rate, above_rms_db=above, ratio=ratio, attack_ms=30.0)
    return out


def _widen(audio: AudioArray, rate: int, strength: float) -> AudioArray:
    if audio.shape[1] != 2:
        return audio
    mid = (audio[:, 0] + audio[:, 1]) * 0.5
    side = (audio[:, 0] - audio[:, 1]) * 0.5
    sos = butter(2, WIDTH_FROM_HZ, btype="highpass", fs=rate, output="sos")
    side = side + 0.3 * strength * np.asarray(sosfilt(sos, side), dtype=np.float32)
    return np.stack([mid + side, mid - side], axis=1).astype(np.float32)


def remaster_audio(
    audio: AudioArray, rate: int, variation: str = "normal"
) -> tuple[AudioArray, MasterReport]:
    """The remastered audio (stereo in, stereo out; mono comes out as two equal channels)."""
    if variation not in STRENGTH:
        raise ValueError(f"variation must be one of {', '.join(STRENGTH)}")
    strength = STRENGTH[variation]
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    data = _tilt(data, rate, strength)
    data = _multiband(data, rate, strength)
    data = _compress(
        data, rate, above_rms_db=6.0 - 2.0 * strength, ratio=1.3 + 0.5 * strength, attack_ms=30.0
    )
    data = _widen(data, rate, strength)
    return master_stems({"mix": data}, rate, TARGET_LUFS, CEILING_DBTP)


def run_audio_remaster(
    params: dict[str, Any],
    workdir: Path,
    progress: ProgressCallback,
    *,
    storage: MediaStorage | None,
) -> list[dict[str, Any]]:
    """An UPSAMPLE task for a clip without a performable score: one remastered clip."""
    from cadenza.compose.encode import write_mp3, write_wav

    if storage is None:
        raise EngineError("the engine has no media storage to read the source clip from")
    clip_ids = [str(c) for c in params.get("clip_ids") or []]
    sources: dict[str, str] = dict(params.get("files") or {})
    variation = str(params.get("variation_category") or "normal").lower()
    if not clip_ids:
        raise EngineError("no clip to fill")
    if variation not in STRENGTH:
        raise EngineError(f"variation_category must be one of {', '.join(STRENGTH)}")
    if not sources.get("song.wav"):
        raise EngineError("the source clip has no WAV file")
    src = workdir / "src"
    src.mkdir(parents=True, exist_ok=True)
    progress(0.05, "fetching")
    try:
        data, rate = sf.read(
            str(storage.fetch_to(sources["song.wav"], src / "song.wav")),
            dtype="float32",
            always_2d=True,
        )
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise EngineError("cannot read the source clip's audio") from exc
    progress(0.2, "mastering")
    mastered, report = remaster_audio(data, int(rate), variation)
    progress(0.7, "encoding")
    out = workdir / clip_ids[0]
    files: dict[str, str] = {
        "song.wav": str(write_wav(out / "song.wav", mastered, int(rate))),
        "song.mp3": str(write_mp3(out / "song.mp3", mastered, int(rate))),
    }
    for name in COPIED_FILES:
        if sources.get(name):
            target = out / name
            shutil.copyfile(storage.fetch_to(sources[name], src / name), target)
            files[name] = str(target)
    meta: dict[str, Any] = {
        "duration": len(mastered) / rate,
        "source_clip_id": params.get("source_clip_id"),
        "upsample_clip_id": params.get("source_clip_id"),
        "variation_category": variation,
        "remaster": "audio",
        "loudness_lufs": round(report.output_lufs, 2),
        "true_peak_dbtp": round(report.true_peak_dbtp, 2),
    }
    title = params.get("title")
    if isinstance(title, str) and title:
        meta["title"] = title
    return [{"id": clip_ids[0], "files": files, "meta": meta}]
