"""Per-stem mixing: every effect runs on one stem, so the stems still sum to the mix.

A bus effect on the summed mix (bus compression, a master reverb) would make the stems stop
adding up to ``song.wav``; the only thing applied after the sum is the master's gain
envelope, and that is applied to each stem identically (see ``master.py``).

Audio layout is ``(samples, 2)`` float32 throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pedalboard as pb
from pedalboard._pedalboard import Pedalboard

from cadenza.compose.parallel import run_all
from cadenza.compose.score import STEM_NAMES

AudioArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class StemChain:
    """How one stem is treated: level, stereo position and its effects."""

    level_db: float = 0.0
    highpass_hz: float = 0.0
    presence_db: float = 0.0
    compress: bool = False
    threshold_db: float = -18.0
    ratio: float = 3.0
    reverb_wet: float = 0.0
    room_size: float = 0.35
    width: float = 1.0


#: Levels are relative: the master sets the loudness, these set the balance.
CHAINS: dict[str, StemChain] = {
    "Vocals": StemChain(
        level_db=1.5,
        highpass_hz=90.0,
        presence_db=2.5,
        compress=True,
        threshold_db=-20.0,
        ratio=3.5,
        reverb_wet=0.14,
        room_size=0.35,
    ),
    "Backing Vocals": StemChain(
        level_db=-5.0,
        highpass_hz=150.0,
        presence_db=1.0,
        compress=True,
        threshold_db=-22.0,
        ratio=3.0,
        reverb_wet=0.24,
        room_size=0.55,
    ),
    "Drums": StemChain(level_db=0.0, highpass_hz=30.0, compress=True, threshold_db=-14.0),
    "Bass": StemChain(level_db=0.0, highpass_hz=35.0, compress=True, threshold_db=-16.0),
    "Guitar": StemChain(level_db=-2.5, highpass_hz=80.0),
    "Keyboard": StemChain(level_db=-3.0, highpass_hz=60.0),
    "Percussion": StemChain(level_db=-5.0, highpass_hz=120.0),
    "Strings": StemChain(level_db=-5.0, highpass_hz=80.0),
    "Synth": StemChain(level_db=-4.0, highpass_hz=60.0),
    "FX": StemChain(level_db=-8.0, highpass_hz=100.0),
    "Brass": StemChain(level_db=-4.0, highpass_hz=90.0),
    "Woodwinds": StemChain(level_db=-4.0, highpass_hz=100.0),
}


def pan_mono(mono: npt.NDArray[np.float32], pan: float, gain: float = 1.0) -> AudioArray:
    """Constant-power pan of a mono signal to ``(n, 2)``; pan -1 is left, +1 right."""
    angle = (min(1.0, max(-1.0, pan)) + 1.0) * np.pi / 4.0
    out = np.empty((mono.shape[0], 2), dtype=np.float32)
    out[:, 0] = mono * np.float32(gain * np.cos(angle))
    out[:, 1] = mono * np.float32(gain * np.sin(angle))
    return out


def _board(chain: StemChain) -> Pedalboard:
    plugins: list[pb.Plugin] = []
    if chain.highpass_hz > 0:
        plugins.append(pb.HighpassFilter(cutoff_frequency_hz=chain.highpass_hz))
    if chain.presence_db:
        plugins.append(pb.PeakFilter(cutoff_frequency_hz=3200.0, gain_db=chain.presence_db, q=0.9))
    if chain.compress:
        plugins.append(
            pb.Compressor(
                threshold_db=chain.threshold_db, ratio=chain.ratio, attack_ms=8.0, release_ms=120.0
            )
        )
    if chain.reverb_wet > 0:
        plugins.append(
            pb.Reverb(
                room_size=chain.room_size,
                damping=0.5,
                wet_level=chain.reverb_wet,
                dry_level=1.0,
                width=chain.width,
            )
        )
    return Pedalboard(plugins)


#: Seconds of silence after a sounding span that still get processed: the longest chain
#: (the backing-vocal reverb, Freeverb at room size 0.55) has decayed by > 120 dB by then.
TAIL_S = 3.0
_SPAN_BLOCK = 1024


def sounding_spans(audio: AudioArray, sample_rate: int) -> list[tuple[int, int]]:
    """Sample spans to process: every non-silent block plus ``TAIL_S`` after it.

    Spans closer than the tail merge, so each kept gap is silent in and out: the effects'
    state (filters, compressor, reverb) has rung out and only zeros would come out.
    """
    n = audio.shape[0]
    whole = n // _SPAN_BLOCK
    # Interleaved frames make a block one contiguous row: fast reductions, no temporaries.
    flat = np.ascontiguousarray(audio).reshape(-1)
    row = flat.shape[0] // n if n else 1
    rows = flat[: whole * _SPAN_BLOCK * row].reshape(whole, _SPAN_BLOCK * row)
    sounding = (rows.max(axis=1) > 0) | (rows.min(axis=1) < 0)
    rest = flat[whole * _SPAN_BLOCK * row :]
    if rest.size:
        sounding = np.append(sounding, bool(np.any(rest)))
    active = np.flatnonzero(sounding)
    if active.size == 0:
        return []
    tail = math.ceil(TAIL_S * sample_rate / _SPAN_BLOCK)
    spans: list[tuple[int, int]] = []
    start = prev = int(active[0])
    for block in active[1:].tolist():
        if block - prev > tail + 1:
            spans.append((start, prev))
            start = block
        prev = block
    spans.append((start, prev))
    return [(a * _SPAN_BLOCK, min(n, (b + 1 + tail) * _SPAN_BLOCK)) for a, b in spans]


def process_stem(name: str, audio: AudioArray, sample_rate: int) -> AudioArray:
    """Apply the stem's chain and level to ``(n, 2)`` audio; returns ``(n, 2)`` float32.

    Only the sounding spans go through the effects (vocal stems are silent between lines
    and harmonies sing in choruses only); the silence between them stays exact zeros.
    """
    chain = CHAINS.get(name, StemChain())
    board = _board(chain)
    level = np.float32(10.0 ** (chain.level_db / 20.0))
    if len(board) == 0:
        return np.asarray(audio * level if chain.level_db else audio, dtype=np.float32)
    run = _mono_chain(board) if is_dual_mono(audio) else board
    spans = sounding_spans(audio, sample_rate)
    if len(spans) == 1 and spans[0] == (0, audio.shape[0]):
        out = np.asarray(run(audio, sample_rate, reset=True), dtype=np.float32)
    else:
        out = np.zeros(audio.shape, dtype=np.float32)
        for start, stop in spans:
            piece = np.ascontiguousarray(audio[start:stop])
            out[start:stop] = run(piece, sample_rate, reset=True)
    if chain.level_db:
        out *= level
    return out


_MONO_CHECK = 1 << 16


def is_dual_mono(audio: AudioArray) -> bool:
    """Whether both channels of ``(n, 2)`` audio hold the same samples (a centred mono
    part: the lead vocal, a bass); checked in chunks so a stereo stem stops early."""
    if audio.ndim != 2 or audio.shape[1] != 2:
        return False
    for start in range(0, audio.shape[0], _MONO_CHECK):
        chunk = audio[start : start + _MONO_CHECK]
        if not np.array_equal(chunk[:, 0], chunk[:, 1]):
            return False
    return True


def _mono_chain(board: Pedalboard) -> Callable[..., AudioArray]:
    """``board`` for dual-mono audio: its per-channel effects (filters, compressor) on one
    channel, copied to both, then the reverb (which mixes the channels) in stereo.

    The filters and JUCE's compressor treat each channel alone with the same settings, so
    the copy gives the very samples the stereo chain would, at half the cost.
    """
    plugins = list(board)
    split = next((i for i, p in enumerate(plugins) if isinstance(p, pb.Reverb)), len(plugins))
    per_channel, shared = Pedalboard(plugins[:split]), Pedalboard(plugins[split:])

    def run(audio: AudioArray, sample_rate: int, reset: bool = True) -> AudioArray:
        # pedalboard takes (samples, channels) as it is and answers in the same layout.
        mono = np.ascontiguousarray(audio[:, 0])
        if len(per_channel):
            mono = np.asarray(per_channel(mono, sample_rate, reset=reset), dtype=np.float32)
        out = np.empty(audio.shape, dtype=np.float32)
        out[:, 0] = mono
        out[:, 1] = mono
        if len(shared):
            out = np.asarray(shared(out, sample_rate, reset=reset), dtype=np.float32)
        return out

    return run


def mix_stems(stems: dict[str, AudioArray], sample_rate: int) -> dict[str, AudioArray]:
    """Process every stem, replacing each one in ``stems`` as it goes; returns them in
    Suno's stem order.

    Replacing in place keeps only the stems being processed alive twice, not a second copy
    of the whole song (a 3-minute song has ~60 MB per stem). Stems are independent, so they
    are processed in parallel where cores are free. The mix is the stems' plain sum.
    """
    order = {name: i for i, name in enumerate(STEM_NAMES)}
    names = sorted(stems, key=lambda s: order.get(s, len(order)))

    def job(name: str) -> Callable[[Callable[[], None]], None]:
        def run(step: Callable[[], None]) -> None:
            stems[name] = process_stem(name, stems.pop(name), sample_rate)
            step()

        return run

    # The costliest chains (compressor, reverb) first, so the last one to finish is short.
    costly = sorted(names, key=lambda s: -_chain_cost(CHAINS.get(s, StemChain())))
    run_all([job(name) for name in costly])
    return {name: stems[name] for name in names}


def _chain_cost(chain: StemChain) -> float:
    return 1.0 + 2.0 * chain.compress + 4.0 * (chain.reverb_wet > 0) + (chain.presence_db != 0)


def sum_stems(stems: dict[str, AudioArray]) -> AudioArray:
    """The mix: the plain sum, accumulated in float64 for an exact null test."""
    arrays = list(stems.values())
    if not arrays:
        raise ValueError("no stems to mix")
    total = np.zeros(arrays[0].shape, dtype=np.float64)
    for audio in arrays:
        total += audio
    return total.astype(np.float32)
