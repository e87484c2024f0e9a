"""Music videos: the cover art, a live waveform, a progress bar and sung captions.

Captions come from the clip's word timings, grouped into lines, and are burnt in with
libass (ASS subtitles), so each line shows exactly while it is sung.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WIDTH = 720
HEIGHT = 720
FPS = 12
LEAD_S = 0.25
VIDEO_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class CaptionLine:
    text: str
    start_s: float
    end_s: float


def caption_lines(words: Sequence[dict[str, object]]) -> list[CaptionLine]:
    """Group ``[{word, start_s, end_s, line, section}]`` into one caption per sung line."""
    lines: list[CaptionLine] = []
    current: list[dict[str, object]] = []

    def flush() -> None:
        if current:
            text = " ".join(str(w["word"]) for w in current)
            start = float(str(current[0]["start_s"]))
            end = float(str(current[-1]["end_s"]))
            lines.append(CaptionLine(text, start, end))
            current.clear()

    for word in words:
        if current and (word.get("line"), word.get("section")) != (
            current[-1].get("line"),
            current[-1].get("section"),
        ):
            flush()
        current.append(word)
    flush()
    return lines


def _ass_time(seconds: float) -> str:
    centis = max(0, round(seconds * 100))
    h, rem = divmod(centis, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("{", "(").replace("}", ")").replace("\n", " ")


def write_ass(lines: Sequence[CaptionLine], path: Path, title: str) -> None:
    """Captions plus the title shown for the first seconds."""
    header = (
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {WIDTH}\nPlayResY: {HEIGHT}\nWrapStyle: 0\n\n"
        "[V4+ Styles]\n"
        "Format: Name, Fontname, Fontsize, PrimaryColour, OutlineColour, BackColour, Bold, "
        "Alignment, MarginL, MarginR, MarginV, BorderStyle, Outline, Shadow\n"
        "Style: Lyric,DejaVu Sans,34,&H00FFFFFF,&H00000000,&H80000000,1,2,40,40,170,1,3,1\n"
        "Style: Title,DejaVu Sans,40,&H00FFFFFF,&H00000000,&H80000000,1,8,40,40,40,1,3,1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Text\n"
    )
    events = []
    if title:
        events.append(f"Dialogue: 0,{_ass_time(0)},{_ass_time(4)},Title,{_ass_escape(title)}")
    # Show a line just before it is sung (never before the previous one is done) and hold
    # it until the next appears (at most 2 s past its end): no flicker, no overlap.
    starts = []
    for i, line in enumerate(lines):
        previous_end = lines[i - 1].end_s if i else 0.0
        starts.append(max(0.0, previous_end, line.start_s - LEAD_S))
    for i, line in enumerate(lines):
        end = line.end_s + 2.0
        if i + 1 < len(lines):
            end = min(end, starts[i + 1])
        events.append(
            f"Dialogue: 0,{_ass_time(starts[i])},{_ass_time(end)},Lyric,{_ass_escape(line.text)}"
        )
    path.write_text(header + "\n".join(events) + "\n", encoding="utf-8")


def render_video(
    audio: Path,
    cover: Path,
    out: Path,
    *,
    duration_s: float,
    words: Sequence[dict[str, object]] = (),
    title: str = "",
    timeout_s: float = VIDEO_TIMEOUT_S,
) -> Path:
    """An H.264 + AAC MP4 as long as the audio: cover, waveform, progress bar, captions."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not installed")
    with tempfile.TemporaryDirectory(prefix="cadenza-video-") as tmp:
        subs = Path(tmp) / "captions.ass"
        write_ass(caption_lines(words), subs, title)
        bar = (
            f"color=c=white@0.85:s={WIDTH}x6:r={FPS}[barsrc];"
            f"[v1][barsrc]overlay=x='-w+w*t/{max(duration_s, 0.1):.3f}':y={HEIGHT - 10}"
            ":shortest=1[v2]"
        )
        # The cover is decoded, scaled and darkened once, then repeated by ``loop``:
        # looping the input instead re-decodes and rescales it for every frame, which
        # was three quarters of the render time.
        graph = (
            f"[0:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,"
            f"crop={WIDTH}:{HEIGHT},format=yuv420p,eq=brightness=-0.08,"
            f"loop=loop=-1:size=1,setpts=N/{FPS}/TB[bg];"
            f"[1:a]aformat=channel_layouts=mono,showwaves=s={WIDTH}x110:mode=cline:"
            f"rate={FPS}:colors=white@0.7,format=yuva420p[wave];"
            f"[bg][wave]overlay=0:{HEIGHT - 130}:shortest=1[v1];{bar};"
            f"[v2]subtitles=filename={subs}[v]"
        )
        cmd = [
            ffmpeg, "-nostdin", "-v", "error", "-y",
            "-protocol_whitelist", "file,pipe",
            "-i", str(cover),
            "-i", str(audio),
            "-filter_complex", graph,
            "-map", "[v]", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "stillimage", "-crf", "28",
            "-pix_fmt", "yuv420p", "-r", str(FPS),
            "-c:a", "aac", "-b:a", "160k",
            "-t", f"{duration_s:.3f}",
            "-movflags", "+faststart",
            str(out),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError("video encoding failed: " + done.stderr.decode()[-400:])
    return out
