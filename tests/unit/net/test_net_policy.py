"""The address policy: which URLs and addresses are refused, and that the check holds where
the connection is made (numeric spellings, DNS answers, rebinding, proxies)."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path

import httpcore
import httpx
import pytest
from net_servers import Handler, RawServer, resolver_to, respond

from cadenza.domain.errors import RemoteUrlRefused
from cadenza.net import (
    AddressRefused,
    SafeBackend,
    SafeTransport,
    check_url,
    fetch_to_file,
    literal_address,
    refusal,
    safe_client,
)
from cadenza.settings import Settings

Serve = Callable[[Handler], RawServer]
PUBLIC = "93.184.216.34"

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "fd12:3456::1": "private",
    "169.254.0.1": "link-local",
    "fe80::1": "link-local",
    "fe80::1%1": "link-local",
    "169.254.169.254": "cloud metadata",
    "fd00:ec2::254": "cloud metadata",
    "100.100.100.200": "cloud metadata",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.254": "carrier-grade NAT",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "",
    "255.255.255.255": "",
    "192.0.2.1": "",  # documentation
    "198.18.0.1": "",  # benchmarking
    "2001:db8::1": "",
    "::ffff:127.0.0.1": "loopback, embedded",
    "::ffff:10.0.0.1": "private, embedded",
    "::ffff:169.254.169.254": "cloud metadata, embedded",
    "::ffff:0:127.0.0.1": "loopback, embedded",  # IPv4-translated
    "::127.0.0.1": "loopback, embedded",  # IPv4-compatible
    "::8.8.8.8": "reserved",
    "2002:7f00:1::": "loopback, embedded",  # 6to4
    "2002:a9fe:a9fe::1": "cloud metadata, embedded",
    "64:ff9b::7f00:1": "loopback, embedded",  # NAT64
    "64:ff9b::a00:1": "private, embedded",
    "64:ff9b:1::a00:1": "local NAT64",
    "2001::1": "",  # Teredo
}

ALLOWED = [
    "8.8.8.8",
    PUBLIC,
    "1.1.1.1",
    "2606:4700:4700::1111",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "why"), REFUSED.items())
def test_refused_addresses(address: str, why: str) -> None:
    verdict = refusal(ip_address(address))
    assert verdict is not None
    assert why in verdict


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses(address: str) -> None:
    assert refusal(ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("0x.example", None),
    ],
)
def test_literal_address_reads_every_numeric_spelling(host: str, address: str | None) -> None:
    assert literal_address(host) == (None if address is None else ip_address(address))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "must be an http(s) URL"),
        ("gopher://127.0.0.1:6379/_INFO", "must be an http(s) URL"),
        ("ftp://example.com/a.mp3", "must be an http(s) URL"),
        ("dict://example.com:11211/", "must be an http(s) URL"),
        ("javascript:alert(1)", "must be an http(s) URL"),
        ("//example.com/a", "must be an http(s) URL"),
        ("http:///a", "must be an http(s) URL"),
        ("not a url", "must be an http(s) URL"),
        ("http://" + "a" * 2100 + ".com/", "must be an http(s) URL of at most 2048 characters"),
        ("http://user:pw@example.com/", "must not contain a user name or password"),
        ("http://user@example.com/", "must not contain a user name or password"),
        ("http://127.0.0.1/", "points to a private or local address"),
        ("http://[::1]/", "points to a private or local address"),
        ("http://[::ffff:127.0.0.1]/", "points to a private or local address"),
        ("http://localhost:8000/", "points to a private or local address"),
        ("http://LOCALHOST./", "points to a private or local address"),
        ("http://api.localhost/", "points to a private or local address"),
        ("http://2130706433/", "points to a private or local address"),
        ("http://0x7f.1/", "points to a private or local address"),
        ("http://169.254.169.254/latest/meta-data/", "points to a private or local address"),
        ("http://10.0.0.1/", "points to a private or local address"),
        ("http://[fd00:ec2::254]/", "points to a private or local address"),
    ],
)
def test_check_url_refuses_without_dns(url: str, message: str) -> None:
    with pytest.raises(RemoteUrlRefused) as caught:
        check_url(url, field="audio_url")
    assert caught.value.message == f"audio_url {message}"


def test_check_url_with_private_allowed_still_checks_the_form() -> None:
    assert check_url("http://127.0.0.1:8000/a", field="f", allow_private=True).port == 8000
    for url in ("file:///etc/passwd", "http://u:p@127.0.0.1/"):
        with pytest.raises(RemoteUrlRefused):
            check_url(url, field="f", allow_private=True)
    assert str(check_url("https://example.com/a.mp3?x=1", field="f")) == (
        "https://example.com/a.mp3?x=1"
    )


# The default policy, end to end with the system resolver, against a real listener: the
# listener must never see a connection.
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "localhost",
        "2130706433",
        "0x7f.1",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.1",
    ],
)
def test_default_policy_refuses_local_urls(serve: Serve, tmp_path: Path, host: str) -> None:
    server = serve(respond(body=b"internal"))
    with pytest.raises(RemoteUrlRefused) as caught:
        fetch_to_file(f"http://{host}:{server.port}/", tmp_path / "a", max_bytes=100, timeout_s=2)
    assert caught.value.message in (
        "audio_url points to a private or local address",
        "audio_url must be an http(s) URL",  # 0177.0.0.1: httpx itself refuses the spelling
    )
    assert server.connections == 0


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "localhost", "::1"])
def test_the_connect_time_check_sees_the_real_address(serve: Serve, host: str) -> None:
    """Without the URL check in front, the backend still refuses: it checks what the
    host resolves to, and getaddrinfo reads numeric spellings as the address they are."""
    server = serve(respond())
    with pytest.raises(AddressRefused) as caught:
        SafeBackend().connect_tcp(host, server.port, timeout=2)
    assert caught.value.why == "loopback"
    assert server.connections == 0


class _RecordingBackend(httpcore.NetworkBackend):
    """Stands for the network: records where connections go, reaches nothing."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: object = None,
    ) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        raise httpcore.ConnectError("unreachable in tests")


def test_rebinding_cannot_swap_the_address_after_the_check(serve: Serve) -> None:
    """DNS answers a public address first and loopback afterwards: the connection goes to
    the address that was checked, because there is only one lookup."""
    server = serve(respond(body=b"internal"))
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    network = _RecordingBackend()
    backend = SafeBackend(resolver=rebinding, inner=network)
    with pytest.raises(httpcore.ConnectError):
        backend.connect_tcp("rebind.test", server.port, timeout=1)
    assert calls == ["rebind.test"]
    assert network.connected == [(PUBLIC, server.port)]

    # The same through httpx, as fetches and deliveries use it.
    answers = iter([[PUBLIC], ["127.0.0.1"]])
    network = _RecordingBackend()
    backend = SafeBackend(resolver=lambda host, port: next(answers), inner=network)
    with (
        httpx.Client(transport=SafeTransport(backend)) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"http://rebind.test:{server.port}/")
    assert network.connected == [(PUBLIC, server.port)]
    assert server.connections == 0


@pytest.mark.parametrize(
    "answer", [["10.0.0.5"], [PUBLIC, "127.0.0.1"], ["::ffff:127.0.0.1"], ["169.254.169.254"]]
)
def test_a_public_looking_name_resolving_inward_is_refused(
    serve: Serve, tmp_path: Path, answer: list[str]
) -> None:
    server = serve(respond(body=b"internal"))
    resolver = resolver_to({"cdn.example.com": answer})
    with pytest.raises(RemoteUrlRefused) as caught:
        fetch_to_file(
            f"http://cdn.example.com:{server.port}/a.mp3",
            tmp_path / "a",
            max_bytes=100,
            timeout_s=2,
            resolver=resolver,
        )
    assert caught.value.message == "audio_url points to a private or local address"
    assert caught.value.reason == "address"
    assert server.connections == 0


def test_every_address_is_tried_in_order_after_the_check(serve: Serve) -> None:
    server = serve(respond(body=b"ok"))
    # Nothing listens on 127.0.0.2 at the server's port: that connect fails, the next works.
    resolver = resolver_to({"two.test": ["127.0.0.2", "127.0.0.1"]})
    with safe_client(allow_private=True, resolver=resolver) as client:
        assert client.get(server.url(host="two.test")).content == b"ok"


def test_unix_sockets_are_not_reachable() -> None:
    with pytest.raises(httpcore.ConnectError):
        SafeBackend(allow_private=True).connect_unix_socket("/var/run/docker.sock")


def test_proxy_variables_cannot_route_around_the_check(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = serve(respond(body=b"direct"))
    proxy = serve(respond(body=b"via proxy"))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, proxy.url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resolver = resolver_to({"media.test": ["127.0.0.1"]})
    with safe_client(allow_private=True, resolver=resolver) as client:
        assert client.get(target.url(host="media.test")).content == b"direct"
    assert proxy.connections == 0


def test_the_setting_defaults_to_refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CADENZA_ALLOW_PRIVATE_URLS", raising=False)
    assert Settings().allow_private_urls is False
    monkeypatch.setenv("CADENZA_ALLOW_PRIVATE_URLS", "true")
    assert Settings().allow_private_urls is True
