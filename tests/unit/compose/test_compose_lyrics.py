from cadenza.compose.lyrics import (
    detect_language,
    parse_lyrics,
    syllabify_en,
    syllabify_es,
    words_of_line,
)
from cadenza.compose.writer import write_lyrics


def test_sections_any_case_numbered_and_unknown() -> None:
    text = """[INTRO]
[verse 1]
Hello darling
[Pre-Chorus]
Wait for me
[CHORUS x2]
We are the light
[Verse 2: Female]
Another line
[Space Jam]
Something odd
[Guitar Solo]
[outro]
Goodbye now
"""
    sections = parse_lyrics(text)
    kinds = [s.kind for s in sections]
    assert kinds == [
        "intro",
        "verse",
        "prechorus",
        "chorus",
        "verse",
        "verse",
        "instrumental",
        "outro",
    ]
    assert sections[1].number == 1
    assert sections[3].repeat == 2
    assert sections[4].singer == "female"
    assert sections[5].label == "Space Jam"
    assert sections[6].lines == []
    assert [ln.text for ln in sections[7].lines] == ["Goodbye now"]


def test_lines_before_any_mark_form_a_verse() -> None:
    sections = parse_lyrics("first line\nsecond line")
    assert len(sections) == 1
    assert sections[0].kind == "verse"
    assert len(sections[0].lines) == 2


def test_chinese_is_one_syllable_per_character() -> None:
    sections = parse_lyrics("[主歌]\n我爱你中国\n[副歌]\n月亮代表我的心")
    assert [s.kind for s in sections] == ["verse", "chorus"]
    words = sections[0].lines[0].words
    assert [w.text for w in words] == ["我", "爱", "你", "中", "国"]
    assert all(w.syllables == [w.text] and w.language == "zh" for w in words)
    assert detect_language(sections) == "zh"


def test_mixed_scripts_do_not_crash() -> None:
    words = words_of_line("Hello 世界 ñandú こんにちは 사랑 Привет 42 ... !!")
    texts = [w.text for w in words]
    assert "世" in texts and "界" in texts
    assert "forty" in texts and "two" in texts
    assert all(w.syllables for w in words)
    assert parse_lyrics("【Verse】\nmix 中文 and English 🎵\n\n\n") != []


def test_english_syllables_and_stress() -> None:
    assert syllabify_en("beautiful")[0] == ["beau", "ti", "ful"]
    assert syllabify_en("table")[0] == ["ta", "ble"]
    assert syllabify_en("running")[0] == ["run", "ning"]
    assert syllabify_en("walked")[0] == ["walked"]
    assert syllabify_en("dances")[0] == ["dan", "ces"]
    assert syllabify_en("Tonight") == (["To", "night"], [0, 1])
    assert syllabify_en("the")[1] == [0]
    assert syllabify_en("heartbeat")[1] == [1, 0]
    parts, _ = syllabify_en("everything")
    assert "".join(parts) == "everything"


def test_spanish_syllables() -> None:
    assert syllabify_es("corazón") == (["co", "ra", "zón"], [0, 0, 1])
    assert syllabify_es("noche") == (["no", "che"], [1, 0])
    assert syllabify_es("ciudad")[0] == ["ciu", "dad"]
    assert syllabify_es("aeropuerto")[0] == ["a", "e", "ro", "puer", "to"]
    words = words_of_line("Dime que sí, mi corazón")
    assert all(w.language == "es" for w in words)


def _rhyme_key(line: str) -> str:
    return line.rstrip(" ,.!?").lower()[-2:]


def test_description_mode_writes_rhyming_sections() -> None:
    title, text = write_lyrics("a song about summer love at the beach", seed=5)
    assert title
    sections = parse_lyrics(text)
    assert len(sections) >= 3
    assert {"verse", "chorus"} <= {s.kind for s in sections}
    assert "summer" in text.lower() or "beach" in text.lower()
    pairs = 0
    rhymed = 0
    for s in sections:
        lines = [ln.text for ln in s.lines]
        for a, b in zip(lines[::2], lines[1::2], strict=False):
            pairs += 1
            rhymed += _rhyme_key(a) == _rhyme_key(b) or a.split()[-1] == b.split()[-1]
    assert pairs >= 6
    assert rhymed / pairs >= 0.8


def test_writer_is_deterministic_and_seed_dependent() -> None:
    a = write_lyrics("driving at night through the city", 1)
    assert a == write_lyrics("driving at night through the city", 1)
    assert a != write_lyrics("driving at night through the city", 2)


def test_writer_chinese_rhymes_by_final() -> None:
    from pypinyin import Style, pinyin

    title, text = write_lyrics("一首关于故乡和月亮的歌", seed=8)
    assert title
    sections = parse_lyrics(text)
    assert detect_language(sections) == "zh"
    chorus = next(s for s in sections if s.kind == "chorus")
    # one rhyme family per stanza: finals compared without their medial glide
    # (an/ian/uan/üan and ou/iu rhyme in sung Mandarin)
    same = {"iu": "ou", "ui": "ei", "un": "en"}
    for section in sections:
        keys = set()
        for ln in section.lines:
            final = pinyin(ln.text[-1], style=Style.FINALS)[0][0]
            final = same.get(final, final)
            if len(final) > 2 and final[0] in "iuv":
                final = final[1:]
            keys.add(final)
        assert len(keys) == 1, (section.label, keys)
    assert chorus.lines


def test_instrumental_writer_has_marks_only() -> None:
    _, text = write_lyrics("calm piano", 1, instrumental=True)
    sections = parse_lyrics(text)
    assert len(sections) >= 3
    assert all(not s.lines for s in sections)
