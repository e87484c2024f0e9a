"""Identities of in-process queue starts, and telling for certain which are gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from cadenza.queue.presence import HOME_FILE, Presence


def test_starts_take_distinct_slots_and_see_each_other_alive(tmp_path: Path) -> None:
    first, second = Presence(tmp_path), Presence(tmp_path)
    assert first.instance is None
    a = first.claim()
    b = second.claim()
    assert a != b and first.instance == a and second.instance == b
    assert first.claim() == a  # claiming again keeps the identity
    assert a.split(".")[0] == b.split(".")[0]  # one directory, one home id
    assert a.split(".")[1] != b.split(".")[1]  # two slots
    assert first.gone([a, b]) == set()
    assert second.gone([a, b]) == set()
    first.release()
    second.release()


def test_a_released_identity_is_gone_even_once_its_slot_is_reused(tmp_path: Path) -> None:
    first, observer = Presence(tmp_path), Presence(tmp_path)
    old = first.claim()
    first.release()
    assert first.instance is None
    assert observer.gone([old]) == {old}
    new = first.claim()  # the same slot, a new identity
    assert new.split(".")[1] == old.split(".")[1] and new != old
    assert observer.gone([old, new]) == {old}
    first.release()
    assert observer.gone([old, new]) == {old, new}


def test_a_killed_process_is_gone(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from cadenza.queue.presence import Presence\n"
        f"print(Presence(Path({str(tmp_path)!r})).claim(), flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        identity = child.stdout.readline().strip()
        observer = Presence(tmp_path)
        assert identity and observer.gone([identity]) == set()
        later = observer.claim()  # the held slot is skipped
        assert later.split(".")[1] != identity.split(".")[1]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert observer.gone([identity]) == {identity}
    observer.release()


def test_identities_it_cannot_judge_are_not_gone(tmp_path: Path) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    assert Presence(here).gone(["x.0.y"]) == set()  # nothing was ever claimed here
    assert not here.exists()
    foreign = Presence(elsewhere)
    stranger = foreign.claim()
    foreign.release()
    local = Presence(here)
    mine = local.claim()
    home = mine.split(".")[0]
    assert stranger.split(".")[0] != home
    unknown = [
        stranger,  # another data dir's start (another machine)
        f"{home}.99.feed",  # a slot never used here
        f"{home}.x.feed",
        "no-dots",
        "",
    ]
    assert local.gone(unknown) == set()
    assert (here / HOME_FILE).read_text().strip() == home
    local.release()
