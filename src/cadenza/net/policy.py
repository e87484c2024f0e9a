"""Which URLs and addresses an untrusted URL may lead to.

The URL check runs without DNS and catches what the text alone gives away (a scheme, a
user name, a literal address in any of its spellings). The address check runs at connect
time on every address the host resolved to, because only the resolved address says where
a connection really goes (``http://2130706433/`` is 127.0.0.1, a public name may resolve
to 10.0.0.5).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import httpx

from cadenza.domain.errors import RemoteUrlRefused

IPAddress = IPv4Address | IPv6Address

#: ``resolver(host, port)`` gives the addresses (text, as getaddrinfo writes them) that a
#: connection to ``host`` may use. Injected so tests can answer what DNS would.
Resolver = Callable[[str, int], Sequence[str]]

MAX_URL_LENGTH = 2048

_METADATA = frozenset(
    ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Carrier-grade NAT: Python calls it neither private nor global.
_SHARED = IPv4Network("100.64.0.0/10")
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
_COMPAT = IPv6Network("::/96")
_TRANSLATED = IPv6Network("::ffff:0:0:0/96")
# A host spelled only in digits, hex and dots is an address to inet_aton (127.1, 0x7f.1,
# 0177.0.0.1, 2130706433), never a DNS name: no top-level domain is numeric.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


class AddressRefused(Exception):
    """A connection would reach an address the policy refuses. Raised inside the HTTP
    stack and translated by the caller, who knows which field the URL came from."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} resolves to {address} ({why})")
        self.host = host
        self.address = address
        self.why = why


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 form carries, where connecting to it reaches that IPv4
    host (mapped, compatible, translated, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _COMPAT or address in _TRANSLATED or address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached, or None for a public unicast address."""
    if address in _METADATA:
        return "cloud metadata"
    if isinstance(address, IPv6Address):
        if address.scope_id is not None:
            address = IPv6Address(str(address).split("%", 1)[0])
        if address in _NAT64_LOCAL:
            return "local NAT64"
        if address.is_unspecified:
            return "unspecified"
        if address.is_loopback:
            return "loopback"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            why = refusal(embedded)
            if why is not None:
                return f"{why}, embedded in IPv6"
            if address in _NAT64 or address.ipv4_mapped is not None or address in _TRANSLATED:
                # These reach exactly the IPv4 host they carry (DNS64 networks hand out
                # NAT64 addresses for every IPv4-only site), so its verdict is theirs.
                return None
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in _SHARED:
        return "shared (carrier-grade NAT)"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Refuse the host if any of its addresses is refused: a client could otherwise
    publish one good and one bad address and win whenever the bad one is tried."""
    for text in addresses:
        try:
            address = ip_address(text)
        except ValueError as exc:
            raise AddressRefused(host, text, "not an IP address") from exc
        why = refusal(address)
        if why is not None:
            raise AddressRefused(host, text, why)


def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo, once; the addresses in its order without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling the C library accepts
    (dotted, decimal, octal, hex, shortened), or None for a DNS name."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(text):
        try:
            return IPv4Address(socket.inet_aton(text.rstrip(".")))
        except OSError:
            return None
    return None


def _is_local_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def check_url(url: str, *, field: str, allow_private: bool = False) -> httpx.URL:
    """Parse a client-given URL and refuse what can be refused without DNS.

    The connect-time check still runs on every connection; this one answers early (at
    submit, before any charge) for the obvious cases.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise RemoteUrlRefused(
            f"{field} must be an http(s) URL of at most {MAX_URL_LENGTH} characters",
            "form",
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise RemoteUrlRefused(f"{field} must be an http(s) URL", "form") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise RemoteUrlRefused(f"{field} must be an http(s) URL", "scheme")
    if parsed.userinfo:
        raise RemoteUrlRefused(f"{field} must not contain a user name or password", "form")
    if not allow_private:
        address = literal_address(parsed.host)
        if (address is not None and refusal(address) is not None) or _is_local_name(parsed.host):
            raise RemoteUrlRefused(private_message(field), "address")
    return parsed


def private_message(field: str) -> str:
    return f"{field} points to a private or local address"
