"""Billable actions and their default prices."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Action(enum.StrEnum):
    MUSIC = "MUSIC"
    UPSAMPLE = "UPSAMPLE"
    UPLOAD = "UPLOAD"
    CONCAT = "CONCAT"
    SPEED_ADJUST = "SPEED_ADJUST"
    CROP = "CROP"
    MP4 = "MP4"
    PERSONA = "PERSONA"
    VOX_PERSONA = "VOX_PERSONA"
    MIDI = "MIDI"
    ALIGNED_LYRICS = "ALIGNED_LYRICS"
    PLAYLIST = "PLAYLIST"
    UPSAMPLE_TAGS = "UPSAMPLE_TAGS"
    PROMPT_IMAGE = "PROMPT_IMAGE"
    LYRICS = "LYRICS"
    STEMS = "STEMS"
    ALL_STEMS = "ALL_STEMS"
    WAV = "WAV"
    VOX = "VOX"
    REPLACE_SECTION = "REPLACE_SECTION"
    ADD_VOCALS = "ADD_VOCALS"
    ADD_INSTRUMENTAL = "ADD_INSTRUMENTAL"
    SAMPLES = "SAMPLES"
    MASHUP = "MASHUP"
    INSPO = "INSPO"


@dataclass(frozen=True)
class Price:
    action: str
    display_name: str
    price: Decimal
    enabled: bool = True
    refund_on_failure: bool = True


#: The table a fresh installation starts with; operators change it with ``cadenza prices``.
DEFAULT_PRICES: tuple[Price, ...] = (
    Price(Action.MUSIC, "Music generation (2 clips)", Decimal("10")),
    Price(Action.UPSAMPLE, "Remaster / upsample", Decimal("5")),
    Price(Action.UPLOAD, "Audio upload processing", Decimal("1")),
    Price(Action.CONCAT, "Concatenate extensions", Decimal("2")),
    Price(Action.SPEED_ADJUST, "Speed adjust", Decimal("2")),
    Price(Action.CROP, "Crop", Decimal("2")),
    Price(Action.MP4, "Music video (MP4)", Decimal("2")),
    Price(Action.PERSONA, "Create persona", Decimal("2")),
    Price(Action.VOX_PERSONA, "Create vox persona", Decimal("3")),
    Price(Action.MIDI, "MIDI export", Decimal("1")),
    Price(Action.ALIGNED_LYRICS, "Aligned lyrics", Decimal("1")),
    Price(Action.PLAYLIST, "Create playlist", Decimal("0")),
    Price(Action.UPSAMPLE_TAGS, "Upsample style tags", Decimal("0.5")),
    Price(Action.PROMPT_IMAGE, "Prompt image", Decimal("1")),
    Price(Action.LYRICS, "Lyrics generation", Decimal("1")),
    Price(Action.STEMS, "Stems: vocals and instrumental (2 clips)", Decimal("2")),
    Price(Action.ALL_STEMS, "All stems: 12 stems, 2 sets (24 clips)", Decimal("5")),
    Price(Action.WAV, "WAV export", Decimal("1")),
    Price(Action.VOX, "Vocal excerpt (vox)", Decimal("1")),
    Price(Action.REPLACE_SECTION, "Replace a section (1 clip)", Decimal("5")),
    Price(Action.ADD_VOCALS, "Add vocals to an instrumental (2 clips)", Decimal("10")),
    Price(Action.ADD_INSTRUMENTAL, "Add an instrumental under a vocal (2 clips)", Decimal("10")),
    Price(Action.SAMPLES, "A song built on a sample of a clip (2 clips)", Decimal("10")),
    Price(Action.MASHUP, "A song made from two clips (2 clips)", Decimal("10")),
    Price(Action.INSPO, "A song in the style of reference recordings (2 clips)", Decimal("10")),
)
