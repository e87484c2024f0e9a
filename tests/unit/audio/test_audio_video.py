"""The music video: streams, length and captions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from PIL import Image

from cadenza.audio.video import caption_lines, render_video, write_ass


def words() -> list[dict[str, object]]:
    text = ["city", "lights", "are", "calling", "me", "home", "tonight", "we", "ride"]
    return [
        {"word": w, "start_s": 0.5 + i * 0.4, "end_s": 0.8 + i * 0.4, "line": i // 5, "section": 0}
        for i, w in enumerate(text)
    ]


def test_captions_group_by_line_and_never_overlap(tmp_path: Path) -> None:
    lines = caption_lines(words())
    assert [ln.text for ln in lines] == ["city lights are calling me", "home tonight we ride"]
    subs = tmp_path / "c.ass"
    write_ass(lines, subs, "Title")
    events = [
        ln for ln in subs.read_text().splitlines() if ln.startswith("Dialogue") and "Lyric" in ln
    ]
    assert len(events) == 2
    first_end = events[0].split(",")[2]
    second_start = events[1].split(",")[1]
    assert first_end <= second_start


def test_mp4_has_h264_and_aac_of_the_clip_length(tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    Image.new("RGB", (256, 256), (30, 50, 90)).save(cover)
    audio = tmp_path / "song.mp3"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=6", "-ac", "2",
         str(audio)],
        check=True,
    )  # fmt: skip
    out = render_video(audio, cover, tmp_path / "v.mp4", duration_s=6.0, words=words(), title="T")
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type,duration",
         "-of", "json", str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    streams = json.loads(probe.stdout)["streams"]
    assert sorted(s["codec_name"] for s in streams) == ["aac", "h264"]
    for stream in streams:
        assert abs(float(stream["duration"]) - 6.0) < 0.15
