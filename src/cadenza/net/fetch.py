"""Download a client-given URL to a file, within a byte cap and a wall-clock cap."""

from __future__ import annotations

import functools
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cadenza.domain.errors import RemoteUrlRefused
from cadenza.net.policy import AddressRefused, Resolver, check_url, private_message
from cadenza.net.transport import USER_AGENT, SafeBackend, SafeTransport


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path
    size: int
    content_type: str | None
    #: The URL fetched, normalised; it is the one asked for, since redirects are refused.
    final_url: str


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every download: building one loads the CA bundle, which costs
    more CPU than a small download itself. A context is safe to share between threads."""
    return httpx.create_ssl_context(trust_env=False)


def too_large_message(field: str, max_bytes: int) -> str:
    return f"{field} is larger than {max_bytes} bytes"


def too_slow_message(field: str, timeout_s: float) -> str:
    return f"{field} took longer than {timeout_s:g} s"


def _check_response(response: httpx.Response, field: str, max_bytes: int) -> None:
    status = response.status_code
    if 300 <= status < 400:
        raise RemoteUrlRefused(f"{field} redirects, which are not followed", "redirect")
    if not 200 <= status < 300:
        raise RemoteUrlRefused(f"{field} answered HTTP {status}", "status")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Asked for identity; a compressed body would make the byte cap meaningless.
        raise RemoteUrlRefused(
            f"{field} answered with Content-Encoding {encoding}; send the file uncompressed",
            "encoding",
        )
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise RemoteUrlRefused(too_large_message(field, max_bytes), "too_large")


def fetch_to_file(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    timeout_s: float,
    allow_private: bool = False,
    field: str = "audio_url",
    resolver: Resolver | None = None,
) -> Fetched:
    """GET ``url`` into ``dest``; every failure is a :class:`RemoteUrlRefused` whose
    message names ``field``.

    The byte cap counts the bytes actually received, so a lying or missing
    Content-Length cannot get past it; the time cap covers resolution, connect and every
    read together. ``dest`` appears only when the whole body arrived: the body streams
    into a sibling part file that is renamed at the end and removed on any failure.
    Blocking: run it in a worker thread.
    """
    target = check_url(url, field=field, allow_private=allow_private)
    deadline = time.monotonic() + timeout_s
    backend = SafeBackend(allow_private=allow_private, resolver=resolver, deadline=deadline)
    part = dest.with_name(f".{dest.name}.part")
    try:
        with (
            httpx.Client(
                transport=SafeTransport(backend, verify=_tls()),
                timeout=timeout_s,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            ) as client,
            client.stream("GET", target) as response,
        ):
            _check_response(response, field, max_bytes)
            size = 0
            with part.open("wb") as out:
                for chunk in response.iter_raw():
                    size += len(chunk)
                    if size > max_bytes:
                        raise RemoteUrlRefused(too_large_message(field, max_bytes), "too_large")
                    if time.monotonic() > deadline:
                        raise RemoteUrlRefused(too_slow_message(field, timeout_s), "timeout")
                    out.write(chunk)
            content_type = response.headers.get("Content-Type")
        os.replace(part, dest)
    except AddressRefused as exc:
        raise RemoteUrlRefused(private_message(field), "address") from exc
    except httpx.TimeoutException as exc:
        raise RemoteUrlRefused(too_slow_message(field, timeout_s), "timeout") from exc
    except httpx.ConnectError as exc:
        raise RemoteUrlRefused(f"{field} could not be reached", "unreachable") from exc
    except httpx.HTTPError as exc:
        raise RemoteUrlRefused(
            f"{field} could not be downloaded: the server broke off or answered badly",
            "transport",
        ) from exc
    finally:
        part.unlink(missing_ok=True)
    return Fetched(path=dest, size=size, content_type=content_type, final_url=str(target))
