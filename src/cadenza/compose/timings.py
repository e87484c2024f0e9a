"""Word-level lyric timings, read straight from the score (exact, not estimated)."""

from __future__ import annotations

from typing import Any

from cadenza.compose.score import Score


def word_timings(score: Score) -> list[dict[str, Any]]:
    """``[{word, start_s, end_s, line, section}]`` in sung order.

    ``line`` is the sung line's index (repeated choruses count again) and ``section`` the
    section label as written in the lyrics.
    """
    out: list[dict[str, Any]] = []
    for word in score.words:
        section = (
            score.sections[word.section_index] if word.section_index < len(score.sections) else None
        )
        out.append(
            {
                "word": word.text,
                "start_s": round(score.seconds(word.start), 4),
                "end_s": round(score.seconds(word.end), 4),
                "line": word.line_index,
                "section": section.label if section else "",
            }
        )
    return out
