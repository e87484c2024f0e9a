"""Sample-exact edits of decoded audio (float32, shape ``(frames, channels)``).

Kept free of I/O so the same edit serves generated clips and uploads, and so the
arithmetic (lengths, crossfades) is testable to the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import soxr

from cadenza.audio.stretch import time_stretch

Audio = npt.NDArray[np.float32]

#: Joins use an equal-power crossfade this long (seconds).
DEFAULT_CROSSFADE_S = 0.03
#: Cuts get a fade this long so they do not click.
EDGE_FADE_S = 0.005

MIN_SPEED = 0.25
MAX_SPEED = 4.0


def as_frames(audio: npt.NDArray[np.floating]) -> Audio:
    """Any mono/multichannel array as float32 ``(frames, channels)``."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise ValueError("audio must be (frames,) or (frames, channels)")
    return data


def to_frames(seconds: float, sample_rate: int) -> int:
    return round(seconds * sample_rate)


def _window(length: int, sample_rate: int, start_s: float, end_s: float) -> tuple[int, int]:
    if not 0 <= start_s < end_s:
        raise ValueError("need 0 <= start < end")
    start = to_frames(start_s, sample_rate)
    end = to_frames(end_s, sample_rate)
    if end > length:
        raise ValueError("the window ends after the audio")
    return start, end


def _equal_power(n: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    t = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    return (
        np.cos(t * np.pi / 2).astype(np.float32),
        np.sin(t * np.pi / 2).astype(np.float32),
    )


def _fade_edges(data: Audio, frames: int) -> None:
    n = min(frames, len(data) // 2)
    if n <= 0:
        return
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    data[:n] *= ramp
    data[-n:] *= ramp[::-1]


def crop_keep(audio: Audio, sample_rate: int, start_s: float, end_s: float) -> Audio:
    """The window ``[start_s, end_s)``, with short fades at both cuts."""
    data = as_frames(audio)
    start, end = _window(len(data), sample_rate, start_s, end_s)
    out = data[start:end].copy()
    _fade_edges(out, to_frames(EDGE_FADE_S, sample_rate))
    return out


def splice(
    first: Audio,
    cut: int,
    second: Audio,
    crossfade_frames: int,
) -> Audio:
    """``first[:cut]`` then ``second``, exactly ``cut + len(second)`` frames long.

    Over the first ``crossfade_frames`` of ``second``, what ``first`` had after the cut
    fades out while ``second`` fades in (equal power), so the seam neither clicks nor
    changes the length.
    """
    a, b = as_frames(first), as_frames(second)
    if a.shape[1] != b.shape[1]:
        raise ValueError("channel counts differ")
    n = max(0, min(crossfade_frames, len(b)))
    carry = a[cut : cut + n]
    if len(carry) < n:
        carry = np.concatenate([carry, np.zeros((n - len(carry), a.shape[1]), np.float32)])
    fade_out, fade_in = _equal_power(n)
    seam = carry * fade_out[:, None] + b[:n] * fade_in[:, None]
    return np.concatenate([a[:cut], seam.astype(np.float32), b[n:]])


def crop_remove(
    audio: Audio,
    sample_rate: int,
    start_s: float,
    end_s: float,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
) -> Audio:
    """Everything but ``[start_s, end_s)``: exactly ``length - window`` frames."""
    data = as_frames(audio)
    start, end = _window(len(data), sample_rate, start_s, end_s)
    return splice(data, start, data[end:], to_frames(crossfade_s, sample_rate))


def concat(
    parts: Sequence[tuple[Audio, int | None]],
    sample_rate: int,
    crossfade_s: float = DEFAULT_CROSSFADE_S,
) -> Audio:
    """Join parts; each ``(audio, cut)`` is used up to frame ``cut`` (None = whole).

    The last part is always used whole, so an extend chain concatenates to the sum of
    every ``continue_at`` plus the last extension's length.
    """
    if not parts:
        raise ValueError("nothing to concatenate")
    fade = to_frames(crossfade_s, sample_rate)
    result = as_frames(parts[0][0])
    cut = parts[0][1]
    for audio, next_cut in parts[1:]:
        result = splice(result, len(result) if cut is None else min(cut, len(result)), audio, fade)
        if next_cut is not None:
            next_cut = len(result) - len(as_frames(audio)) + next_cut
        cut = next_cut
    return result if cut is None else result[:cut].copy()


def change_speed(audio: Audio, sample_rate: int, multiplier: float, *, keep_pitch: bool) -> Audio:
    """Play ``multiplier`` times faster: length / multiplier frames.

    With ``keep_pitch`` the audio is time-stretched (phase-locked vocoder);
    without it, it is resampled so pitch follows speed, like a tape.
    """
    if not MIN_SPEED <= multiplier <= MAX_SPEED:
        raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}")
    data = as_frames(audio)
    target = round(len(data) / multiplier)
    if multiplier == 1.0:
        return data.copy()
    if keep_pitch:
        out = time_stretch(data, multiplier)
    else:
        # Resampling to sample_rate/multiplier and playing at sample_rate speeds it up.
        out = soxr.resample(data, sample_rate, sample_rate / multiplier, quality="HQ")
        out = np.asarray(out, dtype=np.float32)
        if out.ndim == 1:
            out = out[:, None]
    return _fit_length(out, target)


def _fit_length(data: Audio, frames: int) -> Audio:
    if len(data) >= frames:
        return np.ascontiguousarray(data[:frames])
    pad = np.zeros((frames - len(data), data.shape[1]), np.float32)
    return np.concatenate([data, pad])
