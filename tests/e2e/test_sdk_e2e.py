"""``cadenza.client`` against a real ``cadenza serve``, in both dialects, blocking and
async: songs, edits, media, errors, and a submit whose answer is lost on the way back,
retried with its Idempotency-Key and charged once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e_serving import Server, launch, new_key, stop

from cadenza.client import (
    ApiError,
    AsyncClient,
    Client,
    Task,
    UnsupportedCall,
)

pytestmark = pytest.mark.slow

LYRICS = "[Verse]\nSun on the hill"


class DropFirstAnswer(httpx.BaseTransport):
    """Delivers requests, but loses the server's first answer to ``path`` (as a timeout
    would): the server did the work, the client never heard."""

    def __init__(self, path: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.path = path
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path != self.path:
            return response
        self.keys.append(request.headers.get("Idempotency-Key"))
        if len(self.keys) == 1:
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncDropFirstAnswer(httpx.AsyncBaseTransport):
    def __init__(self, path: str) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.path = path
        self.keys: list[str | None] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != self.path:
            return response
        self.keys.append(request.headers.get("Idempotency-Key"))
        if len(self.keys) == 1:
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = launch(tmp_path_factory.mktemp("sdk-e2e"))
    try:
        yield running
    finally:
        stop(running)


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    return new_key(server, "1000", "--rpm", "1000", "--concurrency", "8")


def _charges(server: Server, key: str, task_id: str) -> list[dict[str, object]]:
    rows = httpx.get(
        f"{server.base}/suno/billing/transactions", headers={"X-API-Key": key}, timeout=30
    ).json()["data"]
    return [r for r in rows if r["task_id"] == task_id and r["transaction_type"] == "CONSUME"]


@pytest.fixture(scope="module")
def sunocore_song(server: Server, key: str) -> tuple[Task, list[Task], DropFirstAnswer]:
    """One song made through a transport that loses the submit's first answer."""
    transport = DropFirstAnswer("/suno/submit/music")
    seen: list[Task] = []
    with Client(server.base, key, transport=transport, backoff_s=0.1) as client:
        task_id = client.generate(
            lyrics=LYRICS, tags="folk", title="Hill", model="chirp-v4", seed=7
        )
        task = client.wait(task_id, on_progress=seen.append, interval_s=0.3)
    return task, seen, transport


@pytest.fixture(scope="module")
def acedata_song(server: Server, key: str) -> Task:
    with Client(server.base, key, dialect="acedata") as client:
        task_id = client.generate(lyrics=LYRICS, tags="pop", title="Hill", model="chirp-v4")
        return client.wait(task_id, interval_s=0.3)


def test_a_sunocore_song_is_made_followed_and_downloaded(
    server: Server,
    key: str,
    sunocore_song: tuple[Task, list[Task], DropFirstAnswer],
    tmp_path: Path,
) -> None:
    task, seen, _ = sunocore_song
    assert task.status == "SUCCESS" and task.progress == 100 and task.action == "MUSIC"
    assert len(task.clips) == 2 and all(c.complete for c in task.clips)
    progress = [t.progress for t in seen]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)
    assert seen[-1].status == "SUCCESS"
    clip = task.clips[0]
    assert clip.title == "Hill" and clip.duration and clip.duration > 1
    with Client(server.base, key) as client:
        song = client.download(clip.audio_url, tmp_path / "song.mp3").read_bytes()
        assert song[:3] == b"ID3" or song[:2] == b"\xff\xfb"
        midi = client.midi(clip.id, task_id=task.id)
        assert midi.data is not None and midi.data.startswith(b"MThd")
        words = client.words(clip.id)
        assert [w.word.strip(",.").lower() for w in words][:2] == ["sun", "on"]
        assert all(w.end_s > w.start_s for w in words)
        [again] = client.get_many([task.id])
        assert again.id == task.id and again.clips[0].id == clip.id
        assert client.lyrics("rain in the city").text
        assert client.style("folk").startswith("folk")
        assert client.balance().credits < 1000


def test_a_submit_whose_answer_was_lost_is_retried_and_charged_once(
    server: Server, key: str, sunocore_song: tuple[Task, list[Task], DropFirstAnswer]
) -> None:
    task, _, transport = sunocore_song
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert transport.keys[0]
    assert len(_charges(server, key, task.id)) == 1


def test_sunocore_edits(
    server: Server, key: str, sunocore_song: tuple[Task, list[Task], DropFirstAnswer]
) -> None:
    clip = sunocore_song[0].clips[0]
    with Client(server.base, key) as client:
        cropped = client.wait(client.crop(clip.id, 0.0, 5.0), interval_s=0.3)
        assert cropped.clips[0].duration == pytest.approx(5.0, abs=0.3)
        faster = client.wait(client.speed(clip.id, 1.5), interval_s=0.3)
        assert faster.clips[0].duration is not None
        assert faster.clips[0].duration < (clip.duration or 0)
        with pytest.raises(UnsupportedCall):
            client.stems(clip.id)
        persona = client.create_persona(clip.id, "Hill singer")
        assert persona.id and persona.name == "Hill singer"
        playlist = client.playlist("mine", [clip.id])
        assert playlist.id and playlist.clip_ids == [clip.id]
        assert client.prompt_image("a hill at dawn").startswith("http")


def test_acedata_song_stems_and_tools(server: Server, key: str, acedata_song: Task) -> None:
    assert acedata_song.succeeded and len(acedata_song.clips) == 2
    clip = acedata_song.clips[0]
    assert clip.complete and clip.audio_url.startswith("http")
    with Client(server.base, key, dialect="acedata") as client:
        stems = client.wait(client.stems(clip.id), interval_s=0.3)
        titles = [c.title for c in stems.clips]
        assert titles == ["Hill - Vocals", "Hill - Instrumental"]
        assert all(c.complete and c.audio_url for c in stems.clips)
        midi = client.midi(clip.id)
        assert midi.data is None and midi.instruments
        assert client.lyrics("a song about rivers").text
        mashup = client.mashup_lyrics("[Verse]\nRed sky", "[Verse]\nBlue sea")
        assert mashup.text
        assert client.create_persona(clip.id, "Pop singer").id
        assert client.words(clip.id)
        with pytest.raises(UnsupportedCall):
            client.crop(clip.id, 0, 1)


def test_errors_carry_the_servers_code_and_message(server: Server, key: str) -> None:
    broke = new_key(server, "0")
    with Client(server.base, broke) as client:
        with pytest.raises(ApiError) as refused:
            client.generate("a calm song")
        assert refused.value.status == 402 and refused.value.code == "insufficient_credits"
        with pytest.raises(ApiError) as missing:
            client.get("no-such-task")
        assert missing.value.status == 404 and missing.value.code == "not_found"
    with Client(server.base, key, dialect="acedata") as client:
        with pytest.raises(ApiError) as bad:
            client.generate("a calm song", model="chirp-nope")
        assert (bad.value.status, bad.value.code) == (400, "bad_request")
        assert bad.value.message == "model is invalid."
    with Client(server.base, "sk_unknown", dialect="acedata") as client:
        with pytest.raises(ApiError) as unknown:
            client.get("x")
        assert unknown.value.status == 401


def test_the_async_client_in_both_dialects(server: Server, key: str) -> None:
    async def both() -> tuple[Task, Task, AsyncDropFirstAnswer]:
        transport = AsyncDropFirstAnswer("/suno/audios")
        async with (
            AsyncClient(server.base, key) as sunocore,
            AsyncClient(
                server.base, key, dialect="acedata", transport=transport, backoff_s=0.1
            ) as acedata,
        ):
            first, second = await asyncio.gather(
                sunocore.generate(lyrics=LYRICS, tags="ambient", title="Calm"),
                acedata.generate(lyrics=LYRICS, tags="ambient", title="Calm"),
            )
            one, two = await asyncio.gather(
                sunocore.wait(first, interval_s=0.3), acedata.wait(second, interval_s=0.3)
            )
            assert (await sunocore.get(first)).id == first
            assert [t.id for t in await acedata.get_many([second])] == [second]
        return one, two, transport

    one, two, transport = asyncio.run(both())
    for task in (one, two):
        assert task.succeeded and len(task.clips) == 2
        assert all(c.complete and c.title == "Calm" for c in task.clips)
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert len(_charges(server, key, two.id)) == 1


def test_the_v1_api_on_a_real_server(
    server: Server,
    key: str,
    sunocore_song: tuple[Task, list[Task], DropFirstAnswer],
    acedata_song: Task,
) -> None:
    """An admin key makes a key and grants it credits; the key's listings, ledger and the
    event stream of its song, over real HTTP."""
    task = sunocore_song[0]
    assert acedata_song.succeeded  # a second song: the listing below has a next page
    admin = {"X-API-Key": new_key(server, "0", "--admin")}
    http = httpx.Client(base_url=server.base, timeout=60)
    made = http.post("/api/v1/admin/keys", json={"name": "guest"}, headers=admin)
    assert made.status_code == 201, made.text
    guest = {"X-API-Key": made.json()["secret"]}
    granted = http.post(
        f"/api/v1/admin/keys/{made.json()['id']}/credits", json={"amount": 30}, headers=admin
    )
    assert granted.json()["balance_after"] == 30
    assert http.get("/api/v1/me", headers=guest).json()["credits_balance"] == 30
    assert http.get("/api/v1/admin/keys", headers=guest).status_code == 403

    mine = {"X-API-Key": key}
    listed = http.get("/api/v1/tasks?action=MUSIC&status=SUCCESS&limit=1", headers=mine).json()
    assert len(listed["items"]) == 1 and listed["next_offset"] == 1
    clips = http.get("/api/v1/clips?status=complete", headers=mine).json()["items"]
    assert {c.id for c in task.clips} <= {c["id"] for c in clips}
    rows = http.get("/api/v1/ledger?entry_type=CONSUME&action=MUSIC", headers=mine).json()
    assert task.id in {r["task_id"] for r in rows["items"]}
    with http.stream("GET", f"/api/v1/tasks/{task.id}/events", headers=mine) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    kinds = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "created" and kinds[-1] == "state" and "progress" in kinds
    http.close()
