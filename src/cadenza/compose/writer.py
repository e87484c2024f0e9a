"""Description -> title and sectioned, rhyming lyrics, offline and deterministic from the seed.

Lines are an opener (a clause carrying an image) plus an ending phrase taken from a rhyme
family, so lines that should rhyme end in phrases of one family. Images come from the
description's own content words first, then from the word bank of the themes the
description touches (love, night, summer, rain, road, dream, ocean, winter, party, home,
nature). Chinese descriptions get Chinese lyrics whose line endings share a final (韵脚).
"""

from __future__ import annotations

import random
import re

from cadenza.compose.lyrics import FUNCTION_WORDS

#: Words that say nothing about a description's theme: the sung function words plus
#: the words people use to ask for a song.
_STOP = FUNCTION_WORDS | frozenset(
    [
        "about",
        "beat",
        "create",
        "down",
        "genre",
        "into",
        "just",
        "like",
        "lyrics",
        "make",
        "more",
        "most",
        "music",
        "out",
        "over",
        "please",
        "really",
        "sing",
        "singing",
        "some",
        "song",
        "songs",
        "style",
        "sung",
        "track",
        "tune",
        "under",
        "up",
        "very",
        "vocal",
        "vocals",
        "want",
        "write",
    ]
)

_MOODISH = frozenset(
    [
        "happy",
        "sad",
        "slow",
        "fast",
        "upbeat",
        "chill",
        "dark",
        "bright",
        "epic",
        "energetic",
        "mellow",
        "calm",
        "angry",
        "romantic",
        "melancholic",
        "nostalgic",
        "dreamy",
        "catchy",
        "emotional",
        "powerful",
        "soft",
        "loud",
        "heavy",
        "light",
        "beautiful",
        "female",
        "male",
        "duet",
        "choir",
        "acoustic",
        "electronic",
        "instrumental",
        "pop",
        "rock",
        "jazz",
        "blues",
        "folk",
        "country",
        "funk",
        "metal",
        "punk",
        "reggae",
        "latin",
        "ambient",
        "classical",
        "hip",
        "hop",
        "rap",
        "edm",
        "house",
        "trap",
        "soul",
        "lofi",
        "new",
        "old",
        "great",
        "good",
        "nice",
        "little",
        "big",
        "short",
        "long",
    ]
)

_THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # theme: (trigger words, images)
    "love": (
        ("love", "heart", "romance", "romantic", "kiss", "crush", "valentine", "darling"),
        ("heart", "eyes", "smile", "touch", "heartbeat", "arms"),
    ),
    "night": (
        ("night", "city", "neon", "lights", "midnight", "downtown", "club"),
        ("city", "streetlights", "neon", "skyline", "midnight", "avenue"),
    ),
    "summer": (
        ("summer", "sun", "beach", "sunny", "vacation", "june", "july"),
        ("sunshine", "beach", "summer", "waves", "sand", "sunset"),
    ),
    "rain": (
        ("rain", "sad", "tears", "cry", "lonely", "heartbreak", "goodbye", "lost"),
        ("rain", "tears", "clouds", "window", "silence", "echo"),
    ),
    "road": (
        ("road", "drive", "car", "highway", "travel", "journey", "freedom", "run"),
        ("highway", "road", "engine", "horizon", "wheels", "map"),
    ),
    "dream": (
        ("dream", "dreams", "stars", "space", "moon", "sky", "galaxy", "fly"),
        ("stars", "moon", "sky", "comet", "galaxy", "moonlight"),
    ),
    "ocean": (
        ("ocean", "sea", "waves", "sail", "island", "shore", "boat"),
        ("ocean", "tide", "shore", "harbor", "island", "waves"),
    ),
    "winter": (
        ("winter", "snow", "christmas", "holiday", "cold", "december", "xmas"),
        ("snowfall", "fireplace", "candle", "winter", "snowflakes", "bells"),
    ),
    "party": (
        ("party", "dance", "dancing", "club", "weekend", "celebrate", "friday"),
        ("dance floor", "music", "party", "rhythm", "bassline", "spotlight"),
    ),
    "home": (
        ("home", "family", "mother", "father", "childhood", "hometown", "friends"),
        ("home", "porch", "hometown", "photograph", "kitchen", "garden"),
    ),
    "nature": (
        ("forest", "mountain", "river", "tree", "trees", "nature", "spring", "flower"),
        ("river", "mountain", "forest", "meadow", "wildflowers", "morning"),
    ),
}

_RHYMES_EN: tuple[tuple[str, ...], ...] = (
    (
        "into the night",
        "under the light",
        "holding on tight",
        "burning so bright",
        "till it feels right",
        "all through the night",
    ),
    (
        "never fade away",
        "here to stay",
        "finding our way",
        "another day",
        "come what may",
        "leading the way",
    ),
    (
        "with all of my heart",
        "right from the start",
        "worlds apart",
        "a brand new start",
        "falling apart",
        "a work of art",
    ),
    ("wild and free", "meant to be", "you and me", "over the sea", "setting us free", "eternity"),
    (
        "dancing in the rain",
        "again and again",
        "washing the pain",
        "down memory lane",
        "breaking the chain",
        "calling your name",
    ),
    (
        "lifting us higher",
        "setting the world on fire",
        "my one desire",
        "like a live wire",
        "higher and higher",
        "never retire",
    ),
    (
        "where we belong",
        "the whole night long",
        "singing our song",
        "proving them wrong",
        "staying strong",
        "all along",
    ),
    (
        "never let go",
        "feeling the glow",
        "the world below",
        "the afterglow",
        "letting it show",
        "the only thing I know",
    ),
    (
        "chasing a dream",
        "more than it seems",
        "a silver stream",
        "a golden beam",
        "bursting at the seams",
        "lost in a dream",
    ),
    (
        "down the line",
        "the stars align",
        "yours and mine",
        "feeling fine",
        "a sign of the times",
        "one more time",
    ),
)

_OPENERS_EN: tuple[str, ...] = (
    "We keep on dancing",
    "I hear you calling",
    "Your {img} is shining",
    "Out on the {img} we're running",
    "Every {img} is glowing",
    "Hold me closer",
    "The {img} is calling",
    "I remember the {img}",
    "We were young and racing",
    "You and I together",
    "Under the {img} we're dreaming",
    "Follow the {img}",
    "Tell me you're staying",
    "Light up the {img}",
    "My {img} keeps beating",
    "Take my hand now",
    "Here in the {img} we're singing",
    "Feel the {img} rising",
    "Nothing can stop us",
    "Hear the {img} whisper",
)

_HOOKS_EN: tuple[str, ...] = (
    "Oh, {img}",
    "{img}, {img}",
    "Sing it out, {img}",
    "Hey, my {img}",
)

_TITLES_EN: tuple[str, ...] = (
    "{Img} {Img2}",
    "{Img}",
    "{Img} Tonight",
    "Endless {Img}",
    "Golden {Img}",
    "{Img} Dreams",
)

_RHYMES_ZH: tuple[tuple[str, ...], ...] = (
    ("向远方", "在心上", "把歌唱", "望月光", "梦一场", "回故乡", "永难忘", "满天光"),
    ("等你来", "心花开", "看大海", "都还在", "说不出的爱", "在窗外"),
    ("满天星", "听风铃", "这份情", "不曾停", "静静听", "梦已醒"),
    ("一起走", "牵着手", "到白头", "在心头", "不回头", "爱长久"),
    ("到永远", "在身边", "看不见", "那一天", "月儿圆", "梦里见"),
)

_THEMES_ZH: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "love": (("爱", "心", "恋", "情"), ("你的笑容", "我的心", "温柔的你", "那双眼睛")),
    "night": (("夜", "城市", "灯", "霓虹"), ("城市的灯", "夜色里", "霓虹闪烁", "街角")),
    "summer": (("夏", "阳光", "海滩"), ("阳光下", "夏天的风", "海边", "晚霞")),
    "rain": (("雨", "泪", "伤", "别"), ("雨中", "眼泪", "窗前", "回忆里")),
    "home": (("家", "故乡", "妈妈", "童年"), ("老屋前", "故乡的路", "童年的歌", "炊烟")),
    "dream": (("梦", "星", "月", "天空"), ("星空下", "月光里", "梦里", "天边")),
    "nature": (("山", "河", "花", "春", "风"), ("春风里", "花开时", "山河间", "小河边")),
    "winter": (("冬", "雪", "新年", "春节"), ("雪花飘", "新年里", "灯笼下", "冬夜里")),
}

_OPENERS_ZH: tuple[str, ...] = (
    "我们一起",
    "风吹过",
    "轻轻地",
    "多少年",
    "那一年",
    "我在等你",
    "唱一首歌",
    "走过千山",
    "抬头看",
    "心中的梦",
    "你我相约",
    "回头望",
)


def _content_words(description: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z']+", description.lower())
    seen: list[str] = []
    for w in words:
        if w in _STOP or w in _MOODISH or len(w) < 3 or w in seen:
            continue
        if w.endswith(("ing", "ly", "ed", "ful", "ous", "ive")):
            continue
        if w not in seen:
            seen.append(w)
    return seen


def _is_chinese(text: str) -> bool:
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    letters = sum(1 for ch in text if ch.isalpha())
    return han > 0 and han >= 0.3 * max(1, letters)


def _themes_for(words: list[str]) -> list[str]:
    found = [name for name, (triggers, _) in _THEMES.items() if any(w in triggers for w in words)]
    return found


def write_lyrics(description: str, seed: int, instrumental: bool = False) -> tuple[str, str]:
    """Title and lyrics (with ``[Section]`` marks) for a description; same seed, same text."""
    rng = random.Random(seed * 1_000_003 + 11)
    if _is_chinese(description):
        title, body = _write_zh(description, rng)
    else:
        title, body = _write_en(description, rng)
    if instrumental:
        marks = [
            "[Intro]",
            "[Verse]",
            "[Chorus]",
            "[Verse 2]",
            "[Chorus]",
            "[Bridge]",
            "[Chorus]",
            "[Outro]",
        ]
        return title, "\n\n".join(marks)
    return title, body


def _write_en(description: str, rng: random.Random) -> tuple[str, str]:
    words = _content_words(description)
    themes = _themes_for(words) or [rng.choice(sorted(_THEMES))]
    own = words[:4]
    theme_images = [img for theme in themes for img in _THEMES[theme][1] if img not in own]
    rng.shuffle(theme_images)
    bank = own + theme_images

    families = list(range(len(_RHYMES_EN)))
    rng.shuffle(families)
    fam_iter = iter(families)
    used_phrases: set[str] = set()
    used_openers: set[str] = set()

    def image() -> str:
        # the description's words are drawn twice as often as theme images
        if own and rng.random() < 0.5:
            return rng.choice(own)
        return rng.choice(bank)

    def opener() -> str:
        choices = [o for o in _OPENERS_EN if o not in used_openers] or list(_OPENERS_EN)
        o = rng.choice(choices)
        used_openers.add(o)
        return o.replace("{img}", image())

    def ending(family: int) -> str:
        options = [p for p in _RHYMES_EN[family] if p not in used_phrases]
        if not options:
            options = list(_RHYMES_EN[family])
        p = rng.choice(options)
        used_phrases.add(p)
        return p

    def couplet() -> list[str]:
        fam = next(fam_iter, rng.randrange(len(_RHYMES_EN)))
        return [f"{opener()}, {ending(fam)}", f"{opener()}, {ending(fam)}"]

    hook_img = own[0] if own else bank[0]
    hook_family = next(fam_iter)
    hook_end = ending(hook_family)
    hook = rng.choice(_HOOKS_EN).replace("{img}", hook_img)
    chorus = [
        f"{hook}, {hook_end}",
        f"{opener()}, {ending(hook_family)}",
        *couplet(),
    ]
    verse1 = couplet() + couplet()
    verse2 = couplet() + couplet()
    pre = couplet()
    bridge = couplet()
    outro = [f"{hook}, {hook_end}"]
    sections = [
        ("Verse", verse1),
        ("Pre-Chorus", pre),
        ("Chorus", chorus),
        ("Verse 2", verse2),
        ("Pre-Chorus", pre),
        ("Chorus", chorus),
        ("Bridge", bridge),
        ("Chorus", chorus),
        ("Outro", outro),
    ]
    body = "\n\n".join(f"[{name}]\n" + "\n".join(lines) for name, lines in sections)
    img2 = bank[1] if len(bank) > 1 else "heart"
    template = rng.choice(_TITLES_EN)
    title = template.replace("{Img}", hook_img.title()).replace("{Img2}", img2.title())
    if title.lower() == f"{hook_img} {img2}".lower() and hook_img == img2:
        title = hook_img.title()
    return title[:80], body


def _write_zh(description: str, rng: random.Random) -> tuple[str, str]:
    themes = [
        n for n, (triggers, _) in _THEMES_ZH.items() if any(t in description for t in triggers)
    ]
    if not themes:
        themes = [rng.choice(sorted(_THEMES_ZH))]
    images: list[str] = []
    for t in themes:
        images.extend(_THEMES_ZH[t][1])
    families = list(range(len(_RHYMES_ZH)))
    rng.shuffle(families)
    used: set[str] = set()

    def ending(family: int) -> str:
        options = [p for p in _RHYMES_ZH[family] if p not in used] or list(_RHYMES_ZH[family])
        p = rng.choice(options)
        used.add(p)
        return p

    def line(family: int) -> str:
        start = rng.choice(images) if rng.random() < 0.6 else rng.choice(_OPENERS_ZH)
        return start + ending(family)

    def stanza(family: int, n: int = 4) -> list[str]:
        return [line(family) for _ in range(n)]

    verse_f, chorus_f, bridge_f = families[0], families[1], families[2]
    chorus = stanza(chorus_f)
    sections = [
        ("主歌", stanza(verse_f)),
        ("副歌", chorus),
        ("主歌 2", stanza(verse_f)),
        ("副歌", chorus),
        ("桥段", stanza(bridge_f, 2)),
        ("副歌", chorus),
        ("尾声", [chorus[0]]),
    ]
    body = "\n\n".join(f"[{name}]\n" + "\n".join(lines) for name, lines in sections)
    title = chorus[0][:8]
    return title, body
