"""Presigned uploads: the form endpoint, single use and expiry, and hostile files."""

from __future__ import annotations

import dataclasses
import struct
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_media_support import RATE, balance, local_path, result_clip, tone, with_tools, write_mp3
from fastapi.testclient import TestClient
from sqlalchemy import update

from cadenza.bootstrap import Container
from cadenza.db.tables_uploads import uploads
from cadenza.domain.tasks import utcnow

MAX_BYTES = 1024 * 1024
MAX_SECONDS = 6.0


@pytest.fixture
def container(container: Container, queue: Any, engine: Any) -> Container:
    settings = container.settings.model_copy(
        update={"upload_max_bytes": MAX_BYTES, "upload_max_duration_s": MAX_SECONDS}
    )
    return with_tools(dataclasses.replace(container, settings=settings), queue, engine)


def _slot(client: TestClient, headers: dict[str, str], ext: str = "wav") -> dict[str, Any]:
    response = client.post(
        "/suno/api/create_audio_upload", json={"extension": ext}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["code"] == "success" and body["message"] == ""
    data: dict[str, Any] = body["data"]
    assert data["url"] == f"http://testserver/suno/uploads/{data['upload_id']}"
    assert set(data["fields"]) >= {"token"}
    return data


def _send(
    client: TestClient, slot: dict[str, Any], content: bytes, headers: dict[str, str] | None = None
) -> Any:
    return client.post(
        slot["url"].removeprefix("http://testserver"),
        data=slot["fields"],
        files={"file": ("ignored-name.bin", content, "application/octet-stream")},
        headers=headers or {},
    )


def _wav_bytes(tmp: Path, seconds: float, rate: int = RATE) -> bytes:
    path = tmp / f"t{seconds}.wav"
    sf.write(str(path), tone(seconds, 330.0, rate)[:, 0], rate, subtype="PCM_16")
    return path.read_bytes()


def _submit(client: TestClient, headers: dict[str, str], upload_id: str, name: str = "x") -> Any:
    return client.post(
        "/suno/uploads/audio-url",
        json={"upload_id": upload_id, "upload_filename": name, "wait_audio": True},
        headers=headers,
    )


@pytest.mark.parametrize("ext", ["wav", "mp3"])
def test_upload_round_trip(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path, ext: str
) -> None:
    key_id, headers = make_key()
    content = (
        _wav_bytes(tmp_path, 3.0)
        if ext == "wav"
        else write_mp3(tmp_path / "a.mp3", 3.0).read_bytes()
    )
    slot = _slot(client, headers, ext)
    sent = _send(client, slot, content)
    assert sent.status_code == 200, sent.text
    assert sent.json()["data"]["size"] == len(content)
    response = _submit(client, headers, slot["upload_id"], "../../etc/My Demo." + ext)
    assert response.status_code == 200, response.text
    clip = result_clip(container, client, headers, response.json()["data"])
    assert clip.title == "My Demo"
    assert clip.metadata["type"] == "upload"
    assert {"song.wav", "song.mp3", "cover.png", "cover_large.png"} <= set(clip.files)
    info = sf.info(str(local_path(container, clip.files["song.wav"])))
    assert abs(info.frames / info.samplerate - 3.0) <= 0.06
    assert clip.duration == pytest.approx(3.0, abs=0.06)
    assert balance(container, key_id) == Decimal("99")
    again = _submit(client, headers, slot["upload_id"])
    assert again.status_code == 400
    assert balance(container, key_id) == Decimal("99")


def _bomb() -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 2, RATE, RATE * 4, 4, 16)
    return (
        b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVE"
        + b"fmt " + struct.pack("<I", 16) + fmt
        + b"data" + struct.pack("<I", 0xFFFFFF00) + bytes(8192)
    )  # fmt: skip


HLS = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


@pytest.mark.parametrize("kind", ["too-long", "wrong-type", "hls", "wav-bomb", "fake-mp3"])
def test_hostile_uploads_are_400_without_charge(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path, kind: str
) -> None:
    key_id, headers = make_key()
    content = {
        "too-long": lambda: _wav_bytes(tmp_path, MAX_SECONDS + 2.0, rate=8000),
        "wrong-type": lambda: b"%PDF-1.7\n" + bytes(2000),
        "hls": lambda: HLS,
        "wav-bomb": _bomb,
        "fake-mp3": lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00garbage" * 300,
    }[kind]()
    slot = _slot(client, headers, "mp3")
    assert _send(client, slot, content).status_code == 200
    response = _submit(client, headers, slot["upload_id"])
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    reason = {
        "too-long": "longer than",
        "wrong-type": "unsupported file type",
        "hls": "unsupported file type",
        "wav-bomb": "claims more audio",
        "fake-mp3": "not valid mp3",
    }[kind]
    assert reason in response.json()["message"]
    assert balance(container, key_id) == Decimal("100")
    with container.uow() as u:
        assert u.tasks.count_active(key_id) == 0


def test_oversized_upload_is_refused_while_streaming(
    client: TestClient, container: Container, make_key: Any
) -> None:
    key_id, headers = make_key()
    slot = _slot(client, headers)
    big = _send(client, slot, b"RIFF" + bytes(MAX_BYTES + 10))
    assert big.status_code == 400
    assert "larger" in big.json()["message"]
    # Chunked, with no Content-Length to trust or distrust.
    boundary = "cadenzaboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
        f"{slot['fields']['token']}\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()

    def body() -> Any:
        yield head
        for _ in range(20):
            yield bytes(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    chunked = client.post(
        slot["url"].removeprefix("http://testserver"),
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert chunked.status_code == 400
    with container.uow() as u:
        upload = u.uploads.get(slot["upload_id"])
    assert upload is not None and upload.status.value == "pending"
    assert _submit(client, headers, slot["upload_id"]).status_code == 400
    assert balance(container, key_id) == Decimal("100")


def test_upload_slots_are_single_use_expiring_and_bound_to_the_key(
    client: TestClient, container: Container, make_key: Any, tmp_path: Path
) -> None:
    key_id, alice = make_key()
    bob_id, bob = make_key()
    wav = _wav_bytes(tmp_path, 1.0)
    bad_ext = client.post("/suno/api/create_audio_upload", json={"extension": "exe"}, headers=alice)
    assert bad_ext.status_code == 400

    slot = _slot(client, alice)
    wrong = dict(slot, fields={**slot["fields"], "token": "not-the-token"})
    assert _send(client, wrong, wav).status_code == 404
    assert _send(client, slot, wav, headers=bob).status_code == 404
    assert _send(client, slot, wav).status_code == 200
    assert _send(client, slot, wav).status_code == 404  # a token works once
    assert _submit(client, bob, slot["upload_id"]).status_code == 404
    assert balance(container, bob_id) == Decimal("100")

    late = _slot(client, alice)
    with container.uow() as u:
        u.connection.execute(  # type: ignore[attr-defined]
            update(uploads)
            .where(uploads.c.id == late["upload_id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        u.commit()
    assert _send(client, late, wav).status_code == 404

    unsent = _slot(client, alice)
    assert _submit(client, alice, unsent["upload_id"]).status_code == 400
    assert _submit(client, alice, "no-such-upload").status_code == 404
    assert balance(container, key_id) == Decimal("100")


def test_file_before_fields_is_refused(client: TestClient, make_key: Any, tmp_path: Path) -> None:
    _, headers = make_key()
    slot = _slot(client, headers)
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        "RIFFxxxx\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
        f"{slot['fields']['token']}\r\n--{boundary}--\r\n"
    ).encode()
    response = client.post(
        slot["url"].removeprefix("http://testserver"),
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert "before the file" in response.json()["message"]
