"""Cover art drawn from the title, the tags and the seed.

The palette follows the genre and mood words in the tags (warm for happy and latin, deep
blues for sad and ambient, neon for electronic...); shapes, gradient angle and grain are
drawn from a generator seeded by title, tags and seed, so every song gets its own cover and
the same song always gets the same one.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
LARGE_SIZE = 1024
SMALL_SIZE = 512


@dataclass(frozen=True)
class Palette:
    """Hue centre and spread (0..1), saturation and brightness ranges."""

    hue: float
    spread: float
    saturation: tuple[float, float]
    value: tuple[float, float]
    style: str  # "circles" | "waves" | "shards" | "rings"


# Earlier entries win: mood words are checked before genre words.
_PALETTES: tuple[tuple[tuple[str, ...], Palette], ...] = (
    (
        ("sad", "melanchol", "lonely", "blue", "rain", "悲", "伤"),
        Palette(0.60, 0.08, (0.35, 0.65), (0.25, 0.65), "waves"),
    ),
    (
        ("dark", "horror", "doom", "metal", "goth", "暗"),
        Palette(0.95, 0.06, (0.55, 0.9), (0.12, 0.45), "shards"),
    ),
    (
        ("happy", "sunny", "summer", "joy", "upbeat", "快乐", "夏"),
        Palette(0.11, 0.07, (0.6, 0.95), (0.8, 1.0), "circles"),
    ),
    (
        ("love", "romantic", "romance", "爱"),
        Palette(0.93, 0.06, (0.4, 0.75), (0.7, 0.98), "circles"),
    ),
    (
        ("calm", "chill", "lofi", "lo-fi", "ambient", "relax", "sleep"),
        Palette(0.50, 0.10, (0.25, 0.55), (0.45, 0.85), "waves"),
    ),
    (
        ("epic", "cinematic", "orchestral", "trailer"),
        Palette(0.08, 0.05, (0.5, 0.85), (0.3, 0.8), "rings"),
    ),
    (
        ("edm", "electro", "techno", "house", "synth", "trance", "dance", "cyber"),
        Palette(0.78, 0.15, (0.7, 1.0), (0.6, 1.0), "shards"),
    ),
    (("rock", "punk", "grunge"), Palette(0.02, 0.05, (0.7, 0.95), (0.35, 0.85), "shards")),
    (("jazz", "blues", "soul", "funk"), Palette(0.07, 0.06, (0.45, 0.75), (0.35, 0.8), "rings")),
    (
        ("country", "folk", "acoustic", "bluegrass"),
        Palette(0.09, 0.05, (0.35, 0.6), (0.55, 0.9), "waves"),
    ),
    (
        ("hip hop", "hip-hop", "rap", "trap", "drill"),
        Palette(0.75, 0.25, (0.55, 0.9), (0.25, 0.75), "shards"),
    ),
    (
        ("latin", "reggaeton", "salsa", "tropical", "reggae"),
        Palette(0.05, 0.12, (0.7, 1.0), (0.75, 1.0), "circles"),
    ),
    (("classical", "piano", "ballad"), Palette(0.58, 0.05, (0.1, 0.35), (0.6, 0.95), "rings")),
    (("pop",), Palette(0.88, 0.12, (0.5, 0.85), (0.75, 1.0), "circles")),
)


def palette_for(tags: str) -> Palette | None:
    """The palette of the first mood or genre word found in the tags, if any."""
    text = tags.lower()
    for words, palette in _PALETTES:
        if any(word in text for word in words):
            return palette
    return None


def _rng(title: str, tags: str, seed: int) -> np.random.Generator:
    digest = hashlib.sha256(f"cover\x00{title}\x00{tags}\x00{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def _colour(palette: Palette, rng: np.random.Generator) -> tuple[int, int, int]:
    hue = (palette.hue + rng.uniform(-palette.spread, palette.spread)) % 1.0
    sat = rng.uniform(*palette.saturation)
    val = rng.uniform(*palette.value)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def _gradient(size: int, colours: list[tuple[int, int, int]], angle: float) -> Image.Image:
    """A linear gradient through ``colours`` along ``angle``.

    Computed row by column from the axis (no meshgrid) and one colour channel at a time
    (no ``(size, size, 3)`` temporaries): the same float operations, so the same pixels,
    at about 60 % of the time.
    """
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    t = (axis * math.cos(angle))[None, :] + (axis * math.sin(angle))[:, None]
    t /= math.sqrt(2.0)
    t *= 0.5
    t += 0.5
    np.clip(t, 0.0, 1.0, out=t)
    t *= len(colours) - 1
    index = t.astype(np.int32)
    np.minimum(index, len(colours) - 2, out=index)
    frac = t - index  # float64, as the blend below
    rest = 1.0 - frac
    stops = np.array(colours, dtype=np.float32)
    pixels = np.empty((size, size, 3), dtype=np.uint8)
    for channel in range(3):
        value = stops[:-1, channel].take(index) * rest
        value += stops[1:, channel].take(index) * frac
        pixels[..., channel] = value
    return Image.fromarray(pixels, "RGB")


def _shapes(img: Image.Image, palette: Palette, rng: np.random.Generator) -> Image.Image:
    size = img.width
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    count = int(rng.integers(5, 11))
    for _ in range(count):
        r, g, b = _colour(palette, rng)
        alpha = int(rng.integers(50, 150))
        cx, cy = rng.uniform(0, size, 2)
        radius = rng.uniform(0.06, 0.35) * size
        if palette.style == "circles":
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), (r, g, b, alpha))
        elif palette.style == "rings":
            width = max(2, int(radius * rng.uniform(0.04, 0.15)))
            draw.ellipse(
                (cx - radius, cy - radius, cx + radius, cy + radius),
                outline=(r, g, b, alpha + 60),
                width=width,
            )
        elif palette.style == "waves":
            amplitude = rng.uniform(0.02, 0.08) * size
            period = rng.uniform(0.3, 1.2) * size
            phase = rng.uniform(0, 2 * math.pi)
            points = [
                (float(px), float(cy + amplitude * math.sin(2 * math.pi * px / period + phase)))
                for px in range(0, size + 16, 16)
            ]
            draw.line(points, fill=(r, g, b, alpha + 40), width=max(3, int(size * 0.012)))
        else:  # shards
            corners = [
                (float(cx + radius * math.cos(a)), float(cy + radius * math.sin(a)))
                for a in np.sort(rng.uniform(0, 2 * math.pi, int(rng.integers(3, 6))))
            ]
            draw.polygon(corners, fill=(r, g, b, alpha))
    layer = layer.filter(ImageFilter.GaussianBlur(radius=size / 400))
    return Image.alpha_composite(img.convert("RGBA"), layer)


def _grain(img: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    noise = rng.normal(0.0, amount, pixels.shape[:2])[..., None]
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT_DIR / name), size)
    except OSError:  # fonts not installed: still produce a cover
        return ImageFont.load_default()


def _printable(text: str) -> str:
    """DejaVu has no CJK glyphs: Chinese characters are shown as tone-marked pinyin."""
    if not any(ord(ch) >= 0x2E80 for ch in text):
        return text
    from pypinyin import Style, lazy_pinyin

    def keep(chars: str) -> str:
        return "".join(ch if ord(ch) < 0x2E80 else " " for ch in chars)

    parts = lazy_pinyin(text, style=Style.TONE, errors=keep)
    return " ".join(p for p in parts if p.strip()) or "Untitled"


def _title_text(img: Image.Image, title: str, tags: str) -> Image.Image:
    size = img.width
    draw = ImageDraw.Draw(img)
    title = _printable(title.strip())
    tags = _printable(tags)
    lines = textwrap.wrap(title or "Untitled", width=18)[:3]
    font = _font("DejaVuSans-Bold.ttf", int(size * 0.075))
    small = _font("DejaVuSans.ttf", int(size * 0.032))
    margin = int(size * 0.07)
    line_height = int(size * 0.09)
    y = size - margin - line_height * len(lines) - int(size * 0.05)
    shadow = max(2, size // 300)
    for line in lines:
        draw.text((margin + shadow, y + shadow), line, font=font, fill=(0, 0, 0))
        draw.text((margin, y), line, font=font, fill=(255, 255, 255))
        y += line_height
    if tags:
        caption = textwrap.shorten(tags, width=48, placeholder="…")
        draw.text((margin + 1, y + 1), caption, font=small, fill=(0, 0, 0))
        draw.text((margin, y), caption, font=small, fill=(235, 235, 235))
    return img


def draw_cover(title: str, tags: str, seed: int, size: int = LARGE_SIZE) -> Image.Image:
    """A square RGB cover; the same arguments always draw the same image."""
    rng = _rng(title, tags, seed)
    palette = palette_for(tags)
    if palette is None:  # no mood or genre word: a palette drawn from the seed
        palette = Palette(
            float(rng.uniform()),
            0.2,
            (0.4, 0.85),
            (0.4, 0.95),
            str(rng.choice(["circles", "waves", "shards", "rings"])),
        )
    colours = [_colour(palette, rng) for _ in range(3)]
    img = _gradient(size, colours, float(rng.uniform(0, 2 * math.pi)))
    img = _shapes(img, palette, rng)
    img = _grain(img, rng, amount=6.0)
    return _title_text(img, title, tags)


def write_covers(
    title: str, tags: str, seed: int, small_path: Path, large_path: Path
) -> tuple[Path, Path]:
    """Write ``cover_large.png`` (1024 px) and ``cover.png`` (512 px, the same picture)."""
    large = draw_cover(title, tags, seed, LARGE_SIZE)
    large_path.parent.mkdir(parents=True, exist_ok=True)
    # Grain does not compress; a low zlib level saves a second for the same pixels.
    large.save(large_path, format="PNG", compress_level=1)
    small = large.resize((SMALL_SIZE, SMALL_SIZE), Image.Resampling.LANCZOS)
    small.save(small_path, format="PNG", compress_level=1)
    return small_path, large_path
