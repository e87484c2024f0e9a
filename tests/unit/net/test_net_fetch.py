"""fetch_to_file against real servers on 127.0.0.1 (address check off, as in development)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from net_servers import Handler, RawServer, Request, drip, resolver_to, respond, silent

from cadenza.domain.errors import InvalidInput, RemoteUrlRefused
from cadenza.net import fetch_to_file

Serve = Callable[[Handler], RawServer]
CAP = 1024 * 1024


def _fetch(url: str, dest: Path, **kwargs: object) -> object:
    options: dict[str, object] = {"max_bytes": CAP, "timeout_s": 5.0, "allow_private": True}
    options.update(kwargs)
    return fetch_to_file(url, dest, **options)  # type: ignore[arg-type]


def _refused(url: str, dest: Path, **kwargs: object) -> RemoteUrlRefused:
    with pytest.raises(RemoteUrlRefused) as caught:
        _fetch(url, dest, **kwargs)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".part")] == []
    return caught.value


def test_streams_the_exact_bytes(serve: Serve, tmp_path: Path) -> None:
    body = os.urandom(300_000)
    server = serve(respond(body=body, headers={"Content-Type": "audio/mpeg"}))
    dest = tmp_path / "song.mp3"
    got = fetch_to_file(server.url("/a.mp3"), dest, max_bytes=CAP, timeout_s=5, allow_private=True)
    assert dest.read_bytes() == body
    assert (got.path, got.size, got.content_type) == (dest, len(body), "audio/mpeg")
    assert got.final_url == server.url("/a.mp3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["song.mp3"]
    assert server.requests[0].headers["accept-encoding"] == "identity"


def _chunked(total: int, chunk: int = 65536) -> Handler:
    def handle(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < total:
            n = min(chunk, total - sent)
            conn.sendall(f"{n:x}\r\n".encode() + b"c" * n + b"\r\n")
            sent += n
        conn.sendall(b"0\r\n\r\n")

    return handle


def test_chunked_body_within_the_cap_arrives_whole(serve: Serve, tmp_path: Path) -> None:
    server = serve(_chunked(CAP))
    got = _fetch(server.url(), tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == b"c" * CAP
    assert got.size == CAP  # type: ignore[attr-defined]


def test_chunked_body_beyond_the_cap_is_cut(serve: Serve, tmp_path: Path) -> None:
    server = serve(_chunked(10 * CAP))
    error = _refused(server.url(), tmp_path / "a")
    assert error.message == f"audio_url is larger than {CAP} bytes"
    assert error.reason == "too_large"
    assert isinstance(error, InvalidInput)


def test_body_without_length_is_counted_on_the_wire(serve: Serve, tmp_path: Path) -> None:
    def close_delimited(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * (10 * CAP))

    server = serve(close_delimited)
    assert _refused(server.url(), tmp_path / "a").reason == "too_large"


def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    serve: Serve, tmp_path: Path
) -> None:
    def huge(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n")
        conn.recv(1)  # never sends the body (reading it would run into the deadline)

    server = serve(huge)
    started = time.monotonic()
    error = _refused(server.url(), tmp_path / "a", max_bytes=52428800, timeout_s=5)
    assert error.message == "audio_url is larger than 52428800 bytes"
    assert time.monotonic() - started < 2


def test_a_length_shorter_than_the_body_stops_the_read_there(serve: Serve, tmp_path: Path) -> None:
    def lying(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + b"y" * (10 * CAP))

    server = serve(lying)
    got = _fetch(server.url(), tmp_path / "a")
    assert got.size == 10  # type: ignore[attr-defined]
    assert (tmp_path / "a").read_bytes() == b"y" * 10


def test_a_length_longer_than_the_body_is_an_error(serve: Serve, tmp_path: Path) -> None:
    def short(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)

    server = serve(short)
    assert _refused(server.url(), tmp_path / "a").reason == "transport"


def test_a_dripping_server_is_cut_at_the_deadline(serve: Serve, tmp_path: Path) -> None:
    server = serve(drip(0.05))
    started = time.monotonic()
    error = _refused(server.url(), tmp_path / "a", timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert error.message == "audio_url took longer than 1 s"
    assert error.reason == "timeout"
    assert 0.9 <= elapsed < 2.5


def test_a_server_that_never_answers_is_cut_at_the_deadline(serve: Serve, tmp_path: Path) -> None:
    server = serve(silent())
    started = time.monotonic()
    assert _refused(server.url(), tmp_path / "a", timeout_s=1.0).reason == "timeout"
    assert time.monotonic() - started < 2.5


def test_slow_dns_counts_against_the_deadline(tmp_path: Path) -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    started = time.monotonic()
    error = _refused("http://slow.test/a", tmp_path / "a", timeout_s=1.0, resolver=slow)
    assert error.message == "audio_url took longer than 1 s"
    assert time.monotonic() - started < 2.5


def test_redirects_are_refused_not_followed(serve: Serve, tmp_path: Path) -> None:
    target = serve(respond(body=b"secret"))
    server = serve(respond("302 Found", headers={"Location": target.url("/x")}))
    error = _refused(server.url(), tmp_path / "a")
    assert error.message == "audio_url redirects, which are not followed"
    assert target.connections == 0


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error", "204 No"])
def test_non_2xx_is_refused_with_its_status(serve: Serve, tmp_path: Path, status: str) -> None:
    server = serve(respond(status, body=b"nope"))
    if status.startswith("204"):
        assert _fetch(server.url(), tmp_path / "a").size == 0  # type: ignore[attr-defined]
        return
    code = status.split()[0]
    assert _refused(server.url(), tmp_path / "a").message == f"audio_url answered HTTP {code}"


def test_compressed_bodies_are_refused(serve: Serve, tmp_path: Path) -> None:
    server = serve(respond(body=b"\x1f\x8b" + b"0" * 30, headers={"Content-Encoding": "gzip"}))
    assert _refused(server.url(), tmp_path / "a").reason == "encoding"


def test_unreachable_and_unresolvable(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    error = _refused(f"http://127.0.0.1:{port}/", tmp_path / "a")
    assert error.message == "audio_url could not be reached"
    resolver = resolver_to({})
    error = _refused("http://nowhere.test/", tmp_path / "a", resolver=resolver)
    assert error.reason == "unreachable"


def test_messages_name_the_field(serve: Serve, tmp_path: Path) -> None:
    server = serve(respond("404 Not Found"))
    error = _refused(server.url(), tmp_path / "a", field="image_url")
    assert error.message == "image_url answered HTTP 404"
    error = _refused("ftp://example.com/a", tmp_path / "a", field="image_url")
    assert error.message == "image_url must be an http(s) URL"


def test_the_hostname_is_kept_while_the_resolved_address_is_used(
    serve: Serve, tmp_path: Path
) -> None:
    server = serve(respond(body=b"ok"))
    calls: list[str] = []
    mapping = resolver_to({"media.test": ["127.0.0.1"]})

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return mapping(host, port)

    _fetch(server.url("/song", host="media.test"), tmp_path / "a", resolver=resolve)
    assert server.requests[0].headers["host"] == f"media.test:{server.port}"
    assert server.requests[0].headers["user-agent"] == "Cadenza"
    assert calls == ["media.test"]
