"""httpx clients whose every TCP connection is checked where it is made.

httpcore opens connections through a network backend; these backends resolve the host
once, check every address, and connect to a checked address itself. DNS cannot change
its answer between the check and the connect (rebinding) because there is no second
lookup. The hostname stays in the URL, so TLS still sends it as SNI, verifies the
certificate against it, and the Host header carries it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import anyio
import anyio.to_thread
import httpcore
import httpx

from cadenza.net.policy import Resolver, check_addresses, system_resolver

USER_AGENT = "Cadenza"
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

_SocketOptions = Iterable[httpcore.SOCKET_OPTION] | None


def _remaining(deadline: float | None, timeout: float | None) -> float | None:
    """The tighter of an operation's own timeout and what is left of the deadline."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def _as_connect_error(host: str) -> Iterator[None]:
    try:
        yield
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from exc
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc


def _resolve_within(resolver: Resolver, host: str, port: int, seconds: float | None) -> list[str]:
    """Run the resolver, giving up after ``seconds``: getaddrinfo has no timeout of its
    own, and a slow DNS server must not stretch a fetch past its deadline. A resolver
    that overruns is left to finish in its daemon thread."""
    if seconds is None:
        with _as_connect_error(host):
            return list(resolver(host, port))
    if seconds <= 0:
        raise httpcore.ConnectTimeout(f"no time left to resolve {host}")
    result: list[Sequence[str]] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(resolver(host, port))
        except BaseException as exc:
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    if not done.wait(seconds):
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than {seconds:.1f} s")
    if failure:
        with _as_connect_error(host):
            raise failure[0]
    return list(result[0])


class _DeadlineStream(httpcore.NetworkStream):
    """Clamps every read and write to what is left of the deadline, so a server that
    drips a byte at a time cannot keep a fetch alive past it."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _budget(self, timeout: float | None, error: type[Exception]) -> float | None:
        left = _remaining(self._deadline, timeout)
        if left is not None and left <= 0:
            raise error("deadline passed")
        return left

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._budget(timeout, httpcore.ConnectTimeout)
        tls = self._inner.start_tls(ssl_context, server_hostname, budget)
        return _DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class SafeBackend(httpcore.NetworkBackend):
    """Resolve once, check every address, connect to a checked one.

    ``allow_private`` skips the address check only; the single resolution and the
    connect-to-the-address stay. ``deadline`` (a ``time.monotonic()`` instant) bounds
    resolution, connect, and every read and write on the connections made; ``inner``
    opens the TCP connection to an address (httpcore's own backend by default).
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        deadline: float | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or system_resolver
        self._deadline = deadline
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve_within(self._resolver, host, port, _remaining(self._deadline, timeout))
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self._allow_private:
            check_addresses(host, addresses)
        error: Exception | None = None
        for address in addresses:
            budget = _remaining(self._deadline, timeout)
            if budget is not None and budget <= 0:
                raise httpcore.ConnectTimeout(f"connecting to {host} took too long")
            try:
                stream = self._inner.connect_tcp(
                    address, port, budget, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            if self._deadline is None:
                return stream
            return _DeadlineStream(stream, self._deadline)
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through untrusted URLs")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SafeAsyncBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`SafeBackend`. It has no deadline of its own: callers
    bound a whole request with ``anyio.fail_after``, which cancellation makes exact."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: _SocketOptions = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout), _as_connect_error(host):
                addresses = list(
                    await anyio.to_thread.run_sync(
                        self._resolver, host, port, abandon_on_cancel=True
                    )
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        if not self._allow_private:
            check_addresses(host, addresses)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: _SocketOptions = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through untrusted URLs")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


# httpx 0.28 takes no network backend (encode/httpx#3749 proposes the parameter), so the
# transports below keep httpx's request and error mapping and swap in a pool built on ours.


def _pool_settings(verify: ssl.SSLContext | bool, limits: httpx.Limits) -> dict[str, Any]:
    return {
        "ssl_context": httpx.create_ssl_context(verify=verify, trust_env=False),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": False,
        "retries": 0,
    }


class SafeTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that connects through a SafeBackend."""

    def __init__(
        self,
        backend: SafeBackend,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("this httpx version's transport has no pool to replace")
        self._pool = httpcore.ConnectionPool(
            network_backend=backend, **_pool_settings(verify, limits)
        )


class SafeAsyncTransport(httpx.AsyncHTTPTransport):
    """httpx's async transport over a pool that connects through a SafeAsyncBackend."""

    def __init__(
        self,
        backend: SafeAsyncBackend,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(verify=verify, trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("this httpx version's transport has no pool to replace")
        self._pool = httpcore.AsyncConnectionPool(
            network_backend=backend, **_pool_settings(verify, limits)
        )


def safe_client(
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    timeout_s: float = 30.0,
    deadline: float | None = None,
    verify: ssl.SSLContext | bool = True,
    user_agent: str = USER_AGENT,
) -> httpx.Client:
    """A sync client for untrusted URLs: checked connections, no redirects, no proxy or
    netrc from the environment (either would route around the check)."""
    backend = SafeBackend(allow_private=allow_private, resolver=resolver, deadline=deadline)
    return httpx.Client(
        transport=SafeTransport(backend, verify=verify),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent},
    )


def safe_async_client(
    *,
    allow_private: bool = False,
    resolver: Resolver | None = None,
    timeout_s: float = 10.0,
    max_connections: int = 100,
    verify: ssl.SSLContext | bool = True,
    user_agent: str = USER_AGENT,
) -> httpx.AsyncClient:
    """An async client for untrusted URLs (webhook deliveries). Make one per process or
    event loop, share it, and close it at shutdown: it pools connections."""
    backend = SafeAsyncBackend(allow_private=allow_private, resolver=resolver)
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=min(20, max_connections)
    )
    return httpx.AsyncClient(
        transport=SafeAsyncTransport(backend, verify=verify, limits=limits),
        timeout=timeout_s,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent},
    )
