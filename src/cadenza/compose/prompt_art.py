"""Art drawn from a text prompt, with the cover painter's palettes, shapes and grain.

The palette comes from the prompt's mood and genre words (as for covers) and is tinted by
any colour it names; everything else is drawn from a generator seeded by a SHA-256 of the
normalised prompt, so one prompt always gives one picture, on every machine and process.
"""

from __future__ import annotations

import hashlib
import io
import math
import re

import numpy as np
from PIL import Image

from cadenza.compose.cover import Palette, _colour, _gradient, _grain, _shapes, palette_for

ART_SIZE = 768

#: Colour words -> hue (0..1); the first one named in the prompt tints the palette.
_HUES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("red", "crimson", "scarlet", "红"), 0.0),
    (("orange", "amber", "橙"), 0.07),
    (("gold", "golden", "yellow", "金", "黄"), 0.13),
    (("green", "emerald", "forest", "绿"), 0.33),
    (("teal", "cyan", "turquoise", "aqua", "青"), 0.5),
    (("blue", "azure", "ocean", "sea", "蓝"), 0.6),
    (("purple", "violet", "lavender", "紫"), 0.78),
    (("pink", "magenta", "rose", "粉"), 0.9),
)
_GREY_WORDS = ("silver", "grey", "gray", "monochrome", "black and white", "银", "灰")
_STYLES = ("circles", "waves", "shards", "rings")


def normalise_prompt(prompt: str) -> str:
    return re.sub(r"\s+", " ", prompt.strip().lower())


def prompt_seed(prompt: str) -> int:
    """A stable seed (Python's ``hash`` changes per process; SHA-256 does not)."""
    digest = hashlib.sha256(b"prompt-art\x00" + normalise_prompt(prompt).encode()).digest()
    return int.from_bytes(digest[:16], "big")


def _palette(prompt: str, rng: np.random.Generator) -> Palette:
    text = normalise_prompt(prompt)
    base = palette_for(text) or Palette(
        float(rng.uniform()), 0.18, (0.45, 0.85), (0.45, 0.95), str(rng.choice(_STYLES))
    )
    for words, hue in _HUES:
        if any(word in text for word in words):
            return Palette(hue, min(base.spread, 0.06), base.saturation, base.value, base.style)
    if any(word in text for word in _GREY_WORDS):
        return Palette(base.hue, base.spread, (0.0, 0.12), base.value, base.style)
    return base


def draw_prompt_art(prompt: str, size: int = ART_SIZE) -> Image.Image:
    """A square RGB picture for ``prompt``; the same prompt always draws the same image."""
    rng = np.random.default_rng(prompt_seed(prompt))
    palette = _palette(prompt, rng)
    colours = [_colour(palette, rng) for _ in range(3)]
    img = _gradient(size, colours, float(rng.uniform(0, 2 * math.pi)))
    img = _shapes(img, palette, rng)
    # A second, finer layer of the same shapes gives the picture depth.
    img = _shapes(img.convert("RGB"), palette, rng)
    return _grain(img, rng, amount=5.0)


def prompt_art_png(prompt: str, size: int = ART_SIZE) -> bytes:
    buffer = io.BytesIO()
    image: Image.Image = draw_prompt_art(prompt, size)
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
