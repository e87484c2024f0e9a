"""Real servers on 127.0.0.1 that answer with raw bytes, so tests can send what a
misbehaving server sends (lying lengths, endless chunks, one byte a second)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[socket.socket, Request], None]


def _read_request(conn: socket.socket) -> Request | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Request(method, target, headers, rest[:length])


@dataclass
class RawServer:
    handler: Handler
    sock: socket.socket = field(init=False)
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(15)
            request = _read_request(conn)
            if request is None:
                return
            self.requests.append(request)
            self.handler(conn, request)

    def close(self) -> None:
        self._stopped.set()
        self.sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


def respond(
    status: str = "200 OK", body: bytes = b"", headers: dict[str, str] | None = None
) -> Handler:
    """A handler answering one fixed response with a correct Content-Length."""

    def handle(conn: socket.socket, request: Request) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return handle


def drip(interval_s: float, give_up_s: float = 10.0) -> Handler:
    """Headers at once, then one body byte every ``interval_s``: per-read timeouts never
    fire, only a total deadline stops it."""

    def handle(conn: socket.socket, request: Request) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        end = time.monotonic() + give_up_s
        while time.monotonic() < end:
            conn.sendall(b"x")
            time.sleep(interval_s)

    return handle


def silent(hold_s: float = 10.0) -> Handler:
    """Reads the request and never answers."""

    def handle(conn: socket.socket, request: Request) -> None:
        conn.settimeout(hold_s)
        with contextlib.suppress(OSError):
            conn.recv(1)

    return handle


def resolver_to(mapping: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    """Answers like DNS would for the names given, and fails like DNS for the rest."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(mapping[host])

    return resolve
