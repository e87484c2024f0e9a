"""WORLD vocoder analysis and synthesis, with the few spectral edits singing needs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyworld

FRAME_MS = 5.0
_F0_FLOOR = 60.0
_F0_CEIL = 500.0
# With eSpeak's pitch held near 140 Hz, an envelope floor of 130 Hz gives 512-point FFTs at
# 22.05 kHz: half the cost of WORLD's default 1024 in both analysis and synthesis.
ENVELOPE_F0_FLOOR = 130.0
_SILENCE_POWER = 1e-14
#: FFT size of the synthesis. WORLD's synthesis pays a few FFTs per glottal pulse, so its
#: cost follows the FFT size; the envelope is smooth over ~130 Hz, so its 512-point
#: analysis loses nothing audible when every other bin is kept (86 Hz spacing at
#: 22.05 kHz), and the 11.6 ms responses still outlast the formants' ringing.
SYNTH_FFT = 256

Array = npt.NDArray[np.float64]

# WORLD's synthesis draws noise from one C-level generator that it reseeds per call;
# serialising calls keeps the output identical whatever the threads do.
_SYNTH_LOCK = threading.Lock()


@dataclass(frozen=True)
class Analysis:
    """WORLD parameters of one utterance at ``FRAME_MS`` frames."""

    f0: Array
    sp: Array
    ap: Array
    sample_rate: int

    @property
    def frames(self) -> int:
        return int(self.f0.shape[0])


def analyse(samples: Array, sample_rate: int) -> Analysis:
    """dio + stonemask pitch, cheaptrick envelope, d4c aperiodicity.

    dio is much faster than harvest and tracks eSpeak's clean, monotone speech well.
    Aperiodicity changes slowly, so d4c runs on every other frame (it is the costly step).
    """
    x = np.ascontiguousarray(samples, dtype=np.float64)
    if x.shape[0] < sample_rate // 20:
        x = np.concatenate([x, np.zeros(sample_rate // 20 - x.shape[0])])
    f0, t = pyworld.dio(x, sample_rate, f0_floor=_F0_FLOOR, f0_ceil=_F0_CEIL, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, sample_rate)
    sp = np.asarray(pyworld.cheaptrick(x, f0, t, sample_rate, f0_floor=ENVELOPE_F0_FLOOR))
    fft_size = 2 * (sp.shape[1] - 1)
    coarse = np.asarray(
        pyworld.d4c(
            x,
            np.ascontiguousarray(f0[::2]),
            np.ascontiguousarray(t[::2]),
            sample_rate,
            fft_size=fft_size,
        )
    )
    ap = np.empty_like(sp)
    ap[0::2] = coarse
    odd = coarse[: ap[1::2].shape[0]]
    following = coarse[1 : ap[1::2].shape[0] + 1]
    if following.shape[0] < odd.shape[0]:
        following = np.concatenate([following, odd[following.shape[0] :]])
    ap[1::2] = 0.5 * (odd + following)
    return Analysis(np.asarray(f0), sp, ap, sample_rate)


def warp_formants(sp: Array, factor: float) -> Array:
    """Scale the envelope's frequency axis: factor > 1 moves formants up (a smaller vocal tract)."""
    if abs(factor - 1.0) < 1e-6:
        return sp
    bins = sp.shape[1]
    source = np.arange(bins, dtype=np.float64) / factor
    lo = np.clip(np.floor(source).astype(np.int64), 0, bins - 1)
    hi = np.clip(lo + 1, 0, bins - 1)
    frac = source - lo
    warped: Array = sp[:, lo] * (1.0 - frac) + sp[:, hi] * frac
    return warped


def synthesis_bins(values: Array, fft_size: int = SYNTH_FFT) -> Array:
    """Envelope or aperiodicity reduced to ``fft_size // 2 + 1`` bins (exact decimation when
    the analysis FFT is a multiple of ``fft_size``, linear interpolation otherwise)."""
    bins = values.shape[1]
    target = fft_size // 2 + 1
    if bins <= target:
        return values
    step = (bins - 1) / (target - 1)
    if step.is_integer():
        return np.ascontiguousarray(values[:, :: int(step)])
    at = np.linspace(0.0, bins - 1.0, target)
    lo = np.minimum(np.floor(at).astype(np.int64), bins - 2)
    frac = at - lo
    reduced: Array = values[:, lo] * (1.0 - frac) + values[:, lo + 1] * frac
    return reduced


def silence_power() -> float:
    """Envelope power used for frames where nothing is sung."""
    return _SILENCE_POWER


def synthesize(f0: Array, sp: Array, ap: Array, sample_rate: int) -> Array:
    """WORLD synthesis at ``FRAME_MS`` frames."""
    with _SYNTH_LOCK:
        y = pyworld.synthesize(
            np.ascontiguousarray(f0),
            np.ascontiguousarray(sp),
            np.ascontiguousarray(ap),
            sample_rate,
            FRAME_MS,
        )
    return np.asarray(y, dtype=np.float64)
