"""Lyric text to eSpeak text, and eSpeak phonemes to sung syllables."""

from __future__ import annotations

import itertools

from cadenza.compose.voice import phonemes_for
from cadenza.compose.voice.espeak import Phone, speak
from cadenza.compose.voice.phonemes import (
    SyllableSpan,
    fit_syllables,
    is_vowel,
    syllabify,
    word_text,
)


def test_english_syllables_are_joined_into_one_word() -> None:
    assert word_text(["beau", "ti", "ful"], "en") == ("beautiful", "en-us")


def test_mandarin_goes_through_pinyin_with_tones() -> None:
    text, voice = word_text(["你", "好"], "zh")
    assert voice == "cmn-latn-pinyin"
    assert text == "ni3 hao3"


def test_han_characters_in_an_english_part_switch_to_pinyin() -> None:
    text, voice = word_text(["世界"], "en")
    assert voice == "cmn-latn-pinyin"
    assert text.split() == ["shi4", "jie4"]


def test_digits_and_punctuation_only_hum_a_vowel() -> None:
    assert word_text(["123", "?!"], "en") == ("ah", "en-us")
    text, voice = word_text(["。"], "zh")
    assert voice == "cmn-latn-pinyin" and text == "a1"


def test_spanish_keeps_its_accents() -> None:
    assert word_text(["co", "ra", "zón"], "es") == ("corazón", "es")


def test_unknown_language_falls_back_to_english() -> None:
    assert word_text(["la"], "xx")[1] == "en-us"


def test_vowels_include_syllabic_and_mandarin_apical_vowels() -> None:
    assert is_vowel("uː") and is_vowel("əl") and is_vowel("i.") and is_vowel("n\u0329")
    assert not is_vowel("s.") and not is_vowel("tɕ") and not is_vowel("")


def test_beautiful_has_three_ordered_contiguous_syllables() -> None:
    spans = syllabify(speak("beautiful", "en-us").phones)
    assert len(spans) == 3
    for span in spans:
        assert span.onset <= span.vowel_start < span.vowel_end <= span.coda_end
    for a, b in itertools.pairwise(spans):
        assert a.coda_end == b.onset


def test_mandarin_characters_split_at_the_pause_between_them() -> None:
    utterance = speak("ni3 hao3", "cmn-latn-pinyin")
    spans = syllabify(utterance.phones)
    assert len(spans) == 2
    pause = next(p for p in utterance.phones if p.is_pause and p.start > spans[0].vowel_start)
    assert spans[0].coda_end == pause.start
    assert spans[1].onset == pause.end


def test_syllabify_splits_two_consonant_clusters() -> None:
    phones = (
        Phone("ɪ", 0, 10),
        Phone("n", 10, 20),
        Phone("t", 20, 30),
        Phone("oʊ", 30, 40),
    )
    first, second = syllabify(phones)
    assert first.coda_end == 20 and second.onset == 20


def test_no_vowel_gives_no_syllables() -> None:
    assert syllabify((Phone("s", 0, 10), Phone("", 10, 20))) == []


def test_fit_folds_extra_syllables_into_the_coda() -> None:
    spans = [SyllableSpan(0, 1, 2, 3), SyllableSpan(3, 4, 5, 6), SyllableSpan(6, 7, 8, 9)]
    fitted = fit_syllables(spans, 2)
    assert fitted == [SyllableSpan(0, 1, 2, 3), SyllableSpan(3, 4, 5, 9)]


def test_fit_turns_missing_syllables_into_continuations() -> None:
    spans = [SyllableSpan(0, 1, 2, 3)]
    assert fit_syllables(spans, 3) == [spans[0], None, None]
    assert fit_syllables([], 2) == [None, None]


def test_phonemes_for_english_and_mandarin() -> None:
    english = phonemes_for("hello, world!", "en")
    assert english[0] == "h" and is_vowel(english[1]) and "w" in english
    assert phonemes_for("?! 42", "en") == []
    mandarin = phonemes_for("你好", "zh")
    assert sum(is_vowel(p) for p in mandarin) == 2
