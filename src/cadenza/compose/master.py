"""Mastering: loudness to a target with one measurement, a true-peak ceiling, stems intact.

The integrated loudness (ITU-R BS.1770-4, K-weighted, gated) is measured ONCE on the mix.
A look-ahead limiter then computes a gain envelope from the mix's 4x-oversampled peaks, and
that same envelope (times the loudness gain) is applied to every stem and to the mix, so the
mastered stems still sum to the mastered song. The loudness the limiter takes away is
predicted from the per-block K-weighted powers of the one measurement, so the gain can be
corrected without measuring again.

Audio layout is ``(samples, channels)`` float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr
from scipy.signal import sosfilt

AudioArray = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
_OVERSAMPLE = 4
_BLOCK = 64  # limiter envelope resolution in samples
_LOOKAHEAD_S = 0.005
_RELEASE_DB_PER_S = 80.0
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


def integrated_loudness(audio: AudioArray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4); ``-inf`` for silence."""
    return _gated_loudness(_block_powers(_as_2d(audio), sample_rate).power)


def block_peaks(
    audio: AudioArray, sample_rate: int = 44100, block: int = _BLOCK
) -> npt.NDArray[np.float64]:
    """Per block of ``block`` samples, the largest absolute 4x-oversampled value (all channels).

    soxr's streaming resampler (HQ, SIMD) is several times faster than a numpy polyphase
    filter, and it is delay-compensated, so oversampled frame ``k`` belongs to sample
    ``k // 4``. Interleaved frames make a block one contiguous row: a fast reduction.
    """
    audio = _as_2d(audio)
    n, channels = audio.shape
    blocks = -(-n // block)
    peaks = np.zeros(blocks, dtype=np.float64)
    row = block * _OVERSAMPLE * channels
    stream = soxr.ResampleStream(
        sample_rate, sample_rate * _OVERSAMPLE, channels, dtype="float32", quality="HQ"
    )
    chunk = block * 1024
    done = 0
    carry = np.zeros(0, dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        piece = np.ascontiguousarray(audio[start:stop], dtype=np.float32)
        _merge_sample_peaks(peaks, piece, start // block, block)
        level = np.abs(stream.resample_chunk(piece, last=stop >= n)).reshape(-1)
        if stop >= n:  # pad the final partial block
            level = np.concatenate((carry, level, np.zeros(row, dtype=np.float32)))
        else:
            level = np.concatenate((carry, level))
        whole = len(level) // row
        grouped = level[: whole * row].reshape(whole, row).max(axis=1)
        count = max(0, min(whole, blocks - done))
        np.maximum(peaks[done : done + count], grouped[:count], out=peaks[done : done + count])
        carry = level[whole * row :]
        done += whole
    return peaks


def _merge_sample_peaks(
    peaks: npt.NDArray[np.float64], piece: npt.NDArray[np.float32], first: int, block: int
) -> None:
    """Raise ``peaks[first:]`` to the plain sample peaks of ``piece`` (chunk by chunk, so the
    whole song's absolute values are never held at once)."""
    level = np.abs(piece).reshape(-1)
    row = block * piece.shape[1]
    rows = -(-len(level) // row)
    if rows * row != len(level):
        level = np.concatenate((level, np.zeros(rows * row - len(level), dtype=np.float32)))
    target = peaks[first : first + rows]
    np.maximum(target, level.reshape(rows, row).max(axis=1)[: len(target)], out=target)


def true_peak_dbtp(audio: AudioArray, sample_rate: int = 44100) -> float:
    """True peak in dBTP: the sample peak after 4x oversampling."""
    peak = float(block_peaks(audio, sample_rate).max()) if len(audio) else 0.0
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


def master_stems(
    stems: dict[str, AudioArray],
    sample_rate: int,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = CEILING_DBTP,
) -> tuple[AudioArray, MasterReport]:
    """Master the sum of ``stems``; scales every stem IN PLACE and returns the mastered mix."""
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
    peaks = _widen(block_peaks(mix, sample_rate))
    gain = 10.0 ** ((target_lufs - measured) / 20.0)
    nodes = _envelope_nodes(peaks, gain, ceiling, sample_rate)
    predicted = _predicted_loudness(blocks, nodes, gain)
    for _ in range(8):
        if abs(predicted - target_lufs) < 0.02:
            break
        trial_gain = gain * 10.0 ** ((target_lufs - predicted) / 20.0)
        trial_nodes = _envelope_nodes(peaks, trial_gain, ceiling, sample_rate)
        trial = _predicted_loudness(blocks, trial_nodes, trial_gain)
        if abs(trial - target_lufs) >= abs(predicted - target_lufs) - 0.01:
            break  # the limiter is saturated: more gain only means more limiting
        gain, nodes, predicted = trial_gain, trial_nodes, trial

    envelope = _interpolate_nodes(nodes * gain, mix.shape[0])
    mix *= envelope[:, None]
    peak_db = true_peak_dbtp(mix, sample_rate)
    trim = 1.0
    if peak_db > ceiling_dbtp - _MARGIN_DB + 0.01:  # a safety net; the envelope should do
        trim = 10.0 ** ((ceiling_dbtp - _MARGIN_DB - peak_db) / 20.0)
        envelope *= np.float32(trim)
        mix *= np.float32(trim)
        peak_db = true_peak_dbtp(mix, sample_rate)
    for audio in stems.values():
        audio *= envelope[:, None]
    report = MasterReport(
        input_lufs=measured,
        gain_db=20.0 * math.log10(gain * trim),
        output_lufs=predicted + 20.0 * math.log10(trim),
        true_peak_dbtp=peak_db,
        max_reduction_db=-20.0 * math.log10(max(float(nodes.min()), 1e-9)),
    )
    return mix, report
