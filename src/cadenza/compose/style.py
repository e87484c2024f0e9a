"""Style tags -> a concrete musical style (genre, tempo, mode, harmony, groove, band, voice).

How tags are read (all deterministic, no network):

1. The tag string is lower-cased and split on commas, slashes and spaces; multi-word
   phrases ("hip hop", "drum and bass", "lo-fi") are matched before single words.
2. Each genre has an alias list (English and Chinese names, sub-genres, eras: "80s" ->
   synthwave, "bossa nova" -> latin, "古风" -> chinese). Every alias hit scores its genre;
   earlier tags weigh a little more, so "jazz, hip hop" is jazz-led.
3. Words that hit no alias are compared with every alias by string similarity
   (``difflib``, cutoff 0.8), so typos and near names ("synthwav", "raggae") still land.
4. If no genre scored, instruments and moods vote instead ("808" -> trap, "sax" -> jazz,
   "strings" -> orchestral, "chill" -> lo-fi, "epic" -> orchestral).
5. Nothing at all -> pop, or with high weirdness a genre picked by the seed.

A "waltz" or "3/4" tag switches any genre to three beats per bar (bass on one, chords on
two and three); "12/8", "6/8" or "shuffle" plays four beats of triplet eighths (long-short;
a bar of 12/8 is two of 6/8, the tempo counting dotted quarters).
Moods (energetic, sad, happy, dark, chill, epic, ...) then shift tempo, mode and energy;
named instruments are added to the band; negative tags remove instruments (by name or
family: "guitar" removes every guitar), drums, or vocals. ``weirdness`` widens the random
choices (tempo spread, borrowed chords, leaps); ``style_influence`` is how closely the genre
template is followed (high: tempo near the genre centre and its exact band). A description
(description mode) is read the same way through ``description_tags``.
"""

from __future__ import annotations

import difflib
import random
import re
from dataclasses import dataclass, field, replace

from cadenza.compose.voice.sources import choose_singer, singer_words

MODES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}

DRUM_KEYS: dict[str, int] = {
    "kick": 36,
    "rim": 37,
    "snare": 38,
    "clap": 39,
    "hat": 42,
    "pedal": 44,
    "open": 46,
    "crash": 49,
    "ride": 51,
    "tamb": 54,
    "cowbell": 56,
    "bongo": 60,
    "conga": 63,
    "shaker": 70,
    "claves": 75,
    "block": 76,
    "tom_hi": 50,
    "tom_mid": 47,
    "tom_low": 45,
    "tom_floor": 41,
    "china": 52,
}


@dataclass(frozen=True)
class Instrument:
    """A band member: GM program, stem, playable range and the part it plays."""

    key: str
    name: str
    program: int
    stem: str
    role: str  # bass | chords | pad | lead | arp | timpani
    low: int
    high: int
    volume: float = 0.75
    pan: float = 0.0


# key -> (display name, GM program, stem, default role, low, high)
_CATALOGUE: dict[str, tuple[str, int, str, str, int, int]] = {
    "piano": ("Piano", 0, "Keyboard", "chords", 36, 96),
    "bright piano": ("Bright Piano", 1, "Keyboard", "chords", 36, 96),
    "electric piano": ("Electric Piano", 4, "Keyboard", "chords", 40, 88),
    "organ": ("Organ", 16, "Keyboard", "chords", 40, 88),
    "rock organ": ("Rock Organ", 18, "Keyboard", "pad", 40, 88),
    "accordion": ("Accordion", 21, "Keyboard", "chords", 48, 84),
    "harmonica": ("Harmonica", 22, "Woodwinds", "lead", 60, 84),
    "nylon guitar": ("Nylon Guitar", 24, "Guitar", "chords", 40, 81),
    "acoustic guitar": ("Acoustic Guitar", 25, "Guitar", "chords", 40, 81),
    "jazz guitar": ("Jazz Guitar", 26, "Guitar", "chords", 40, 81),
    "clean guitar": ("Clean Guitar", 27, "Guitar", "chords", 40, 81),
    "muted guitar": ("Muted Guitar", 28, "Guitar", "chords", 40, 76),
    "overdrive guitar": ("Overdrive Guitar", 29, "Guitar", "chords", 40, 81),
    "distortion guitar": ("Distortion Guitar", 30, "Guitar", "chords", 40, 81),
    "lead guitar": ("Lead Guitar", 29, "Guitar", "lead", 52, 88),
    "acoustic bass": ("Acoustic Bass", 32, "Bass", "bass", 28, 55),
    "bass": ("Electric Bass", 33, "Bass", "bass", 28, 55),
    "pick bass": ("Pick Bass", 34, "Bass", "bass", 28, 55),
    "slap bass": ("Slap Bass", 36, "Bass", "bass", 28, 55),
    "synth bass": ("Synth Bass", 38, "Bass", "bass", 24, 55),
    "808": ("808 Bass", 38, "Bass", "bass", 24, 50),
    "violin": ("Violin", 40, "Strings", "lead", 55, 96),
    "cello": ("Cello", 42, "Strings", "pad", 36, 72),
    "harp": ("Harp", 46, "Strings", "arp", 36, 96),
    "timpani": ("Timpani", 47, "Percussion", "timpani", 40, 55),
    "strings": ("Strings", 48, "Strings", "pad", 40, 88),
    "choir": ("Choir Pad", 52, "Backing Vocals", "pad", 48, 79),
    "orchestra hit": ("Orchestra Hit", 55, "FX", "pad", 48, 84),
    "trumpet": ("Trumpet", 56, "Brass", "lead", 55, 82),
    "trombone": ("Trombone", 57, "Brass", "lead", 40, 72),
    "french horn": ("French Horn", 60, "Brass", "pad", 41, 77),
    "brass": ("Brass Section", 61, "Brass", "pad", 48, 82),
    "sax": ("Saxophone", 65, "Woodwinds", "lead", 49, 81),
    "clarinet": ("Clarinet", 71, "Woodwinds", "lead", 50, 91),
    "flute": ("Flute", 73, "Woodwinds", "lead", 60, 96),
    "dizi": ("Dizi", 77, "Woodwinds", "lead", 60, 93),
    "synth lead": ("Synth Lead", 81, "Synth", "lead", 48, 96),
    "synth": ("Synth", 81, "Synth", "arp", 48, 96),
    "square lead": ("Square Lead", 80, "Synth", "lead", 48, 96),
    "pad": ("Synth Pad", 89, "Synth", "pad", 40, 88),
    "warm pad": ("Warm Pad", 89, "Synth", "pad", 40, 88),
    "choir pad": ("Choir Pad", 91, "Synth", "pad", 40, 88),
    "sweep pad": ("Sweep Pad", 95, "FX", "pad", 40, 88),
    "atmosphere": ("Atmosphere", 99, "FX", "pad", 40, 88),
    "bells": ("Tubular Bells", 14, "Percussion", "lead", 60, 77),
    "glockenspiel": ("Glockenspiel", 9, "Percussion", "arp", 72, 108),
    "music box": ("Music Box", 10, "Keyboard", "arp", 60, 96),
    "vibraphone": ("Vibraphone", 11, "Keyboard", "chords", 53, 89),
    "marimba": ("Marimba", 12, "Percussion", "arp", 48, 96),
    "celesta": ("Celesta", 8, "Keyboard", "arp", 60, 108),
    "banjo": ("Banjo", 105, "Guitar", "arp", 48, 84),
    "guzheng": ("Guzheng", 107, "Strings", "arp", 43, 91),
    "pipa": ("Pipa", 106, "Strings", "arp", 48, 86),
    "erhu": ("Erhu", 110, "Strings", "lead", 55, 88),
    "steel drums": ("Steel Drums", 114, "Percussion", "arp", 52, 84),
    "fiddle": ("Fiddle", 110, "Strings", "lead", 55, 93),
    "pedal steel": ("Pedal Steel", 26, "Guitar", "pad", 45, 81),
}

# Words in tags that name an instrument -> catalogue key.
_INSTRUMENT_WORDS: dict[str, str] = {
    "piano": "piano",
    "keys": "electric piano",
    "rhodes": "electric piano",
    "electric piano": "electric piano",
    "organ": "organ",
    "hammond": "organ",
    "accordion": "accordion",
    "harmonica": "harmonica",
    "acoustic guitar": "acoustic guitar",
    "nylon guitar": "nylon guitar",
    "classical guitar": "nylon guitar",
    "guitar": "clean guitar",
    "electric guitar": "overdrive guitar",
    "distorted guitar": "distortion guitar",
    "distortion": "distortion guitar",
    "guitar solo": "lead guitar",
    "bass": "bass",
    "bass guitar": "bass",
    "slap bass": "slap bass",
    "synth bass": "synth bass",
    "808": "808",
    "808s": "808",
    "violin": "violin",
    "cello": "cello",
    "harp": "harp",
    "timpani": "timpani",
    "strings": "strings",
    "string": "strings",
    "orchestra": "strings",
    "orchestral": "strings",
    "trumpet": "trumpet",
    "trombone": "trombone",
    "horn": "french horn",
    "horns": "brass",
    "brass": "brass",
    "sax": "sax",
    "saxophone": "sax",
    "clarinet": "clarinet",
    "flute": "flute",
    "dizi": "dizi",
    "笛子": "dizi",
    "synth": "synth",
    "synths": "synth",
    "synthesizer": "synth",
    "lead synth": "synth lead",
    "synth lead": "synth lead",
    "pad": "pad",
    "pads": "pad",
    "bells": "bells",
    "glockenspiel": "glockenspiel",
    "music box": "music box",
    "vibraphone": "vibraphone",
    "marimba": "marimba",
    "celesta": "celesta",
    "banjo": "banjo",
    "guzheng": "guzheng",
    "古筝": "guzheng",
    "pipa": "pipa",
    "琵琶": "pipa",
    "erhu": "erhu",
    "二胡": "erhu",
    "钢琴": "piano",
    "吉他": "acoustic guitar",
    "小提琴": "violin",
    "steel drums": "steel drums",
    "fiddle": "fiddle",
    "pedal steel": "pedal steel",
    "ukulele": "nylon guitar",
}

# Negative-tag families: a word here removes every catalogue key containing the value.
_FAMILIES: dict[str, tuple[str, ...]] = {
    "guitar": ("guitar", "banjo", "pedal steel"),
    "guitars": ("guitar", "banjo", "pedal steel"),
    "piano": ("piano",),
    "keys": ("piano", "organ"),
    "synth": ("synth", "pad", "square", "sweep", "atmosphere"),
    "synths": ("synth", "pad", "square", "sweep", "atmosphere"),
    "strings": ("strings", "violin", "cello", "fiddle", "harp"),
    "brass": ("brass", "trumpet", "trombone", "horn"),
    "horns": ("brass", "trumpet", "trombone", "horn"),
    "bass": ("bass", "808"),
    "808": ("808",),
    "sax": ("sax",),
    "saxophone": ("sax",),
    "flute": ("flute", "dizi"),
    "woodwinds": ("flute", "dizi", "clarinet", "sax"),
    "pad": ("pad", "atmosphere"),
    "pads": ("pad", "atmosphere"),
    "organ": ("organ",),
    "bells": ("bells", "glockenspiel", "celesta", "music box"),
}


@dataclass(frozen=True)
class DrumPattern:
    """One bar on a sixteenth grid (``steps`` per bar): hit lists per drum sound."""

    name: str
    steps: int
    hits: dict[str, tuple[int, ...]]
    half_time: bool = False
    rolls: bool = False


@dataclass(frozen=True)
class VocalStyle:
    """How the genre sings: default gender (None -> by seed), vibrato, breath, harmony."""

    gender: str | None = None
    vibrato_rate_hz: float = 5.5
    vibrato_depth_cents: float = 35.0
    breathiness: float = 0.1
    harmony: str = "third"  # third | octave | choir
    duet: bool = False
    choir: bool = False
    enabled: bool = True
    #: The named singers (``voice.sources.SINGERS``) for a male and a female part.
    singers: tuple[str, str] = ("", "")

    def singer_for(self, gender: str) -> str:
        return self.singers[1] if gender == "female" else self.singers[0]


@dataclass(frozen=True)
class Genre:
    name: str
    label: str
    tempo: tuple[int, int]
    beats_per_bar: int
    modes: tuple[str, ...]
    progressions: dict[str, tuple[tuple[int, ...], ...]]
    chord_color: str  # triad | seventh | dominant | power | sus
    drums: DrumPattern | None
    bass: str
    comp: str
    band: tuple[str, ...]
    energy: float
    swing: float = 0.0
    melody_scale: str = "diatonic"  # diatonic | pentatonic | blues
    vocal: VocalStyle = VocalStyle()
    aliases: tuple[str, ...] = ()
    descriptors: tuple[str, ...] = ()
    bars_per_chord: int = 1


@dataclass
class Style:
    """A resolved style: everything the composer needs to choose notes."""

    genre: str
    label: str
    tempo_bpm: float
    beats_per_bar: int
    mode: str
    key_root: int
    progressions: dict[str, tuple[int, ...]]
    chord_color: str
    drums: DrumPattern | None
    bass_pattern: str
    comp_pattern: str
    instruments: list[Instrument]
    energy: float
    swing: float
    melody_scale: str
    vocal: VocalStyle
    moods: list[str] = field(default_factory=list)
    weirdness: float = 0.5
    style_influence: float = 0.5
    bars_per_chord: int = 1
    descriptors: tuple[str, ...] = ()
    #: How a chorus plays straight-eighth hats (``HAT_TAKES``).
    hat_take: str = "plain"


def _dp(name: str, hits: dict[str, tuple[int, ...]], steps: int = 16, **kw: bool) -> DrumPattern:
    return DrumPattern(name=name, steps=steps, hits=hits, **kw)


_EIGHTHS = (0, 2, 4, 6, 8, 10, 12, 14)
#: Straight-eighth hats, the groove the drum takes vary.
EIGHTH_HATS = _EIGHTHS
_SIXTEENTHS = tuple(range(16))
_OFFBEATS = (2, 6, 10, 14)

GENRES: dict[str, Genre] = {
    g.name: g
    for g in (
        Genre(
            "pop",
            "Pop",
            (96, 122),
            4,
            ("major", "major", "minor"),
            {
                "verse": ((1, 5, 6, 4), (6, 4, 1, 5)),
                "chorus": ((1, 5, 6, 4), (4, 1, 5, 6)),
                "bridge": ((4, 5, 6, 6), (6, 5, 4, 5)),
                "intro": ((1, 4, 6, 5),),
            },
            "triad",
            _dp("pop", {"kick": (0, 8, 10), "snare": (4, 12), "hat": _EIGHTHS}),
            "pop",
            "strum",
            ("acoustic guitar", "piano", "bass", "pad"),
            0.6,
            vocal=VocalStyle(None, 5.5, 30.0, 0.1),
            aliases=(
                "pop",
                "mainstream",
                "dance pop",
                "electropop",
                "indie pop",
                "ballad",
                "power pop",
                "teen pop",
                "流行",
                "radio",
            ),
            descriptors=("catchy hooks", "polished radio production"),
        ),
        Genre(
            "rock",
            "Rock",
            (108, 140),
            4,
            ("major", "mixolydian", "minor"),
            {
                "verse": ((1, 4, 5, 4), (1, 7, 4, 1)),
                "chorus": ((1, 5, 6, 4), (4, 5, 1, 1)),
                "bridge": ((6, 4, 5, 5),),
                "intro": ((1, 4, 5, 4),),
            },
            "power",
            _dp("rock", {"kick": (0, 6, 8), "snare": (4, 12), "hat": _EIGHTHS}),
            "eighths",
            "power",
            ("distortion guitar", "overdrive guitar", "bass", "organ"),
            0.8,
            vocal=VocalStyle("male", 5.0, 25.0, 0.05),
            aliases=(
                "rock",
                "alt rock",
                "alternative",
                "indie rock",
                "grunge",
                "hard rock",
                "classic rock",
                "garage",
                "arena rock",
                "britpop",
                "摇滚",
                "indie",
            ),
            descriptors=("driving electric guitars", "live drum kit", "anthemic"),
        ),
        Genre(
            "synthwave",
            "Synthwave",
            (96, 118),
            4,
            ("minor", "dorian"),
            {
                "verse": ((6, 4, 1, 5), (1, 6, 7, 5)),
                "chorus": ((6, 4, 1, 5), (4, 5, 6, 6)),
                "bridge": ((4, 5, 3, 6),),
                "intro": ((6, 4, 1, 5),),
            },
            "triad",
            _dp("synthwave", {"kick": (0, 8), "snare": (4, 12), "hat": _EIGHTHS, "open": (14,)}),
            "pulse",
            "pad",
            ("synth bass", "synth", "pad", "synth lead"),
            0.65,
            vocal=VocalStyle(None, 5.0, 20.0, 0.15),
            aliases=(
                "synthwave",
                "retrowave",
                "outrun",
                "80s",
                "1980s",
                "vaporwave",
                "new wave",
                "synthpop",
                "synth pop",
                "darkwave",
                "chillwave",
                "retro",
            ),
            descriptors=("retro 80s analog synths", "gated reverb drums", "neon nostalgia"),
        ),
        Genre(
            "lofi",
            "Lo-fi",
            (70, 88),
            4,
            ("dorian", "major", "minor"),
            {
                "verse": ((2, 5, 1, 6), (4, 3, 2, 5)),
                "chorus": ((4, 3, 2, 1), (2, 5, 1, 1)),
                "bridge": ((6, 2, 5, 1),),
                "intro": ((2, 5, 1, 6),),
            },
            "seventh",
            _dp("lofi", {"kick": (0, 7, 10), "snare": (4, 12), "hat": _EIGHTHS}),
            "lazy",
            "block",
            ("electric piano", "bass", "jazz guitar", "warm pad"),
            0.35,
            swing=0.58,
            vocal=VocalStyle(None, 4.5, 15.0, 0.35),
            aliases=(
                "lofi",
                "lo-fi",
                "lo fi",
                "chillhop",
                "study beats",
                "bedroom",
                "jazzhop",
                "lofi hip hop",
            ),
            descriptors=("dusty vinyl texture", "mellow jazzy chords", "laid-back swing"),
        ),
        Genre(
            "hiphop",
            "Hip Hop",
            (84, 98),
            4,
            ("minor", "dorian"),
            {
                "verse": ((1, 1, 6, 6), (1, 4, 6, 5)),
                "chorus": ((6, 4, 1, 5), (1, 6, 4, 5)),
                "bridge": ((4, 4, 5, 5),),
                "intro": ((1, 1, 6, 6),),
            },
            "seventh",
            _dp("boom bap", {"kick": (0, 3, 8, 10), "snare": (4, 12), "hat": _EIGHTHS}),
            "hiphop",
            "stabs",
            ("bass", "electric piano", "strings"),
            0.6,
            swing=0.56,
            vocal=VocalStyle("male", 4.0, 10.0, 0.05),
            aliases=(
                "hip hop",
                "hip-hop",
                "hiphop",
                "rap",
                "boom bap",
                "old school",
                "说唱",
                "嘻哈",
                "conscious rap",
                "west coast",
                "east coast",
            ),
            descriptors=("boom bap drums", "sampled keys", "head-nodding groove"),
        ),
        Genre(
            "trap",
            "Trap",
            (130, 150),
            4,
            ("minor", "phrygian"),
            {
                "verse": ((1, 6, 4, 5), (1, 1, 6, 7)),
                "chorus": ((6, 4, 1, 5), (1, 6, 7, 7)),
                "bridge": ((4, 5, 1, 1),),
                "intro": ((1, 6, 1, 6),),
            },
            "triad",
            _dp(
                "trap",
                {"kick": (0, 7, 10), "clap": (8,), "hat": (*_SIXTEENTHS[::2], 15)},
                half_time=True,
                rolls=True,
            ),
            "808",
            "pad",
            ("808", "bells", "pad"),
            0.7,
            vocal=VocalStyle("male", 4.0, 10.0, 0.05),
            aliases=("trap", "drill", "phonk", "mumble rap", "cloud rap", "emo rap"),
            descriptors=("booming 808s", "rolling hi-hats", "dark atmosphere"),
        ),
        Genre(
            "edm",
            "EDM",
            (120, 128),
            4,
            ("minor", "major"),
            {
                "verse": ((6, 4, 1, 5),),
                "chorus": ((6, 4, 1, 5), (4, 5, 6, 6)),
                "bridge": ((4, 4, 5, 5),),
                "intro": ((6, 4, 1, 5),),
            },
            "triad",
            _dp(
                "four on the floor",
                {"kick": (0, 4, 8, 12), "clap": (4, 12), "open": _OFFBEATS, "hat": (0, 4, 8, 12)},
            ),
            "house",
            "stabs",
            ("synth bass", "synth", "pad", "piano"),
            0.85,
            vocal=VocalStyle("female", 5.5, 25.0, 0.1),
            aliases=(
                "edm",
                "house",
                "deep house",
                "techno",
                "trance",
                "dance",
                "electronic",
                "big room",
                "dubstep",
                "progressive house",
                "club",
                "rave",
                "electro",
                "future bass",
                "drum and bass",
                "dnb",
                "电子",
                "tech house",
                "garage house",
            ),
            descriptors=("four-on-the-floor kick", "side-chained synths", "festival drop"),
        ),
        Genre(
            "jazz",
            "Jazz",
            (100, 160),
            4,
            ("major", "dorian"),
            {
                "verse": ((2, 5, 1, 6), (1, 6, 2, 5)),
                "chorus": ((2, 5, 1, 1), (4, 7, 3, 6)),
                "bridge": ((3, 6, 2, 5),),
                "intro": ((2, 5, 1, 6),),
            },
            "seventh",
            _dp(
                "swing ride",
                {"ride": (0, 4, 6, 8, 12, 14), "pedal": (4, 12), "kick": (0,), "rim": (14,)},
            ),
            "walking",
            "comp",
            ("piano", "acoustic bass", "sax"),
            0.5,
            swing=0.66,
            vocal=VocalStyle(None, 5.0, 45.0, 0.15),
            aliases=(
                "jazz",
                "swing",
                "bebop",
                "big band",
                "smooth jazz",
                "bossa jazz",
                "cool jazz",
                "爵士",
                "lounge",
                "crooner",
                "jazzy",
            ),
            descriptors=("swinging ride cymbal", "walking upright bass", "extended chords"),
        ),
        Genre(
            "blues",
            "Blues",
            (70, 100),
            4,
            ("mixolydian",),
            {
                "verse": ((1, 1, 1, 1, 4, 4, 1, 1, 5, 4, 1, 5),),
                "chorus": ((1, 1, 1, 1, 4, 4, 1, 1, 5, 4, 1, 1),),
                "bridge": ((4, 4, 1, 1),),
                "intro": ((5, 4, 1, 5),),
            },
            "dominant",
            _dp("shuffle", {"kick": (0, 8), "snare": (4, 12), "hat": _EIGHTHS}),
            "walking",
            "shuffle",
            ("clean guitar", "bass", "organ", "harmonica"),
            0.5,
            swing=0.66,
            melody_scale="blues",
            vocal=VocalStyle("male", 5.0, 45.0, 0.15),
            aliases=(
                "blues",
                "delta blues",
                "chicago blues",
                "blues rock",
                "12 bar",
                "布鲁斯",
                "蓝调",
            ),
            descriptors=("twelve-bar shuffle", "bluesy bends", "smoky bar feel"),
        ),
        Genre(
            "country",
            "Country",
            (96, 124),
            4,
            ("major",),
            {
                "verse": ((1, 4, 1, 5), (1, 1, 4, 5)),
                "chorus": ((4, 1, 5, 1), (1, 5, 4, 1)),
                "bridge": ((6, 4, 1, 5),),
                "intro": ((1, 4, 5, 1),),
            },
            "triad",
            _dp("train beat", {"kick": (0, 8), "snare": (4, 12), "hat": _EIGHTHS, "rim": (6, 14)}),
            "country",
            "strum",
            ("acoustic guitar", "bass", "fiddle", "pedal steel", "banjo"),
            0.6,
            vocal=VocalStyle("male", 5.0, 30.0, 0.05),
            aliases=(
                "country",
                "bluegrass",
                "americana",
                "honky tonk",
                "nashville",
                "western",
                "outlaw country",
                "乡村",
                "cowboy",
            ),
            descriptors=("twangy guitars", "fiddle and pedal steel", "boom-chick bass"),
        ),
        Genre(
            "folk",
            "Folk",
            (84, 112),
            4,
            ("major", "major", "minor"),
            {
                "verse": ((1, 4, 1, 5), (6, 4, 1, 5)),
                "chorus": ((4, 1, 5, 6), (1, 5, 4, 1)),
                "bridge": ((6, 5, 4, 4),),
                "intro": ((1, 4, 1, 5),),
            },
            "triad",
            _dp("folk", {"kick": (0, 8), "rim": (4, 12), "shaker": _EIGHTHS}),
            "roots",
            "fingerpick",
            ("acoustic guitar", "bass", "violin", "harmonica"),
            0.4,
            vocal=VocalStyle(None, 5.0, 25.0, 0.2),
            aliases=(
                "folk",
                "acoustic",
                "singer-songwriter",
                "indie folk",
                "folk pop",
                "campfire",
                "unplugged",
                "民谣",
                "coffeehouse",
            ),
            descriptors=("fingerpicked acoustic guitar", "warm intimate vocal", "organic"),
        ),
        Genre(
            "rnb",
            "R&B",
            (66, 92),
            4,
            ("minor", "dorian", "major"),
            {
                "verse": ((2, 5, 1, 6), (4, 3, 6, 6)),
                "chorus": ((4, 5, 3, 6), (2, 5, 1, 6)),
                "bridge": ((4, 4, 3, 3),),
                "intro": ((4, 3, 2, 1),),
            },
            "seventh",
            _dp(
                "rnb",
                {"kick": (0, 3, 8, 11), "snare": (4, 12), "hat": _SIXTEENTHS[::2], "rim": (15,)},
            ),
            "rnb",
            "block",
            ("electric piano", "bass", "pad", "strings"),
            0.5,
            swing=0.55,
            vocal=VocalStyle("female", 5.5, 40.0, 0.25, harmony="choir"),
            aliases=(
                "r&b",
                "rnb",
                "r and b",
                "soul",
                "neo soul",
                "neo-soul",
                "motown",
                "gospel",
                "slow jam",
                "节奏布鲁斯",
                "灵魂乐",
                "contemporary r&b",
            ),
            descriptors=("silky electric piano", "soulful melismatic vocal", "smooth groove"),
        ),
        Genre(
            "metal",
            "Metal",
            (140, 180),
            4,
            ("phrygian", "minor"),
            {
                "verse": ((1, 1, 2, 1), (1, 6, 7, 1)),
                "chorus": ((1, 6, 3, 7), (6, 7, 1, 1)),
                "bridge": ((6, 6, 7, 7),),
                "intro": ((1, 2, 1, 7),),
            },
            "power",
            _dp("double kick", {"kick": _SIXTEENTHS, "snare": (4, 12), "crash": (0, 8)}),
            "eighths",
            "chug",
            ("distortion guitar", "lead guitar", "pick bass"),
            0.95,
            vocal=VocalStyle("male", 6.0, 20.0, 0.0),
            aliases=(
                "metal",
                "heavy metal",
                "metalcore",
                "thrash",
                "death metal",
                "power metal",
                "nu metal",
                "djent",
                "doom",
                "重金属",
                "金属",
                "heavy",
            ),
            descriptors=("palm-muted downtuned riffs", "double kick drums", "aggressive"),
        ),
        Genre(
            "punk",
            "Punk",
            (160, 196),
            4,
            ("major", "mixolydian"),
            {
                "verse": ((1, 4, 5, 5), (1, 5, 4, 4)),
                "chorus": ((1, 5, 6, 4), (4, 5, 1, 1)),
                "bridge": ((6, 4, 6, 5),),
                "intro": ((1, 4, 5, 1),),
            },
            "power",
            _dp("punk", {"kick": (0, 4, 8, 12), "snare": (4, 12), "crash": _EIGHTHS}),
            "eighths",
            "power",
            ("overdrive guitar", "pick bass"),
            0.9,
            vocal=VocalStyle("male", 4.0, 10.0, 0.0),
            aliases=(
                "punk",
                "pop punk",
                "pop-punk",
                "hardcore",
                "skate punk",
                "emo",
                "朋克",
                "riot grrrl",
                "post-punk",
            ),
            descriptors=("fast power chords", "raw energy", "shout-along chorus"),
        ),
        Genre(
            "reggae",
            "Reggae",
            (70, 90),
            4,
            ("major", "minor"),
            {
                "verse": ((1, 4, 1, 5), (1, 1, 4, 4)),
                "chorus": ((1, 5, 6, 4), (4, 5, 1, 1)),
                "bridge": ((2, 5, 2, 5),),
                "intro": ((1, 4, 1, 5),),
            },
            "triad",
            _dp("one drop", {"kick": (8,), "rim": (8,), "hat": _EIGHTHS}),
            "reggae",
            "skank",
            ("clean guitar", "bass", "organ"),
            0.45,
            swing=0.57,
            vocal=VocalStyle("male", 5.0, 25.0, 0.1),
            aliases=(
                "reggae",
                "dub",
                "ska",
                "dancehall",
                "roots reggae",
                "rocksteady",
                "雷鬼",
                "island",
            ),
            descriptors=("offbeat skank guitar", "one-drop drums", "deep melodic bass"),
        ),
        Genre(
            "latin",
            "Latin",
            (90, 112),
            4,
            ("minor", "major"),
            {
                "verse": ((1, 4, 5, 1), (6, 2, 5, 1)),
                "chorus": ((6, 4, 1, 5), (1, 4, 5, 5)),
                "bridge": ((4, 5, 6, 6),),
                "intro": ((6, 2, 5, 6),),
            },
            "seventh",
            _dp(
                "clave",
                {
                    "kick": (0, 6, 8, 14),
                    "claves": (0, 6, 12),
                    "conga": (6, 7, 14, 15),
                    "shaker": _SIXTEENTHS,
                    "rim": (10,),
                },
            ),
            "tumbao",
            "montuno",
            ("nylon guitar", "acoustic bass", "piano", "trumpet"),
            0.65,
            vocal=VocalStyle(None, 6.0, 40.0, 0.1),
            aliases=(
                "latin",
                "salsa",
                "bossa nova",
                "bossa",
                "samba",
                "reggaeton",
                "bachata",
                "flamenco",
                "tango",
                "cumbia",
                "latino",
                "拉丁",
                "merengue",
                "mambo",
            ),
            descriptors=("clave rhythm", "congas and shakers", "nylon guitar"),
        ),
        Genre(
            "orchestral",
            "Orchestral",
            (70, 104),
            4,
            ("minor", "major"),
            {
                "verse": ((1, 6, 4, 5), (6, 4, 1, 5)),
                "chorus": ((4, 5, 3, 6), (1, 5, 6, 4)),
                "bridge": ((4, 5, 6, 6),),
                "intro": ((1, 4, 5, 1),),
            },
            "triad",
            _dp("orchestral", {"kick": (0,), "crash": ()}),
            "sustained",
            "arpeggio",
            ("strings", "french horn", "timpani", "harp", "flute", "cello"),
            0.55,
            vocal=VocalStyle(None, 5.5, 45.0, 0.05, harmony="choir", choir=True),
            aliases=(
                "orchestral",
                "classical",
                "cinematic",
                "symphonic",
                "epic",
                "film score",
                "soundtrack",
                "baroque",
                "opera",
                "古典",
                "交响",
                "trailer",
                "score",
            ),
            descriptors=("full orchestra", "soaring strings", "cinematic swells"),
            bars_per_chord=2,
        ),
        Genre(
            "ambient",
            "Ambient",
            (60, 80),
            4,
            ("major", "dorian"),
            {
                "verse": ((1, 4, 6, 5),),
                "chorus": ((4, 1, 5, 6),),
                "bridge": ((6, 4, 6, 4),),
                "intro": ((1, 4, 1, 4),),
            },
            "sus",
            _dp("ambient", {"shaker": (0, 8), "kick": ()}),
            "sustained",
            "arpeggio",
            ("atmosphere", "warm pad", "celesta", "piano"),
            0.25,
            vocal=VocalStyle("female", 4.5, 20.0, 0.35),
            aliases=(
                "ambient",
                "drone",
                "new age",
                "meditation",
                "chillout",
                "downtempo",
                "atmospheric",
                "spa",
                "sleep",
                "氛围",
                "post-rock",
                "ethereal",
            ),
            descriptors=("evolving pads", "spacious reverb", "slow drifting harmony"),
            bars_per_chord=2,
        ),
        Genre(
            "holiday",
            "Holiday",
            (110, 138),
            4,
            ("major",),
            {
                "verse": ((1, 6, 2, 5), (1, 4, 1, 5)),
                "chorus": ((4, 1, 2, 5), (1, 6, 4, 5)),
                "bridge": ((3, 6, 2, 5),),
                "intro": ((1, 6, 2, 5),),
            },
            "seventh",
            _dp("sleigh", {"kick": (0, 8), "snare": (4, 12), "tamb": _EIGHTHS}),
            "roots",
            "block",
            ("piano", "bells", "bass", "strings", "glockenspiel"),
            0.6,
            swing=0.6,
            vocal=VocalStyle(None, 5.5, 35.0, 0.1),
            aliases=(
                "holiday",
                "christmas",
                "xmas",
                "festive",
                "winter",
                "jingle",
                "new year",
                "圣诞",
                "新年",
                "carol",
                "yuletide",
            ),
            descriptors=("sleigh bells", "glockenspiel sparkle", "warm festive swing"),
        ),
        Genre(
            "funk",
            "Funk",
            (96, 116),
            4,
            ("dorian", "mixolydian"),
            {
                "verse": ((1, 1, 4, 4), (1, 4, 1, 4)),
                "chorus": ((4, 5, 1, 1), (1, 7, 4, 1)),
                "bridge": ((4, 4, 5, 5),),
                "intro": ((1, 1, 4, 4),),
            },
            "dominant",
            _dp("funk", {"kick": (0, 3, 10), "snare": (4, 12), "rim": (7, 9), "hat": _SIXTEENTHS}),
            "funk",
            "stabs",
            ("slap bass", "muted guitar", "brass", "organ"),
            0.75,
            vocal=VocalStyle(None, 5.5, 30.0, 0.05),
            aliases=("funk", "disco", "funky", "nu disco", "p-funk", "boogie", "放克", "groove"),
            descriptors=("slap bass", "chicken-scratch guitar", "tight horn stabs"),
        ),
        Genre(
            "kpop",
            "K-pop / J-pop",
            (110, 132),
            4,
            ("minor", "major"),
            {
                "verse": ((6, 4, 5, 3), (4, 5, 3, 6)),
                "chorus": ((4, 5, 3, 6), (4, 5, 6, 6)),
                "bridge": ((2, 3, 4, 5),),
                "intro": ((4, 5, 3, 6),),
            },
            "seventh",
            _dp(
                "idol",
                {"kick": (0, 4, 8, 12), "clap": (4, 12), "hat": _SIXTEENTHS[::2], "open": (6, 14)},
            ),
            "pulse",
            "stabs",
            ("synth bass", "piano", "synth", "strings", "synth lead"),
            0.8,
            vocal=VocalStyle("female", 5.5, 25.0, 0.1),
            aliases=(
                "k-pop",
                "kpop",
                "j-pop",
                "jpop",
                "anime",
                "city pop",
                "idol",
                "j-rock",
                "c-pop",
                "cpop",
                "mandopop",
                "韩流",
                "日系",
                "二次元",
                "idol pop",
            ),
            descriptors=("glossy idol production", "key change energy", "layered synths"),
        ),
        Genre(
            "chinese",
            "Chinese traditional",
            (68, 96),
            4,
            ("major",),
            {
                "verse": ((1, 6, 2, 5), (1, 5, 6, 3)),
                "chorus": ((4, 5, 3, 6), (6, 5, 4, 5)),
                "bridge": ((6, 3, 4, 5),),
                "intro": ((1, 5, 6, 5),),
            },
            "sus",
            _dp("wood block", {"block": (0, 8), "tom_low": (0, 10), "rim": (4, 12)}),
            "roots",
            "arpeggio",
            ("guzheng", "erhu", "dizi", "strings", "bass", "pipa"),
            0.45,
            melody_scale="pentatonic",
            vocal=VocalStyle("female", 5.0, 30.0, 0.1),
            aliases=(
                "chinese",
                "chinese traditional",
                "guofeng",
                "中国风",
                "古风",
                "国风",
                "traditional chinese",
                "wuxia",
                "戏曲",
                "民乐",
                "oriental",
                "asian",
            ),
            descriptors=("pentatonic melodies", "guzheng and erhu", "poetic atmosphere"),
        ),
    )
}

# Instrument / mood votes used when no genre name was found.
_INSTRUMENT_GENRE: dict[str, str] = {
    "808": "trap",
    "sax": "jazz",
    "saxophone": "jazz",
    "strings": "orchestral",
    "orchestra": "orchestral",
    "violin": "orchestral",
    "synth": "synthwave",
    "synths": "synthwave",
    "acoustic guitar": "folk",
    "guitar": "rock",
    "distorted guitar": "metal",
    "electric guitar": "rock",
    "banjo": "country",
    "fiddle": "country",
    "erhu": "chinese",
    "guzheng": "chinese",
    "pipa": "chinese",
    "dizi": "chinese",
    "二胡": "chinese",
    "古筝": "chinese",
    "trumpet": "jazz",
    "rhodes": "rnb",
    "bells": "holiday",
    "harmonica": "blues",
    "organ": "blues",
    "piano": "pop",
    "ukulele": "folk",
    "harp": "orchestral",
    "pad": "ambient",
    "slap bass": "funk",
    "brass": "funk",
    "steel drums": "reggae",
}
_MOOD_GENRE: dict[str, str] = {
    "chill": "lofi",
    "relaxing": "lofi",
    "calm": "ambient",
    "peaceful": "ambient",
    "epic": "orchestral",
    "dreamy": "ambient",
    "party": "edm",
    "energetic": "edm",
    "aggressive": "metal",
    "angry": "punk",
    "romantic": "rnb",
    "sensual": "rnb",
    "sad": "pop",
    "happy": "pop",
    "dark": "trap",
    "groovy": "funk",
    "nostalgic": "synthwave",
}

# mood -> (tempo factor, mode preference or "", energy delta)
MOODS: dict[str, tuple[float, str, float]] = {
    "energetic": (1.1, "", 0.2),
    "upbeat": (1.08, "major", 0.15),
    "happy": (1.05, "major", 0.1),
    "joyful": (1.05, "major", 0.1),
    "uplifting": (1.04, "major", 0.15),
    "sad": (0.85, "minor", -0.15),
    "melancholic": (0.88, "minor", -0.1),
    "melancholy": (0.88, "minor", -0.1),
    "heartbreak": (0.88, "minor", -0.1),
    "dark": (0.95, "minor", 0.0),
    "sinister": (0.95, "phrygian", 0.05),
    "chill": (0.88, "", -0.2),
    "relaxed": (0.88, "", -0.2),
    "calm": (0.85, "", -0.25),
    "mellow": (0.9, "", -0.2),
    "dreamy": (0.9, "", -0.15),
    "epic": (1.0, "minor", 0.25),
    "powerful": (1.03, "", 0.2),
    "aggressive": (1.1, "minor", 0.3),
    "angry": (1.1, "minor", 0.3),
    "romantic": (0.92, "major", -0.1),
    "nostalgic": (0.95, "", -0.05),
    "hopeful": (1.0, "major", 0.05),
    "mysterious": (0.95, "dorian", -0.05),
    "groovy": (1.0, "dorian", 0.1),
    "peaceful": (0.85, "major", -0.25),
    "intense": (1.08, "minor", 0.25),
    "slow": (0.8, "", -0.15),
    "fast": (1.2, "", 0.15),
    "悲伤": (0.85, "minor", -0.15),
    "快乐": (1.05, "major", 0.1),
    "浪漫": (0.92, "major", -0.1),
    "欢快": (1.08, "major", 0.15),
    "激昂": (1.1, "", 0.25),
    "安静": (0.85, "", -0.25),
}

_SPLIT = re.compile(r"[,;/|+&，、；\n]+|\s+-\s+")
_BPM = re.compile(r"(\d{2,3})\s*bpm")


def _tag_phrases(tags: str) -> list[str]:
    return [p.strip() for p in _SPLIT.split(tags.lower()) if p.strip()]


def _find(text: str, word: str) -> int:
    """Position of a whole-word (or, for CJK, substring) match, -1 when absent."""
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        return text.find(word)
    m = re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", text)
    return m.start() if m else -1


def _mentions(text: str, word: str) -> bool:
    return _find(text, word) >= 0


def genre_scores(tags: str) -> dict[str, float]:
    """Score every genre against the tags (see the module docstring for the rules)."""
    phrases = _tag_phrases(tags)
    scores: dict[str, float] = {}
    n = max(1, len(phrases))
    for pos, phrase in enumerate(phrases):
        weight = 1.0 + 0.5 * (n - pos) / n
        hit = False
        for g in GENRES.values():
            for alias in g.aliases:
                at = _find(phrase, alias)
                if at >= 0:
                    early = 1.0 + 0.3 * (1.0 - at / max(1, len(phrase)))
                    scores[g.name] = scores.get(g.name, 0.0) + weight * early * (
                        1 + len(alias) / 20
                    )
                    hit = True
        if hit:
            continue
        all_aliases = {a: g.name for g in GENRES.values() for a in g.aliases}
        for word in [phrase, *phrase.split()]:
            close = difflib.get_close_matches(word, list(all_aliases), n=1, cutoff=0.8)
            if close and word not in _INSTRUMENT_WORDS and word not in MOODS:
                scores[all_aliases[close[0]]] = scores.get(all_aliases[close[0]], 0.0) + weight
                break
    if scores:
        return scores
    text = " ".join(phrases)
    for word, genre in _INSTRUMENT_GENRE.items():
        if _mentions(text, word):
            scores[genre] = scores.get(genre, 0.0) + 1.0
    for word, genre in _MOOD_GENRE.items():
        if _mentions(text, word):
            scores[genre] = scores.get(genre, 0.0) + 0.5
    return scores


def _pick_genre(tags: str, weirdness: float, rng: random.Random) -> Genre:
    scores = genre_scores(tags)
    if scores:
        order = list(GENRES)
        best = max(scores.items(), key=lambda kv: (kv[1], -order.index(kv[0])))
        return GENRES[best[0]]
    if weirdness > 0.75:
        return GENRES[rng.choice(sorted(GENRES))]
    return GENRES["pop"]


def _instrument(key: str) -> Instrument:
    name, program, stem, role, low, high = _CATALOGUE[key]
    return Instrument(key, name, program, stem, role, low, high)


def named_instruments(tags: str) -> list[str]:
    """Catalogue keys named in the tags, longest phrases first, in order of appearance."""
    text = " ".join(_tag_phrases(tags))
    for g in GENRES.values():  # "drum and bass" names a genre, not a bass
        for alias in g.aliases:
            if " " in alias and alias in text:
                text = text.replace(alias, " " * len(alias))
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for word in sorted(_INSTRUMENT_WORDS, key=len, reverse=True):
        pattern = (
            re.escape(word)
            if any("\u4e00" <= ch <= "\u9fff" for ch in word)
            else rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])"
        )
        for m in re.finditer(pattern, text):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            # "orchestral" as a genre word should not force strings twice; harmless anyway
            taken.append((m.start(), m.end()))
            found.append((m.start(), _INSTRUMENT_WORDS[word]))
    keys: list[str] = []
    for _, key in sorted(found):
        if key not in keys:
            keys.append(key)
    return keys


def _removed(key: str, negative: str) -> bool:
    neg_phrases = _tag_phrases(negative)
    for phrase in neg_phrases:
        words = [phrase, *phrase.replace("no ", "").split()]
        for word in words:
            if word in _FAMILIES and any(part in key for part in _FAMILIES[word]):
                return True
            if word == key or _INSTRUMENT_WORDS.get(word) == key:
                return True
    return False


def _negative_has(negative: str, words: tuple[str, ...]) -> bool:
    text = " ".join(_tag_phrases(negative))
    return any(_mentions(text, w) for w in words)


def _moods(tags: str) -> list[str]:
    text = " ".join(_tag_phrases(tags))
    return [m for m in MOODS if _mentions(text, m)]


#: Other takes of a genre's comp and bass patterns, and of straight-eighth hats in a
#: chorus: each clip plays one, drawn by its seed, so the two clips of a song differ in
#: feel as two takes by a band do. The genre's own pattern stays the likeliest; patterns
#: that define a genre (a reggae skank, a house bass, a one-drop) have no other take.
COMP_TAKES: dict[str, tuple[str, ...]] = {
    "strum": ("strum", "strum", "strum_eighths", "strum_332"),
    "power": ("power", "power", "power_332", "chug"),
    "block": ("block", "block", "block_push"),
    "comp": ("comp", "comp", "comp_charleston"),
    "stabs": ("stabs", "stabs", "stabs_offbeat"),
}
BASS_TAKES: dict[str, tuple[str, ...]] = {
    "pop": ("pop", "pop", "pop_push", "eighths"),
    "eighths": ("eighths", "eighths", "eighths_332", "pulse"),
    "roots": ("roots", "roots", "roots_push"),
}
HAT_TAKES: tuple[str, ...] = ("plain", "plain", "chorus_sixteenths", "chorus_ride")


def _take(options: tuple[str, ...] | None, default: str, rng: random.Random) -> str:
    return options[rng.randrange(len(options))] if options else default


def resolve_style(
    tags: str,
    negative_tags: str = "",
    weirdness: float = 0.5,
    style_influence: float = 0.5,
    seed: int = 0,
) -> Style:
    """Turn free-form style tags into a concrete, deterministic Style."""
    rng = random.Random(seed * 7919 + 17)
    weirdness = min(1.0, max(0.0, weirdness))
    style_influence = min(1.0, max(0.0, style_influence))
    genre = _pick_genre(tags, weirdness, rng)
    moods = _moods(tags)

    low, high = genre.tempo
    spread = 0.35 + 0.65 * (1.0 - style_influence) + 0.3 * weirdness
    centre = (low + high) / 2
    half = (high - low) / 2 * min(1.3, spread)
    tempo = centre + rng.uniform(-half, half)
    mode = genre.modes[rng.randrange(len(genre.modes))]
    energy = genre.energy
    for mood in moods:
        factor, mode_pref, delta = MOODS[mood]
        tempo *= factor
        energy += delta
        if mode_pref:
            mode = mode_pref
    bpm_match = _BPM.search(tags.lower())
    if bpm_match:
        tempo = float(bpm_match.group(1))
    tempo = float(round(min(200.0, max(56.0, tempo))))
    energy = min(1.0, max(0.1, energy))

    key_root = rng.randrange(12)
    if genre.name in ("metal", "punk", "rock", "blues"):
        key_root = rng.choice((4, 9, 2, 7, 0))  # guitar keys
    progressions = {
        part: options[rng.randrange(len(options))] for part, options in genre.progressions.items()
    }
    if mode == "minor" and genre.chord_color in ("triad", "seventh") and rng.random() < weirdness:
        progressions["bridge"] = (6, 7, 1, 5)

    band = list(genre.band)
    for key in named_instruments(tags):
        if key not in band:
            band.insert(0, key)
    if style_influence < 0.35 and rng.random() < 1.0 - style_influence:
        extra = rng.choice(("strings", "pad", "piano", "bells"))
        if extra not in band:
            band.append(extra)
    instruments = [_instrument(k) for k in band if not _removed(k, negative_tags)]
    # one bass at most: a named bass replaces the genre's own
    basses = [i for i in instruments if i.role == "bass"]
    if len(basses) > 1:
        keep = basses[0]
        instruments = [i for i in instruments if i.role != "bass" or i is keep]
    instruments = instruments[:7]
    pans = (0.0, -0.35, 0.35, -0.2, 0.2, -0.5, 0.5)
    instruments = [
        replace(ins, pan=pans[n] if ins.role != "bass" else 0.0)
        for n, ins in enumerate(instruments)
    ]

    drums = genre.drums
    beats_per_bar = genre.beats_per_bar
    bass_pattern, comp_pattern = genre.bass, genre.comp
    tag_text = " ".join(_tag_phrases(tags))
    if _mentions(tag_text, "waltz") or "3/4" in tags or "圆舞曲" in tags:
        beats_per_bar = 3
        bass_pattern, comp_pattern = "waltz", "waltz"
        if drums is not None:
            drums = DrumPattern("waltz", 16, {"kick": (0,), "rim": (4, 8), "hat": (0, 4, 8)})
    swing = genre.swing
    if "12/8" in tags or "6/8" in tags or _mentions(tag_text, "shuffle"):
        # Four beats of triplet eighths, long-short: a 12/8 bar, or two bars of 6/8 (the
        # same pulse of dotted quarters; a backbeat lands on each 6/8 bar's second beat).
        swing = 2.0 / 3.0
    # Drawn apart from the rest, so the tempo, key and chords of a seed stay as they were.
    takes = random.Random(seed * 104729 + 3)
    comp_pattern = _take(COMP_TAKES.get(comp_pattern), comp_pattern, takes)
    bass_pattern = _take(BASS_TAKES.get(bass_pattern), bass_pattern, takes)
    hat_take = _take(HAT_TAKES, "plain", takes)
    if _negative_has(negative_tags, ("drums", "drum", "percussion", "beat", "beats", "鼓")):
        drums = None

    text = " ".join(_tag_phrases(tags))
    vocal = genre.vocal
    if _mentions(text, "female") or _mentions(text, "女声") or _mentions(text, "woman"):
        vocal = replace(vocal, gender="female")
    elif _mentions(text, "male") or _mentions(text, "男声") or _mentions(text, "man"):
        vocal = replace(vocal, gender="male")
    if _mentions(text, "duet") or _mentions(text, "对唱"):
        vocal = replace(vocal, duet=True)
    if _mentions(text, "choir") or _mentions(text, "合唱") or _mentions(text, "gospel"):
        vocal = replace(vocal, choir=True, harmony="choir")
    if _negative_has(negative_tags, ("vocals", "vocal", "voice", "singing", "人声")):
        vocal = replace(vocal, enabled=False)
    if _negative_has(negative_tags, ("male vocals", "male vocal", "male voice", "male")):
        vocal = replace(vocal, gender="female")
    if _negative_has(negative_tags, ("female vocals", "female vocal", "female voice", "female")):
        vocal = replace(vocal, gender="male")
    # Drawn apart from the rest, so everything else a seed chose stays as it was.
    draw = random.Random(seed * 15485863 + 29).random()
    vocal = replace(
        vocal,
        singers=(choose_singer("male", text, draw), choose_singer("female", text, draw)),
    )

    return Style(
        genre=genre.name,
        label=genre.label,
        tempo_bpm=tempo,
        beats_per_bar=beats_per_bar,
        mode=mode,
        key_root=key_root,
        progressions=progressions,
        chord_color=genre.chord_color,
        drums=drums,
        bass_pattern=bass_pattern,
        comp_pattern=comp_pattern,
        hat_take=hat_take,
        instruments=instruments,
        energy=energy,
        swing=swing,
        melody_scale=genre.melody_scale,
        vocal=vocal,
        moods=moods,
        weirdness=weirdness,
        style_influence=style_influence,
        bars_per_chord=genre.bars_per_chord,
        descriptors=genre.descriptors,
    )


#: Genre, instrument and singer words that are also everyday words ("a song about my house",
#: "the keys to my heart"): in a description they count only when a music word follows.
_EVERYDAY = frozenset(
    (
        "house", "dance", "club", "swing", "western", "cowboy", "country", "soul", "gospel",
        "heavy", "doom", "hardcore", "island", "score", "trailer", "sleep", "spa", "winter",
        "holiday", "festive", "new year", "jingle", "groove", "boogie", "anime", "idol",
        "asian", "oriental", "chinese", "retro", "bedroom", "drone", "radio", "alternative",
        "garage", "old school", "west coast", "east coast", "campfire", "keys", "string",
        "horn", "bells", "pad", "bass", "rock", "metal", "drill", "trap", "electronic",
        "classical", "acoustic", "rap", "epic", "bright", "smooth", "soft", "sweet",
        "gentle", "rough", "powerful",
    )
)  # fmt: skip
_MUSIC_NOUN = re.compile(
    r"\s+(?:[\w-]+\s+)?(?:songs?|music|tracks?|tunes?|beats?|ballads?|style|anthems?|vibes?"
    r"|jams?|numbers?|pieces?|sound|band|groove|records?|album|rhythms?|melod(?:y|ies)"
    r"|instrumental|riffs?|solo|vocals?|voice|singer|singing|feel|waltz|version|cover)\b"
)
_VOICE_WORDS = ("female", "male", "duet", "choir", "女声", "男声", "对唱", "合唱")
_SINGER_NOUN = re.compile(
    r"\b(?:(woman|girl|man|boy)(?:'s)?\s+(?:singer|singing|voice|vocals?)"
    r"|sung\s+by\s+(?:a\s+|an\s+|the\s+)?(woman|girl|man|boy))\b"
)
_METER = re.compile(r"(?<![\d/])(3/4|6/8|12/8)(?![\d/])")


def description_tags(text: str, genres: bool = True) -> str:
    """The style a free description names, as tags: genres, moods, instruments, tempo
    ("90 bpm"), meter ("waltz", "3/4"), voice ("female vocals", "sung by a man", "raspy"),
    in the order the text names them.

    Words that are also everyday words count only before a music word ("a country song",
    not "a song about the country"), so a story never turns into a genre. ``genres=False``
    leaves genre names out (the request's tags already chose one) but still spans them,
    so "smooth jazz" is not read as the singer word "smooth".
    """
    low = " ".join(text.lower().split())
    genre_words: set[str] = {a for g in GENRES.values() for a in g.aliases}
    words = set(genre_words)
    words |= set(_INSTRUMENT_WORDS) | set(MOODS) | set(_VOICE_WORDS)
    words |= {"waltz", "圆舞曲", "shuffle"}
    words |= set(singer_words())
    found: list[tuple[int, int, str]] = []
    for word in words:
        for m in _matches(low, word):
            if word in _EVERYDAY and not _MUSIC_NOUN.match(low, m[1]):
                continue
            found.append((m[0], -len(word), word))
    for m2 in _SINGER_NOUN.finditer(low):
        gender = "female" if (m2.group(1) or m2.group(2)) in ("woman", "girl") else "male"
        found.append((m2.start(), 0, f"{gender} vocals"))
    for pattern in (_BPM, _METER):
        for m3 in pattern.finditer(low):
            found.append((m3.start(), 0, m3.group(0)))
    kept: list[str] = []
    covered: list[tuple[int, int]] = []
    for at, neg_len, word in sorted(found):
        end = at - neg_len if neg_len else at + len(word)
        if any(a <= at and end <= b for a, b in covered):
            continue  # "hip hop" already covers "hop"
        covered.append((at, end))
        if word not in kept and (genres or word not in genre_words):
            kept.append(word)
    return ", ".join(kept)


def _matches(text: str, word: str) -> list[tuple[int, int]]:
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        at = text.find(word)
        return [(at, at + len(word))] if at >= 0 else []
    pattern = rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text)]


def _tempo_feel(bpm: float) -> str:
    if bpm < 76:
        return "slow"
    if bpm < 100:
        return "mid-tempo"
    if bpm < 128:
        return "upbeat"
    return "fast"


def expand_tags(original_tags: str) -> str:
    """A richer, deterministic style description built from the resolved style."""
    style = resolve_style(original_tags, seed=0)
    parts: list[str] = [style.label.lower()]
    parts.extend(m for m in style.moods)
    parts.append(f"{_tempo_feel(style.tempo_bpm)} {int(style.tempo_bpm)} bpm")
    parts.append(f"{'minor' if style.mode in ('minor', 'phrygian', 'dorian') else 'major'} key")
    parts.extend(style.descriptors)
    parts.extend(ins.name.lower() for ins in style.instruments[:4])
    if style.vocal.enabled:
        gender = style.vocal.gender or "male"
        tone = "breathy" if style.vocal.breathiness >= 0.25 else "clear"
        vocal = f"{tone} {gender} vocals"
        if style.vocal.duet:
            vocal = "male and female duet vocals"
        if style.vocal.choir:
            vocal += " with choir"
        parts.append(vocal)
    else:
        parts.append("instrumental")
    seen: list[str] = []
    for p in parts:
        if p and p not in seen:
            seen.append(p)
    return ", ".join(seen)
