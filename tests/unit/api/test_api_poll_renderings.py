"""Polls of an unchanged task reuse its last rendering; any change shows at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cadenza.api.app import create_app
from cadenza.api.renderings import Renderings
from cadenza.bootstrap import Container

MUSIC = {"title": "Again", "prompt": "[Verse]\nhello little star"}


def renderings(client: TestClient) -> Renderings:
    found: Renderings = client.app.state.renderings  # type: ignore[attr-defined]
    return found


def test_an_unchanged_task_is_answered_from_its_rendering(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    task_id = client.post("/suno/submit/music", json=MUSIC, headers=headers).json()["data"]
    first = client.get(f"/suno/fetch/{task_id}", headers=headers)
    hits = renderings(client).hits
    second = client.get(f"/suno/fetch/{task_id}", headers=headers)
    batch = client.post("/suno/fetch", json={"ids": [task_id, task_id]}, headers=headers)
    assert renderings(client).hits == hits + 2
    assert second.content == first.content
    assert batch.json()["data"] == [first.json()["data"]]


def test_every_change_shows_on_the_next_poll(
    client: TestClient, make_key: Any, container: Container, queue: Any
) -> None:
    _, headers = make_key()
    queue.auto = False  # the task waits in the queue
    task_id = client.post("/suno/submit/music", json=MUSIC, headers=headers).json()["data"]
    queued = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert queued["status"] == "QUEUED"
    with container.uow() as u:  # a worker reports progress
        task = u.tasks.get(task_id, for_update=True)
        assert task is not None
        task.progress = 37
        u.tasks.update(task)
        u.commit()
    assert client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]["progress"] == "37%"
    queue.drain()  # the worker finishes it
    done = client.post("/suno/fetch", json={"ids": [task_id]}, headers=headers).json()["data"][0]
    assert done["status"] == "SUCCESS" and done["data"][0]["audio_url"]
    clip_id = done["data"][0]["id"]
    with container.uow() as u:  # a video made for a clip later: the clip alone changes
        clip = u.clips.get(clip_id)
        assert clip is not None
        clip.video_key = clip.audio_key
        u.clips.update(clip)
        u.commit()
    again = client.get(f"/suno/fetch/{task_id}", headers=headers).json()["data"]
    assert again["data"][0]["video_url"].endswith("song.mp3")


def test_links_of_each_base_url_are_kept_apart(container: Container, make_key: Any) -> None:
    container.settings.public_url = ""
    _, headers = make_key()
    with TestClient(create_app(container, manage_queue=False)) as client:
        task_id = client.post("/suno/submit/music", json=MUSIC, headers=headers).json()["data"]
        for host in ("one.example", "two.example", "one.example"):
            clip = client.get(f"/suno/fetch/{task_id}", headers={**headers, "Host": host}).json()[
                "data"
            ]["data"][0]
            assert clip["audio_url"].startswith(f"http://{host}/media/")


def test_another_keys_task_is_a_404_even_when_rendered(client: TestClient, make_key: Any) -> None:
    _, owner = make_key()
    _, stranger = make_key()
    task_id = client.post("/suno/submit/music", json=MUSIC, headers=owner).json()["data"]
    assert client.get(f"/suno/fetch/{task_id}", headers=owner).status_code == 200
    assert client.get(f"/suno/fetch/{task_id}", headers=stranger).status_code == 404
    batch = client.post("/suno/fetch", json={"ids": [task_id]}, headers=stranger).json()
    assert batch["data"] == []


def test_links_that_expire_are_never_reused(container: Container, make_key: Any) -> None:
    container.storage.stable_urls = False  # as a bucket answering presigned links
    _, headers = make_key()
    with TestClient(create_app(container, manage_queue=False)) as client:
        task_id = client.post("/suno/submit/music", json=MUSIC, headers=headers).json()["data"]
        for _ in range(3):
            assert client.get(f"/suno/fetch/{task_id}", headers=headers).status_code == 200
        assert renderings(client).hits == 0 and renderings(client).misses == 0


def test_renderings_keep_the_newest_and_the_most_recently_used() -> None:
    kept = Renderings(entries=2)

    def put(task: str, revision: int, body: bytes, generation: int = 0) -> None:
        kept.put("d", task, "base", revision, body, owner="k", generation=generation)

    put("a", 2, b"a2")
    put("a", 1, b"a1")  # older, late: ignored
    assert kept.get("d", "a", "base", 2) == b"a2"
    assert kept.get("d", "a", "base", 3) is None
    put("b", 1, b"b1")
    kept.get("d", "a", "base", 2)  # a used last: b goes first
    put("c", 1, b"c1")
    assert kept.get("d", "b", "base", 1) is None
    assert kept.get("d", "a", "base", 2) == b"a2"
    off = Renderings(entries=0)
    off.put("d", "a", "base", 1, b"x", owner="k", generation=0)
    assert not off.enabled and off.get("d", "a", "base", 1) is None


def test_told_renderings_stand_until_their_tasks_next_notice() -> None:
    kept = Renderings(entries=10)
    kept.put("d", "t", "base", 3, b"t3", owner="alice", generation=0)
    assert kept.current("d", "t", "base", "alice") == b"t3"
    assert kept.current("d", "t", "base", "bob") is None  # another key reads the database
    kept.changed("t", 3)  # the notice of the revision kept: still current
    assert kept.current("d", "t", "base", "alice") == b"t3"
    kept.changed("t", 4)
    assert kept.current("d", "t", "base", "alice") is None
    # A poll that read revision 3 before the change and stores after its notice: refused.
    kept.put("d", "t", "base", 3, b"t3", owner="alice", generation=0)
    assert kept.current("d", "t", "base", "alice") is None
    kept.put("d", "t", "base", 4, b"t4", owner="alice", generation=0)
    assert kept.current("d", "t", "base", "alice") == b"t4"
    # Notices missed (the listener reconnected): all goes, and reads from before too.
    started = kept.generation
    kept.reset()
    assert kept.current("d", "t", "base", "alice") is None
    kept.put("d", "t", "base", 5, b"t5", owner="alice", generation=started)
    assert kept.current("d", "t", "base", "alice") is None
    kept.put("d", "t", "base", 5, b"t5", owner="alice", generation=kept.generation)
    assert kept.current("d", "t", "base", "alice") == b"t5"
