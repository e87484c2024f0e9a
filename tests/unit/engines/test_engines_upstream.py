"""Upstream answers read in Cadenza's words: a concat clip's history from either dialect."""

from __future__ import annotations

from cadenza.engines.upstream import _acedata_task, _sunocore_task

HISTORY = [{"id": "up-1", "continue_at": 30.0, "type": "gen", "infill": False}, {"id": "up-2"}]


def test_a_sunocore_concat_clip_keeps_its_history() -> None:
    task = _sunocore_task(
        {
            "status": "SUCCESS",
            "progress": "100%",
            "data": [
                {
                    "id": "up-3",
                    "audio_url": "https://u/3.mp3",
                    "metadata": {"concat_history": HISTORY},
                },
                {"id": "up-4", "audio_url": "https://u/4.mp3", "metadata": None},
            ],
        }
    )
    assert task.clips[0].concat_history == tuple(HISTORY)
    assert task.clips[1].concat_history == ()


def test_an_acedata_concat_clip_keeps_its_history_and_drops_what_is_not_an_entry() -> None:
    record = {
        "id": "t",
        "state": "complete",
        "response": {
            "success": True,
            "data": [
                {"id": "up-3", "audio_url": "https://u/3.mp3", "concat_history": [*HISTORY, "x"]},
                {"id": "up-4", "audio_url": "https://u/4.mp3", "concat_history": "garbage"},
            ],
        },
    }
    task = _acedata_task(record)
    assert task.clips[0].concat_history == tuple(HISTORY)
    assert task.clips[1].concat_history == ()
