"""Links in answers point where the client reached the server: the configured public URL,
or the request's own address as a trusted proxy forwarded it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cadenza.api.app import create_app
from cadenza.api.forwarding import TrustedProxies
from cadenza.bootstrap import Container

MUSIC = {"title": "Links", "prompt": "[Verse]\nhello little star"}


def audio_url(client: TestClient, headers: dict[str, str], **extra: str) -> str:
    task_id = client.post("/suno/submit/music", json=MUSIC, headers=headers).json()["data"]
    task = client.get(f"/suno/fetch/{task_id}", headers={**headers, **extra}).json()["data"]
    url: str = task["data"][0]["audio_url"]
    return url


@pytest.fixture
def open_client(container: Container) -> Iterator[TestClient]:
    """No fixed public URL: links follow the request. The test client's peer is
    ``testclient``, so trust every peer here (as ``CADENZA_FORWARDED_ALLOW_IPS=*`` does)."""
    container.settings.public_url = ""
    container.settings.forwarded_allow_ips = "*"
    with TestClient(create_app(container, manage_queue=False)) as test_client:
        yield test_client


def test_a_fixed_public_url_is_used_whatever_the_request_says(
    client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    url = audio_url(client, headers, **{"X-Forwarded-Host": "evil.example"})
    assert url.startswith("http://testserver/media/clips/")


def test_links_follow_the_host_the_client_used(open_client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    url = audio_url(open_client, headers, Host="music.local:8123")
    assert url.startswith("http://music.local:8123/media/clips/")
    assert open_client.get(url.replace("http://music.local:8123", "")).status_code == 200


def test_a_tls_proxy_gets_https_links_on_its_own_host(
    open_client: TestClient, make_key: Any
) -> None:
    _, headers = make_key()
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "songs.example.com"}
    assert audio_url(open_client, headers, **forwarded).startswith(
        "https://songs.example.com/media/clips/"
    )
    rfc7239 = {"Forwarded": 'for=1.2.3.4;proto=https;host="api.example.org"'}
    assert audio_url(open_client, headers, **rfc7239).startswith(
        "https://api.example.org/media/clips/"
    )
    upload = open_client.post(
        "/suno/api/create_audio_upload", json={"extension": "mp3"}, headers={**headers, **forwarded}
    ).json()["data"]
    assert upload["url"].startswith("https://songs.example.com/suno/uploads/")


def test_forwarded_headers_of_an_untrusted_peer_are_ignored(
    container: Container, make_key: Any
) -> None:
    container.settings.public_url = ""
    container.settings.forwarded_allow_ips = "10.0.0.0/8"
    _, headers = make_key()
    with TestClient(create_app(container, manage_queue=False)) as client:
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
        assert audio_url(client, headers, **forwarded).startswith("http://testserver/media/")


def test_a_malformed_forwarded_host_is_ignored(open_client: TestClient, make_key: Any) -> None:
    _, headers = make_key()
    forwarded = {"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a/b@evil"}
    assert audio_url(open_client, headers, **forwarded).startswith("http://testserver/media/")


def test_trusted_proxies_parse_addresses_networks_and_star() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8, ::1")
    assert "127.0.0.1" in proxies and "10.2.3.4" in proxies and "::1" in proxies
    assert "192.168.1.1" not in proxies and "testclient" not in proxies and None not in proxies
    assert "anything" in TrustedProxies("*")
