"""One contract for every MediaStorage: a local directory and S3 (moto's in-process server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cadenza.domain.errors import NotFound, UpstreamUnavailable
from cadenza.services.ports import MediaStorage
from cadenza.storage import InvalidMediaKey, MediaNotFound, StorageError, validate_key
from cadenza.storage.local import LocalStorage
from cadenza.storage.s3 import S3Storage

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../secret",
    "clips/../../secret",
    "clips/./a.mp3",
    "clips//a.mp3",
    "clips\\a.mp3",
    "clips/.hidden",
    "clips/a b.mp3",
    "clips/a%2e%2e",
    "clips/",
    "ü.mp3",
    "x" * 600,
    "clips/" + "x" * 256,
]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3(endpoint: str, *, public_base_url: str | None = None) -> S3Storage:
    storage = S3Storage(
        f"cadenza-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        public_base_url=public_base_url,
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStorage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media", "http://testserver/")
    return _s3(request.getfixturevalue("moto_endpoint"))


def test_bytes_round_trip(storage: MediaStorage) -> None:
    storage.put_bytes("clips/c1-abc/cover.png", b"\x89PNG data", "image/png")
    assert storage.exists("clips/c1-abc/cover.png")
    assert storage.get_bytes("clips/c1-abc/cover.png") == b"\x89PNG data"


def test_file_round_trip_and_fetch_to(storage: MediaStorage, tmp_path: Path) -> None:
    source = tmp_path / "song.mp3"
    payload = bytes(range(256)) * 4096  # 1 MiB, binary-safe
    source.write_bytes(payload)
    storage.put_file("clips/c2-tok/song.mp3", source, "audio/mpeg")
    assert source.read_bytes() == payload, "the source file must stay"

    dest = tmp_path / "out" / "nested" / "copy.mp3"
    assert storage.fetch_to("clips/c2-tok/song.mp3", dest) == dest
    assert dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["copy.mp3"], "no temp file left behind"


def test_a_stored_file_outlives_its_source(storage: MediaStorage, tmp_path: Path) -> None:
    source = tmp_path / "work" / "song.wav"
    source.parent.mkdir()
    source.write_bytes(b"RIFF stems")
    storage.put_file("clips/c3-tok/song.wav", source, "audio/wav")
    source.unlink()  # the worker removes its work directory
    source.parent.rmdir()
    assert storage.get_bytes("clips/c3-tok/song.wav") == b"RIFF stems"


def test_overwrite_replaces_content(storage: MediaStorage) -> None:
    storage.put_bytes("a/b.txt", b"first, longer content", "text/plain")
    storage.put_bytes("a/b.txt", b"second", "text/plain")
    assert storage.get_bytes("a/b.txt") == b"second"


def test_missing_key(storage: MediaStorage, tmp_path: Path) -> None:
    assert not storage.exists("clips/none/song.mp3")
    with pytest.raises(MediaNotFound):
        storage.get_bytes("clips/none/song.mp3")
    with pytest.raises(MediaNotFound):
        storage.fetch_to("clips/none/song.mp3", tmp_path / "x.mp3")
    assert not (tmp_path / "x.mp3").exists()


def test_missing_key_maps_to_not_found() -> None:
    # The API maps domain errors; a missing media object must read as 404, not 502.
    assert issubclass(MediaNotFound, NotFound)
    assert issubclass(InvalidMediaKey, NotFound)
    assert issubclass(StorageError, UpstreamUnavailable)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected(storage: MediaStorage, key: str) -> None:
    with pytest.raises(InvalidMediaKey):
        storage.put_bytes(key, b"x", "text/plain")
    with pytest.raises(InvalidMediaKey):
        storage.get_bytes(key)
    with pytest.raises(InvalidMediaKey):
        storage.url(key)
    with pytest.raises(InvalidMediaKey):
        storage.exists(key)


def test_delete_prefix_is_a_string_prefix(storage: MediaStorage) -> None:
    keys = [
        "clips/c3-tok/song.mp3",
        "clips/c3-tok/stems/vocals.wav",
        "clips/c3-tok2/song.mp3",
        "clips/c4-tok/song.mp3",
    ]
    for key in keys:
        storage.put_bytes(key, key.encode(), "application/octet-stream")
    storage.delete_prefix("clips/c3-tok/")
    assert [storage.exists(k) for k in keys] == [False, False, True, True]
    storage.delete_prefix("clips/c3-")
    assert [storage.exists(k) for k in keys] == [False, False, False, True]
    storage.delete_prefix("clips/nothing-here/")  # no error for an empty prefix match
    assert storage.get_bytes("clips/c4-tok/song.mp3") == b"clips/c4-tok/song.mp3"


@pytest.mark.parametrize("prefix", ["", "/", "../", "clips/../"])
def test_delete_prefix_rejects_dangerous_prefixes(storage: MediaStorage, prefix: str) -> None:
    storage.put_bytes("keep/me.txt", b"1", "text/plain")
    with pytest.raises(InvalidMediaKey):
        storage.delete_prefix(prefix)
    assert storage.exists("keep/me.txt")


def test_url_names_the_key(storage: MediaStorage) -> None:
    storage.put_bytes("clips/c5-tok/song.mp3", b"ID3", "audio/mpeg")
    assert "clips/c5-tok/song.mp3" in storage.url("clips/c5-tok/song.mp3")


# -- local specifics -------------------------------------------------------------------


def test_local_url_and_path_for(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "m", "http://host:8000/")
    storage.put_bytes("clips/c-t/song.mp3", b"abc", "audio/mpeg")
    assert storage.url("clips/c-t/song.mp3") == "http://host:8000/media/clips/c-t/song.mp3"
    path = storage.path_for("clips/c-t/song.mp3")
    assert path.read_bytes() == b"abc"
    assert path.is_relative_to(tmp_path / "m")
    with pytest.raises(MediaNotFound):
        storage.path_for("clips/c-t/other.mp3")
    with pytest.raises(MediaNotFound):
        storage.path_for("clips/c-t")  # a directory is not media


def test_local_symlink_cannot_escape_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s3cret")
    storage = LocalStorage(tmp_path / "m", "http://h")
    (tmp_path / "m" / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(MediaNotFound):
        storage.path_for("link/secret.txt")
    with pytest.raises(MediaNotFound):
        storage.get_bytes("link/secret.txt")
    assert not storage.exists("link/secret.txt")
    storage.delete_prefix("link/")
    assert (outside / "secret.txt").exists()


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "m", "http://h")
    for i in range(5):
        storage.put_bytes("a/b.bin", bytes([i]) * 10, "application/octet-stream")
    assert sorted(p.name for p in (tmp_path / "m" / "a").iterdir()) == ["b.bin"]


def test_local_files_are_linked_not_copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "m", "http://h")
    source = tmp_path / "stem.wav"
    source.write_bytes(b"\x00" * 4096)
    storage.put_file("clips/x-t/stems/Bass.wav", source, "audio/wav")
    stored = storage.path_for("clips/x-t/stems/Bass.wav")
    assert stored.stat().st_ino == source.stat().st_ino  # one file, no copy made
    assert stored.stat().st_mode & 0o777 == 0o644

    def no_links(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("cadenza.storage.local.os.link", no_links)
    storage.put_file("clips/x-t/stems/Drums.wav", source, "audio/wav")  # another file system
    copied = storage.path_for("clips/x-t/stems/Drums.wav")
    assert copied.stat().st_ino != source.stat().st_ino
    assert copied.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in copied.parent.iterdir()) == ["Bass.wav", "Drums.wav"]


def test_local_delete_prefix_prunes_empty_dirs(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "m", "http://h")
    storage.put_bytes("clips/x-t/stems/v.wav", b"v", "audio/wav")
    storage.delete_prefix("clips/x-t/")
    assert not (tmp_path / "m" / "clips").exists()
    assert (tmp_path / "m").is_dir()


def test_validate_key_accepts_server_keys() -> None:
    for key in ["clips/abc-DEF_12/song.mp3", "uploads/u1/a.b.c", "x"]:
        assert validate_key(key) == key


# -- S3 specifics ----------------------------------------------------------------------


def test_s3_presigned_url_serves_the_object(moto_endpoint: str) -> None:
    storage = _s3(moto_endpoint)
    storage.put_bytes("clips/p-t/song.mp3", b"presigned body", "audio/mpeg")
    url = storage.url("clips/p-t/song.mp3")
    assert "Signature" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"presigned body"
    assert response.headers["content-type"] == "audio/mpeg"


def test_s3_public_base_url(moto_endpoint: str) -> None:
    storage = _s3(moto_endpoint, public_base_url="https://cdn.example.com/media/")
    assert storage.url("clips/p/x.png") == "https://cdn.example.com/media/clips/p/x.png"


def test_s3_content_type_kept(moto_endpoint: str, tmp_path: Path) -> None:
    storage = _s3(moto_endpoint)
    source = tmp_path / "cover.png"
    source.write_bytes(b"png")
    storage.put_file("clips/ct/cover.png", source, "image/png")
    head = storage._client.head_object(Bucket=storage.bucket, Key="clips/ct/cover.png")
    assert head["ContentType"] == "image/png"


def test_s3_delete_prefix_pages(moto_endpoint: str) -> None:
    storage = _s3(moto_endpoint)
    storage.page_size = 4  # several list + delete rounds without thousands of objects
    client = storage._client
    for i in range(11):
        client.put_object(Bucket=storage.bucket, Key=f"bulk/k{i:04d}", Body=b"")
    storage.put_bytes("bulkkeep/x", b"1", "text/plain")
    storage.delete_prefix("bulk/")
    assert client.list_objects_v2(Bucket=storage.bucket, Prefix="bulk/").get("KeyCount") == 0
    assert storage.exists("bulkkeep/x")


def test_s3_unreachable_backend_is_a_storage_error() -> None:
    storage = S3Storage(
        "nobucket",
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key="a",
        secret_key="b",
        timeout_s=1.0,
    )
    with pytest.raises(StorageError) as info:
        storage.put_bytes("a/b", b"x", "text/plain")
    assert not isinstance(info.value, MediaNotFound)
    assert "127.0.0.1" not in info.value.message


def test_s3_missing_bucket_is_a_storage_error(moto_endpoint: str) -> None:
    storage = S3Storage(
        f"missing-{uuid.uuid4().hex[:8]}",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    with pytest.raises(StorageError):
        storage.put_bytes("a/b", b"x", "text/plain")
