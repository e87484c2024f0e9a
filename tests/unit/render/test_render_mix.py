"""Per-stem mixing: panning, chains that keep the layout, and a mix that is a plain sum."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyloudnorm
import pytest

from cadenza.compose.mix import (
    CHAINS,
    GENRE_MIX,
    MAX_LIFT_DB,
    REVERB_DRY_GAIN,
    TAIL_S,
    GenreMix,
    MixPlan,
    _board,
    _glue,
    _with_ducked_reverb,
    balance,
    duck_gain,
    is_dual_mono,
    mix_stems,
    pan_mono,
    process_stem,
    sounding_spans,
    sum_stems,
)
from cadenza.compose.score import STEM_NAMES

SR = 44100


def _tone(seconds: float = 1.0, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    mono = (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def test_every_stem_name_has_a_chain() -> None:
    assert set(CHAINS) == set(STEM_NAMES)


@pytest.mark.parametrize("pan", [-1.0, -0.3, 0.0, 0.5, 1.0])
def test_pan_keeps_power(pan: float) -> None:
    mono = np.ones(10, np.float32)
    stereo = pan_mono(mono, pan, gain=0.5)
    assert stereo.shape == (10, 2) and stereo.dtype == np.float32
    assert float(np.sum(stereo[0] ** 2)) == pytest.approx(0.25, rel=1e-5)
    if pan < 0:
        assert stereo[0, 0] > stereo[0, 1]


def test_process_stem_keeps_layout_and_applies_level() -> None:
    audio = _tone(freq=1000.0)  # well above the high-pass corner
    out = process_stem("Guitar", audio, SR)
    assert out.shape == audio.shape and out.dtype == np.float32
    level = 10 ** (CHAINS["Guitar"].level_db / 20)
    middle = slice(SR // 4, 3 * SR // 4)  # past the high-pass filter's settling
    assert np.sqrt(np.mean(out[middle] ** 2)) == pytest.approx(
        level * np.sqrt(np.mean(audio[middle] ** 2)), rel=0.05
    )


def test_vocal_chain_adds_a_reverb_tail() -> None:
    audio = np.zeros((SR, 2), np.float32)
    audio[:2000] = _tone(2000 / SR, 440.0)
    out = process_stem("Vocals", audio, SR)
    assert np.abs(out[SR // 4 :]).max() > 1e-4  # the dry signal ended at 45 ms


def test_the_leads_reverb_ducks_under_the_voice_and_blooms_after_it() -> None:
    audio = np.zeros((3 * SR, 2), np.float32)
    audio[:SR] = _tone(1.0, 440.0)
    chain = CHAINS["Vocals"]
    assert chain.duck_db >= 6.0
    dry = process_stem("Vocals", audio, SR, dataclasses.replace(chain, reverb_wet=0.0))
    ducked = process_stem("Vocals", audio, SR, chain)
    inline = process_stem("Vocals", audio, SR, dataclasses.replace(chain, duck_db=0.0))

    def db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2)))

    def wet(out: np.ndarray) -> np.ndarray:
        return out - REVERB_DRY_GAIN * dry

    under = slice(SR // 4, 9 * SR // 10)  # while it sings: the send is down by duck_db
    assert db(wet(ducked)[under]) - db(wet(inline)[under]) == pytest.approx(-chain.duck_db, abs=1.0)
    after = slice(SR + SR // 2, 2 * SR)  # past the hold: the room rings as it would
    assert db(ducked[after]) == pytest.approx(db(inline[after]), abs=0.5)
    assert np.array_equal(duck_gain(np.zeros((100, 2), np.float32), SR, 12.0), np.ones(100))


def test_a_send_ducked_by_nothing_is_the_inline_reverb() -> None:
    audio = np.zeros((2 * SR, 2), np.float32)
    audio[: SR // 2] = _tone(0.5, 330.0)
    chain = dataclasses.replace(CHAINS["Vocals"], duck_db=0.0)
    inline = np.asarray(_board(chain)(audio, SR, reset=True), np.float32)
    sent = _with_ducked_reverb(_board(chain, reverb=False), chain)(audio, SR)
    residual = np.mean((sent - inline) ** 2) / np.mean(inline**2)
    assert residual < 1e-6


def test_mix_replaces_stems_in_order_and_sums() -> None:
    stems = {"Drums": _tone(0.5, 100), "Vocals": _tone(0.5, 300), "Bass": _tone(0.5, 60)}
    mixed = mix_stems(stems, SR)
    assert list(mixed) == ["Vocals", "Drums", "Bass"]
    assert all(stems[k] is mixed[k] for k in mixed)
    total = sum_stems(mixed)
    assert np.allclose(total, mixed["Vocals"] + mixed["Drums"] + mixed["Bass"], atol=1e-6)
    with pytest.raises(ValueError):
        sum_stems({})


def test_sounding_spans_cover_sound_and_tail_and_merge_close_gaps() -> None:
    audio = np.zeros((30 * SR, 2), np.float32)
    audio[SR : 2 * SR] = 0.1  # 1-2 s
    audio[3 * SR : 4 * SR] = 0.1  # 1 s later: merges with the first
    audio[20 * SR : 21 * SR, 1] = 0.1  # far away: a span of its own
    spans = sounding_spans(audio, SR)
    assert len(spans) == 2
    (a, b), (c, d) = spans
    assert a <= SR and b >= 4 * SR + int(TAIL_S * SR)
    assert c <= 20 * SR and d == min(audio.shape[0], d) and d >= 21 * SR + int(TAIL_S * SR)
    assert sounding_spans(np.zeros((SR, 2), np.float32), SR) == []


def test_processing_spans_matches_one_pass_and_keeps_silence_silent() -> None:
    audio = np.zeros((25 * SR, 2), np.float32)
    audio[SR : 3 * SR] = _tone(2.0)
    audio[15 * SR : 16 * SR] = _tone(1.0, 330.0)
    out = process_stem("Backing Vocals", audio, SR)
    board = _board(CHAINS["Backing Vocals"])
    level = np.float32(10 ** (CHAINS["Backing Vocals"].level_db / 20))
    reference = np.asarray(board(audio, SR, reset=True), np.float32) * level
    residual = np.mean((out - reference) ** 2) / np.mean(reference**2)
    assert 10 * np.log10(residual) < -60
    assert not np.any(out[10 * SR : 14 * SR])  # between the spans: exact zeros
    assert np.abs(out[3 * SR : 4 * SR]).max() > 1e-4  # the reverb tail is kept


def test_dual_mono_is_told_from_stereo_even_late_in_the_stem() -> None:
    centred = pan_mono(np.linspace(-0.5, 0.5, 3 * SR, dtype=np.float32), 0.0)
    assert is_dual_mono(centred)
    wide = centred.copy()
    wide[-1, 1] += np.float32(1e-3)  # past the first chunks the check reads
    assert not is_dual_mono(wide)
    assert not is_dual_mono(centred[:, :1])


@pytest.mark.parametrize("name", ["Vocals", "Bass"])
def test_dual_mono_stems_get_the_samples_of_the_stereo_chain(name: str) -> None:
    rng = np.random.default_rng(5)
    mono = (0.3 * rng.standard_normal(2 * SR)).astype(np.float32)
    mono[SR // 2 : SR] = 0.0  # a short gap: one span, the effects run through it
    centred = pan_mono(mono, 0.0)
    assert is_dual_mono(centred)
    chain = CHAINS[name]
    stereo = _board(chain)
    if chain.duck_db:
        stereo = _with_ducked_reverb(_board(chain, reverb=False), chain)
    expected = np.asarray(stereo(centred, SR, reset=True), dtype=np.float32)
    expected *= np.float32(10.0 ** (chain.level_db / 20.0))
    out = process_stem(name, centred, SR)
    assert np.array_equal(out, expected)
    if chain.reverb_wet:  # the reverb still runs in stereo: its channels differ
        assert not is_dual_mono(out)


def _noise(seconds: float, level: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal((int(seconds * SR), 2))).astype(np.float32)


def test_balance_sets_the_lead_over_the_band_and_the_harmonies_under_it() -> None:
    band = _noise(10.0, 0.01)
    lead = np.zeros_like(band)
    lead[2 * SR : 9 * SR] = _tone(7.0, 330.0) * 2.0  # far over the band, as sung
    harmony = np.zeros_like(band)
    harmony[5 * SR : 9 * SR] = _tone(4.0, 415.0) * 2.0  # as loud as the lead
    stems = {"Vocals": lead, "Backing Vocals": harmony, "Keyboard": band}
    kept = dict(stems)
    balance(stems, SR, MixPlan("rock"))
    assert all(stems[k] is kept[k] for k in stems)  # gains applied in place
    meter = pyloudnorm.Meter(SR)
    sung = slice(2 * SR, 9 * SR)
    voice = meter.integrated_loudness(stems["Vocals"][sung].astype(np.float64))
    over = voice - meter.integrated_loudness(stems["Keyboard"][sung].astype(np.float64))
    assert over == pytest.approx(GENRE_MIX["rock"].vocal_lu, abs=0.3)
    both = slice(5 * SR, 9 * SR)
    under = meter.integrated_loudness(
        stems["Backing Vocals"][both].astype(np.float64)
    ) - meter.integrated_loudness(stems["Vocals"][both].astype(np.float64))
    assert under == pytest.approx(GENRE_MIX["rock"].backing_lu, abs=0.5)


def test_balance_brings_a_quiet_intro_up_but_not_level() -> None:
    intro, song = _noise(4.0, 0.002, 2), _noise(16.0, 0.05, 3)
    stems = {"Keyboard": np.concatenate([intro, song]), "Drums": np.zeros((20 * SR, 2), "f")}
    plan = MixPlan("pop", ((0, 4 * SR), (4 * SR, 20 * SR)))
    result = balance(stems, SR, plan)
    assert result.lift_db[1] == 0.0
    assert 0.0 < result.lift_db[0] <= MAX_LIFT_DB
    meter = pyloudnorm.Meter(SR)
    mix = stems["Keyboard"].astype(np.float64)
    gap = meter.integrated_loudness(mix[4 * SR :]) - meter.integrated_loudness(mix[: 4 * SR])
    assert gap > 1.0  # lighter
    # 28 dB under the song is more than the largest lift: it comes up by that much.
    assert result.lift_db[0] == pytest.approx(MAX_LIFT_DB)
    louder = np.concatenate([intro * 10, song])  # 8 dB under: lifted to the floor exactly
    stems = {"Keyboard": louder}
    result = balance(stems, SR, plan)
    mix = stems["Keyboard"].astype(np.float64)
    # the song's loudness, its last seconds (an ending) left out, to the intro's
    gap = meter.integrated_loudness(mix[: 14 * SR]) - meter.integrated_loudness(mix[: 4 * SR])
    assert gap == pytest.approx(GENRE_MIX["pop"].floor_lu, abs=0.3)


def test_glue_holds_the_bands_loud_hits_and_leaves_the_rest() -> None:
    band = _noise(4.0, 0.02, 4)
    for second in range(4):  # a loud hit each second, as a kick and snare
        band[second * SR : second * SR + 2000] *= 12.0
    gain = _glue(band, SR, GenreMix(glue_ratio=2.5))
    assert gain is not None and gain.shape == (band.shape[0],)
    reduction = -20 * np.log10(gain)
    hit = reduction[SR : SR + 2000].max()
    between = np.median(reduction[SR + SR // 2 : 2 * SR])
    assert 3.0 < hit < 20.0 and between < 1.0
    assert _glue(band, SR, GenreMix(glue_ratio=1.0)) is None
