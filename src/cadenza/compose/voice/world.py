"""WORLD vocoder analysis and synthesis, with the few spectral edits singing needs."""

from __future__ import annotations

import math
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
#: cost follows the FFT size. 256 points (11.6 ms at 22.05 kHz) cut the ringing of a
#: light voice's formants short and cost Flite's slt voice most of its words (line WER
#: 0.17 spoken, 0.53 resynthesised at 256, 0.30 at 512); 512 matches the analysis.
SYNTH_FFT = 512

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


#: Analysis frames per step, outside and inside steady spans (vowels); the frames between
#: are interpolated. d4c is the costly step: aperiodicity changes slowly (its window spans
#: several pitch periods), and the singer clamps a held vowel's aperiodicity into a narrow
#: band anyway (the clamped values moved by < 0.005). A steady vowel's envelope is sampled
#: every 15 ms, well inside cheaptrick's three-period (~21 ms) window; consonants keep
#: 5 ms. Resynthesised words measured within 0.35 dB log-spectral distance of the dense
#: analysis, at about half its cost.
_AP_STEP = 4
_AP_STEADY_STEP = 16
_SP_STEP = 1
_SP_STEADY_STEP = 3
#: dio on the signal decimated by 2 (11 kHz still covers a 500 Hz ceiling); stonemask then
#: refines on the full-rate signal: same voicing on 99.7 % of frames, half dio's cost.
_DIO_SPEED = 2


def _frames(
    frames: int, steady: list[tuple[int, int]], step: int, steady_step: int
) -> npt.NDArray[np.int64]:
    """Frame indices to analyse: every ``step``-th frame, every ``steady_step``-th inside
    steady spans, and the first and last frame of every run of either kind."""
    steps = np.full(frames, step, dtype=np.int64)
    for first, last in steady:
        steps[max(first, 0) : max(min(last + 1, frames), 0)] = steady_step
    starts = np.concatenate([[0], np.flatnonzero(np.diff(steps)) + 1])
    ends = np.concatenate([starts[1:], [frames]])
    runs = [np.arange(a, b, steps[a]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    chosen = np.union1d(np.concatenate(runs), ends - 1)
    return chosen.astype(np.int64)


def _interpolate_frames(frames: int, at: npt.NDArray[np.int64], values: Array) -> Array:
    """Rows ``values`` known at frames ``at`` (increasing), linearly filled in between."""
    if at.shape[0] == frames:
        return values
    if at.shape[0] == 1:
        return np.repeat(values[:1], frames, axis=0)
    pos = np.arange(frames, dtype=np.float64)
    k = np.clip(np.searchsorted(at, pos, side="right") - 1, 0, at.shape[0] - 2)
    weight = ((pos - at[k]) / (at[k + 1] - at[k]))[:, None]
    filled: Array = values[k] * (1.0 - weight) + values[k + 1] * weight
    return filled


def _interpolate_envelope(frames: int, at: npt.NDArray[np.int64], sp: Array) -> Array:
    """Envelope rows filled in as log power (a formant glides instead of cross-fading); the
    analysed rows are kept as they are."""
    if at.shape[0] == frames:
        return sp
    full = np.exp(_interpolate_frames(frames, at, np.log(sp)))
    full[at] = sp
    return full


def analyse(
    samples: Array,
    sample_rate: int,
    steady: list[tuple[int, int]] | None = None,
    envelope_floor: float = ENVELOPE_F0_FLOOR,
) -> Analysis:
    """dio + stonemask pitch, cheaptrick envelope, d4c aperiodicity (at ``SYNTH_FFT`` bins).

    dio is much faster than harvest and tracks eSpeak's clean, monotone speech well.
    ``steady`` lists sample spans (start, end) that may be analysed sparsely (vowels).
    ``envelope_floor`` must lie under the speech's pitch: cheaptrick reads frames pitched
    below it with a window for 500 Hz (a smeared envelope), and a lower floor costs a
    longer FFT.
    """
    x = np.ascontiguousarray(samples, dtype=np.float64)
    if x.shape[0] < sample_rate // 20:
        x = np.concatenate([x, np.zeros(sample_rate // 20 - x.shape[0])])
    f0, t = pyworld.dio(
        x,
        sample_rate,
        f0_floor=_F0_FLOOR,
        f0_ceil=_F0_CEIL,
        frame_period=FRAME_MS,
        speed=_DIO_SPEED,
    )
    frames = f0.shape[0]
    per_frame = sample_rate * FRAME_MS / 1000.0
    spans = [
        (math.ceil(start / per_frame), math.floor(end / per_frame)) for start, end in steady or []
    ]
    at_sp = _frames(frames, spans, _SP_STEP, _SP_STEADY_STEP)
    at_ap = _frames(frames, spans, _AP_STEP, _AP_STEADY_STEP)
    # The refined pitch matters only where the envelope or aperiodicity is analysed; dio's
    # own estimate is kept elsewhere (it only decides voicing there).
    refined = np.union1d(at_sp, at_ap)
    f0 = np.array(f0, dtype=np.float64)
    f0[refined] = pyworld.stonemask(
        x, np.ascontiguousarray(f0[refined]), np.ascontiguousarray(t[refined]), sample_rate
    )
    sp = pyworld.cheaptrick(
        x,
        np.ascontiguousarray(f0[at_sp]),
        np.ascontiguousarray(t[at_sp]),
        sample_rate,
        f0_floor=envelope_floor,
    )
    sp = _interpolate_envelope(frames, at_sp, np.asarray(sp))
    # d4c interpolates its few bands onto the bins asked for: ask for the synthesis bins
    coarse = pyworld.d4c(
        x,
        np.ascontiguousarray(f0[at_ap]),
        np.ascontiguousarray(t[at_ap]),
        sample_rate,
        fft_size=SYNTH_FFT,
    )
    ap = _interpolate_frames(frames, at_ap, np.asarray(coarse))
    return Analysis(f0, sp, ap, sample_rate)


#: Where a band-limited source's envelope stops being trusted, as a share of its top
#: frequency (the resampler and cheaptrick's smoothing roll the last ~8 % off), the span
#: below that sets the level carried up, and the slope it falls at above: about how a
#: voice's breath and sibilance fall off between 7 and 11 kHz.
BAND_EDGE_SHARE = 0.88
BAND_REFERENCE_OCTAVES = 0.25
BAND_SLOPE_DB_PER_OCTAVE = -12.0


def extend_band(sp: Array, band_hz: float, sample_rate: int) -> Array:
    """The envelope with the octave band its source never had filled in.

    A 16 kHz voice resampled to 22.05 kHz is silent from 8 kHz up: sung, it sounds dull
    and boxed in next to instruments that reach 20 kHz. Each frame's level just under the
    band edge is carried up, falling ``BAND_SLOPE_DB_PER_OCTAVE``, so a sibilant keeps
    its hiss and a vowel gets a little air; the aperiodicity there is already mostly
    noise. A source that spoke the whole band is returned as it is.
    """
    nyquist = sample_rate / 2.0
    if band_hz >= nyquist:
        return sp
    edge = BAND_EDGE_SHARE * band_hz
    hz = np.linspace(0.0, nyquist, sp.shape[1])
    reference = (hz >= edge * 2.0**-BAND_REFERENCE_OCTAVES) & (hz < edge)
    above = hz >= edge
    if not reference.any() or not above.any():
        return sp
    level = np.log(sp[:, reference]).mean(axis=1, keepdims=True)
    fall = BAND_SLOPE_DB_PER_OCTAVE / (10.0 * np.log10(np.e)) * np.log2(hz[above] / edge)
    out = sp.copy()
    out[:, above] = np.exp(level + fall[None, :])
    return out


def synthesis_envelope(sp: Array, factor: float, fft_size: int = SYNTH_FFT) -> Array:
    """The envelope with its frequency axis scaled by ``factor`` (> 1 moves formants up: a
    smaller vocal tract), at the synthesis FFT's ``fft_size // 2 + 1`` bins.

    Each synthesis bin reads the analysis envelope at its own frequency divided by
    ``factor`` (linear interpolation): warping at full resolution and then keeping every
    other bin gives the same values at twice the cost.
    """
    bins = sp.shape[1]
    target = min(bins, fft_size // 2 + 1)
    at = np.linspace(0.0, bins - 1.0, target)
    if abs(factor - 1.0) >= 1e-6:
        at = at / factor
    lo = np.clip(np.floor(at).astype(np.int64), 0, bins - 1)
    hi = np.clip(lo + 1, 0, bins - 1)
    frac = at - lo
    if not frac.any():
        return np.ascontiguousarray(sp[:, lo])
    warped: Array = sp[:, lo] * (1.0 - frac) + sp[:, hi] * frac
    return warped


def silence_power() -> float:
    """Envelope power used for frames where nothing is sung."""
    return _SILENCE_POWER


def lowest_f0(sample_rate: int, fft_size: int = SYNTH_FFT) -> float:
    """The lowest pitch WORLD can synthesise at ``fft_size``: one period must fit in the
    FFT, and a longer one makes ``pyworld.synthesize`` write past its buffers (the
    process aborts with a heap corruption). A small margin keeps rounding off the edge."""
    return sample_rate / fft_size * 1.02


def synthesize(f0: Array, sp: Array, ap: Array, sample_rate: int) -> Array:
    """WORLD synthesis at ``FRAME_MS`` frames.

    Voiced frames below ``lowest_f0`` are raised to it: a guard for the process, since the
    singer already keeps its notes above it.
    """
    floor = lowest_f0(sample_rate, (sp.shape[1] - 1) * 2)
    f0 = np.where((f0 > 0.0) & (f0 < floor), floor, f0)
    with _SYNTH_LOCK:
        y = pyworld.synthesize(
            np.ascontiguousarray(f0),
            np.ascontiguousarray(sp),
            np.ascontiguousarray(ap),
            sample_rate,
            FRAME_MS,
        )
    return np.asarray(y, dtype=np.float64)
