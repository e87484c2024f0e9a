"""Stem splits of a clip: which clips a split makes, in what order, under what names.

Both the service (which presets each pending clip's title) and the engine (which fills
them) read this, so a clip's title never changes between pending and succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: Suno's twelve stems, in the order its 12-stem split returns them (AceData's all_stems).
STEM_ORDER: tuple[str, ...] = (
    "Vocals",
    "Backing Vocals",
    "Drums",
    "Bass",
    "Guitar",
    "Keyboard",
    "Percussion",
    "Strings",
    "Synth",
    "FX",
    "Brass",
    "Woodwinds",
)
#: What a two-stem split sings: every voice, lead and backing (a separator hears both as
#: vocals); the instrumental is everything else.
SUNG = frozenset({"Vocals", "Backing Vocals"})
#: What each set of a 12-stem split is: the stems as mixed, and each brought up alone.
SET_KINDS: tuple[str, ...] = ("mix", "solo")
#: The two-stem split's clips, in Suno's order.
TWO_STEMS: tuple[str, ...] = ("Vocals", "Instrumental")
#: The 12-stem split returns two candidate sets of twelve.
SETS = 2

#: The clip ``model`` Suno reports for each split (contract §2.4).
ALL_STEMS_MODEL = "chirp-ahi-stem-12-t1"
STEMS_MODEL = ""

STEM_PREFIX = "stems/"
NO_STEMS = "The song id does not support stems."


def split_parts(stems: Iterable[str]) -> list[tuple[str, ...]]:
    """What a split may hand out on its own from ``stems``: each stem alone (all_stems)
    and the sung and the played ones together (stems); the master keeps each within
    full scale."""
    names = list(stems)
    sung = tuple(s for s in names if s in SUNG)
    played = tuple(s for s in names if s not in SUNG)
    return [(s,) for s in names] + [part for part in (sung, played) if len(part) > 1]


def stem_of_file(name: str) -> str | None:
    """The stem a clip file holds (``stems/Drums.wav`` -> ``Drums``); None for other
    files. A name outside the twelve (no engine writes one today) counts as ``FX``, as
    the built-in engine files any part it cannot place."""
    if not name.startswith(STEM_PREFIX) or not name.endswith(".wav"):
        return None
    stem = name[len(STEM_PREFIX) : -len(".wav")]
    if not stem or "/" in stem:
        return None
    return stem if stem in STEM_ORDER else "FX"


def stem_files(files: Mapping[str, str]) -> dict[str, str]:
    """The clip's stem files (name -> storage key)."""
    return {name: key for name, key in files.items() if stem_of_file(name) is not None}


def split_stems(full: bool) -> list[str]:
    """The stem of each clip a split makes, in order: 2 clips, or 2 sets of 12."""
    return list(STEM_ORDER) * SETS if full else list(TWO_STEMS)


def stem_title(title: str, stem: str, full: bool) -> str:
    """``"<T> - Vocals"`` for a two-stem split, ``"<T> (Vocals)"`` for a 12-stem one."""
    return f"{title} ({stem})" if full else f"{title} - {stem}"
