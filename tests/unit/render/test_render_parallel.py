"""Rendering pieces in parallel threads: same results as one by one, progress in order."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pytest

from cadenza.compose import parallel
from cadenza.compose.mix import mix_stems
from cadenza.compose.parallel import available_cores, run_all
from cadenza.compose.score import Note, Score, Section, Track
from cadenza.compose.synth import DEFAULT_SOUNDFONT, render_tracks

SR = 44100


def _job(value: int, steps: int) -> Callable[[Callable[[], None]], tuple[int, str]]:
    def run(step: Callable[[], None]) -> tuple[int, str]:
        for _ in range(steps):
            step()
        return value * value, threading.current_thread().name

    return run


@pytest.mark.parametrize("threads", [1, 3])
def test_results_in_order_and_steps_in_the_callers_thread(threads: int) -> None:
    seen: list[str] = []
    results = run_all(
        [_job(v, 2) for v in range(5)],
        lambda: seen.append(threading.current_thread().name),
        threads=threads,
    )
    assert [r[0] for r in results] == [0, 1, 4, 9, 16]
    assert seen == [threading.current_thread().name] * 10
    if threads > 1:
        assert any(name != threading.current_thread().name for _, name in results)


def test_errors_reach_the_caller() -> None:
    def broken(step: Callable[[], None]) -> int:
        raise ValueError("no")

    with pytest.raises(ValueError):
        run_all([_job(1, 1), broken], threads=2)


def test_available_cores_is_positive() -> None:
    assert available_cores() >= 1


def _score() -> Score:
    chord = [Note(p, b, 1.0, 90) for b in range(4) for p in (60, 64, 67)]
    tracks = [
        Track("Piano", "Keyboard", 0, notes=chord),
        Track("Bass", "Bass", 33, notes=[Note(36, b, 1.0, 100) for b in range(4)]),
        Track("Pad", "Synth", 89, notes=[Note(p, 0, 4.0, 70) for p in (60, 67)]),
        Track("Kit", "Drums", 0, notes=[Note(36, b, 0.5, 100) for b in range(4)], is_drum=True),
    ]
    return Score(
        title="t", tags="", seed=1, genre="pop", tempo_bpm=120.0, key_root=0, mode="major",
        beats_per_bar=4, sections=[Section("verse", "Verse", 0, 1, 0.5)], chords=[],
        tracks=tracks, vocals=[], words=[], total_beats=4.0, instrumental=True,
    )  # fmt: skip


@pytest.mark.skipif(not DEFAULT_SOUNDFONT.is_file(), reason="no SoundFont")
def test_stems_do_not_depend_on_the_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    alone = render_tracks(_score())
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    threaded = render_tracks(_score())
    assert list(alone) == list(threaded) == ["Keyboard", "Bass", "Synth", "Drums"]
    assert all(np.array_equal(alone[k], threaded[k]) for k in alone)

    mixed_threaded = mix_stems(dict(threaded), SR)
    monkeypatch.setattr(parallel, "available_cores", lambda: 1)
    mixed_alone = mix_stems(dict(alone), SR)
    assert list(mixed_alone) == list(mixed_threaded)
    assert all(np.array_equal(mixed_alone[k], mixed_threaded[k]) for k in mixed_alone)


def test_a_thread_budget_of_one_runs_in_the_callers_thread() -> None:
    parallel.set_thread_budget(1)
    try:
        results = run_all([_job(v, 1) for v in range(3)])
    finally:
        parallel.set_thread_budget(None)
    assert {name for _, name in results} == {threading.current_thread().name}
