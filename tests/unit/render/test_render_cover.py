"""Cover art: deterministic, distinct per song, fitting the mood, any script in the title."""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cadenza.compose.cover import _gradient, draw_cover, palette_for, write_covers


def _mean_hsv(img: Image.Image) -> tuple[float, float, float]:
    r, g, b = (np.asarray(img.convert("RGB"), np.float64) / 255).reshape(-1, 3).mean(axis=0)
    return colorsys.rgb_to_hsv(r, g, b)


def test_same_inputs_same_cover() -> None:
    a = draw_cover("Night Drive", "synthwave, dark", 5, size=256)
    b = draw_cover("Night Drive", "synthwave, dark", 5, size=256)
    assert a.tobytes() == b.tobytes()


def test_seed_and_title_change_the_cover() -> None:
    base = np.asarray(draw_cover("Night Drive", "pop", 5, size=256), np.int16)
    for other in (draw_cover("Night Drive", "pop", 6, size=256), draw_cover("Day", "pop", 5, 256)):
        assert np.abs(np.asarray(other, np.int16) - base).mean() > 10


def test_palette_follows_mood() -> None:
    sad = palette_for("sad piano ballad")
    happy = palette_for("happy summer pop")
    assert sad is not None and happy is not None
    assert 0.5 < sad.hue < 0.7  # blue
    assert happy.hue < 0.2  # warm
    assert palette_for("") is None
    hue, _, _ = _mean_hsv(draw_cover("Rain", "sad, slow", 1, size=256))
    assert 0.45 < hue < 0.75


def test_writes_large_and_small(tmp_path: Path) -> None:
    small, large = write_covers(
        "我们的夏天", "mandarin pop", 3, tmp_path / "c.png", tmp_path / "l.png"
    )
    with Image.open(small) as s, Image.open(large) as big:
        assert s.size == (512, 512) and big.size == (1024, 1024)
        assert s.format == "PNG"


@pytest.mark.parametrize("angle", [0.0, 0.7, math.pi / 4, math.pi, 4.2])
def test_gradient_is_the_blend_of_its_colours(angle: float) -> None:
    colours = [(10, 200, 30), (250, 3, 90), (0, 0, 255)]
    size = 97
    axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    x, y = np.meshgrid(axis, axis)
    t = (x * math.cos(angle) + y * math.sin(angle)) / math.sqrt(2.0) * 0.5 + 0.5
    t = np.clip(t, 0.0, 1.0) * (len(colours) - 1)
    index = np.minimum(t.astype(np.int32), len(colours) - 2)
    frac = (t - index)[..., None]
    stops = np.array(colours, dtype=np.float32)
    expected = (stops[index] * (1.0 - frac) + stops[index + 1] * frac).astype(np.uint8)
    assert np.array_equal(np.asarray(_gradient(size, colours, angle)), expected)
