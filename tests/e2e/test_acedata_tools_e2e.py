"""The rest of the AceData dialect against a real ``cadenza serve`` and the real engine:
the ``/suno/audios`` actions beyond songs (stems, all_stems, upload_extend, upload_cover,
artist_consistency, artist_consistency_vox, and an unimplemented one, underpainting) and every
auxiliary endpoint of the contract's §4.

One song (two clips) is rendered for the module and every tool works on it; the upload
fetches it back from a local HTTP server. Each answer is checked field by field against
the contract (/work/shared/notes/acedata-contract.md §2.4 and §4) and against its media
(MP3s decode to the stated duration, the video is an MP4 with both streams, the WAV is
RIFF/WAVE of the song's length, the stems sum to the song); each test checks the ledger:
every task charged its price once, refusals nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from acedata_checks import assert_clip, decoded_seconds
from acedata_clients import MCP_HEADERS, SDK_HEADERS, mcp_task_is_complete, sdk_task_status
from e2e_serving import Server, launch, new_key, stop

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

MODEL = "chirp-v5-5"
TITLE = "River Song"
LYRIC = (
    "[Verse]\nHello river\nCarry me home\nDown to the sea\n\n"
    "[Chorus]\nOh the river\nRunning so free"
)
#: Contract §2.4: all_stems' twelve stems, in Suno's order (each set of the two).
STEM_ORDER = (
    "Vocals",
    "Backing Vocals",
    "Drums",
    "Bass",
    "Guitar",
    "Keyboard",
    "Percussion",
    "Strings",
    "Synth",
    "FX",
    "Brass",
    "Woodwinds",
)
NOT_FOUND = "The song id does not exist or has been taken offline."
RATE = 44100
#: A 16-bit sample step: stems sum to the song to within a few of these (WAV, exact).
QUANTUM = 1.0 / 32768
#: Clips a test leaves for later ones (the stems test's Vocals clip, for the voice).
song_extras: dict[str, dict[str, Any]] = {}


# -- the server, a key, the song -----------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The upload and voice tests serve their audio from 127.0.0.1.
    server = launch(
        tmp_path_factory.mktemp("acedata-tools"),
        env_extra={"CADENZA_ALLOW_PRIVATE_URLS": "true"},
    )
    try:
        yield server
    finally:
        stop(server)


@dataclass
class Client:
    """One key speaking AceData, and sunocore for its ledger and the price list."""

    server: Server
    key: str = ""
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.key = new_key(self.server, "1000", "--concurrency", "8", "--rpm", "600")
        self.http = httpx.Client(base_url=self.server.base, timeout=200)

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}

    def post(self, path: str, body: Any, headers: dict[str, str] = MCP_HEADERS) -> httpx.Response:
        return self.http.post(path, json=body, headers={**headers, **self.auth})

    def ok(self, path: str, body: Any, headers: dict[str, str] = MCP_HEADERS) -> dict[str, Any]:
        """A 200 ``{success: true, task_id, trace_id, data}``, in that order."""
        answer = self.post(path, body, headers)
        if answer.status_code != 200:  # the reason first: a long body's repr is cut short
            reason = (
                answer.json().get("error")
                if answer.headers.get("content-type") == ("application/json")
                else None
            )
            raise AssertionError(f"{path}: {answer.status_code} {reason}\n{answer.text[:3000]}")
        assert answer.headers["content-type"] == "application/json"
        got: dict[str, Any] = answer.json()
        assert list(got) == ["success", "task_id", "trace_id", "data"], got
        assert got["success"] is True
        uuid.UUID(got["task_id"])
        assert isinstance(got["trace_id"], str) and got["trace_id"]
        return got

    def refused(
        self,
        answer: httpx.Response,
        message: str | None = None,
        *,
        code: str = "bad_request",
        status: int = 400,
    ) -> dict[str, Any]:
        """The dialect's error envelope (contract §5)."""
        assert answer.status_code == status, answer.text
        body: dict[str, Any] = answer.json()
        assert body["success"] is False and isinstance(body["trace_id"], str), body
        assert set(body) <= {"success", "error", "trace_id", "task_id"}, body
        assert set(body["error"]) == {"code", "message"}, body
        assert body["error"]["code"] == code, body
        if message is not None:
            assert body["error"]["message"] == message, body
        return body

    def record(self, task_id: str) -> dict[str, Any]:
        answer = self.post("/suno/tasks", {"id": task_id, "action": "retrieve"}, SDK_HEADERS)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def media(self, url: str) -> bytes:
        assert url.startswith(f"{self.server.base}/media/"), url
        got = self.http.get(url)
        assert got.status_code == 200, url
        return got.content

    def balance(self) -> float:
        me = self.http.get("/suno/billing/me", headers={"X-API-Key": self.key}).json()
        value: float = me["data"]["api_key"]["credits_balance"]
        return value

    def ledger(self) -> list[dict[str, Any]]:
        answer = self.http.get(
            "/suno/billing/transactions", params={"limit": 500}, headers={"X-API-Key": self.key}
        )
        rows: list[dict[str, Any]] = answer.json()["data"]
        return rows

    def prices(self) -> dict[str, float]:
        listed = self.http.get("/suno/billing/pricing", headers={"X-API-Key": self.key}).json()
        return {p["action"]: p["price"] for p in listed["data"]}


class Charges:
    """What a test expects charged: one row per task at its action's price, nothing for
    the rest (refusals included)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.start_balance = client.balance()
        self.start_rows = {r["id"] for r in client.ledger()}
        self.expected: dict[str, str] = {}

    def add(self, task_id: str, action: str) -> None:
        assert task_id not in self.expected
        self.expected[task_id] = action

    def check(self) -> None:
        prices = self.client.prices()
        rows = [r for r in self.client.ledger() if r["id"] not in self.start_rows]
        got = sorted((r["task_id"], r["action"], r["transaction_type"]) for r in rows)
        want = sorted((task, action, "CONSUME") for task, action in self.expected.items())
        assert got == want, rows
        for row in rows:
            assert row["change_amount"] == -prices[row["action"]], row
        spent = sum(prices[action] for action in self.expected.values())
        assert self.client.balance() == pytest.approx(self.start_balance - spent)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    made = Client(server)
    try:
        yield made
    finally:
        made.http.close()


@dataclass(frozen=True)
class Song:
    task_id: str
    clips: list[dict[str, Any]]

    @property
    def clip(self) -> dict[str, Any]:
        return self.clips[0]


@pytest.fixture(scope="module")
def song(client: Client) -> Song:
    """One custom song with sung lyrics, 40 s asked (long enough for a verse to be
    sung), rendered once for the module."""
    body = client.ok(
        "/suno/audios",
        {
            "action": "generate",
            "custom": True,
            "model": MODEL,
            "duration": 40,
            "lyric": LYRIC,
            "title": TITLE,
            "style": "folk pop",
        },
    )
    assert len(body["data"]) == 2
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["title"] == TITLE and clip["lyric"] == LYRIC
    return Song(body["task_id"], body["data"])


@pytest.fixture(scope="module")
def www(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A local HTTP server (the client's own file host) over a fresh folder."""
    root = tmp_path_factory.mktemp("www")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- media -------------------------------------------------------------------------------


def decode(audio: bytes) -> np.ndarray:
    """Any audio file as 44.1 kHz stereo float samples (ffmpeg; an error fails). Read from
    a file, not a pipe: an MP4 may keep its index at the end."""
    with tempfile.NamedTemporaryFile(suffix=".audio") as source:
        source.write(audio)
        source.flush()
        result = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", source.name, "-f", "f32le", "-ac", "2", "-ar",
             str(RATE), "-"],
            capture_output=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert result.returncode == 0 and not result.stderr, result.stderr.decode()[:500]
    return np.frombuffer(result.stdout, dtype=np.float32).reshape(-1, 2)


def probe(data: bytes, tmp: Path, name: str) -> dict[str, Any]:
    """ffprobe's streams and format of a file."""
    path = tmp / name
    path.write_bytes(data)
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def best_lag(reference: np.ndarray, delayed: np.ndarray, max_lag: int) -> int:
    """How many samples ``delayed`` lags ``reference`` (cross-correlation peak)."""
    n = min(len(reference), len(delayed))
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(delayed[:n], size) * np.conj(np.fft.rfft(reference[:n], size))
    corr = np.fft.irfft(spectrum, size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    return int(lags[np.argmax(corr[lags])])


def wav_of(client: Client, clip_id: str, charges: Charges) -> tuple[bytes, np.ndarray]:
    """The clip's WAV through ``/suno/wav``: the bytes and the samples."""
    body = client.ok("/suno/wav", {"audio_id": clip_id})
    charges.add(body["task_id"], "WAV")
    [item] = body["data"]
    assert list(item) == ["file_url"]
    data = client.media(item["file_url"])
    return data, decode(data)


def words_of(lyric: str) -> list[str]:
    """The sung words: section headers dropped, punctuation stripped."""
    return [
        word.strip(",.!?")
        for line in lyric.splitlines()
        if line.strip() and not line.startswith("[")
        for word in line.split()
    ]


# -- /suno/audios: stems, all_stems, underpainting------------------------------------------------


def test_stems_are_vocals_and_instrumental_summing_to_the_song(client: Client, song: Song) -> None:
    charges = Charges(client)
    body = client.ok("/suno/audios", {"action": "stems", "audio_id": song.clip["id"]})
    charges.add(body["task_id"], "STEMS")
    vocals, instrumental = body["data"]
    assert [vocals["title"], instrumental["title"]] == [
        f"{TITLE} - Vocals",
        f"{TITLE} - Instrumental",
    ]
    for clip in body["data"]:
        assert_clip(client.http, clip, model="")  # contract §2.4: stems' model is ""
        assert clip["id"] != song.clip["id"]
        assert abs(clip["duration"] - song.clip["duration"]) < 0.05, clip
    assert vocals["lyric"] == LYRIC and instrumental["lyric"] == ""

    # Exact split: the stems' WAVs sum to the song's WAV within 16-bit rounding.
    _, whole = wav_of(client, song.clip["id"], charges)
    _, sung = wav_of(client, vocals["id"], charges)
    _, played = wav_of(client, instrumental["id"], charges)
    assert sung.shape == played.shape == whole.shape
    assert np.max(np.abs(sung + played - whole)) <= 3 * QUANTUM
    assert rms(sung) > 0.003 and rms(played) > 0.003  # both parts really sound

    # The Vocals stem is the song's voice: the upload and voice tests reuse it.
    song_extras["vocals"] = vocals
    charges.check()


def test_all_stems_are_two_sets_of_twelve_in_suno_order(client: Client, song: Song) -> None:
    charges = Charges(client)
    body = client.ok("/suno/audios", {"action": "all_stems", "audio_id": song.clip["id"]})
    charges.add(body["task_id"], "ALL_STEMS")
    data = body["data"]
    assert len(data) == 24
    assert [c["title"] for c in data] == [f"{TITLE} ({stem})" for stem in STEM_ORDER] * 2
    assert len({c["id"] for c in data}) == 24
    whole = decode(client.media(song.clip["audio_url"]))
    sets: list[list[np.ndarray]] = [[], []]
    for index, clip in enumerate(data):
        assert_clip(client.http, clip, model="chirp-ahi-stem-12-t1")
        assert abs(clip["duration"] - song.clip["duration"]) < 0.05, clip
        sets[index // 12].append(decode(client.media(clip["audio_url"])))
    mix, solo = sets
    sounding = [rms(a) > 1e-3 for a in mix]
    # The song has a voice and some instruments; a stem it has no part for is silence.
    assert sounding[0] and sum(sounding) >= 3, dict(zip(STEM_ORDER, sounding, strict=True))
    for stem, first, second, heard in zip(STEM_ORDER, mix, solo, sounding, strict=True):
        assert (rms(second) > 1e-3) == heard, stem
        if heard:
            # The solo set is the same part at another level, not another part.
            n = min(len(first), len(second))
            corr = np.corrcoef(first[:n].ravel(), second[:n].ravel())[0, 1]
            assert corr > 0.98, (stem, corr)
        else:
            assert np.max(np.abs(first)) < 1e-3 and np.max(np.abs(second)) < 1e-3, stem
    # Set 1 is the mix: its twelve stems add up to the song, but for the coding noise of
    # twelve MP3s summed (about -24 dB now that the band carries more of the song).
    n = min(len(whole), *(len(a) for a in mix))
    residual = rms(sum(a[:n] for a in mix) - whole[:n])
    assert residual < 0.08 * rms(whole[:n]), (residual, rms(whole[:n]))
    charges.check()


def test_underpainting_needs_an_a_cappella_upload_and_charges_nothing_else(
    client: Client, song: Song
) -> None:
    # The action itself is exercised on an uploaded a cappella in test_creative_e2e.
    charges = Charges(client)
    body = {"action": "underpainting", "audio_id": song.clips[0]["id"], "model": MODEL}
    answer = client.refused(client.post("/suno/audios", body))
    assert "not an upload" in answer["error"]["message"], answer
    client.refused(client.post("/suno/audios", {**body, "async": True}))
    charges.check()


# -- upload, and the upload_* actions -----------------------------------------------------------


def test_upload_then_upload_extend_and_upload_cover(
    client: Client, song: Song, www: tuple[Path, str]
) -> None:
    charges = Charges(client)
    root, base = www
    (root / "song.mp3").write_bytes(client.media(song.clip["audio_url"]))
    (root / "notes.txt").write_text("not audio " * 200)

    body = client.ok("/suno/upload", {"audio_url": f"{base}/song.mp3"})
    charges.add(body["task_id"], "UPLOAD")
    data = body["data"]
    # Docs(Upload)'s fields; OAS promises audio_id, which the CLI reads.
    assert set(data) == {
        "audio_id",
        "lyric",
        "style",
        "image_url",
        "image_large_url",
        "audio_url",
        "title",
        "duration",
    }
    uuid.UUID(data["audio_id"])
    assert data["title"].startswith("up-") and len(data["title"]) > 3
    assert isinstance(data["duration"], float | int) and not isinstance(data["duration"], bool)
    assert abs(data["duration"] - song.clip["duration"]) < 0.1, data
    assert abs(decoded_seconds(client.media(data["audio_url"])) - data["duration"]) < 0.15
    assert client.media(data["image_url"])[:4] == b"\x89PNG"
    assert client.media(data["image_large_url"])[:4] == b"\x89PNG"
    upload_id = data["audio_id"]

    # upload_extend (the seed's extend fields), blocking.
    more = "[Verse]\nOver the hills\nThe river goes on"
    extended = client.ok(
        "/suno/audios",
        {
            "action": "upload_extend",
            "audio_id": upload_id,
            "continue_at": 8,
            "lyric": more,
            "custom": True,
            "style": "folk pop",
            "title": "River Goes On",
            "model": MODEL,
        },
    )
    charges.add(extended["task_id"], "MUSIC")
    assert len(extended["data"]) == 2
    for clip in extended["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["title"] == "River Goes On" and clip["lyric"] == more
    # The extension continues the upload: concat joins the upload up to the cut and it.
    whole = client.ok("/suno/audios", {"action": "concat", "audio_id": extended["data"][0]["id"]})
    charges.add(whole["task_id"], "CONCAT")
    [joined] = whole["data"]
    history = joined["concat_history"]
    assert [h["id"] for h in history] == [upload_id, extended["data"][0]["id"]], history
    # The cut lands on the bar line nearest the asked 8 s (a bar is under 5 s).
    assert abs(history[0]["continue_at"] - 8) < 2.5, history
    assert (
        abs(joined["duration"] - (history[0]["continue_at"] + extended["data"][0]["duration"]))
        < 0.2
    )

    # upload_cover: a new rendition of the uploaded audio, about as long.
    covered = client.ok(
        "/suno/audios",
        {"action": "upload_cover", "audio_id": upload_id, "model": MODEL, "style": "jazz"},
    )
    charges.add(covered["task_id"], "MUSIC")
    assert len(covered["data"]) == 2
    for clip in covered["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["style"] == "jazz"
        assert abs(clip["duration"] - data["duration"]) < 0.25 * data["duration"], clip

    # Refusals: nothing fetched is charged.
    for bad, message in [
        ({}, "audio_url is required."),
        ({"audio_url": "ftp://example.com/a.mp3"}, None),
        ({"audio_url": f"{base}/missing.mp3"}, None),
        ({"audio_url": f"{base}/notes.txt"}, None),
    ]:
        client.refused(client.post("/suno/upload", bad), message)
    missing = {"action": "upload_cover", "audio_id": str(uuid.uuid4()), "model": MODEL}
    client.refused(client.post("/suno/audios", missing), NOT_FOUND)
    charges.check()


# -- personas, voices, vox and the artist_consistency actions --------------------------------


def test_persona_sings_artist_consistency_and_is_listed_then_deleted(
    client: Client, song: Song
) -> None:
    charges = Charges(client)
    made = client.ok(
        "/suno/persona",
        {"name": "River Singer", "audio_id": song.clip["id"], "description": "warm folk voice"},
    )
    charges.add(made["task_id"], "PERSONA")
    assert list(made["data"]) == ["persona_id"]
    persona_id = made["data"]["persona_id"]
    assert isinstance(persona_id, str) and persona_id

    sung = client.ok(
        "/suno/audios",
        {
            "action": "artist_consistency",
            "audio_id": song.clip["id"],
            "persona_id": persona_id,
            "prompt": "a song about the sea at dawn",
            "model": MODEL,
        },
    )
    charges.add(sung["task_id"], "MUSIC")
    assert len(sung["data"]) == 2
    for clip in sung["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["prompt"] == "a song about the sea at dawn"

    # A plain persona is no vox persona: refused, nothing charged.
    client.refused(
        client.post(
            "/suno/audios",
            {
                "action": "artist_consistency_vox",
                "audio_id": song.clip["id"],
                "persona_id": persona_id,
                "prompt": "x",
                "model": MODEL,
            },
        ),
        "persona_id must be a vox persona (made with vox_audio_id) when"
        " artist_consistency_vox audio",
    )

    # GET lists it (query parameters, contract §4), with Web's extra fields.
    listed = client.http.get(
        "/suno/persona",
        params={"user_id": "u-1", "limit": 50, "offset": 0},
        headers={"accept": "application/json", **client.auth},
    )
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert set(page) == {"count", "items"}
    mine = [i for i in page["items"] if i["persona_id"] == persona_id]
    assert len(mine) == 1 and page["count"] == len(page["items"]) >= 1
    [item] = mine
    assert {
        "name",
        "user_id",
        "created_at",
        "persona_id",
        "description",
        "source_type",
        "id",
        "source_audio_id",
        "source_audio_url",
        "task_id",
    } <= set(item)
    assert (item["name"], item["description"], item["user_id"]) == (
        "River Singer",
        "warm folk voice",
        "u-1",
    )
    assert item["source_type"] == "persona" and isinstance(item["created_at"], float)
    assert item["source_audio_id"] == song.clip["id"] and item["task_id"] == made["task_id"]
    assert item["source_audio_url"] == song.clip["audio_url"]

    # DELETE answers {success: true}; then it is gone, and a second delete is refused.
    gone = client.http.delete(
        "/suno/persona", params={"persona_id": persona_id, "user_id": "u-1"}, headers=client.auth
    )
    assert gone.status_code == 200 and gone.json() == {"success": True}, gone.text
    after = client.http.get("/suno/persona", params={"user_id": "u-1"}, headers=client.auth).json()
    assert persona_id not in {i["persona_id"] for i in after["items"]}
    assert after["count"] == page["count"] - 1
    client.refused(
        client.http.delete("/suno/persona", params={"persona_id": persona_id}, headers=client.auth)
    )
    client.refused(
        client.http.delete("/suno/persona", headers=client.auth), "persona_id is required."
    )
    client.refused(client.post("/suno/persona", {"name": "no audio"}))
    client.refused(
        client.post("/suno/persona", {"name": "x", "audio_id": str(uuid.uuid4())}), NOT_FOUND
    )
    charges.check()


def test_vox_then_a_vox_persona_sings_artist_consistency_vox(
    client: Client, song: Song, tmp_path: Path
) -> None:
    charges = Charges(client)
    # Four seconds from the first sung word (as /suno/timing places it).
    timing = client.ok("/suno/timing", {"audio_id": song.clip["id"]})
    charges.add(timing["task_id"], "ALIGNED_LYRICS")
    start = round(timing["data"]["aligned_words"][0]["start_s"], 1)
    end = start + 4.0
    vox = client.ok(
        "/suno/vox",
        {"audio_id": song.clip["id"], "vocal_start": start, "vocal_end": end},
    )
    charges.add(vox["task_id"], "VOX")
    data = vox["data"]
    assert list(data) == [
        "id",
        "source_clip_id",
        "status",
        "vocal_audio_url",
        "vocal_start_s",
        "vocal_end_s",
        "wave_response",
    ]
    uuid.UUID(data["id"])
    assert data["source_clip_id"] == song.clip["id"] and data["status"] == "complete"
    assert (data["vocal_start_s"], data["vocal_end_s"]) == (start, end)
    assert data["vocal_audio_url"].endswith("vocals.m4a")
    m4a = client.media(data["vocal_audio_url"])
    probed = probe(m4a, tmp_path, "vocals.m4a")
    assert "mp4" in probed["format"]["format_name"] or "m4a" in probed["format"]["format_name"]
    assert [s["codec_type"] for s in probed["streams"]] == ["audio"]
    assert abs(float(probed["format"]["duration"]) - (end - start)) < 0.1, probed["format"]
    assert rms(decode(m4a)) > 0.005  # the excerpt is sung, not silence
    levels = data["wave_response"]["waveform_aggregates"]
    assert levels and levels[0]["mip_map_level"] == 0
    for level in levels:
        assert set(level) == {"data", "mip_map_level"}
        assert all(
            len(pair) == 2 and all(isinstance(v, int) for v in pair) and pair[0] <= pair[1]
            for pair in level["data"]
        )
    assert any(hi > 0 for _, hi in levels[0]["data"])

    persona = client.ok(
        "/suno/persona",
        {
            "name": "River Vox",
            "audio_id": song.clip["id"],
            "vox_audio_id": data["id"],
            "vocal_start": start,
            "vocal_end": end,
        },
    )
    charges.add(persona["task_id"], "VOX_PERSONA")
    persona_id = persona["data"]["persona_id"]
    sung = client.ok(
        "/suno/audios",
        {
            "action": "artist_consistency_vox",
            "audio_id": song.clip["id"],
            "persona_id": persona_id,
            "prompt": "a lullaby for a sleepy town",
            "model": MODEL,
        },
    )
    charges.add(sung["task_id"], "MUSIC")
    assert len(sung["data"]) == 2
    for clip in sung["data"]:
        assert_clip(client.http, clip, model=MODEL)

    # MCP bounds: start < end; another's or a missing clip is missing; nothing charged.
    client.refused(
        client.post("/suno/vox", {"audio_id": song.clip["id"], "vocal_start": 9, "vocal_end": 3})
    )
    client.refused(client.post("/suno/vox", {"audio_id": str(uuid.uuid4())}), NOT_FOUND)
    client.refused(client.post("/suno/vox", {}), "audio_id is required.")
    charges.check()


def test_voices_make_a_persona_from_a_sung_recording(
    client: Client, song: Song, www: tuple[Path, str]
) -> None:
    charges = Charges(client)
    root, base = www
    vocals = song_extras.get("vocals")
    if vocals is None:  # run alone: split the song here
        split = client.ok("/suno/audios", {"action": "stems", "audio_id": song.clip["id"]})
        charges.add(split["task_id"], "STEMS")
        vocals = split["data"][0]
    # The song's own vocal stem: one clean voice, longer than 10 s.
    (root / "voice.mp3").write_bytes(client.media(vocals["audio_url"]))
    body = client.ok(
        "/suno/voices",
        {"audio_url": f"{base}/voice.mp3", "name": "My Voice", "description": "folk"},
    )
    charges.add(body["task_id"], "PERSONA")
    data = body["data"]
    assert list(data) == ["name", "is_public", "persona_id"]
    assert data["name"] == "My Voice" and data["is_public"] is False and data["persona_id"]
    listed = client.http.get("/suno/persona", params={"user_id": "me"}, headers=client.auth).json()
    [item] = [i for i in listed["items"] if i["persona_id"] == data["persona_id"]]
    assert item["source_type"] == "voice" and item["name"] == "My Voice"
    # Its source is the recording, kept as sent.
    assert client.media(item["source_audio_url"]) == (root / "voice.mp3").read_bytes()

    client.refused(client.post("/suno/voices", {}), "audio_url is required.")
    client.refused(client.post("/suno/voices", {"audio_url": f"{base}/missing.mp3"}))
    charges.check()


# -- the clip tools: mp4, timing, wav, midi ---------------------------------------------------


def test_mp4_is_a_real_video_of_the_song(client: Client, song: Song, tmp_path: Path) -> None:
    charges = Charges(client)
    body = client.ok("/suno/mp4", {"audio_id": song.clip["id"]})
    charges.add(body["task_id"], "MP4")
    assert list(body["data"]) == ["video_url"]
    video = client.media(body["data"]["video_url"])
    probed = probe(video, tmp_path, "song.mp4")
    assert "mp4" in probed["format"]["format_name"], probed["format"]
    kinds = sorted(s["codec_type"] for s in probed["streams"])
    assert kinds == ["audio", "video"], kinds
    picture = next(s for s in probed["streams"] if s["codec_type"] == "video")
    assert picture["width"] > 0 and picture["height"] > 0
    assert abs(float(probed["format"]["duration"]) - song.clip["duration"]) < 0.5

    # MCP's way: async, then the task poll, whose record holds the same answer shape.
    other = song.clips[1]
    queued = client.ok("/suno/mp4", {"audio_id": other["id"], "async": True})
    charges.add(queued["task_id"], "MP4")
    assert queued["data"] == []
    deadline = time.monotonic() + 60
    while not sdk_task_status(record := client.record(queued["task_id"])):
        assert "response" not in record and "error" not in record, record
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    assert record["state"] == "complete" and "error" not in record, record
    assert mcp_task_is_complete(record)
    assert record["request"] == {"audio_id": other["id"], "async": True}
    response = record["response"]
    assert list(response) == ["success", "task_id", "trace_id", "data"]
    assert response["task_id"] == queued["task_id"] and list(response["data"]) == ["video_url"]
    polled = probe(client.media(response["data"]["video_url"]), tmp_path, "other.mp4")
    assert abs(float(polled["format"]["duration"]) - other["duration"]) < 0.5

    client.refused(client.post("/suno/mp4", {"audio_id": str(uuid.uuid4())}), NOT_FOUND)
    client.refused(client.post("/suno/mp4", {}), "audio_id is required.")
    charges.check()


def test_timing_aligns_the_sung_words(client: Client, song: Song) -> None:
    charges = Charges(client)
    body = client.ok("/suno/timing", {"audio_id": song.clip["id"]})
    charges.add(body["task_id"], "ALIGNED_LYRICS")
    data = body["data"]
    assert list(data) == ["aligned_words", "waveform_data", "hoot_cer", "is_streamed"]
    words = data["aligned_words"]
    # The lyric's words in order, from its first: a short song sings as much as fits.
    sung = [w["word"].strip(",.!?") for w in words]
    assert len(sung) >= 2 and words_of(LYRIC)[: len(sung)] == sung, sung
    previous_start = 0.0
    for word in words:
        assert list(word) == ["word", "success", "start_s", "end_s", "p_align"], word
        assert word["success"] is True and 0.0 <= word["p_align"] <= 1.0
        assert previous_start <= word["start_s"] < word["end_s"] <= song.clip["duration"], word
        previous_start = word["start_s"]
    wave = data["waveform_data"]
    assert wave and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in wave)
    assert max(wave) == 1.0
    assert isinstance(data["hoot_cer"], float) and data["is_streamed"] is False
    client.refused(client.post("/suno/timing", {"audio_id": str(uuid.uuid4())}), NOT_FOUND)
    charges.check()


def test_wav_is_riff_wave_as_long_as_the_song(client: Client, song: Song) -> None:
    charges = Charges(client)
    data, samples = wav_of(client, song.clip["id"], charges)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert abs(len(samples) / RATE - song.clip["duration"]) < 0.05
    # The same music as the MP3, its lossy copy; LAME's encoder delay (1105 samples, no
    # gapless header) puts the MP3 that much late.
    mp3 = decode(client.media(song.clip["audio_url"])).mean(axis=1)
    pcm = samples.mean(axis=1)
    lag = best_lag(pcm, mp3, max_lag=2048)
    assert 0 <= lag <= 1105, lag
    n = min(len(pcm), len(mp3) - lag)
    assert np.corrcoef(pcm[:n], mp3[lag : lag + n])[0, 1] > 0.99
    client.refused(client.post("/suno/wav", {}), "audio_id is required.")
    client.refused(client.post("/suno/wav", {"audio_id": str(uuid.uuid4())}), NOT_FOUND)
    charges.check()


def test_midi_answers_named_instruments_with_their_notes(client: Client, song: Song) -> None:
    charges = Charges(client)
    body = client.ok("/suno/midi", {"audio_id": song.clip["id"]})
    charges.add(body["task_id"], "MIDI")
    [item] = body["data"]
    assert item["state"] == "complete"
    instruments = item["instruments"]
    assert len(instruments) >= 2
    names = [i["name"] for i in instruments]
    assert all(isinstance(n, str) and n.strip() for n in names), names
    for instrument in instruments:
        notes = instrument["notes"]
        assert notes, instrument["name"]
        for note in notes:
            assert list(note) == ["pitch", "start", "end", "velocity"], note
            assert isinstance(note["pitch"], int) and 0 <= note["pitch"] <= 127
            assert isinstance(note["velocity"], int) and 0 < note["velocity"] <= 127
            assert 0 <= note["start"] < note["end"] <= song.clip["duration"] + 0.5, note
    client.refused(client.post("/suno/midi", {"audio_id": str(uuid.uuid4())}), NOT_FOUND)
    charges.check()


# -- text tools: lyrics, style, mashup-lyrics -------------------------------------------------


def test_lyrics_answers_a_list_for_every_clients_model(client: Client) -> None:
    charges = Charges(client)
    # OAS's two models (MCP, CLI) and MCP-old's chirp-v3.
    for model in ("default", "remi-v1", "chirp-v3"):
        body = client.ok("/suno/lyrics", {"prompt": "a song about night trains", "model": model})
        charges.add(body["task_id"], "LYRICS")
        assert isinstance(body["data"], list) and len(body["data"]) >= 1
        for item in body["data"]:
            assert list(item) == ["text", "title", "status", "tags"], item
            assert item["status"] == "complete" and isinstance(item["tags"], list)
            assert isinstance(item["title"], str) and item["title"]
            assert "[Verse" in item["text"] and "[Chorus" in item["text"]
    client.refused(client.post("/suno/lyrics", {"model": "default"}), "prompt is required.")
    client.refused(client.post("/suno/lyrics", {"prompt": "x", "model": "gpt-4"}))
    charges.check()


def test_style_expands_the_tags(client: Client) -> None:
    charges = Charges(client)
    body = client.ok("/suno/style", {"prompt": "jazz, smooth"})
    charges.add(body["task_id"], "UPSAMPLE_TAGS")
    data = body["data"]
    assert list(data) == ["upsampled_tags", "text"]
    assert data["upsampled_tags"] == data["text"]
    tags = [t.strip() for t in data["text"].split(",")]
    assert "jazz" in tags and len(tags) > 2, tags
    client.refused(client.post("/suno/style", {"prompt": "   "}))
    charges.check()


def test_mashup_lyrics_merges_both_songs(client: Client) -> None:
    charges = Charges(client)
    a = "[Verse]\nA one\nA two\n\n[Chorus]\nHold the line"
    b = "[Verse]\nB one\nB two\n\n[Chorus]\nRun away"
    body = client.ok("/suno/mashup-lyrics", {"lyrics_a": a, "lyrics_b": b})
    charges.add(body["task_id"], "LYRICS")
    data = body["data"]
    assert list(data) == ["text", "title", "status", "tags"]
    assert data["status"] == "complete" and data["tags"] == [] and data["title"]
    for line in ("A one", "A two", "B one", "B two", "Hold the line", "Run away"):
        assert line in data["text"], data["text"]
    client.refused(client.post("/suno/mashup-lyrics", {"lyrics_a": a}), "lyrics_b is required.")
    charges.check()
