"""Pitch-preserving time stretch: a phase vocoder with identity phase locking.

Rubber Band (through pedalboard) sounds a little better but runs ~30x real time on
these machines; this vectorised vocoder runs well over 100x, which the tools need.
Phase locking (Laroche & Dolson) keeps the bins around each spectral peak coherent,
which removes most of the plain vocoder's "phasiness".

Where the time goes, and why the code looks the way it does:

* every channel of a block of frames goes through one batched FFT, in float32/complex64;
* numpy's ``arctan2`` is scalar code (~30 ns a bin), so the phase comes from a
  polynomial ``atan2`` (error < 1e-5 rad, far below what a vocoder can hear);
* the output is ``X * exp(i * theta[peak])``: one rotation per region of influence,
  so the magnitude is never computed for synthesis and ``cos``/``sin`` (SIMD) run once;
* regions of influence come from ``np.repeat`` over the peak list instead of running
  maxima, and every temporary stays a block in size so it lives in cache;
* synthesis phases are kept modulo 2*pi, so float32 stays exact on long clips.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

FloatArray = npt.NDArray[np.float32]
ComplexArray = npt.NDArray[np.complex64]

N_FFT = 2048
SYNTH_HOP = N_FFT // 4
#: Output frames vocoded together; small enough that a block's temporaries stay in cache.
BLOCK_FRAMES = 64

_TWO_PI = np.float32(2 * np.pi)
_HALF_PI = np.float32(np.pi / 2)
_QUARTER_PI = np.float32(np.pi / 4)
_TINY = np.finfo(np.float32).tiny
# Odd polynomial for atan(a) on [0, 1] (coefficients of a, a^3, ..., a^9; error ~1e-5 rad).
_ATAN = tuple(np.float32(c) for c in (0.9998660, -0.3302995, 0.1801410, -0.0851330, 0.0208351))


def fast_atan2(y: FloatArray, x: FloatArray) -> FloatArray:
    """``arctan2(y, x)`` in float32, several times faster than numpy's scalar loop.

    The octant folds use ``copysign`` instead of masks: numpy's ``where`` on random
    masks costs as much as twenty arithmetic passes.
    """
    ax = np.abs(x)
    ay = np.abs(y)
    a = np.minimum(ax, ay)
    big = np.maximum(ax, ay)
    np.maximum(big, _TINY, out=big)  # 0/0 -> 0
    a /= big
    s = a * a
    r = s * _ATAN[-1]
    for c in reversed(_ATAN[1:-1]):
        r += c
        r *= s
    r += _ATAN[0]
    r *= a  # atan(min/max), in [0, pi/4]
    # Past the diagonal the angle is pi/2 - r: fold on the sign of |x| - |y|.
    ax -= ay
    np.subtract(_QUARTER_PI, r, out=r)
    np.copysign(r, ax, out=r)
    np.subtract(_QUARTER_PI, r, out=r)
    # Left half-plane: pi - r, folded on the sign of x; then the sign of y.
    np.subtract(_HALF_PI, r, out=r)
    np.copysign(r, x, out=r)
    np.subtract(_HALF_PI, r, out=r)
    np.copysign(r, y, out=r)
    return r


def _regions(power: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The peaks of ``power`` (rows of bins) as flat indices, and for every bin the
    number of the peak nearest to it.

    A peak is a local maximum; bin 0 of each row always counts, so every row has one.
    Between two peaks the boundary is the midpoint (ties go to the lower peak).
    """
    rows, bins = power.shape
    is_peak = np.empty((rows, bins), dtype=bool)
    np.greater(power[:, 1:-1], power[:, :-2], out=is_peak[:, 1:-1])
    is_peak[:, 1:-1] &= power[:, 1:-1] >= power[:, 2:]
    is_peak[:, 0] = True
    is_peak[:, -1] = False
    peaks = np.flatnonzero(is_peak)
    # Region k (of peak k) starts one past the midpoint to the previous peak, or where
    # its row starts; numbering the regions with a running sum of their starts is
    # cheaper than np.repeat with counts this small.
    starts = peaks[:-1] + peaks[1:]
    starts >>= 1
    starts += 1
    row_firsts = np.searchsorted(peaks, np.arange(1, rows) * bins)
    starts[row_firsts - 1] = peaks[row_firsts]
    region = np.zeros(rows * bins, np.intp)
    region[starts] = 1
    np.cumsum(region, out=region)
    return peaks, region


def _overlap_add(out: FloatArray, frames: FloatArray, first: int) -> None:
    """Add ``frames`` (channels, n, N_FFT), frame ``k`` at ``(first + k) * SYNTH_HOP``.

    Frames ``N_FFT // SYNTH_HOP`` apart do not overlap, so each phase of the block is
    added as one flat run.
    """
    ratio = N_FFT // SYNTH_HOP
    total = out.shape[1]
    channels = frames.shape[0]
    for offset in range(min(ratio, frames.shape[1])):
        chunk = frames[:, offset::ratio]
        begin = (first + offset) * SYNTH_HOP
        span = min(chunk.shape[1] * N_FFT, total - begin)
        out[:, begin : begin + span] += chunk.reshape(channels, -1)[:, :span]


def _window_sum(window: FloatArray, n_frames: int, total: int) -> FloatArray:
    """Sum of the squared window over all frames (1.5 inside at 75 % overlap)."""
    w2 = window * window
    if n_frames <= 2 * (N_FFT // SYNTH_HOP):
        norm = np.zeros((1, total), np.float32)
        _overlap_add(norm, np.broadcast_to(w2, (1, n_frames, N_FFT)).copy(), 0)
        small: FloatArray = norm[0]
        return small
    period = w2.reshape(-1, SYNTH_HOP).sum(axis=0)
    norm = np.tile(period, total // SYNTH_HOP + 1)[:total]
    head = np.zeros(N_FFT, np.float32)
    tail = np.zeros(N_FFT, np.float32)
    for k in range(N_FFT // SYNTH_HOP):
        head[k * SYNTH_HOP :] += w2[: N_FFT - k * SYNTH_HOP]
        tail[: N_FFT - k * SYNTH_HOP] += w2[k * SYNTH_HOP :]
    norm[:N_FFT] = head
    norm[-N_FFT:] = tail
    out: FloatArray = norm.astype(np.float32)
    return out


def _stretch(x: FloatArray, rate: float, out_len: int) -> FloatArray:
    """Vocode ``(channels, samples)`` block by block, carrying phases across blocks."""
    channels = x.shape[0]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    bins = N_FFT // 2 + 1
    n_out_frames = int(np.ceil(out_len / SYNTH_HOP)) + 2
    # Analysis positions advance rate * synth hop; centre frames so t=0 lines up.
    starts = np.round(np.arange(n_out_frames) * SYNTH_HOP * rate).astype(np.int64)
    padded = np.zeros((channels, x.shape[1] + N_FFT // 2 + N_FFT), np.float32)
    padded[:, N_FFT // 2 : N_FFT // 2 + x.shape[1]] = x
    view = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=1)
    starts = np.minimum(starts, view.shape[1] - 1)
    omega = (2 * np.pi * np.arange(bins) / N_FFT).astype(np.float32)
    # The synthesis advance of each bin's centre frequency, reduced modulo 2*pi.
    advance = np.mod(omega.astype(np.float64) * SYNTH_HOP, 2 * np.pi).astype(np.float32)

    total = (n_out_frames - 1) * SYNTH_HOP + N_FFT
    out = np.zeros((channels, total), np.float32)
    prev_phase: FloatArray | None = None
    prev_start = int(starts[0])
    synth_base = np.zeros((channels, 1, bins), np.float32)
    for first in range(0, n_out_frames, BLOCK_FRAMES):
        block_starts = starts[first : first + BLOCK_FRAMES]
        n = len(block_starts)
        frames = view[:, block_starts] * window
        spectra: ComplexArray = sfft.rfft(frames, axis=-1, overwrite_x=True)
        parts = spectra.view(np.float32).reshape(channels, n, bins, 2)
        re, im = parts[..., 0], parts[..., 1]
        phase = fast_atan2(im, re)

        # Instantaneous frequency against the previous analysis frame (true hop per frame).
        before = np.concatenate([[prev_start], block_starts[:-1]])
        hops = (block_starts - before).astype(np.float32)
        last = phase[:, :1] if prev_phase is None else prev_phase
        delta = np.empty_like(phase)
        np.subtract(phase[:, 1:], phase[:, :-1], out=delta[:, 1:])
        np.subtract(phase[:, :1], last, out=delta[:, :1])
        delta -= omega * hops[None, :, None]
        wraps = np.round(delta / _TWO_PI)
        wraps *= _TWO_PI
        delta -= wraps
        # Advance per output frame: centre frequency plus deviation, scaled to the synth hop.
        scale = np.where(hops > 0, SYNTH_HOP / np.maximum(hops, 1.0), 0.0).astype(np.float32)
        delta *= scale[None, :, None]
        delta += advance
        delta[:, hops == 0] = advance
        if prev_phase is None:
            delta[:, 0] = phase[:, 0]
        else:
            delta[:, 0] += synth_base[:, 0]
        # A running sum frame by frame: numpy's cumsum along a middle axis is ~7x slower.
        for k in range(1, n):
            delta[:, k] += delta[:, k - 1]
        synth = delta
        synth_base = np.mod(synth[:, -1:], _TWO_PI)

        # Rotate each region of influence by its peak's phase advance.
        power = re * re
        power += im * im
        peaks, region = _regions(power.reshape(-1, bins))
        theta = synth.reshape(-1)[peaks]
        theta -= phase.reshape(-1)[peaks]
        turn = np.empty(theta.shape, np.complex64)
        np.cos(theta, out=turn.real)
        np.sin(theta, out=turn.imag)
        spectra *= turn[region].reshape(spectra.shape)
        frames_out = sfft.irfft(spectra, n=N_FFT, axis=-1, overwrite_x=True)
        frames_out *= window
        _overlap_add(out, frames_out, first)
        prev_phase, prev_start = phase[:, -1:], int(block_starts[-1])

    out /= np.maximum(_window_sum(window, n_out_frames, total), np.float32(1e-3))
    trimmed = out[:, N_FFT // 2 : N_FFT // 2 + out_len]
    if trimmed.shape[1] < out_len:
        pad = np.zeros((channels, out_len - trimmed.shape[1]), np.float32)
        trimmed = np.concatenate([trimmed, pad], axis=1)
    return trimmed


def time_stretch(audio: FloatArray, rate: float) -> FloatArray:
    """Play ``rate`` times faster at the same pitch; ``(frames, channels)`` in and out."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    out_len = round(len(data) / rate)
    stretched = _stretch(np.ascontiguousarray(data.T), rate, out_len)
    return np.ascontiguousarray(stretched.T)
