"""The creative actions against a real ``cadenza serve`` and the real engine, in both
dialects: replace_section, overpainting (Add Vocals), samples, mashup and inspo.

A sung song, an instrumental and a second sung song are rendered for the module (20 to
30 s). What each action promises is measured on the audio and data the server hands out:

- replace_section: outside the window (a few milliseconds either side of each seam
  excluded) the new song's WAV nulls against the source's; the word timings inside the
  window are the new lines' words and outside it the source's; the length is the same.
- Add Vocals: the Instrumental stem nulls against the source (after the one gain the mix
  may apply); the Vocals stem is silent outside the window; each sung word starts on the
  source's eighth-note grid; every sung pitch is in the source's key.
- both on uploads too (the upload's own audio is kept).
- samples: the window's audio is found by cross-correlation in the new song at least
  twice, where the engine says it put it.
- mashup: one tempo (halfway between the sources') and the first's key; words of both
  songs are sung.
- inspo: the new song's tempo is within 8 % of the reference's and in its mode.

Refusals (a window outside the clip, a wrong kind of source, an unknown clip, another
key's clip, bad references) answer in the dialect's error format and charge nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from acedata_checks import assert_clip
from e2e_serving import Server, launch, stop
from test_acedata_tools_e2e import (
    NOT_FOUND,
    RATE,
    Charges,
    Client,
    decode,
    rms,
    words_of,
)

from cadenza.compose.harmony import NOTE_NAMES, scale_pcs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("cadenza.compose.pipeline") is None,
        reason="the built-in engine cadenza.compose.pipeline is absent",
    ),
]

MODEL = "chirp-v5-5"
LYRIC = (
    "[Verse]\nHello river\nCarry me home\nDown to the sea\n\n"
    "[Chorus]\nOh the river\nRunning so free"
)
NEW_LINES = "Golden morning light\nSinging on the water"
NEW_LYRIC = (
    "[Verse]\nGolden morning light\nSinging on the water\n\n[Chorus]\nOh the river\nRunning so free"
)
VOCALS = "[Verse]\nLantern in the window\nCalling me back home"
#: Excluded either side of each seam when nulling (the crossfade is 40 ms long).
SEAM_GUARD_S = 0.05
#: An onset this close to the grid counts as on it (the issue's bound).
GRID_TOLERANCE_S = 0.03


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The upload test serves its audio from 127.0.0.1.
    server = launch(
        tmp_path_factory.mktemp("creative"), env_extra={"CADENZA_ALLOW_PRIVATE_URLS": "true"}
    )
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    made = Client(server)
    try:
        yield made
    finally:
        made.http.close()


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


@dataclass(frozen=True)
class Song:
    task_id: str
    clip: dict[str, Any]


def _generate(client: Client, body: dict[str, Any]) -> Song:
    answer = client.ok("/suno/audios", {"action": "generate", "model": MODEL, **body})
    clip = answer["data"][0]
    assert_clip(client.http, clip, model=MODEL)
    return Song(answer["task_id"], clip)


@pytest.fixture(scope="module")
def sung(client: Client) -> Song:
    return _generate(
        client,
        {"custom": True, "duration": 30, "lyric": LYRIC, "title": "River", "style": "folk pop"},
    )


@pytest.fixture(scope="module")
def instrumental(client: Client) -> Song:
    return _generate(
        client,
        {
            "custom": True,
            "instrumental": True,
            "duration": 20,
            "title": "Lanterns",
            "style": "acoustic pop",
        },
    )


def sunocore(client: Client) -> httpx.Client:
    return httpx.Client(base_url=client.server.base, timeout=60, headers={"X-API-Key": client.key})


def finished(http: httpx.Client, task_id: str, timeout_s: float = 240) -> dict[str, Any]:
    """The sunocore task once it has ended (or as it stands at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        task: dict[str, Any] = http.post("/suno/fetch", json={"ids": [task_id]}).json()["data"][0]
        if task["status"] in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
            return task
        time.sleep(0.5)


def metadata(client: Client, task_id: str) -> list[dict[str, Any]]:
    """The task's clips as sunocore shows them (their metadata holds tempo and key)."""
    with sunocore(client) as http:
        fetched = http.post("/suno/fetch", json={"ids": [task_id]}).json()
    clips: list[dict[str, Any]] = fetched["data"][0]["data"]
    return clips


def wav(client: Client, clip_id: str, charges: Charges) -> np.ndarray:
    body = client.ok("/suno/wav", {"audio_id": clip_id})
    charges.add(body["task_id"], "WAV")
    return decode(client.media(body["data"][0]["file_url"]))


def timing(client: Client, clip_id: str, charges: Charges) -> list[dict[str, Any]]:
    body = client.ok("/suno/timing", {"audio_id": clip_id})
    charges.add(body["task_id"], "ALIGNED_LYRICS")
    words: list[dict[str, Any]] = body["data"]["aligned_words"]
    return words


def null_db(reference: np.ndarray, other: np.ndarray) -> float:
    """The residual's level against the reference's, in dB (-inf when identical)."""
    residual = rms(other - reference)
    return -np.inf if residual == 0 else 20 * float(np.log10(residual / rms(reference)))


def outside(frames: int, start_s: float, end_s: float) -> np.ndarray:
    """Frames outside ``[start_s, end_s)``, the seams' guard excluded."""
    t = np.arange(frames) / RATE
    return (t < start_s - SEAM_GUARD_S) | (t >= end_s + SEAM_GUARD_S)


# -- replace_section ----------------------------------------------------------------------


def test_replace_section_sings_the_new_lines_and_keeps_the_rest(client: Client, sung: Song) -> None:
    charges = Charges(client)
    source = sung.clip
    body = client.ok(
        "/suno/audios",
        {
            "action": "replace_section",
            "audio_id": source["id"],
            "lyric": NEW_LYRIC,
            "prompt": NEW_LINES,
            "replace_section_start": 8.0,
            "replace_section_end": 19.0,
            "model": MODEL,
            "custom": False,
            "instrumental": False,
        },
    )
    charges.add(body["task_id"], "REPLACE_SECTION")
    [clip] = body["data"]
    assert_clip(client.http, clip, model=MODEL)
    assert clip["lyric"] == NEW_LYRIC and clip["title"] == source["title"]
    # The seed's concat_history: the source with the infill, then the new clip.
    [infill, last] = clip["concat_history"]
    assert last == {"id": clip["id"]}
    assert infill["id"] == source["id"] and infill["infill"] is True
    assert infill["type"] == "gen" and infill["infill_lyrics"] == NEW_LINES
    start, end = infill["infill_start_s"], infill["infill_end_s"]
    assert infill["infill_dur_s"] == pytest.approx(end - start, abs=1e-3)
    [meta] = metadata(client, sung.task_id)[:1]
    bar_s = 60.0 / meta["metadata"]["tempo"] * 4
    # Snapped to the bar lines nearest the asked window.
    assert abs(start - 8.0) <= bar_s / 2 + 1e-3 and abs(end - 19.0) <= bar_s / 2 + 1e-3
    assert abs(round(start / bar_s) * bar_s - start) < 1e-3
    # The length changes by less than a bar (here: not at all).
    assert abs(clip["duration"] - source["duration"]) < bar_s

    before, after = wav(client, source["id"], charges), wav(client, clip["id"], charges)
    n = min(len(before), len(after))
    keep = outside(n, start, end)
    level = null_db(before[:n][keep], after[:n][keep])
    print(f"replace_section: outside the window the result nulls at {level:.1f} dB")
    assert level <= -60.0, level
    inside = ~outside(n, start - 2 * SEAM_GUARD_S, end + 2 * SEAM_GUARD_S)
    assert null_db(before[:n][inside], after[:n][inside]) > -20.0  # the window did change

    old_words, new_words = (
        timing(client, source["id"], charges),
        timing(client, clip["id"], charges),
    )

    def within_window(word: dict[str, Any]) -> bool:
        # Times are rounded (4 decimals in the history, 3 in the timing answer): a word
        # sung on the window's end bar line may read a hair before it.
        return bool(start - 1e-3 <= word["start_s"] < end - 1e-3)

    def split(words: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        inside = [within_window(w) for w in words]
        within = [w["word"].strip(",.!?") for w, i in zip(words, inside, strict=True) if i]
        rest = [w["word"].strip(",.!?") for w, i in zip(words, inside, strict=True) if not i]
        return within, rest

    sung_in, kept = split(new_words)
    assert sung_in == words_of(NEW_LINES), sung_in
    assert kept == split(old_words)[1], (kept, split(old_words)[1])
    assert all(w["end_s"] <= end + 1e-3 for w in new_words if within_window(w))
    charges.check()


def test_replace_section_through_sunocore_and_refusals(client: Client, sung: Song) -> None:
    charges = Charges(client)
    source = sung.clip
    with sunocore(client) as http:
        answer = http.post(
            "/suno/submit/music",
            json={
                "task": "replace_section",
                "continue_clip_id": source["id"],
                "infill_start_s": 0.0,
                "infill_end_s": 6.0,
                "infill_lyrics": "Morning on the river",
                "prompt": "[Verse]\nMorning on the river",
                "mv": "chirp-v4",
            },
        ).json()
        assert answer["code"] == "success", answer
        task_id = answer["data"]
        charges.add(task_id, "REPLACE_SECTION")
        task = finished(http, task_id)
        assert task["status"] == "SUCCESS", task
        [clip] = task["data"]
        assert clip["status"] == "complete" and clip["model_name"] == "chirp-v4"
        history = clip["metadata"]["concat_history"]
        assert history[0]["infill_start_s"] == 0.0 and history[0]["infill_lyrics"]

        # sunocore's refusals: outside the clip, no lines, unknown clip.
        for bad, status in [
            ({"infill_start_s": 5.0, "infill_end_s": source["duration"] + 5}, 400),
            ({"infill_end_s": None}, 400),
            (
                {"infill_start_s": 5.0, "infill_end_s": 9.0, "infill_lyrics": None, "prompt": None},
                400,
            ),
            ({"continue_clip_id": str(uuid.uuid4())}, 404),
        ]:
            sent = {
                "task": "replace_section",
                "continue_clip_id": source["id"],
                "infill_start_s": 2.0,
                "infill_end_s": 6.0,
                "infill_lyrics": "A line",
                **bad,
            }
            sent = {k: v for k, v in sent.items() if v is not None}
            got = http.post("/suno/submit/music", json=sent)
            assert got.status_code == status, (bad, got.text)
            assert got.json()["code"] != "success", got.text

    # AceData's refusals, in its envelope; another key's clip is a missing one.
    refusals: list[tuple[dict[str, Any], str | None]] = [
        ({"replace_section_start": 2, "replace_section_end": source["duration"] + 1}, None),
        (
            {
                "replace_section_start": source["duration"] + 1,
                "replace_section_end": source["duration"] + 3,
            },
            None,
        ),
        ({"replace_section_start": 6, "replace_section_end": 4}, None),
        (
            {"replace_section_end": None},
            "replace_section_end is required when replace_section audio",
        ),
        ({"prompt": None, "lyric": None}, "lyric is required when replace_section audio"),
        ({"audio_id": str(uuid.uuid4())}, NOT_FOUND),
    ]
    for bad, message in refusals:
        sent = {
            "action": "replace_section",
            "audio_id": source["id"],
            "prompt": "A line",
            "replace_section_start": 2,
            "replace_section_end": 6,
            "model": MODEL,
            **bad,
        }
        client.refused(client.post("/suno/audios", sent), message)
    stranger = Client(client.server)
    try:
        stranger.refused(
            stranger.post(
                "/suno/audios",
                {
                    "action": "replace_section",
                    "audio_id": source["id"],
                    "prompt": "A line",
                    "replace_section_end": 6,
                    "model": MODEL,
                },
            ),
            NOT_FOUND,
        )
    finally:
        stranger.http.close()
    charges.check()


def test_a_failed_creative_task_is_refunded(client: Client, sung: Song) -> None:
    """Lines that cannot fit the window fail the task in the engine: charged, then
    refunded, the failure's reason in each dialect's answer."""
    start = client.balance()
    body = client.post(
        "/suno/audios",
        {
            "action": "replace_section",
            "audio_id": sung.clip["id"],
            "prompt": "la " * 80,
            "replace_section_start": 2.0,
            "replace_section_end": 2.5,
            "model": MODEL,
            "async": True,
        },
    ).json()
    task_id = body["task_id"]
    deadline = time.monotonic() + 120
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        record = client.record(task_id)
        if record["state"] in ("complete", "failed"):
            break
        time.sleep(0.5)
    assert record["state"] == "failed", record
    assert record["response"]["success"] is False, record
    rows = [r for r in client.ledger() if r["task_id"] == task_id]
    assert sorted(r["transaction_type"] for r in rows) == ["CONSUME", "REFUND"], rows
    assert client.balance() == pytest.approx(start)
    with sunocore(client) as http:
        task = http.post("/suno/fetch", json={"ids": [task_id]}).json()["data"][0]
    assert task["status"] == "FAILURE" and "syllables" in task["fail_reason"], task


# -- overpainting / Add Vocals -------------------------------------------------------------


def test_overpainting_sings_over_the_instrumental_on_its_grid(
    client: Client, instrumental: Song, sung: Song
) -> None:
    charges = Charges(client)
    source = instrumental.clip
    body = client.ok(
        "/suno/audios",
        {
            "action": "overpainting",
            "audio_id": source["id"],
            "lyric": VOCALS,
            "custom": True,
            "overpainting_start": 2.0,
            "overpainting_end": 16.0,
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "ADD_VOCALS")
    assert len(body["data"]) == 2
    made = metadata(client, body["task_id"])
    [meta] = metadata(client, instrumental.task_id)[:1]
    tempo = meta["metadata"]["tempo"]
    key = meta["metadata"]["key"]
    beat_s = 60.0 / tempo
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["lyric"] == VOCALS
        assert abs(clip["duration"] - source["duration"]) < 1e-3
    clip = body["data"][0]
    info = next(c for c in made if c["id"] == clip["id"])["metadata"]
    start, end = info["overpainting_start_s"], info["overpainting_end_s"]
    gain = info["instrumental_gain"]

    # The stems: Instrumental is the source (times the mix's one gain), Vocals the rest.
    split = client.ok("/suno/audios", {"action": "stems", "audio_id": clip["id"]})
    charges.add(split["task_id"], "STEMS")
    vocals_clip, instrumental_clip = split["data"]
    source_wav = wav(client, source["id"], charges)
    stem = wav(client, instrumental_clip["id"], charges)
    n = min(len(source_wav), len(stem))
    level = null_db(source_wav[:n] * gain, stem[:n])
    fitted = float(np.sum(stem[:n] * source_wav[:n]) / np.sum(source_wav[:n] ** 2))
    print(
        f"overpainting: instrumental stem nulls at {level:.1f} dB (gain {gain}, fit {fitted:.4f})"
    )
    assert level <= -50.0, level
    voice = wav(client, vocals_clip["id"], charges)
    t = np.arange(len(voice)) / RATE
    # A sung line's last note rings on for its release and reverb: half a second.
    quiet = (t < start - SEAM_GUARD_S) | (t > end + 0.5)
    assert rms(voice[~quiet]) > 0.01
    assert rms(voice[quiet]) < 1e-3 * rms(voice[~quiet]), rms(voice[quiet])

    # Every word on the source's eighth-note grid; every note in the source's key.
    words = timing(client, clip["id"], charges)
    assert [w["word"].strip(",.!?") for w in words] == words_of(VOCALS)
    grid_s = beat_s / 2
    offsets = [abs(w["start_s"] / grid_s - round(w["start_s"] / grid_s)) * grid_s for w in words]
    print(f"overpainting: largest word onset distance from the grid {1000 * max(offsets):.1f} ms")
    assert max(offsets) <= GRID_TOLERANCE_S, offsets
    assert all(start - 1e-3 <= w["start_s"] and w["end_s"] <= end + 1e-3 for w in words)
    midi = client.ok("/suno/midi", {"audio_id": clip["id"]})
    charges.add(midi["task_id"], "MIDI")
    notes = [
        note["pitch"]
        for instrument in midi["data"][0]["instruments"]
        if "Vocal" in instrument["name"]
        for note in instrument["notes"]
    ]
    assert notes
    tonic, mode = key.split()
    scale = set(scale_pcs(NOTE_NAMES.index(tonic), mode))
    share = sum(p % 12 in scale for p in notes) / len(notes)
    print(f"overpainting: {share:.0%} of {len(notes)} sung notes in the {key} scale")
    assert share == 1.0, (notes, key)

    # Refusals: a clip with vocals, a window outside the clip, no lyric, unknown clip.
    for bad, message in [
        ({"audio_id": sung.clip["id"]}, None),
        ({"overpainting_end": source["duration"] + 2}, None),
        ({"lyric": None}, "lyric is required when overpainting audio"),
        ({"audio_id": str(uuid.uuid4())}, NOT_FOUND),
    ]:
        sent = {
            "action": "overpainting",
            "audio_id": source["id"],
            "lyric": VOCALS,
            "overpainting_end": 10,
            "model": MODEL,
            **bad,
        }
        client.refused(client.post("/suno/audios", sent), message)
    with sunocore(client) as http:
        got = http.post(
            "/suno/submit/music",
            json={"task": "overpainting", "clip_id": sung.clip["id"], "prompt": VOCALS},
        )
        assert got.status_code == 400, got.text
    charges.check()


# -- on uploads: the analysed score -----------------------------------------------------------


def test_both_work_on_uploads(
    client: Client, sung: Song, instrumental: Song, www: tuple[Path, str]
) -> None:
    charges = Charges(client)
    root, base = www
    ids = {}
    for name, song in (("sung", sung), ("instrumental", instrumental)):
        (root / f"{name}.mp3").write_bytes(client.media(song.clip["audio_url"]))
        body = client.ok("/suno/upload", {"audio_url": f"{base}/{name}.mp3"})
        charges.add(body["task_id"], "UPLOAD")
        ids[name] = body["data"]["audio_id"]

    # replace_section on the upload: its own audio outside the window, new words inside.
    body = client.ok(
        "/suno/audios",
        {
            "action": "replace_section",
            "audio_id": ids["sung"],
            "prompt": NEW_LINES,
            "replace_section_start": 6.0,
            "replace_section_end": 16.0,
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "REPLACE_SECTION")
    [clip] = body["data"]
    [infill, _] = clip["concat_history"]
    assert infill["type"] == "upload"
    start, end = infill["infill_start_s"], infill["infill_end_s"]
    before, after = wav(client, ids["sung"], charges), wav(client, clip["id"], charges)
    n = min(len(before), len(after))
    assert abs(len(before) - len(after)) <= 1
    level = null_db(before[:n][outside(n, start, end)], after[:n][outside(n, start, end)])
    print(f"replace_section on an upload: outside the window it nulls at {level:.1f} dB")
    assert level <= -60.0, level
    words = timing(client, clip["id"], charges)
    assert [w["word"] for w in words] == words_of(NEW_LINES)
    assert all(start - 1e-3 <= w["start_s"] and w["end_s"] <= end + 1e-3 for w in words)

    # Add Vocals on the instrumental upload: the upload is the instrumental stem.
    body = client.ok(
        "/suno/audios",
        {
            "action": "overpainting",
            "audio_id": ids["instrumental"],
            "lyric": VOCALS,
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "ADD_VOCALS")
    made = metadata(client, body["task_id"])
    clip = body["data"][0]
    info = next(c for c in made if c["id"] == clip["id"])["metadata"]
    split = client.ok("/suno/audios", {"action": "stems", "audio_id": clip["id"]})
    charges.add(split["task_id"], "STEMS")
    upload_wav = wav(client, ids["instrumental"], charges)
    stem = wav(client, split["data"][1]["id"], charges)
    n = min(len(upload_wav), len(stem))
    level = null_db(upload_wav[:n] * info["instrumental_gain"], stem[:n])
    print(f"overpainting on an upload: instrumental stem nulls at {level:.1f} dB")
    assert level <= -50.0, level
    assert [w["word"] for w in timing(client, clip["id"], charges)] == words_of(VOCALS)
    charges.check()


# -- underpainting (Add Instrumental) ------------------------------------------------------

A_CAPPELLA = """[Verse]
I walked along the river when the evening light was low
Every window in the village had a candle burning slow

[Chorus]
Hold on to me, hold on
Till the morning comes along

[Verse]
There's a letter in the drawer that I never meant to send
There's a picture on the wall of a summer with a friend"""


def test_underpainting_arranges_a_band_under_an_a_cappella_upload(
    client: Client, sung: Song, www: tuple[Path, str]
) -> None:
    from cadenza.compose.analysis import analyse

    charges = Charges(client)
    root, base = www
    # A singer's a cappella: a song's voices (its Vocals split), sung through two verses
    # and a chorus, uploaded as a lossless WAV.
    singer = _generate(
        client,
        {"custom": True, "duration": 45, "lyric": A_CAPPELLA, "title": "Song", "style": "folk"},
    )
    charges.add(singer.task_id, "MUSIC")
    split = client.ok("/suno/audios", {"action": "stems", "audio_id": singer.clip["id"]})
    charges.add(split["task_id"], "STEMS")
    body = client.ok("/suno/wav", {"audio_id": split["data"][0]["id"]})
    charges.add(body["task_id"], "WAV")
    (root / "a-cappella.wav").write_bytes(client.media(body["data"][0]["file_url"]))
    body = client.ok("/suno/upload", {"audio_url": f"{base}/a-cappella.wav"})
    charges.add(body["task_id"], "UPLOAD")
    upload_id = body["data"]["audio_id"]
    truth = next(c for c in metadata(client, singer.task_id) if c["id"] == singer.clip["id"])
    tempo = truth["metadata"]["tempo"]

    body = client.ok(
        "/suno/audios",
        {
            "action": "underpainting",
            "audio_id": upload_id,
            "style": "piano ballad",
            "title": "Under the River",
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "ADD_INSTRUMENTAL")
    assert len(body["data"]) == 2
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["title"] == "Under the River" and clip["style"] == "piano ballad"
    clip = body["data"][0]
    info = next(c for c in metadata(client, body["task_id"]) if c["id"] == clip["id"])["metadata"]
    print(
        f"underpainting: tempo {info['tempo']} (sung at {tempo}), key {info['key']}"
        f" (sung in {truth['metadata']['key']}), {info['chord_tone_share']:.0%} of the"
        f" sung notes are chord tones, {info['scale_tone_share']:.0%} scale tones"
    )
    assert info["edited_clip_id"] == upload_id
    assert abs(info["tempo"] - tempo) <= 0.02 * tempo, (info["tempo"], tempo)
    assert info["scale_tone_share"] >= 0.8 and info["chord_tone_share"] >= 0.5, info

    # The Vocals stem is the upload (times the sum's one gain); the band plays in its tempo.
    split = client.ok("/suno/audios", {"action": "stems", "audio_id": clip["id"]})
    charges.add(split["task_id"], "STEMS")
    voice_clip, band_clip = split["data"]
    upload = wav(client, upload_id, charges)
    voice = wav(client, voice_clip["id"], charges)
    n = min(len(upload), len(voice))
    level = null_db(upload[:n] * info["vocal_gain"], voice[:n])
    print(f"underpainting: the Vocals stem nulls against the upload at {level:.1f} dB")
    assert level <= -50.0, level
    band = wav(client, band_clip["id"], charges)
    heard = analyse(band, RATE, detect_voice=False)
    print(f"underpainting: the band alone is heard at {heard.tempo_bpm:.1f} bpm")
    assert abs(heard.tempo_bpm - tempo) <= 0.02 * tempo, (heard.tempo_bpm, tempo)
    assert rms(band) > 0.01

    # Refusals cost nothing: a generated song, a window outside the upload, unknown clip.
    for bad, message in [
        ({"audio_id": sung.clip["id"]}, None),
        ({"underpainting_start": 500}, None),
        ({"audio_id": str(uuid.uuid4())}, NOT_FOUND),
    ]:
        sent = {"action": "underpainting", "audio_id": upload_id, "model": MODEL, **bad}
        client.refused(client.post("/suno/audios", sent), message)
    with sunocore(client) as http:
        refused = http.post(
            "/suno/submit/music", json={"task": "underpainting", "clip_id": sung.clip["id"]}
        )
        assert refused.status_code == 400 and "not an upload" in refused.text, refused.text
        answer = http.post(
            "/suno/submit/music",
            json={
                "task": "add_instrumental",
                "clip_id": upload_id,
                "underpainting_start": 4.0,
                "tags": "jazz trio",
            },
        ).json()
        assert answer["code"] == "success", answer
        charges.add(answer["data"], "ADD_INSTRUMENTAL")
        task = finished(http, answer["data"])
    assert task["status"] == "SUCCESS", task
    for made in task["data"]:
        assert made["metadata"]["underpainting_start_s"] >= 2.0, made["metadata"]
        assert made["metadata"]["tags"] == "jazz trio"
    charges.check()


# -- samples --------------------------------------------------------------------------------

SAMPLE_LYRIC = "[Verse]\nNeon on the river\nBreaking into light"
#: A copy of the sample counts as found where the normalised cross-correlation peaks
#: above this (the song plays over it; the sample alone would give 1).
FOUND_CORRELATION = 0.5


def mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=1).astype(np.float64)


def correlation(haystack: np.ndarray, needle: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``needle`` at every lag of ``haystack`` (FFT)."""
    n, m = len(haystack), len(needle)
    size = 1 << (n + m - 1).bit_length()
    raw = np.fft.irfft(np.fft.rfft(haystack, size) * np.conj(np.fft.rfft(needle, size)), size)
    raw = raw[: n - m + 1]
    running = np.concatenate([[0.0], np.cumsum(haystack**2)])
    energy = running[m:] - running[:-m]
    return raw / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(needle))


def found_at(haystack: np.ndarray, needle: np.ndarray) -> list[tuple[float, float]]:
    """(seconds, correlation) of each copy of ``needle``: peaks over the threshold, at
    least half a needle apart."""
    corr = correlation(haystack, needle)
    peaks: list[tuple[float, float]] = []
    order = np.argsort(corr)[::-1]
    for lag in order:
        if corr[lag] < FOUND_CORRELATION:
            break
        if all(abs(lag - p * RATE) > len(needle) / 2 for p, _ in peaks):
            peaks.append((lag / RATE, float(corr[lag])))
    return sorted(peaks)


def test_samples_loop_the_window_in_a_new_song(client: Client, sung: Song) -> None:
    charges = Charges(client)
    source = sung.clip
    body = client.ok(
        "/suno/audios",
        {
            "action": "samples",
            "audio_id": source["id"],
            "samples_start": 4.0,
            "samples_end": 12.0,
            "lyric": SAMPLE_LYRIC,
            "custom": True,
            "instrumental": False,
            "style": "hip hop",
            "title": "Neon River",
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "SAMPLES")
    assert len(body["data"]) == 2
    made = {c["id"]: c["metadata"] for c in metadata(client, body["task_id"])}
    [meta] = metadata(client, sung.task_id)[:1]
    original = mono(wav(client, source["id"], charges))
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        assert clip["title"] == "Neon River" and clip["lyric"] == SAMPLE_LYRIC
        info = made[clip["id"]]
        assert info["edited_clip_id"] == source["id"] and info["tempo"] == meta["metadata"]["tempo"]
        assert info["key"] == meta["metadata"]["key"]
        a, b = info["sample_s"]
        assert 4.0 - 2.5 <= a < b <= 12.0 + 2.5  # the window's first bars
        needle = original[round(a * RATE) : round(b * RATE)]
        song = mono(wav(client, clip["id"], charges))
        copies = found_at(song, needle)
        levels = [c for _, c in copies] or [0.0]
        print(
            f"samples: the {b - a:.2f} s sample found {len(copies)} times in"
            f" {clip['duration']:.1f} s (correlation {min(levels):.2f}-{max(levels):.2f})"
        )
        assert len(copies) >= 2, copies
        # Where the engine says it put them.
        for at, _ in copies:
            assert min(abs(at - p) for p in info["sample_placements_s"]) < 0.01, (at, info)

    # Refusals: a window outside the clip, an unknown clip; sunocore's unknown clip.
    for bad, message in [
        ({"samples_start": source["duration"] + 1, "samples_end": None}, None),
        ({"samples_end": source["duration"] + 4}, None),
        ({"audio_id": str(uuid.uuid4())}, NOT_FOUND),
    ]:
        sent = {
            "action": "samples",
            "audio_id": source["id"],
            "samples_start": 2,
            "samples_end": 6,
            "model": MODEL,
            **bad,
        }
        client.refused(
            client.post("/suno/audios", {k: v for k, v in sent.items() if v is not None}), message
        )
    with sunocore(client) as http:
        got = http.post(
            "/suno/submit/music",
            json={"task": "samples", "clip_id": str(uuid.uuid4()), "samples_end": 4},
        )
        assert got.status_code == 404, got.text
    charges.check()


def test_samples_through_sunocore(client: Client, sung: Song) -> None:
    charges = Charges(client)
    with sunocore(client) as http:
        answer = http.post(
            "/suno/submit/music",
            json={
                "task": "samples",
                "clip_id": sung.clip["id"],
                "samples_start": 2.0,
                "samples_end": 8.0,
                "prompt": SAMPLE_LYRIC,
                "tags": "lo-fi",
                "mv": "chirp-v4",
            },
        ).json()
        assert answer["code"] == "success", answer
        charges.add(answer["data"], "SAMPLES")
        task = finished(http, answer["data"])
    assert task["status"] == "SUCCESS", task
    assert len(task["data"]) == 2
    for clip in task["data"]:
        assert (
            clip["status"] == "complete" and clip["metadata"]["edited_clip_id"] == sung.clip["id"]
        )
        assert len(clip["metadata"]["sample_placements_s"]) >= 2
    charges.check()


# -- mashup --------------------------------------------------------------------------------

OTHER_LYRIC = "[Verse]\nLantern in the window\nCalling me back\n\n[Chorus]\nStay with me tonight"


@pytest.fixture(scope="module")
def other(client: Client) -> Song:
    # 40 s, not 20: a song that short may end before its verse is sung, and a source that
    # sang nothing has no lines to merge.
    return _generate(
        client,
        {"custom": True, "duration": 40, "lyric": OTHER_LYRIC, "title": "Lantern", "style": "soul"},
    )


def test_mashup_merges_two_songs_in_one_key_and_tempo(
    client: Client, sung: Song, other: Song
) -> None:
    charges = Charges(client)
    ids = [sung.clip["id"], other.clip["id"]]
    body = client.ok(
        "/suno/audios",
        {"action": "mashup", "mashup_audio_ids": ids, "model": MODEL, "custom": True},
    )
    charges.add(body["task_id"], "MASHUP")
    assert len(body["data"]) == 2
    first = metadata(client, sung.task_id)[0]["metadata"]
    second = metadata(client, other.task_id)[0]["metadata"]
    made = {c["id"]: c["metadata"] for c in metadata(client, body["task_id"])}
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        info = made[clip["id"]]
        # One tempo, halfway between the sources', and the first source's key.
        assert info["tempo"] == pytest.approx((first["tempo"] + second["tempo"]) / 2, abs=0.01)
        assert info["key"] == first["key"] and info["mashup_clip_ids"] == ids
        # Lines from both songs, sung: their words are in the clip's word timings.
        lines = {ln for ln in clip["lyric"].splitlines() if ln and not ln.startswith("[")}
        assert lines & set(words_lines(LYRIC)) and lines & set(words_lines(OTHER_LYRIC)), lines
        sung_words = {w["word"].strip(",.!?") for w in timing(client, clip["id"], charges)}
        assert {"river", "sea"} & sung_words and {"Lantern", "window"} & sung_words, sung_words

    # Refusals: not two clips, the same clip twice, an unknown or another key's clip.
    for bad, message in [
        ([ids[0]], "mashup_audio_ids must be a list of 2 audio ids"),
        ([ids[0], ids[0]], "mashup_audio_ids must name two different audio ids"),
        ([ids[0], str(uuid.uuid4())], NOT_FOUND),
    ]:
        client.refused(
            client.post(
                "/suno/audios", {"action": "mashup", "mashup_audio_ids": bad, "model": MODEL}
            ),
            message,
        )
    stranger = Client(client.server)
    try:
        stranger.refused(
            stranger.post(
                "/suno/audios", {"action": "mashup", "mashup_audio_ids": ids, "model": MODEL}
            ),
            NOT_FOUND,
        )
    finally:
        stranger.http.close()
    with sunocore(client) as http:
        for bad_ids, status in [([ids[0]], 400), ([ids[0], str(uuid.uuid4())], 404)]:
            got = http.post(
                "/suno/submit/music", json={"task": "mashup", "mashup_clip_ids": bad_ids}
            )
            assert got.status_code == status, got.text
        answer = http.post(
            "/suno/submit/music",
            json={
                "task": "mashup",
                "mashup_clip_ids": ids,
                "prompt": "[Verse]\nTwo rivers meet",
                "tags": "synthwave",
            },
        ).json()
        assert answer["code"] == "success", answer
        charges.add(answer["data"], "MASHUP")
        task = finished(http, answer["data"])
    assert task["status"] == "SUCCESS", task
    for clip in task["data"]:
        assert clip["status"] == "complete" and clip["metadata"]["mashup_clip_ids"] == ids
        assert clip["metadata"]["key"] == first["key"]
    charges.check()


def words_lines(lyric: str) -> list[str]:
    return [ln for ln in lyric.splitlines() if ln and not ln.startswith("[")]


# -- inspo ---------------------------------------------------------------------------------


def test_inspo_follows_the_references_tempo_and_mode(
    client: Client, sung: Song, www: tuple[Path, str]
) -> None:
    charges = Charges(client)
    root, base = www
    (root / "reference.mp3").write_bytes(client.media(sung.clip["audio_url"]))
    (root / "notes.txt").write_text("not audio " * 200)
    reference = metadata(client, sung.task_id)[0]["metadata"]
    body = client.ok(
        "/suno/audios",
        {
            "action": "inspo",
            "audio_urls": [f"{base}/reference.mp3"],
            "lyric": SAMPLE_LYRIC,
            "custom": True,
            "style": "synthwave",
            "model": MODEL,
        },
    )
    charges.add(body["task_id"], "INSPO")
    assert len(body["data"]) == 2
    made = {c["id"]: c["metadata"] for c in metadata(client, body["task_id"])}
    for clip in body["data"]:
        assert_clip(client.http, clip, model=MODEL)
        info = made[clip["id"]]
        heard = info["inspo"]["references"][0]
        print(
            f"inspo: reference at {reference['tempo']} bpm in {reference['key']}, heard at"
            f" {heard['tempo']} in {heard['key']}; the new song at {info['tempo']} in {info['key']}"
        )
        assert abs(info["tempo"] - reference["tempo"]) <= 0.08 * reference["tempo"], info
        # The song takes the mode the analysis heard; the analysis itself can mishear a
        # mode on a dense mix (a known limit of compose/analysis.py), so that is not
        # asserted against the reference's score here.
        assert info["key"].split()[1] == heard["key"].split()[1], info

    # Refusals: no reference, five, not audio, unreachable; sunocore without references.
    for urls in (
        [],
        [f"{base}/reference.mp3"] * 5,
        [f"{base}/notes.txt"],
        [f"{base}/missing.mp3"],
    ):
        client.refused(
            client.post("/suno/audios", {"action": "inspo", "audio_urls": urls, "model": MODEL})
        )
    with sunocore(client) as http:
        got = http.post("/suno/submit/music", json={"task": "inspo", "prompt": "a song"})
        assert got.status_code == 400, got.text
    charges.check()
