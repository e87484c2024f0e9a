"""Speech sources and named singers: Flite's timings, determinism, fallbacks, choice."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from voice_phrases import RATE, TEMPO, english_part, make_part, mandarin_part, part_seconds

from cadenza.compose.score import Score, VocalPart, VoiceSettings
from cadenza.compose.style import resolve_style
from cadenza.compose.voice import VoiceBank, flite, sing, sources
from cadenza.compose.voice.phonemes import is_vowel, syllabify

needs_flite = pytest.mark.skipif(not flite.available("slt"), reason="libflite1 is not installed")


@needs_flite
@pytest.mark.parametrize("voice", ["kal16", "slt", "awb"])
def test_flite_phonemes_tile_the_speech_in_order(voice: str) -> None:
    said = flite.speak_fresh([("the rain is falling", voice, ())])[0]
    total = len(said.pcm) // 2
    assert said.sample_rate == 16000
    spans = [(p.start, p.end) for p in said.phones]
    assert all(a < b for a, b in spans)
    assert all(b1 == a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    assert 0 < spans[-1][1] <= total
    spoken = [p.ipa for p in said.phones if p.ipa]
    assert spoken[:3] == ["ð", "ə", "ɹ"]
    assert sum(is_vowel(p) for p in spoken) == 5  # the, rain, is, fal-ling
    # every phoneme lasts like speech does: 15-400 ms
    assert all(0.015 <= (p.end - p.start) / 16000 <= 0.4 for p in said.phones if p.ipa)


@needs_flite
def test_a_flite_source_speaks_at_the_analysis_rate_with_scaled_timings() -> None:
    source = sources.source_for("kal", "en-us")
    assert isinstance(source, sources.FliteSource)
    said = source.speak_many(["beautiful"])[0]
    assert said.sample_rate == sources.ANALYSIS_RATE
    assert said.phones[-1].end <= said.length
    assert len(syllabify(said.phones)) == 3


@needs_flite
def test_flite_speech_is_the_same_in_every_fresh_process() -> None:
    requests = [("hold my hand", "slt", (("int_f0_target_mean", 180.0),)), ("go", "awb", ())]
    first = flite.speak_fresh(requests)
    again = flite.speak_fresh(requests[:1])
    assert first[0] == again[0]
    assert first[0] != first[1]


@needs_flite
def test_a_named_singer_sings_the_same_samples_twice() -> None:
    part = english_part(VoiceSettings(gender="female", formant_scale=1.17, singer="slt"), 62)
    one = sing(part, TEMPO, part_seconds(part), RATE)
    two = sing(part, TEMPO, part_seconds(part), RATE)
    assert np.array_equal(one, two)
    assert float(np.max(np.abs(one))) == pytest.approx(0.5, abs=1e-6)


@needs_flite
def test_named_singers_differ_from_each_other_and_from_espeak() -> None:
    base = VoiceSettings(gender="male")
    takes = {
        name: sing(english_part(replace(base, singer=name)), TEMPO, 8.0, RATE)
        for name in ("", "kal", "awb")
    }
    assert not np.array_equal(takes[""], takes["kal"])
    assert not np.array_equal(takes["kal"], takes["awb"])


def test_a_missing_flite_library_is_an_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flite, "_LIBRARY", "libflite-absent.so.0")
    engine = flite._Engine()
    with pytest.raises(flite.FliteError):
        engine.speak("hello", "slt", (), None)


def test_a_missing_flite_voice_falls_back_to_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "_installed", lambda voice: False)
    assert isinstance(sources.source_for("slt", "en-us"), sources.EspeakSource)
    part = english_part(VoiceSettings(gender="female", singer="slt"), 62)
    audio = sing(part, TEMPO, part_seconds(part), RATE)
    assert float(np.max(np.abs(audio))) > 0.4


def test_mandarin_is_sung_by_espeak_for_every_singer() -> None:
    assert isinstance(sources.source_for("slt", "cmn-latn-pinyin"), sources.EspeakSource)
    legacy = mandarin_part()
    named = replace(legacy, voice=replace(legacy.voice, singer="slt"))
    seconds = part_seconds(legacy)
    assert np.array_equal(sing(legacy, TEMPO, seconds, RATE), sing(named, TEMPO, seconds, RATE))


def test_unknown_singer_names_are_the_espeak_singer() -> None:
    assert sources.singer("nobody").name == sources.ESPEAK
    assert isinstance(sources.source_for("", "en-us"), sources.EspeakSource)


def test_every_gender_has_two_singers_and_tags_choose_among_them() -> None:
    for gender in ("male", "female"):
        assert len(sources.singers_for(gender)) >= 2
    assert sources.choose_singer("male", "raspy rock", 0.0) == "awb"
    assert sources.choose_singer("female", "soft folk", 0.99) == "slt"
    assert sources.choose_singer("female", "bright pop", 0.0) == "kal-f"


def test_seeds_draw_singers_by_their_share() -> None:
    draws = [sources.choose_singer("female", "pop", d / 100) for d in range(100)]
    assert set(draws) == {"slt"}  # kal-f is sung where tags ask for it only
    males = [sources.choose_singer("male", "pop", (d + 0.5) / 100) for d in range(100)]
    assert males.count("kal") == males.count("awb") == 50


def test_style_names_a_singer_per_gender_from_tags_or_seed() -> None:
    raspy = resolve_style("raspy blues, male vocals", seed=4).vocal
    assert raspy.singer_for("male") == "awb"
    seeds = {resolve_style("pop", seed=s).vocal.singer_for("male") for s in range(12)}
    assert seeds == set(sources.singers_for("male"))
    assert resolve_style("pop", seed=5).vocal == resolve_style("pop", seed=5).vocal


def _score_with(part: VocalPart) -> Score:
    return Score("t", "pop", 1, "pop", TEMPO, 0, "major", 4, [], [], [], [part], [], 16.0)


def test_the_singer_is_kept_in_the_score() -> None:
    part = english_part(VoiceSettings(gender="female", singer="kal-f"))
    restored = Score.from_dict(_score_with(part).to_dict())
    assert restored.vocals[0].voice.singer == "kal-f"
    old = _score_with(english_part()).to_dict()
    del old["vocals"][0]["voice"]["singer"]  # a score written before singers had names
    assert Score.from_dict(old).vocals[0].voice.singer == ""


@needs_flite
def test_a_word_sounds_the_same_whatever_is_spoken_around_it() -> None:
    features = (("int_f0_target_mean", 180.0),)
    alone = flite.speak_fresh([("rain", "slt", features)])[0]
    among = flite.speak_fresh([("window", "slt", features), ("rain", "slt", features)])[1]
    assert alone == among


@needs_flite
def test_cached_speech_is_the_speech_of_a_fresh_process() -> None:
    source = sources.FliteSource("slt", pitch_hz=181.0)  # a key no other test uses
    first = source.speak_many(["morning", "light", "morning"])
    fresh = flite.speak_fresh([("light", "slt", source._features())])[0]
    cached = source.speak_many(["light"])[0]
    assert np.array_equal(first[0].samples, first[2].samples)
    assert np.array_equal(cached.samples, first[1].samples)
    assert np.array_equal(cached.samples, sources._from_pcm(fresh.pcm, 16000, ()).samples)


@needs_flite
def test_a_line_mixing_mandarin_and_english_sings_both_sources() -> None:
    words = [("我", 0), ("们", 0), ("love", 1), ("you", 2), ("唱", 3)]
    part = make_part(words, [62, 64, 66, 64, 62], [1.0] * 5, "zh", VoiceSettings("female"))
    part = replace(
        part, notes=[replace(n, language="en") if n.word_index in (1, 2) else n for n in part.notes]
    )
    named = replace(part, voice=replace(part.voice, singer="slt"))
    bank = VoiceBank()
    audio = sing(named, TEMPO, part_seconds(named), RATE, bank)
    kinds = {s.source.key.split(":")[0] for s in bank.sources}
    assert kinds == {"espeak", "flite"}
    assert float(np.max(np.abs(audio))) == pytest.approx(0.5, abs=1e-6)


def test_an_extension_keeps_the_singers_of_its_source() -> None:
    from cadenza.compose.composer import compose
    from cadenza.compose.edits import source_style
    from cadenza.domain.music import MusicRequest

    source = compose(MusicRequest(tags="pop, male vocals", lyrics="hello there\nsing along"), 4)
    lead = next(p for p in source.vocals if p.stem == "Vocals")
    other = next(n for n in sources.singers_for("male") if n != lead.voice.singer)
    lead.voice = replace(lead.voice, singer=other)
    assert source_style(source).vocal.singer_for("male") == other


@needs_flite
@pytest.mark.parametrize(
    "voice",
    [
        VoiceSettings("male", singer="kal"),
        VoiceSettings("female", formant_scale=1.17, singer="slt"),
    ],
    ids=["kal", "slt"],
)
def test_a_named_singer_holds_each_vowel_on_its_note(voice: VoiceSettings) -> None:
    librosa = pytest.importorskip("librosa")
    part = english_part(voice, base=50 if voice.gender == "male" else 62)
    audio = sing(part, TEMPO, part_seconds(part), 22050)
    f0, voiced, _ = librosa.pyin(
        audio.astype(np.float64), fmin=70, fmax=900, sr=22050, frame_length=1024, hop_length=110
    )
    times = np.arange(f0.shape[0]) * 110 / 22050
    errors: list[float] = []
    held = []
    for note in part.notes:
        start, length = note.start * 60 / TEMPO, note.duration * 60 / TEMPO
        # the held vowel: after the glide, before a coda or an early release
        inside = (times >= start + 0.06) & (times < start + max(0.1, 0.45 * length))
        held.append(float(np.mean(voiced[inside])))
        hz = librosa.midi_to_hz(note.pitch)
        errors.extend(np.abs(1200 * np.log2(f0[inside & voiced] / hz)).tolist())
    assert len(errors) > 60
    assert np.mean(np.array(errors) <= 50) >= 0.95
    assert np.median(errors) <= 10
    assert np.mean(held) >= 0.9


def _band_db(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(np.asarray(audio, np.float64))) ** 2
    hz = np.fft.rfftfreq(audio.shape[0], 1.0 / rate)
    return float(10.0 * np.log10(power[(hz >= low) & (hz < high)].sum() + 1e-30))


@needs_flite
def test_a_16_khz_source_says_where_its_band_ends_and_espeak_speaks_the_whole_band() -> None:
    said = sources.source_for("kal", "en-us").speak_many(["see"])[0]
    assert said.band_hz == 8000.0
    espoken = sources.source_for("", "en-us").speak_many(["see"])[0]
    assert espoken.band_hz == sources.ANALYSIS_RATE / 2


def test_extending_the_band_carries_the_edge_level_up_and_lets_it_fall() -> None:
    from cadenza.compose.voice import world

    rate = sources.ANALYSIS_RATE
    hz = np.linspace(0.0, rate / 2, 257)
    # A frame spoken up to 8 kHz: -60 dB below it, nothing above (as resampled Flite).
    sp = np.where(hz < 7500.0, 1e-6, 1e-14)[None, :].repeat(3, axis=0)
    out = world.extend_band(sp, 8000.0, rate)
    db = 10 * np.log10(out[0])
    edge = world.BAND_EDGE_SHARE * 8000.0
    assert np.array_equal(out[:, hz < edge], sp[:, hz < edge])  # below the edge: as spoken
    above = db[hz >= edge]
    assert above[0] == pytest.approx(-60.0, abs=0.5)  # no step at the edge
    assert np.all(np.diff(above) < 0)  # then falling
    expected = -60.0 + world.BAND_SLOPE_DB_PER_OCTAVE * np.log2(hz[-1] / edge)
    assert db[-1] == pytest.approx(expected, abs=0.5)
    assert world.extend_band(sp, rate / 2, rate) is sp  # a full-band source is left alone


@needs_flite
def test_a_16_khz_singer_sings_above_8_khz() -> None:
    # Resampled from 16 kHz, the speech has nothing above 8 kHz; sung, the band is filled
    # in from its edge down: within 15 dB of the octave below (it was 23 dB under it).
    part = english_part(VoiceSettings(gender="female", formant_scale=1.17, singer="slt"), 62)
    sung = sing(part, TEMPO, part_seconds(part), RATE)
    below = _band_db(sung, RATE, 4000.0, 8000.0)
    above = _band_db(sung, RATE, 8500.0, 10500.0)
    assert below - 15.0 < above < below
