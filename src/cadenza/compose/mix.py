"""Per-stem mixing: every effect runs on one stem, so the stems still sum to the mix.

A bus effect on the summed mix (bus compression, a master reverb) would make the stems stop
adding up to ``song.wav``; what is applied across stems is gain only, computed once and
applied to each stem: the balance (the lead vocal set against the band by loudness and
ridden section by section, harmonies under the lead), the section levels (quiet sections
brought up towards the song, as an engineer rides the faders of an intro or a break) and
the master's envelope (see ``master.py``).

Audio layout is ``(samples, 2)`` float32 throughout.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pedalboard as pb
from pedalboard._pedalboard import Pedalboard

from cadenza.compose.master import FrameGain, hop_energies, span_loudness
from cadenza.compose.parallel import run_all
from cadenza.compose.score import STEM_NAMES

if TYPE_CHECKING:
    from cadenza.compose.score import Score

AudioArray = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
VOCAL_STEMS = frozenset({"Vocals", "Backing Vocals"})
#: How far the lead's reverb return dips under its words (see ``StemChain.duck_db``):
#: pocketsphinx lost 0.08 more of the sung words with the reverb than without (line WER,
#: dry lead over six seeds); ducked by 12 dB, half of that came back.
DUCK_DB = 12.0


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
    #: How far the reverb's return is lowered while the voice sings (dB): a ducked send,
    #: as engineers keep a lead's words dry and let its room bloom in the gaps.
    duck_db: float = 0.0


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
        duck_db=DUCK_DB,
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


def _board(chain: StemChain, reverb: bool = True) -> Pedalboard:
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
    if chain.reverb_wet > 0 and reverb:
        plugins.append(_reverb(chain, dry_level=1.0))
    return Pedalboard(plugins)


def _reverb(chain: StemChain, dry_level: float) -> pb.Reverb:
    return pb.Reverb(
        room_size=chain.room_size,
        damping=0.5,
        wet_level=chain.reverb_wet,
        dry_level=dry_level,
        width=chain.width,
    )


#: Seconds of silence after a sounding span that still get processed: the longest chain
#: (the backing-vocal reverb, Freeverb at room size 0.55) has decayed by > 120 dB by then.
TAIL_S = 3.0
_SPAN_BLOCK = 1024


def block_peaks(audio: AudioArray, block: int) -> AudioArray:
    """The peak magnitude of each ``block`` frames of ``(n, channels)`` audio, the last
    block possibly short."""
    n = audio.shape[0]
    whole = n // block
    # Interleaved frames make a block one contiguous row: fast reductions, no temporaries.
    flat = np.ascontiguousarray(audio).reshape(-1)
    row = flat.shape[0] // n if n else 1
    rows = flat[: whole * block * row].reshape(whole, block * row)
    peaks = np.maximum(rows.max(axis=1, initial=0.0), -rows.min(axis=1, initial=0.0))
    rest = flat[whole * block * row :]
    if rest.size:
        peaks = np.append(peaks, np.abs(rest).max())
    return np.asarray(peaks, dtype=np.float32)


def sounding_spans(audio: AudioArray, sample_rate: int) -> list[tuple[int, int]]:
    """Sample spans to process: every non-silent block plus ``TAIL_S`` after it.

    Spans closer than the tail merge, so each kept gap is silent in and out: the effects'
    state (filters, compressor, reverb) has rung out and only zeros would come out.
    """
    n = audio.shape[0]
    active = np.flatnonzero(block_peaks(audio, _SPAN_BLOCK) > 0)
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


def process_stem(
    name: str, audio: AudioArray, sample_rate: int, chain: StemChain | None = None
) -> AudioArray:
    """Apply the stem's chain (``chain``, else its default) and level to ``(n, 2)`` audio;
    returns ``(n, 2)`` float32.

    Only the sounding spans go through the effects (vocal stems are silent between lines
    and harmonies sing in choruses only); the silence between them stays exact zeros.
    """
    chain = chain or CHAINS.get(name, StemChain())
    ducked = chain.duck_db > 0 and chain.reverb_wet > 0
    board = _board(chain, reverb=not ducked)
    level = np.float32(10.0 ** (chain.level_db / 20.0))
    if len(board) == 0 and not ducked:
        return np.asarray(audio * level if chain.level_db else audio, dtype=np.float32)
    run: Callable[..., AudioArray] = _mono_chain(board) if is_dual_mono(audio) else board
    if ducked:
        run = _with_ducked_reverb(run, chain)
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


#: What ``pb.Reverb`` does to its dry signal at ``dry_level=1.0`` (JUCE's dry scale
#: factor): a ducked send keeps it, so a chain's balance is the same with or without one.
REVERB_DRY_GAIN = np.float32(2.0)
#: Ducking: the voice's level is followed in blocks of ``_DUCK_BLOCK`` samples, held for
#: ``DUCK_HOLD_S`` after it falls (the gaps between words stay dry, a phrase's end blooms)
#: and eased over ``DUCK_EASE_S``; a block counts as sung within ``DUCK_RANGE_DB`` of the
#: voice's loud level (its 90th percentile).
_DUCK_BLOCK = 256
DUCK_HOLD_S = 0.3
DUCK_EASE_S = 0.08
DUCK_RANGE_DB = 30.0


def duck_gain(dry: AudioArray, sample_rate: int, depth_db: float) -> AudioArray:
    """Per-sample gain for a reverb return: ``-depth_db`` while ``dry`` sounds, 0 dB in
    its gaps (after a short hold), with eased edges so the room swells rather than jumps."""
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import lfilter

    n = dry.shape[0]
    level = block_peaks(dry, _DUCK_BLOCK).astype(np.float64)
    loud = level[level > 1e-5]
    if loud.size == 0:
        return np.ones(n, dtype=np.float32)
    floor = float(np.percentile(loud, 90)) * 10.0 ** (-DUCK_RANGE_DB / 20.0)
    hold = max(1, round(DUCK_HOLD_S * sample_rate / _DUCK_BLOCK))
    # A trailing window: a block stays ducked while any of the last ``hold`` blocks sang.
    sung = maximum_filter1d((level > floor).astype(np.float64), 2 * hold + 1, origin=-hold)
    ease = math.exp(-_DUCK_BLOCK / (DUCK_EASE_S * sample_rate))
    amount = np.asarray(lfilter([1.0 - ease], [1.0, -ease], sung), dtype=np.float64)
    gains = (10.0 ** (-depth_db * np.clip(amount, 0.0, 1.0) / 20.0)).astype(np.float32)
    # Linear from each block's gain to the next's, sample by sample.
    following = np.append(gains[1:], gains[-1])
    ramp = np.arange(_DUCK_BLOCK, dtype=np.float32) / np.float32(_DUCK_BLOCK)
    out = gains[:, None] + (following - gains)[:, None] * ramp[None, :]
    return np.ascontiguousarray(out.reshape(-1)[:n])


def _with_ducked_reverb(
    run: Callable[..., AudioArray], chain: StemChain
) -> Callable[..., AudioArray]:
    """``run`` followed by the chain's reverb on a send ducked under the voice."""
    reverb = Pedalboard([_reverb(chain, dry_level=0.0)])

    def ducked(audio: AudioArray, sample_rate: int, reset: bool = True) -> AudioArray:
        dry = np.asarray(run(audio, sample_rate, reset=reset), dtype=np.float32)
        wet = np.asarray(reverb(dry, sample_rate, reset=reset), dtype=np.float32)
        wet *= duck_gain(dry, sample_rate, chain.duck_db)[:, None]
        dry *= REVERB_DRY_GAIN
        return dry + wet

    return ducked


@dataclass(frozen=True)
class GenreMix:
    """How a genre balances its song: a mixing engineer's habits, per genre."""

    #: The lead's loudness over the band's while it sings (LU): rap and folk sit on top,
    #: rock and metal push the voice into the guitars.
    vocal_lu: float = 2.0
    #: Harmonies and doubles under the lead (LU).
    backing_lu: float = -6.0
    vocal_reverb: float = 0.14
    #: How far the ride may move the lead from its song-wide level, per section (dB).
    ride_db: float = 3.0
    #: Sections more than this below the song (LU) are brought up to it.
    floor_lu: float = 4.5
    #: No section more than this under a neighbour (LU): a chorus into an outro.
    jump_lu: float = 6.0
    #: The band bus compressor ("glue"): ratio (1 = off) and threshold over the band's
    #: median short-term level (dB). It holds the drums' hits and the loud chords
    #: together so the band reads as one instrument under the voice.
    glue_ratio: float = 2.0
    glue_over_db: float = 4.0


GENRE_MIX: dict[str, GenreMix] = {
    "pop": GenreMix(),
    "kpop": GenreMix(vocal_reverb=0.15),
    "rock": GenreMix(vocal_lu=1.0, backing_lu=-7.0, vocal_reverb=0.11, glue_ratio=2.5),
    "metal": GenreMix(vocal_lu=0.0, backing_lu=-7.0, vocal_reverb=0.09, glue_ratio=3.0),
    "punk": GenreMix(vocal_lu=0.5, backing_lu=-6.5, vocal_reverb=0.08, glue_ratio=2.5),
    "synthwave": GenreMix(vocal_lu=1.0, vocal_reverb=0.18),
    "lofi": GenreMix(vocal_lu=1.0, vocal_reverb=0.12),
    "hiphop": GenreMix(vocal_lu=3.0, backing_lu=-7.0, vocal_reverb=0.07, glue_ratio=2.5),
    "trap": GenreMix(vocal_lu=2.5, backing_lu=-7.0, vocal_reverb=0.08, glue_ratio=2.5),
    "edm": GenreMix(vocal_lu=1.0, vocal_reverb=0.16, glue_ratio=2.5),
    "jazz": GenreMix(vocal_lu=2.0, vocal_reverb=0.16, glue_ratio=1.5),
    "blues": GenreMix(vocal_lu=1.5, vocal_reverb=0.14),
    "country": GenreMix(vocal_lu=2.5, vocal_reverb=0.12),
    "folk": GenreMix(vocal_lu=3.0, vocal_reverb=0.16, glue_ratio=1.5),
    "rnb": GenreMix(vocal_lu=2.5, backing_lu=-5.5, vocal_reverb=0.16),
    "reggae": GenreMix(vocal_lu=2.0, vocal_reverb=0.14),
    "latin": GenreMix(vocal_lu=2.0, vocal_reverb=0.14),
    "orchestral": GenreMix(vocal_lu=1.5, vocal_reverb=0.22, glue_ratio=1.0),
    "ambient": GenreMix(vocal_lu=1.0, vocal_reverb=0.26, glue_ratio=1.0),
    "holiday": GenreMix(vocal_lu=2.5, vocal_reverb=0.18),
    "funk": GenreMix(vocal_lu=1.5, vocal_reverb=0.10),
    "chinese": GenreMix(vocal_lu=3.0, vocal_reverb=0.20, glue_ratio=1.5),
}

#: The most a quiet section is brought up (dB): an intro stays lighter than the song.
MAX_LIFT_DB = 12.0
#: Length of the gain ramps at section boundaries (s): the lead's ride moves while it
#: breathes, the section fader as the next section lands.
RIDE_RAMP_S = 0.3
LIFT_RAMP_S = 0.5
#: The end of a song is left as written (its final chord rings out).
ENDING_S = 6.0


@dataclass(frozen=True)
class MixPlan:
    """What the mix knows of the song: its genre and its sections' sample spans."""

    genre: str = ""
    sections: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_score(cls, score: Score, sample_rate: int, samples: int) -> MixPlan:
        """The plan of ``score`` rendered ``samples`` long (its head, for a preview)."""
        bounds = [
            round(score.seconds(s.start_bar * score.beats_per_bar) * sample_rate)
            for s in score.sections
        ]
        spans = []
        for i, start in enumerate(bounds):
            stop = bounds[i + 1] if i + 1 < len(bounds) else samples
            start, stop = min(start, samples), min(stop, samples)
            if stop > start:
                spans.append((start, stop))
        return cls(score.genre, tuple(spans))


@dataclass(frozen=True)
class Balance:
    """The gains the mix chose, in dB per section (for a report and for tests)."""

    vocal_db: tuple[float, ...] = ()
    backing_db: tuple[float, ...] = ()
    lift_db: tuple[float, ...] = ()


def mix_stems(
    stems: dict[str, AudioArray], sample_rate: int, plan: MixPlan | None = None
) -> dict[str, AudioArray]:
    """Process every stem, replacing each one in ``stems`` as it goes, then balance them
    (see ``balance``); returns them in Suno's stem order.

    Replacing in place keeps only the stems being processed alive twice, not a second copy
    of the whole song (a 3-minute song has ~60 MB per stem). Stems are independent, so they
    are processed in parallel where cores are free. The mix is the stems' plain sum.
    """
    plan = plan or MixPlan()
    habits = GENRE_MIX.get(plan.genre, GenreMix())
    chains = dict(CHAINS)
    chains["Vocals"] = dataclasses.replace(CHAINS["Vocals"], reverb_wet=habits.vocal_reverb)
    order = {name: i for i, name in enumerate(STEM_NAMES)}
    names = sorted(stems, key=lambda s: order.get(s, len(order)))

    def job(name: str) -> Callable[[Callable[[], None]], None]:
        def run(step: Callable[[], None]) -> None:
            stems[name] = process_stem(
                name, stems.pop(name), sample_rate, chains.get(name, StemChain())
            )
            step()

        return run

    # The costliest chains (compressor, reverb) first, so the last one to finish is short.
    costly = sorted(names, key=lambda s: -_chain_cost(chains.get(s, StemChain())))
    run_all([job(name) for name in costly])
    ordered = {name: stems[name] for name in names}
    balance(ordered, sample_rate, plan)
    return ordered


def balance(stems: dict[str, AudioArray], sample_rate: int, plan: MixPlan) -> Balance:
    """Set the lead against the band, the harmonies under the lead and the quiet sections
    up towards the song: gain only, computed from the stems' loudness and applied to each
    stem in place, so the stems still sum to the mix.

    The lead sits ``vocal_lu`` over the band across its sung span and is ridden section by
    section (within ``ride_db``) as the band grows and falls; a section whose mix is more
    than ``floor_lu`` below the song's loudness is raised to that floor (at most
    ``MAX_LIFT_DB``), all of its stems alike, so an intro or a break stays lighter but
    audible. The last ``ENDING_S`` seconds are not measured: the song ends as written.
    """
    if not stems:
        return Balance()
    habits = GENRE_MIX.get(plan.genre, GenreMix())
    n = next(iter(stems.values())).shape[0]
    spans = list(plan.sections) or [(0, n)]
    band_names = [k for k in stems if k not in VOCAL_STEMS]
    hop = round(0.1 * sample_rate)
    glue: npt.NDArray[np.float32] | None = None

    def measure_band(step: Callable[[], None]) -> FloatArray:
        nonlocal glue
        if not band_names:
            return np.zeros(n // hop)
        band = stems[band_names[0]].copy()
        for name in band_names[1:]:
            band += stems[name]
        glue = _glue(band, sample_rate, habits)
        if glue is not None:
            FrameGain(glue)(band)
        step()
        return hop_energies(band, sample_rate)[0]

    def measure(name: str) -> Callable[[Callable[[], None]], FloatArray | None]:
        def run(step: Callable[[], None]) -> FloatArray | None:
            audio = stems.get(name)
            step()
            return None if audio is None else hop_energies(audio, sample_rate)[0]

        return run

    # Independent K-weighting passes (scipy releases the GIL): the band's and the voices'.
    band_e, vocal_all, backing_all = run_all(
        [measure_band, measure("Vocals"), measure("Backing Vocals")]
    )
    assert band_e is not None
    hops = band_e.shape[0]
    if hops < 4:
        return Balance()
    at = [(min(hops, a // hop), min(hops, b // hop)) for a, b in spans]
    vocal_e = _sounding(vocal_all, hops)
    backing_e = _sounding(backing_all, hops)

    vocal_db = [0.0] * len(at)
    if vocal_e is not None and band_names:
        vocal_db = _ride(vocal_e, band_e, at, hop, habits)
    vocal_hops = _per_hop(vocal_db, at, hops)
    backing_db = list(vocal_db)
    if backing_e is not None:
        lead = vocal_e * 10.0 ** (vocal_hops / 10.0) if vocal_e is not None else None
        backing_db = _under_lead(backing_e, lead, vocal_db, hop, habits)
    backing_hops = _per_hop(backing_db, at, hops)

    total = band_e.copy()
    if vocal_e is not None:
        total += vocal_e * 10.0 ** (vocal_hops / 10.0)
    if backing_e is not None:
        total += backing_e * 10.0 ** (backing_hops / 10.0)
    lift_db = _lifts(total, at, hop, hops - round(ENDING_S * sample_rate / hop), habits)

    lift = _curve(n, spans, lift_db, LIFT_RAMP_S * sample_rate)
    gains: dict[str, npt.NDArray[np.float32] | None] = {}
    band_gain = glue if lift is None else (lift if glue is None else glue * lift)
    shared = FrameGain(band_gain) if band_gain is not None else None
    for name, values in (("Vocals", vocal_db), ("Backing Vocals", backing_db)):
        if name in stems:
            ride = _curve(n, spans, values, RIDE_RAMP_S * sample_rate)
            gains[name] = ride if lift is None else (lift if ride is None else ride * lift)

    def apply(name: str) -> Callable[[Callable[[], None]], None]:
        def run(step: Callable[[], None]) -> None:
            gain = gains.get(name) if name in VOCAL_STEMS else None
            scale = FrameGain(gain) if gain is not None else shared
            if scale is not None:
                scale(stems[name])
            step()

        return run

    run_all([apply(name) for name in stems])
    return Balance(tuple(vocal_db), tuple(backing_db), tuple(lift_db))


#: The glue's detector: 10 ms blocks, 10 ms attack, 250 ms release, 6 dB soft knee.
_GLUE_BLOCK_S = 0.01
_GLUE_ATTACK_S = 0.01
_GLUE_RELEASE_S = 0.25
_GLUE_KNEE_DB = 6.0


def _glue(band: AudioArray, sample_rate: int, habits: GenreMix) -> npt.NDArray[np.float32] | None:
    """The band bus compressor's gain per sample, from the band's sum: linked across its
    stems (one envelope for all), so it glues them without moving one against another and
    the stems still sum to the mix. ``None`` where it would do nothing."""
    if habits.glue_ratio <= 1.0:
        return None
    n = band.shape[0]
    block = max(1, round(_GLUE_BLOCK_S * sample_rate))
    count = n // block
    if count < 8:
        return None
    flat = np.ascontiguousarray(band[: count * block]).reshape(count, -1)
    power = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) / flat.shape[1]
    sounding = power > 1e-10
    if not np.any(sounding):
        return None
    level = 10.0 * np.log10(np.maximum(power, 1e-12))
    threshold = float(np.median(level[sounding])) + habits.glue_over_db
    over = level - threshold
    knee = _GLUE_KNEE_DB / 2.0
    slope = 1.0 - 1.0 / habits.glue_ratio
    reduction = np.where(
        over <= -knee,
        0.0,
        np.where(over >= knee, slope * over, slope * (over + knee) ** 2 / (4.0 * knee)),
    )
    if float(reduction.max()) < 0.05:
        return None
    attack = math.exp(-_GLUE_BLOCK_S / _GLUE_ATTACK_S)
    release = math.exp(-_GLUE_BLOCK_S / _GLUE_RELEASE_S)
    smoothed = np.empty(count, dtype=np.float64)
    state = 0.0
    for i, target in enumerate(reduction.tolist()):
        coeff = attack if target > state else release
        state = target + coeff * (state - target)
        smoothed[i] = state
    # Linear between block edges: the envelope's values at each block's start.
    nodes = np.empty(count + 1, dtype=np.float32)
    nodes[0] = 1.0
    nodes[1:] = 10.0 ** (-smoothed / 20.0)
    ramp = (np.arange(block, dtype=np.float32) / np.float32(block))[None, :]
    left = nodes[:-1, None]
    gain = np.empty(n, dtype=np.float32)
    gain[: count * block] = (left + (nodes[1:, None] - left) * ramp).reshape(-1)
    gain[count * block :] = nodes[-1]
    return gain


def _sounding(energy: FloatArray | None, hops: int) -> FloatArray | None:
    if energy is None or not np.any(energy):
        return None
    return energy[:hops]


def _per_hop(values_db: list[float], at: list[tuple[int, int]], hops: int) -> FloatArray:
    out = np.zeros(hops, dtype=np.float64)
    for (a, b), value in zip(at, values_db, strict=True):
        out[a:b] = value
    return out


def _ride(
    vocal: FloatArray, band: FloatArray, at: list[tuple[int, int]], hop: int, habits: GenreMix
) -> list[float]:
    """The lead's gain per section (dB): ``vocal_lu`` over the band across the sung span,
    each section nudged towards that balance within ``ride_db``."""
    sung = np.flatnonzero(vocal > 0)
    first, last = int(sung[0]), int(sung[-1]) + 1
    band_lufs = span_loudness(band[first:last], hop)
    vocal_lufs = span_loudness(vocal[first:last], hop)
    if not (math.isfinite(band_lufs) and math.isfinite(vocal_lufs)):
        return [0.0] * len(at)
    static = band_lufs + habits.vocal_lu - vocal_lufs
    gains = []
    for a, b in at:
        v, w = span_loudness(vocal[a:b], hop), span_loudness(band[a:b], hop)
        if math.isfinite(v) and math.isfinite(w):
            wanted = w + habits.vocal_lu - v
            gains.append(min(static + habits.ride_db, max(static - habits.ride_db, wanted)))
        else:
            gains.append(static)
    # The ride moves the lead section by section; the song-wide balance stays as set.
    ridden = vocal * 10.0 ** (_per_hop(gains, at, vocal.shape[0]) / 10.0)
    correction = band_lufs + habits.vocal_lu - span_loudness(ridden[first:last], hop)
    if not math.isfinite(correction):
        return gains
    return [g + correction for g in gains]


def _under_lead(
    backing: FloatArray,
    lead: FloatArray | None,
    lead_db: list[float],
    hop: int,
    habits: GenreMix,
) -> list[float]:
    """The harmonies' gain per section (dB): they follow the lead's ride and sit
    ``backing_lu`` under it where both sing."""
    if lead is None:
        return list(lead_db)
    both = (backing > 0) & (lead > 0)
    if not np.any(both):
        return list(lead_db)
    shared = np.flatnonzero(both)
    first, last = int(shared[0]), int(shared[-1]) + 1
    offset = (
        span_loudness(lead[first:last], hop)
        + habits.backing_lu
        - span_loudness(backing[first:last], hop)
    )
    if not math.isfinite(offset):
        return list(lead_db)
    return [offset] * len(lead_db)


def _lifts(
    total: FloatArray, at: list[tuple[int, int]], hop: int, measured: int, habits: GenreMix
) -> list[float]:
    """Per section, the gain (dB) that brings it to ``floor_lu`` under the song and to
    within ``jump_lu`` of its louder neighbour."""
    levels = [span_loudness(total[a : min(b, measured)], hop) for a, b in at]
    lifts = [0.0] * len(at)
    for _ in range(3):  # lifting the quiet sections raises the song a little: settle it
        lifted = total * 10.0 ** (_per_hop(lifts, at, total.shape[0]) / 10.0)
        song = span_loudness(lifted[: max(4, measured)], hop)
        if not math.isfinite(song):
            return lifts
        lifts = [
            min(MAX_LIFT_DB, max(0.0, song - habits.floor_lu - level))
            if math.isfinite(level)
            else 0.0
            for level in levels
        ]
        for _ in range(len(at)):
            now = [lv + lift for lv, lift in zip(levels, lifts, strict=True)]
            changed = False
            for i, level in enumerate(levels):
                if not math.isfinite(level):
                    continue
                near = [now[j] for j in (i - 1, i + 1) if 0 <= j < len(now)]
                loudest = max((x for x in near if math.isfinite(x)), default=-math.inf)
                wanted = min(MAX_LIFT_DB, loudest - habits.jump_lu - level)
                if wanted > lifts[i] + 1e-3:
                    lifts[i], changed = wanted, True
            if not changed:
                break
    return lifts


def _curve(
    n: int, spans: list[tuple[int, int]], values_db: list[float], ramp: float
) -> npt.NDArray[np.float32] | None:
    """A per-sample gain: each span at its value, linear ramps of ``ramp`` samples centred
    on the boundaries; ``None`` where it would be 0 dB throughout."""
    if all(abs(v) < 1e-6 for v in values_db):
        return None
    gains = [10.0 ** (v / 20.0) for v in values_db]
    out = np.full(n, gains[0], dtype=np.float32)
    half = round(ramp / 2.0)
    for i in range(1, len(spans)):
        edge = spans[i][0]
        out[edge:] = gains[i]
        a, b = max(0, edge - half), min(n, edge + half)
        if b > a and gains[i] != gains[i - 1]:
            out[a:b] = np.linspace(gains[i - 1], gains[i], b - a, dtype=np.float32)
    return out


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
