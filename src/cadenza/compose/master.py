"""Mastering: loudness to a target with one measurement, a true-peak ceiling, stems intact.

The integrated loudness (ITU-R BS.1770-4, K-weighted, gated) is measured ONCE on the mix.
A look-ahead limiter then computes a gain envelope from the mix's 4x-oversampled peaks, and
that same envelope (times the loudness gain) is applied to every stem and to the mix, so the
mastered stems still sum to the mastered song. The loudness the limiter takes away is
predicted from the per-block K-weighted powers of the one measurement, so the gain can be
corrected without measuring again. Oversampling is exact but done only where it can
matter: a cheap bound from the samples and their second differences rules out the rest.

Audio layout is ``(samples, channels)`` float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.signal import sosfilt

AudioArray = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
_OVERSAMPLE = 4
_BLOCK = 64  # limiter envelope resolution in samples
_LOOKAHEAD_S = 0.005
_RELEASE_DB_PER_S = 80.0
#: Sample-peak ceiling of each part of a stem split (dBFS): under 16-bit full scale with
#: room for the envelope's interpolation between nodes.
PART_CEILING_DBFS = -0.1
_MARGIN_DB = 0.3  # head-room: oversampling filters disagree by up to ~0.2 dB near Nyquist


@dataclass(frozen=True)
class MasterReport:
    input_lufs: float
    gain_db: float
    output_lufs: float
    true_peak_dbtp: float
    max_reduction_db: float


def _k_weighting(sample_rate: int) -> FloatArray:
    """The BS.1770 pre-filter and RLB high-pass as second-order sections for this rate."""
    f0 = 1681.974450955533
    gain_db = 3.999843853973347
    q = 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    f0 = 38.13547087602444
    q = 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


@dataclass(frozen=True)
class _Blocks:
    """K-weighted mean-square power of each 400 ms gating block (channels summed), and the
    K-weighted energy of every ``_BLOCK`` samples, from which the loudness after the
    limiter's envelope is predicted."""

    power: FloatArray
    fine: FloatArray
    hop: int


def _block_powers(audio: AudioArray, sample_rate: int) -> _Blocks:
    n = audio.shape[0]
    hop = round(0.1 * sample_rate)
    hops = n // hop
    fine_count = -(-n // _BLOCK)
    fine = np.zeros(fine_count, dtype=np.float64)
    if hops < 4:
        return _Blocks(np.zeros(0), fine, hop)
    sos = _k_weighting(sample_rate).astype(np.float32)
    hop_energy = np.zeros(hops, dtype=np.float64)
    padded = np.zeros(fine_count * _BLOCK, dtype=np.float32)
    for ch in range(audio.shape[1]):
        weighted = sosfilt(sos, np.ascontiguousarray(audio[:, ch], dtype=np.float32))
        squared = np.square(weighted, out=weighted)
        hop_energy += squared[: hops * hop].reshape(hops, hop).sum(axis=1, dtype=np.float64)
        padded[:n] = squared
        fine += padded.reshape(fine_count, _BLOCK).sum(axis=1, dtype=np.float64)
    return _Blocks(_gating_blocks(hop_energy, hop), fine, hop)


def _gating_blocks(hop_energy: FloatArray, hop: int) -> FloatArray:
    """400 ms blocks overlapping by 75 %: sums of four consecutive 100 ms hops."""
    total = hop_energy[:-3] + hop_energy[1:-2] + hop_energy[2:-1] + hop_energy[3:]
    return np.asarray(total / (4 * hop), dtype=np.float64)


def _gated_loudness(power: FloatArray) -> float:
    """Absolute (-70 LUFS) then relative (-10 LU) gating over block powers."""
    if power.size == 0:
        return -math.inf
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(power)
    kept = power[loudness > -70.0]
    if kept.size == 0:
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(float(kept.mean())) - 10.0
    kept = power[(loudness > -70.0) & (loudness > relative)]
    if kept.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(float(kept.mean()))


def hop_energies(audio: AudioArray, sample_rate: int) -> tuple[FloatArray, int]:
    """K-weighted energy of every 100 ms hop (channels summed) and the hop in samples.

    The loudness of any run of hops follows without filtering again (``span_loudness``);
    energies of uncorrelated signals (a voice and its band) add up to the energy of their
    sum, so a mix's section levels can be planned from its parts' hops.
    """
    audio = _as_2d(audio)
    hop = round(0.1 * sample_rate)
    hops = audio.shape[0] // hop
    energy = np.zeros(hops, dtype=np.float64)
    if hops == 0:
        return energy, hop
    sos = _k_weighting(sample_rate).astype(np.float32)
    for ch in range(audio.shape[1]):
        weighted = sosfilt(sos, np.ascontiguousarray(audio[:, ch], dtype=np.float32))
        squared = np.square(weighted, out=weighted)
        energy += squared[: hops * hop].reshape(hops, hop).sum(axis=1, dtype=np.float64)
    return energy, hop


def span_loudness(energy: FloatArray, hop: int) -> float:
    """Integrated loudness (gated, BS.1770) of a run of ``hop_energies``; ``-inf`` for
    silence or a run under 400 ms."""
    if energy.shape[0] < 4:
        return -math.inf
    return _gated_loudness(_gating_blocks(energy, hop))


def integrated_loudness(audio: AudioArray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4); ``-inf`` for silence."""
    return _gated_loudness(_block_powers(_as_2d(audio), sample_rate).power)


#: The 4x interpolator of the true-peak meter: scipy's ``resample_poly(x, 4, 1)`` filter (a
#: Kaiser-windowed sinc, 81 taps), so the limiter sees what common meters see.
_HALF_TAPS = 10  # input samples each side that one oversampled value depends on


def _oversampling_phases() -> list[FloatArray]:
    """The four polyphase branches: oversampled frame ``4k + j`` is
    ``sum(branch_j[t] * x[k + 10 - t])``, a plain convolution of the input with the branch."""
    from scipy.signal import firwin

    taps = firwin(2 * _HALF_TAPS * _OVERSAMPLE + 1, 1.0 / _OVERSAMPLE, window=("kaiser", 5.0))
    taps = np.asarray(taps * _OVERSAMPLE, dtype=np.float64)
    return [taps[j::_OVERSAMPLE] for j in range(_OVERSAMPLE)]


_PHASES = _oversampling_phases()
_PEAK_CHUNK = 8192  # blocks oversampled per pass


def _curvature_bound() -> tuple[float, float]:
    """Constants ``(c, r)`` with ``|y[4k+j]| <= max|x[k]|, |x[k+1]| + c * D + r * P``, where
    ``D`` and ``P`` are the largest second difference and sample within ``_HALF_TAPS``.

    Each branch is written as linear interpolation plus a filter of the second difference
    plus a tiny rest; music is smooth at the sample scale, so the bound sits just above the
    sample peak and only the few blocks near the loudest peaks need oversampling.
    """
    curvature = rest = 0.0
    for j, phase in enumerate(_PHASES):
        size = len(phase)
        linear = np.zeros(size)
        linear[_HALF_TAPS] = 1.0 - j / _OVERSAMPLE  # x[k]
        if j:
            linear[_HALF_TAPS - 1] = j / _OVERSAMPLE  # x[k+1]
        basis = np.zeros((size, size - 2))
        for i in range(size - 2):
            basis[i : i + 3, i] = (1.0, -2.0, 1.0)
        excess = phase - linear
        weights = np.linalg.lstsq(basis, excess, rcond=None)[0]
        curvature = max(curvature, float(np.abs(weights).sum()))
        rest = max(rest, float(np.abs(excess - basis @ weights).sum()))
    return curvature * (1.0 + 1e-6), rest + 1e-6  # the slack covers float32 rounding


_CURVATURE, _REST = _curvature_bound()


def _block_maxima(level: npt.NDArray[np.float32], block: int) -> FloatArray:
    """Largest value of each block of ``block`` rows of ``(n, channels)`` non-negative data."""
    n = level.shape[0]
    blocks = -(-n // block)
    flat = level.reshape(-1)
    row = block * level.shape[1]
    whole = n // block
    peaks = np.zeros(blocks, dtype=np.float64)
    if whole:
        peaks[:whole] = flat[: whole * row].reshape(whole, row).max(axis=1)
    if whole < blocks:
        peaks[whole] = float(flat[whole * row :].max())
    return peaks


def _peak_bounds(audio: AudioArray, block: int) -> tuple[FloatArray, FloatArray]:
    """Per block: the sample peak, and a bound on its 4x-oversampled peak."""
    n, channels = audio.shape
    samples = np.zeros(-(-n // block), dtype=np.float64)
    curvature = np.zeros_like(samples)
    step = block * 4096
    for start in range(0, n, step):  # chunks keep the temporaries small
        stop = min(n, start + step)
        lo, hi = max(0, start - 1), min(n, stop + 1)
        piece = np.zeros((stop - start + 2, channels), dtype=np.float32)
        piece[lo - start + 1 : hi - start + 1] = audio[lo:hi]  # zeros outside the signal
        first = start // block
        level = np.abs(piece[1:-1])
        samples[first : first + -(-(stop - start) // block)] = _block_maxima(level, block)
        second = piece[2:] + piece[:-2]
        second -= piece[1:-1]
        second -= piece[1:-1]
        np.abs(second, out=second)
        maxima = _block_maxima(second, block)
        curvature[first : first + len(maxima)] = maxima
    if n:  # second differences at -1 and n (zeros either side) are the edge samples
        curvature[0] = max(curvature[0], float(np.abs(audio[0]).max()))
        curvature[-1] = max(curvature[-1], float(np.abs(audio[-1]).max()))
    wide_samples = _widen(samples)
    bound = wide_samples * (1.0 + _REST) + _CURVATURE * _widen(curvature)
    return samples, bound


def _oversampled_block_peaks(
    audio: AudioArray, chosen: npt.NDArray[np.intp], block: int
) -> FloatArray:
    """Exact 4x-oversampled peak of each block in ``chosen`` (sorted block indices).

    Runs of consecutive blocks are cut out with ``_HALF_TAPS`` samples of context each side
    and joined, so one convolution per branch and channel covers them all; every wanted
    output reads its own run only, so the values equal those of the whole signal.
    """
    n, channels = audio.shape
    if chosen.size == 0:
        return np.zeros(0, dtype=np.float64)
    breaks = np.flatnonzero(np.diff(chosen) != 1) + 1
    starts = chosen[np.concatenate(([0], breaks))] * block
    stops = np.minimum((chosen[np.concatenate((breaks - 1, [chosen.size - 1]))] + 1) * block, n)
    lengths = stops - starts
    context = 2 * _HALF_TAPS
    offsets = np.concatenate(([0], np.cumsum(lengths + context)[:-1]))
    # For each position of the joined signal, the input sample it holds (-1: outside).
    run = np.repeat(np.arange(len(starts)), lengths + context)
    source = np.arange(int((lengths + context).sum())) - offsets[run] + starts[run] - _HALF_TAPS
    inside = (source >= 0) & (source < n)
    # Joined positions of the wanted outputs, run by run (block order is kept).
    wanted = np.concatenate(
        [np.arange(o, o + k) for o, k in zip(offsets.tolist(), lengths.tolist(), strict=True)]
    )
    level = np.zeros(wanted.size, dtype=np.float64)
    joined = np.zeros(source.size, dtype=np.float64)
    for ch in range(channels):
        joined[inside] = audio[source[inside], ch]
        for phase in _PHASES:
            # output i of a 'valid' convolution reads joined[i : i + len(phase)]
            out = np.convolve(joined, phase, "valid")
            np.maximum(level, np.abs(out[wanted + (context + 1 - len(phase))]), out=level)
    sizes = np.minimum(block, n - chosen * block)
    firsts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return np.asarray(np.maximum.reduceat(level, firsts), dtype=np.float64)


class _TruePeaks:
    """Per-block true peaks of one signal, computed only where they can matter.

    A block's oversampled values are bounded from its and its neighbours' sample peaks and
    second differences (see ``_curvature_bound``); blocks whose bound is at most a floor
    keep the bound, every other block gets its exact value (cached for later floors).
    """

    def __init__(self, audio: AudioArray, block: int = _BLOCK) -> None:
        self.audio = _as_2d(audio)
        self.block = block
        samples, self.bound = _peak_bounds(self.audio, block)
        self.values = self.bound.copy()
        self.exact = np.zeros(len(samples), dtype=bool)
        self.sample_max = float(samples.max()) if samples.size else 0.0

    def above(self, floor: float) -> FloatArray:
        """Block peaks, exact for every block that could exceed ``floor``."""
        chosen = np.flatnonzero(~self.exact & (self.bound > floor))
        for first in range(0, chosen.size, _PEAK_CHUNK):  # bounded temporaries
            part = chosen[first : first + _PEAK_CHUNK]
            self.values[part] = _oversampled_block_peaks(self.audio, part, self.block)
        self.exact[chosen] = True
        return self.values

    def peak(self) -> float:
        """The largest oversampled value. Branch 0 reproduces the samples (times its centre
        tap), so the sample peak bounds it from below and rules out most blocks."""
        if self.values.size == 0 or self.sample_max == 0.0:
            return 0.0
        # The loudest blocks first: their peak is a higher floor for all the others.
        loudest = np.sort(np.argsort(self.bound)[-8:])
        self.values[loudest] = _oversampled_block_peaks(self.audio, loudest, self.block)
        self.exact[loudest] = True
        found = float(self.values[loudest].max())
        floor = max(found, self.sample_max * float(_PHASES[0][_HALF_TAPS]))
        return float(self.above(floor)[self.exact].max())


def block_peaks(
    audio: AudioArray, sample_rate: int = 44100, block: int = _BLOCK
) -> npt.NDArray[np.float64]:
    """Per block of ``block`` samples, the largest absolute 4x-oversampled value (all channels)."""
    del sample_rate  # the interpolator is defined relative to the rate
    return _TruePeaks(audio, block).above(-1.0).copy()


def true_peak_dbtp(audio: AudioArray, sample_rate: int = 44100) -> float:
    """True peak in dBTP: the sample peak after 4x oversampling."""
    del sample_rate
    peak = _TruePeaks(audio).peak() if len(audio) else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _widen(peaks: FloatArray) -> FloatArray:
    """Each block takes its neighbours' peaks too: samples near a block edge are
    interpolated from the neighbouring block's envelope nodes."""
    widened = peaks.copy()
    np.maximum(widened[1:], peaks[:-1], out=widened[1:])
    np.maximum(widened[:-1], peaks[1:], out=widened[:-1])
    return widened


def _sliding_min_forward(values: FloatArray, width: int) -> FloatArray:
    """``out[i] = min(values[i : i + width])`` (shorter windows at the end)."""
    out = values.copy()
    for shift in range(1, width):
        np.minimum(out[:-shift], values[shift:], out=out[:-shift])
    return out


def _envelope_nodes(
    block_peaks: FloatArray, gain: float, ceiling: float, sample_rate: int
) -> FloatArray:
    """Limiter gain at each block boundary; never above what any nearby sample allows."""
    with np.errstate(divide="ignore"):
        required = np.minimum(1.0, ceiling / np.maximum(block_peaks * gain, 1e-12))
    nodes = np.ones(len(required) + 1, dtype=np.float64)
    nodes[:-1] = required
    nodes[1:] = np.minimum(nodes[1:], required)
    width = max(1, math.ceil(_LOOKAHEAD_S * sample_rate / _BLOCK)) + 1
    forward = _sliding_min_forward(nodes, width)
    padded = np.concatenate((np.ones(width - 1), forward))
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    attack = (cumulative[width:] - cumulative[:-width]) / width
    attack = np.minimum(attack, nodes)  # guards float rounding of the moving average
    release = _RELEASE_DB_PER_S * _BLOCK / sample_rate
    steps = np.arange(len(attack), dtype=np.float64) * release
    attack_db = 20.0 * np.log10(np.maximum(attack, 1e-9))
    smoothed_db = np.minimum.accumulate(attack_db - steps) + steps
    return np.asarray(np.minimum(10.0 ** (smoothed_db / 20.0), attack), dtype=np.float64)


def _interpolate_nodes(nodes: FloatArray, n: int) -> npt.NDArray[np.float32]:
    """Linear interpolation between nodes every ``_BLOCK`` samples, ``n`` samples long."""
    ramp = (np.arange(_BLOCK, dtype=np.float32) / np.float32(_BLOCK))[None, :]
    left = nodes[:-1, None].astype(np.float32)
    values = left + (nodes[1:, None].astype(np.float32) - left) * ramp
    return values.reshape(-1)[:n]


class FrameGain:
    """Multiplies ``(n, channels)`` audio in place by a per-frame gain.

    A contiguous array's frames are one flat run of samples: multiplying it by the gain
    repeated per channel gives the same products as numpy's broadcast over short rows, at
    a quarter of the time.
    """

    def __init__(self, gain: npt.NDArray[np.float32]) -> None:
        self.gain = gain
        self._repeated: dict[int, npt.NDArray[np.float32]] = {}

    def __call__(self, audio: AudioArray) -> None:
        if audio.ndim == 1:
            audio *= self.gain
            return
        channels = audio.shape[1]
        if not audio.flags.c_contiguous:
            audio *= self.gain[:, None]
            return
        if channels not in self._repeated:
            self._repeated[channels] = np.repeat(self.gain, channels)
        flat = audio.reshape(-1)
        flat *= self._repeated[channels]


def _predicted_loudness(blocks: _Blocks, nodes: FloatArray, gain: float) -> float:
    """Loudness after gain and envelope, from the measured energies (no new pass)."""
    if blocks.power.size == 0:
        return -math.inf
    left, right = nodes[:-1], nodes[1:]
    mean_square = (left * left + left * right + right * right) / 3.0  # of the linear ramp
    energy = blocks.fine * mean_square[: len(blocks.fine)] * gain * gain
    cumulative = np.concatenate(([0.0], np.cumsum(energy)))
    hops = len(blocks.power) + 3
    edges = np.arange(hops + 1, dtype=np.float64) * blocks.hop / _BLOCK
    at_edges = np.interp(edges, np.arange(len(cumulative), dtype=np.float64), cumulative)
    return _gated_loudness(_gating_blocks(np.diff(at_edges), blocks.hop))


def _as_2d(audio: AudioArray) -> AudioArray:
    return audio[:, None] if audio.ndim == 1 else audio


def _part_peaks(
    stems: dict[str, AudioArray], parts: Sequence[Sequence[str]], block: int = _BLOCK
) -> FloatArray:
    """Per block, the largest sample of any part's sum (a part: stems heard together)."""
    frames = next(iter(stems.values())).shape[0]
    peaks = np.zeros(-(-frames // block), dtype=np.float64)
    step = block * 4096
    for start in range(0, frames, step):  # chunks keep the temporaries small
        stop = min(frames, start + step)
        first = start // block
        for part in parts:
            names = [name for name in part if name in stems]
            if not names:
                continue
            piece = _as_2d(stems[names[0]][start:stop]).copy()
            for name in names[1:]:
                piece += _as_2d(stems[name][start:stop])
            np.abs(piece, out=piece)
            maxima = _block_maxima(piece, block)
            window = peaks[first : first + len(maxima)]
            np.maximum(window, maxima, out=window)
    return peaks


def master_stems(
    stems: dict[str, AudioArray],
    sample_rate: int,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = CEILING_DBTP,
    parts: Sequence[Sequence[str]] = (),
) -> tuple[AudioArray, MasterReport]:
    """Master the sum of ``stems``; scales every stem IN PLACE and returns the mastered mix.

    ``parts`` are stems a listener also gets on their own, each part's sum as a 16-bit
    file (a stem split): the limiter keeps their samples under ``PART_CEILING_DBFS`` too.
    A lead voice can peak over full scale where the band's waveform happens to cancel it
    in the mix; left alone, its stem would clip and no longer sum to the song.
    """
    if not stems:
        raise ValueError("nothing to master")
    # float32 accumulation: its rounding (~-140 dB) is far below the 16-bit song's own.
    mix: AudioArray = np.zeros(next(iter(stems.values())).shape, dtype=np.float32)
    for audio in stems.values():
        mix += audio
    blocks = _block_powers(mix, sample_rate)
    measured = _gated_loudness(blocks.power)
    if not math.isfinite(measured):
        return mix, MasterReport(measured, 0.0, measured, true_peak_dbtp(mix), 0.0)

    ceiling = 10.0 ** ((ceiling_dbtp - _MARGIN_DB) / 20.0)
    true_peaks = _TruePeaks(mix)
    # A part's samples against its own ceiling, expressed as peaks against the mix's.
    part_peaks = (
        _widen(_part_peaks(stems, parts)) * (ceiling / 10.0 ** (PART_CEILING_DBFS / 20.0))
        if parts
        else None
    )

    def limiter(gain: float) -> FloatArray:
        # Blocks whose peak cannot reach the ceiling at this gain need no exact value:
        # their required gain is 1 either way.
        peaks = _widen(true_peaks.above(ceiling / gain * (1.0 - 1e-9)))
        if part_peaks is not None:
            peaks = np.maximum(peaks, part_peaks)
        return _envelope_nodes(peaks, gain, ceiling, sample_rate)

    gain = 10.0 ** ((target_lufs - measured) / 20.0)
    nodes = limiter(gain)
    predicted = _predicted_loudness(blocks, nodes, gain)
    for _ in range(8):
        if abs(predicted - target_lufs) < 0.02:
            break
        trial_gain = gain * 10.0 ** ((target_lufs - predicted) / 20.0)
        trial_nodes = limiter(trial_gain)
        trial = _predicted_loudness(blocks, trial_nodes, trial_gain)
        if abs(trial - target_lufs) >= abs(predicted - target_lufs) - 0.01:
            break  # the limiter is saturated: more gain only means more limiting
        gain, nodes, predicted = trial_gain, trial_nodes, trial

    envelope = _interpolate_nodes(nodes * gain, mix.shape[0])
    scale = FrameGain(envelope)
    scale(mix)
    peak_db = true_peak_dbtp(mix, sample_rate)
    trim = 1.0
    if peak_db > ceiling_dbtp - _MARGIN_DB + 0.01:  # a safety net; the envelope should do
        trim = 10.0 ** ((ceiling_dbtp - _MARGIN_DB - peak_db) / 20.0)
        envelope *= np.float32(trim)
        scale = FrameGain(envelope)
        mix *= np.float32(trim)
        peak_db = true_peak_dbtp(mix, sample_rate)
    for audio in stems.values():
        scale(audio)
    report = MasterReport(
        input_lufs=measured,
        gain_db=20.0 * math.log10(gain * trim),
        output_lufs=predicted + 20.0 * math.log10(trim),
        true_peak_dbtp=peak_db,
        max_reduction_db=-20.0 * math.log10(max(float(nodes.min()), 1e-9)),
    )
    return mix, report
