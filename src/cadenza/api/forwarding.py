"""Links in answers use the address the client reached: ``CADENZA_PUBLIC_URL`` when set,
else the request's own scheme and host, as forwarded by a trusted reverse proxy.

A proxy terminating TLS talks plain HTTP to Cadenza and says what the client used in
``X-Forwarded-Proto`` / ``X-Forwarded-Host`` (or RFC 7239 ``Forwarded``). Those headers
are honoured only from the proxies listed in ``CADENZA_FORWARDED_ALLOW_IPS``; anyone else
could otherwise choose the links in their own answers, and the scheme a direct client
claims means nothing.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from cadenza.storage import public_base

_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$")
_SCHEMES = frozenset({"http", "https"})


class TrustedProxies:
    """Addresses and networks (``10.0.0.0/8``) whose forwarded headers are believed; ``*``
    trusts every peer (only behind a proxy that overwrites the headers)."""

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self._seen: dict[str, bool] = {}
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in items:
            if item != "*":
                self.networks.append(ipaddress.ip_network(item, strict=False))

    def __contains__(self, host: str | None) -> bool:
        if self.everyone:
            return True
        if not host:
            return False
        known = self._seen.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self.networks)
            if len(self._seen) >= 4096:  # peers are few; never grow without bound
                self._seen.clear()
            self._seen[host] = known
        return known


def _first(value: bytes) -> str:
    """The client-side (first) entry of a header a chain of proxies appended to."""
    return value.decode("latin-1").split(",")[0].strip()


def _from_forwarded(value: bytes) -> tuple[str | None, str | None]:
    """(proto, host) of the first element of an RFC 7239 ``Forwarded`` header."""
    proto = host = None
    for pair in _first(value).split(";"):
        name, _, raw = pair.partition("=")
        raw = raw.strip().strip('"')
        if name.strip().lower() == "proto":
            proto = raw.lower()
        elif name.strip().lower() == "host":
            host = raw
    return proto, host


class PublicURL:
    """Sets the base URL of the links a request's answer carries (see ``public_base``)."""

    def __init__(self, app: ASGIApp, *, fixed: str, trusted: TrustedProxies) -> None:
        self.app = app
        self.fixed = fixed.rstrip("/")
        self.trusted = trusted
        self._bases: dict[tuple[Any, ...], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = public_base.current.set(self.fixed or self._base(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            public_base.current.reset(token)

    def _base(self, scope: Scope) -> str:
        """From the request's scheme, host and (from a trusted peer) forwarded headers;
        the few combinations a server sees are worked out once each."""
        client = scope.get("client")
        trusted = client is not None and client[0] in self.trusted
        host = proto = fhost = forwarded = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value
            elif trusted and name == b"x-forwarded-proto":
                proto = value
            elif trusted and name == b"x-forwarded-host":
                fhost = value
            elif trusted and name == b"forwarded":
                forwarded = value
        server = scope.get("server")
        if server is not None:
            server = tuple(server)  # some servers give a list
        memo = (scope.get("scheme", "http"), host, proto, fhost, forwarded, server,
                scope.get("root_path", ""))  # fmt: skip
        found = self._bases.get(memo)
        if found is None:
            found = _work_out(*memo)
            if len(self._bases) >= 1024:  # headers are the client's: never grow unbounded
                self._bases.clear()
            self._bases[memo] = found
        return found


def _work_out(
    scheme: str,
    host_header: bytes | None,
    proto_header: bytes | None,
    host_forwarded: bytes | None,
    forwarded_header: bytes | None,
    server: tuple[str, int | None] | None,
    root_path: str,
) -> str:
    host = host_header.decode("latin-1").strip() if host_header else ""
    forwarded_proto = _first(proto_header).lower() if proto_header else None
    forwarded_host = _first(host_forwarded) if host_forwarded else None
    if forwarded_header:
        proto, fhost = _from_forwarded(forwarded_header)
        forwarded_proto = forwarded_proto or proto
        forwarded_host = forwarded_host or fhost
    if forwarded_proto in _SCHEMES:
        scheme = forwarded_proto
    if forwarded_host and _HOST.match(forwarded_host):
        host = forwarded_host
    if not host or not _HOST.match(host):
        if not server:
            return ""
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    return f"{scheme}://{host}{root_path}"
