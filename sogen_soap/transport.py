"""The one place that sends bytes and reads an answer, sync and async side by side.

Why our own small HTTP/1.1 sender rather than requests or httpx: a wallet call
is one POST of a few hundred bytes to one host, and what matters is what the
general-purpose stacks do not give together:

- **a deadline for the whole call** (connect, send, headers, body), enforced
  before every read, so a server that drips one byte a second cannot hold a
  call past its timeout (requests' ``timeout`` bounds each read only);
- **a size cap while streaming**, so an endless answer costs the cap, not GBs;
- **one parse of the URL**: the ``Endpoint`` checked by ``endpoints.parse_url``
  is the host and port connected to, nothing re-reads the string;
- **"never sent" told apart from "sent, answer lost"**: failures before the
  first request byte left (DNS, refused, TLS handshake, proxy) are
  ``ConnectionFailed``/``TLSError``; anything after is a lost answer;
- and it is lean: one ``sendall`` for head and body, no per-call environment
  lookups, a kept-alive connection checked for a peer hang-up before reuse.

TLS verification is always on (``ssl_context``), with ``ca_bundle``, mutual
TLS and HTTPS proxies through ``CONNECT``.  A caller's own ``requests.Session``
or ``httpx.AsyncClient`` is still accepted (``LegacySyncSender`` /
``LegacyAsyncSender``): a documented slower path with the size cap, and the
deadline checked between reads.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import os
import select
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._version import __version__
from .endpoints import Endpoint, is_loopback, parse_url
from .errors import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    ResponseTimeout,
    ResponseTooLarge,
    TLSError,
    TransportError,
)
from .http11 import AnswerTooLarge, HTTPProtocolError, ResponseParser

if TYPE_CHECKING:
    import asyncio

    import httpx
    import requests

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AsyncSender",
    "Deadline",
    "HTTPAnswer",
    "LegacyAsyncSender",
    "LegacySyncSender",
    "Proxy",
    "SyncSender",
    "environment_proxy",
    "ssl_context",
]

DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024
"""A wallet of a thousand cards answers in well under 1 MB."""
USER_AGENT: Final = f"sogen-soap/{__version__}"
_READ_SIZE: Final = 65536
_SHORTEST_WAIT: Final = 0.001
_AFTER_CONNECT: Final = "the proxy sent bytes after accepting the tunnel, before TLS began"


@dataclass(frozen=True)
class HTTPAnswer:
    """A complete HTTP answer: status, reason, headers (lowercase names), body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class Deadline:
    """The end of a call, on the monotonic clock; every wait is cut to what is left."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def left(self) -> float:
        """What is left to wait, never zero (a zero timeout means "don't wait" to some
        APIs and "wait forever" to others; the read that follows reports the end)."""
        return max(self.remaining(), _SHORTEST_WAIT)


@dataclass(frozen=True)
class Proxy:
    """An HTTPS proxy reached by ``CONNECT``; its credentials never shown."""

    host: str
    port: int
    authorization: str | None = None

    def __repr__(self) -> str:
        return f"Proxy({self.host}:{self.port}{', with credentials' if self.authorization else ''})"

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        """``http://[user:password@]host:port``: the only place user info is accepted.

        Spellings another stack could read as a different host (a backslash
        before the ``@``, spaces, control characters) are refused before the
        user info is split off, as ``parse_url`` refuses them in a service URL.
        """
        if not url.isascii() or not url.isprintable() or any(c in url for c in " \\"):
            raise ConfigurationError(
                "proxy URL must be printable ASCII without spaces or backslashes"
            )
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = "http", url
        authority = rest.split("/", 1)[0]  # RFC 3986: a "/" in a password is %2F
        credentials, at, hostport = authority.rpartition("@")
        authorization = None
        if at:
            user, _, password = credentials.partition(":")
            from urllib.parse import unquote

            token = f"{unquote(user)}:{unquote(password)}".encode()
            authorization = "Basic " + base64.b64encode(token).decode("ascii")
        if scheme.lower() != "http":
            raise ConfigurationError(
                f"proxy: only http:// proxies (CONNECT tunnels) are supported, not {scheme}://"
            )
        # Reached in clear by design (the tunnel inside is TLS); read with the
        # same strict parser (as https, to get past the loopback-only http rule).
        read_as = f"https://{hostport}/"
        try:
            parsed = parse_url(read_as, what="proxy")
        except ConfigurationError as exc:
            if "@" not in rest:  # no credentials: the URL as given may be shown
                raise ConfigurationError(str(exc).replace(repr(read_as), repr(url))) from None
            # What was read as the host may be part of a password (an unencoded "/"
            # ends the authority early): nothing of the URL is quoted.
            raise ConfigurationError(
                "proxy URL: its host and port cannot be read (the URL is not shown: it "
                "holds credentials; write / and @ in a password as %2F and %40)"
            ) from None
        explicit_port = ":" in hostport.rsplit("]", 1)[-1]
        return cls(parsed.host, parsed.port if explicit_port else 80, authorization)


def environment_proxy(endpoint: Endpoint, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the usual ``HTTPS_PROXY``/``NO_PROXY`` variables give, read once.

    Only https endpoints go through a proxy: plain http is loopback-only.
    """
    if endpoint.scheme != "https":
        return None
    env = os.environ if environ is None else environ
    proxies = {
        name.lower()[:-6]: value
        for name, value in env.items()
        if name.lower().endswith("_proxy") and value
    }
    url = proxies.get("https") or proxies.get("all")
    if not url or endpoint.loopback:
        return None
    for entry in proxies.get("no", "").replace(" ", "").split(","):
        name = _no_proxy_host(entry)
        if entry == "*" or (name and (endpoint.host == name or endpoint.host.endswith("." + name))):
            return None
    return url


def _no_proxy_host(entry: str) -> str:
    """The host a ``NO_PROXY`` entry names: ``.example.com``, ``example.com:443``,
    ``[2001:db8::1]:443`` and a bare ``2001:db8::1`` (its colons are not a port)."""
    entry = entry.lower()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") > 1:
        return entry
    return entry.lstrip(".").partition(":")[0]


def ssl_context(
    ca_bundle: str | None = None, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext:
    """A verifying TLS context, made once per settings and shared.

    The CA is, in order: ``ca_bundle``, ``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``, ``SSL_CERT_FILE``, certifi's.  Verification cannot be
    switched off.
    """
    import certifi

    cafile = (
        ca_bundle
        or os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or os.environ.get("SSL_CERT_FILE")
        or certifi.where()
    )
    return _context(cafile, client_cert, client_key)


@functools.lru_cache(maxsize=16)
def _context(cafile: str, client_cert: str | None, client_key: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cafile)
        # Names only from subjectAltName (RFC 6125, CA/Browser Forum): OpenSSL would
        # otherwise accept a common name when the certificate lists only addresses.
        context.hostname_checks_common_name = False
        if client_cert is not None:
            context.load_cert_chain(client_cert, client_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the TLS files: {exc}") from None
    return context


def tls_settings(
    ca_bundle: str | os.PathLike[str] | None,
    client_cert: str | os.PathLike[str] | tuple[str, str] | None,
) -> ssl.SSLContext:
    """The shared context for a client's TLS options (files checked first)."""
    cert_file, key_file = client_cert if isinstance(client_cert, tuple) else (client_cert, None)
    for path in (ca_bundle, cert_file, key_file):
        if path is not None and not os.path.isfile(path):
            raise ConfigurationError(f"no such file: {path}")
    return ssl_context(
        None if ca_bundle is None else os.fspath(ca_bundle),
        None if cert_file is None else os.fspath(cert_file),
        None if key_file is None else os.fspath(key_file),
    )


# ------------------------------------------------------------------ errors


def _where(operation: str, endpoint: Endpoint) -> dict[str, str]:
    return {"operation": operation, "endpoint": endpoint.url}


def _not_sent(operation: str, endpoint: Endpoint, why: str) -> ConnectionFailed:
    return ConnectionFailed(
        f"{operation}: could not connect to {endpoint.url}: {why}", **_where(operation, endpoint)
    )


def _lost(operation: str, endpoint: Endpoint, error: BaseException) -> TransportError:
    """The exception for a failure after the request may have left."""
    where = _where(operation, endpoint)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return ResponseTimeout(
            f"{operation}: no complete answer from {endpoint.url} within the timeout", **where
        )
    if isinstance(error, AnswerTooLarge):
        return ResponseTooLarge(f"{operation}: {error}; reading stopped", **where)
    if isinstance(error, HTTPProtocolError):
        return ConnectionDropped(f"{operation}: {error} ({endpoint.url})", **where)
    return ConnectionDropped(
        f"{operation}: the connection to {endpoint.url} broke before the answer was complete",
        **where,
    )


def _tls_text(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or type(error).__name__
    detail = getattr(error, "verify_message", None)
    return f"{reason}: {detail}" if detail else str(reason)


def _refused_by_tls(error: BaseException) -> bool:
    """A TLS alert about certificates read after the handshake: with TLS 1.3 a
    server refusing our client certificate says so on the first read.  It
    never read the request."""
    reason = str(getattr(error, "reason", "") or "")
    return isinstance(error, ssl.SSLError) and "ALERT" in reason and "CERTIFICATE" in reason


def _tls_or_not_sent(operation: str, endpoint: Endpoint, error: BaseException) -> TransportError:
    if isinstance(error, (ssl.SSLError, ssl.CertificateError)):
        return TLSError(
            f"{operation}: TLS failure talking to {endpoint.url}: {_tls_text(error)}",
            **_where(operation, endpoint),
        )
    if isinstance(error, (TimeoutError, socket.timeout)):
        return _not_sent(operation, endpoint, "timed out")
    number = getattr(error, "errno", None)  # the OS's words, as sync and async both see them
    words = os.strerror(number) if number else str(error)
    return _not_sent(operation, endpoint, words or "the connection closed")  # asyncio's bare reset


def _unresolved(
    operation: str, endpoint: Endpoint, host: str, error: BaseException
) -> TransportError:
    return _not_sent(operation, endpoint, f"cannot resolve {host}: {error}")


def _request_head(endpoint: Endpoint, method: str, target: str) -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {endpoint.netloc}\r\n"
        f"User-Agent: {USER_AGENT}\r\nAccept-Encoding: identity\r\n"
    ).encode("ascii")


def _encode(head: bytes, headers: Mapping[str, str], body: bytes) -> bytes:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (head, extra.encode("latin-1"), len(body), body)


def _connect_message(endpoint: Endpoint, proxy: Proxy) -> bytes:
    auth = f"Proxy-Authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host  # an IPv6 literal
    return (
        f"CONNECT {host}:{endpoint.port} HTTP/1.1\r\nHost: {host}:{endpoint.port}\r\n{auth}\r\n"
    ).encode("latin-1")


def _addresses(
    operation: str, endpoint: Endpoint, host: str, port: int, proxied: bool
) -> list[Any]:
    """What ``host`` resolves to, every address checked (``_check_addresses``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(operation, endpoint, host, exc) from None
    _check_addresses(endpoint, infos, proxied)
    return infos


async def _addresses_async(
    operation: str, endpoint: Endpoint, host: str, port: int, proxied: bool
) -> list[Any]:
    """``_addresses`` on the running event loop."""
    import asyncio

    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolved(operation, endpoint, host, exc) from None
    _check_addresses(endpoint, infos, proxied)
    return infos


def _check_addresses(endpoint: Endpoint, infos: Iterable[Any], proxied: bool) -> None:
    """Plain http goes to loopback only, even where ``localhost`` resolves elsewhere."""
    if endpoint.scheme == "http" and not proxied:
        for info in infos:
            if not is_loopback(str(info[4][0])):
                raise ConfigurationError(
                    f"refusing plain http: {endpoint.host} resolves to a non-loopback address"
                )


# ------------------------------------------------------------------ sync


class _Stale(Exception):
    """A reused connection answered nothing at all: the peer had closed it."""


class _Connection:
    """A connected socket in non-blocking mode, waited on with one cached poller.

    Why not ``socket.settimeout``: CPython then issues an ``ioctl`` on every
    change of timeout and a ``poll`` before every ``send`` and ``recv``; a
    call here needs one wait for the answer and nothing else.
    """

    __slots__ = ("_poller", "reused", "sock", "tls")

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.reused = False
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(sock, select.POLLIN)

    def _readable(self, seconds: float) -> bool:
        if self._poller is not None:
            return bool(self._poller.poll(max(seconds, 0) * 1000))
        readable, _, _ = select.select([self.sock], [], [], max(seconds, 0))  # pragma: no cover
        return bool(readable)  # pragma: no cover

    def alive(self) -> bool:
        """A kept-alive connection the peer has not closed (nothing readable on it)."""
        try:
            return not self._readable(0)
        except (OSError, ValueError):
            return False

    def send_all(self, data: bytes, deadline: Deadline) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                left = deadline.remaining()
                if left <= 0:
                    raise TimeoutError from None
                select.select([], [self.sock], [], left)
                continue
            view = view[sent:]

    def receive(self, deadline: Deadline) -> bytes:
        """The next bytes from the peer (b"" when it closed), within the deadline."""
        while True:
            if not self.tls:  # plain: wait first, the answer is rarely there already
                left = deadline.remaining()
                if left <= 0 or not self._readable(left):
                    raise TimeoutError
            try:
                return self.sock.recv(_READ_SIZE)
            except (BlockingIOError, ssl.SSLWantReadError):
                if self.tls:  # TLS may hold decrypted bytes the fd does not show: try first
                    left = deadline.remaining()
                    if left <= 0 or not self._readable(left):
                        raise TimeoutError from None

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.sock.close()


class _Sender:
    """What both senders share: TLS and proxy for the endpoint, the cap, request heads,
    and reading a proxy's answer to ``CONNECT``."""

    def __init__(
        self,
        endpoint: Endpoint,
        tls: ssl.SSLContext | None,
        proxy: Proxy | None,
        max_response_bytes: int,
        connect_timeout: float,
    ) -> None:
        https = endpoint.scheme == "https"
        self.endpoint = endpoint
        self._tls = (tls if tls is not None else ssl_context()) if https else None
        self._proxy = proxy if https else None  # plain http is loopback-only: no proxy
        self._max = max_response_bytes
        self._connect_timeout = connect_timeout
        self._heads: dict[tuple[str, str], bytes] = {}

    def _encoded(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
        """The request's bytes: a head made once per (method, target), then the body."""
        head = self._heads.get((method, target))
        if head is None:
            head = self._heads[(method, target)] = _request_head(self.endpoint, method, target)
        return _encode(head, headers, body)

    def _feed_tunnel(self, parser: ResponseParser, data: bytes, operation: str) -> None:
        """One read of the proxy's answer to CONNECT; raises when it broke or refused.

        A refusal is known from its status line: its body (a 407 usually
        carries an HTML page) is never read, so the parser takes no body at all.
        """
        if not data:
            raise _not_sent(operation, self.endpoint, "the proxy closed the tunnel")
        try:
            parser.feed(data)
        except (HTTPProtocolError, AnswerTooLarge):
            if not parser.status:  # the status line and headers did not read as HTTP
                raise _not_sent(operation, self.endpoint, "the proxy did not answer HTTP") from None
        if parser.status and not 200 <= parser.status < 300:
            raise _not_sent(
                operation,
                self.endpoint,
                f"the proxy refused the tunnel (HTTP {parser.status} {parser.reason})",
            )
        if parser.leftover:  # read inside TLS, they would pass for the service's answer
            raise _not_sent(operation, self.endpoint, _AFTER_CONNECT)


class SyncSender(_Sender):
    """Kept-alive connections to one endpoint, shared by threads.

    ``request`` either returns a complete ``HTTPAnswer`` or raises this
    package's ``TransportError``: ``ConnectionFailed``/``TLSError`` only when
    no byte of the request left.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = 5.0,
        pool_size: int = 16,
    ) -> None:
        super().__init__(endpoint, tls, proxy, max_response_bytes, connect_timeout)
        self._pool_size = pool_size
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _checkout(self) -> _Connection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if connection.alive():
                connection.reused = True
                return connection
            connection.close()

    def _checkin(self, connection: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, operation: str, deadline: Deadline) -> _Connection:
        endpoint = self.endpoint
        host, port = (
            (self._proxy.host, self._proxy.port) if self._proxy else (endpoint.host, endpoint.port)
        )
        infos = _addresses(operation, endpoint, host, port, self._proxy is not None)
        sock: socket.socket | None = None
        last: BaseException | None = None
        connecting = deadline
        for family, kind, proto, _, address in infos:
            left = deadline.remaining()
            if left <= 0:
                break
            # the TCP connect and, direct to the service, the TLS handshake (as async)
            wait = min(self._connect_timeout, left)
            connecting = Deadline(wait)
            candidate = socket.socket(family, kind, proto)
            try:
                candidate.settimeout(wait)
                candidate.connect(address)
            except OSError as exc:
                candidate.close()
                last = exc
                continue
            sock = candidate
            break
        if sock is None:
            raise _tls_or_not_sent(operation, endpoint, last or TimeoutError()) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._proxy is not None:
                self._tunnel(sock, operation, deadline)
            if self._tls is not None:  # through a tunnel, what the call has left (as async)
                sock.settimeout((deadline if self._proxy else connecting).left())
                sock = self._tls.wrap_socket(sock, server_hostname=endpoint.host)
        except TransportError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise _tls_or_not_sent(operation, endpoint, exc) from None
        return _Connection(sock)

    def _tunnel(self, sock: socket.socket, operation: str, deadline: Deadline) -> None:
        assert self._proxy is not None
        sock.sendall(_connect_message(self.endpoint, self._proxy))  # the connect's timeout holds
        parser = ResponseParser(0, method="CONNECT")
        while not parser.done:
            sock.settimeout(deadline.left())
            self._feed_tunnel(parser, sock.recv(_READ_SIZE), operation)

    def request(
        self,
        operation: str,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> HTTPAnswer:
        data = self._encoded(method, target, headers, body)
        for _ in range(2):
            connection = self._checkout()
            if connection is None:
                if deadline.expired():
                    raise _not_sent(operation, self.endpoint, "no time left to connect")
                connection = self._connect(operation, deadline)
            try:
                connection.send_all(data, deadline)
            except OSError as exc:
                connection.close()
                if connection.reused and not isinstance(exc, (TimeoutError, socket.timeout)):
                    # The peer had closed this idle connection: the request
                    # cannot have been read whole.  Once more, on a new one.
                    continue
                raise _lost(operation, self.endpoint, exc) from None
            try:
                return self._read(connection, operation, method, deadline)
            except _Stale:
                continue  # an idempotent GET on a connection the peer had just closed
        raise _not_sent(operation, self.endpoint, "the connection kept closing")

    def _read(
        self, connection: _Connection, operation: str, method: str, deadline: Deadline
    ) -> HTTPAnswer:
        parser = ResponseParser(self._max, method=method)
        try:
            while not parser.done:
                chunk = connection.receive(deadline)
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.feed_eof()
        except Exception as exc:  # whatever broke, the request had left: a lost answer
            connection.close()
            if method == "GET" and connection.reused and not parser.got_bytes:
                raise _Stale from None
            if _refused_by_tls(exc):
                raise _tls_or_not_sent(operation, self.endpoint, exc) from None
            raise _lost(operation, self.endpoint, exc) from None
        if parser.keep_alive:
            self._checkin(connection)
        else:
            connection.close()
        return HTTPAnswer(parser.status, parser.reason, parser.headers, parser.body)


# ------------------------------------------------------------------ async


def _nothing_buffered(reader: asyncio.StreamReader, operation: str, endpoint: Endpoint) -> None:
    """Refuse a tunnel the proxy sent unasked bytes into (nothing was sent yet)."""
    if reader._buffer:  # type: ignore[attr-defined]
        raise _not_sent(operation, endpoint, _AFTER_CONNECT)


class AsyncSender(_Sender):
    """``SyncSender``'s twin on asyncio streams; the whole exchange under one deadline.

    At most ``max_connections`` exchanges are on the wire at once; other
    callers wait their turn (the wait counts toward their deadline).  A
    sender belongs to one event loop.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        tls: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = 5.0,
        max_connections: int = 8,
    ) -> None:
        super().__init__(endpoint, tls, proxy, max_response_bytes, connect_timeout)
        if self._proxy is not None and sys.version_info < (3, 11):  # pragma: no cover
            raise ConfigurationError("an HTTPS proxy with the async client needs Python 3.11+")
        self._max_connections = max_connections
        self._gate: asyncio.Semaphore | None = None
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def forget(self) -> None:
        """Drop what belonged to an event loop now closed: its connections, its gate."""
        self._idle = []
        self._gate = None

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
            with contextlib.suppress(OSError):  # already gone
                await writer.wait_closed()

    async def request(
        self,
        operation: str,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> HTTPAnswer:
        import asyncio

        if self._gate is None:
            self._gate = asyncio.Semaphore(self._max_connections)
        data = self._encoded(method, target, headers, body)
        state = {"sent": False}
        try:
            return await asyncio.wait_for(
                self._exchange(operation, method, data, state, deadline),
                timeout=deadline.left(),
            )
        except asyncio.TimeoutError:
            if state["sent"]:
                raise _lost(operation, self.endpoint, TimeoutError()) from None
            raise _not_sent(operation, self.endpoint, "timed out") from None

    async def _exchange(
        self, operation: str, method: str, data: bytes, state: dict[str, bool], deadline: Deadline
    ) -> HTTPAnswer:
        assert self._gate is not None
        async with self._gate:
            for _ in range(2):
                reused = True
                stream = self._checkout()
                if stream is None:
                    reused = False
                    stream = await self._connect(operation, deadline)
                reader, writer = stream
                try:
                    state["sent"] = True
                    writer.write(data)
                    await writer.drain()
                except OSError as exc:
                    writer.close()
                    refusal = reader.exception()  # a TLS alert can overtake the write
                    if refusal is not None and _refused_by_tls(refusal):
                        raise _tls_or_not_sent(operation, self.endpoint, refusal) from None
                    if reused:
                        state["sent"] = False
                        continue
                    raise _lost(operation, self.endpoint, exc) from None
                try:
                    return await self._read(reader, writer, operation, method, reused)
                except _Stale:
                    continue  # an idempotent GET on a connection the peer had just closed
        raise _not_sent(operation, self.endpoint, "the connection kept closing")

    def _checkout(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while self._idle:
            reader, writer = self._idle.pop()
            buffered = reader._buffer  # type: ignore[attr-defined]
            if not reader.at_eof() and not writer.is_closing() and not buffered:
                return reader, writer
            writer.close()
        return None

    async def _connect(
        self, operation: str, deadline: Deadline
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        import asyncio

        endpoint = self.endpoint
        host, port = (
            (self._proxy.host, self._proxy.port) if self._proxy else (endpoint.host, endpoint.port)
        )
        infos = await _addresses_async(operation, endpoint, host, port, self._proxy is not None)
        last: BaseException = asyncio.TimeoutError()
        for info in infos:  # each address in turn, as the sync sender does
            if deadline.expired():
                break
            try:
                reader, writer = await self._open(str(info[4][0]), int(info[4][1]), deadline)
            except (ssl.SSLError, ssl.CertificateError) as exc:  # the peer was reached
                raise _tls_or_not_sent(operation, endpoint, exc) from None
            except (OSError, asyncio.TimeoutError) as exc:  # not reached there: the next one
                last = exc
                continue
            if self._proxy is not None:
                await self._through_proxy(reader, writer, operation)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return reader, writer
        if isinstance(last, asyncio.TimeoutError):
            raise _not_sent(operation, endpoint, "timed out")
        raise _tls_or_not_sent(operation, endpoint, last)

    async def _open(
        self, host: str, port: int, deadline: Deadline
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to one address; TLS too, unless a proxy's tunnel comes first."""
        import asyncio

        direct_tls = self._tls if self._proxy is None else None
        return await asyncio.wait_for(
            asyncio.open_connection(
                host,
                port,
                ssl=direct_tls,
                server_hostname=self.endpoint.host if direct_tls else None,
            ),
            timeout=min(self._connect_timeout, deadline.left()),
        )

    async def _through_proxy(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, operation: str
    ) -> None:
        """The tunnel, then TLS inside it; a failure leaves no connection open."""
        try:
            await self._tunnel(reader, writer, operation)
            _nothing_buffered(reader, operation, self.endpoint)
            assert self._tls is not None
            await writer.start_tls(self._tls, server_hostname=self.endpoint.host)  # type: ignore[attr-defined]
            # Plain bytes that came before the switch stay in the reader's buffer,
            # where they would be read as the service's (TLS-protected) answer.
            _nothing_buffered(reader, operation, self.endpoint)
        except BaseException as exc:  # refused, broken, cancelled: not left open
            writer.close()
            if isinstance(exc, OSError):
                raise _tls_or_not_sent(operation, self.endpoint, exc) from None
            raise

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, operation: str
    ) -> None:
        assert self._proxy is not None
        writer.write(_connect_message(self.endpoint, self._proxy))
        await writer.drain()
        parser = ResponseParser(0, method="CONNECT")
        while not parser.done:
            self._feed_tunnel(parser, await reader.read(_READ_SIZE), operation)

    async def _read(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        operation: str,
        method: str,
        reused: bool,
    ) -> HTTPAnswer:
        parser = ResponseParser(self._max, method=method)
        try:
            while not parser.done:
                chunk = await reader.read(_READ_SIZE)
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.feed_eof()
        except Exception as exc:  # whatever broke, the request had left: a lost answer
            writer.close()
            if method == "GET" and reused and not parser.got_bytes:
                raise _Stale from None
            if _refused_by_tls(exc):
                raise _tls_or_not_sent(operation, self.endpoint, exc) from None
            raise _lost(operation, self.endpoint, exc) from None
        except BaseException:  # cancelled, or the deadline: the connection is mid-answer
            writer.close()
            raise
        if parser.keep_alive and len(self._idle) < self._max_connections:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return HTTPAnswer(parser.status, parser.reason, parser.headers, parser.body)


# ------------------------------------------------------------------ callers' own stacks


def _unverifying_context(context: object) -> bool:
    return isinstance(context, ssl.SSLContext) and (
        context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname
    )


def requests_refusal(session: requests.Session) -> str | None:
    """Why a caller's ``requests.Session`` would not verify the service, or None.

    Anything but ``verify=True`` or a CA bundle's path switches requests'
    verification off (``0``, ``""`` and ``None`` as surely as ``False``); so does
    an adapter whose pool was given a context that does not verify."""
    verify = session.verify
    if verify is not True and not (isinstance(verify, (str, os.PathLike)) and os.fspath(verify)):
        return f"verify={verify!r}"
    for prefix, adapter in session.adapters.items():
        pool = getattr(getattr(adapter, "poolmanager", None), "connection_pool_kw", None) or {}
        if (
            _unverifying_context(pool.get("ssl_context"))
            or pool.get("cert_reqs") in ("CERT_NONE", ssl.CERT_NONE)
            or pool.get("assert_hostname") is False
        ):
            return f"its adapter for {prefix} does not check certificates"
    return None


def httpx_refusal(client: httpx.AsyncClient, url: str) -> str | None:
    """Why a caller's ``httpx.AsyncClient`` would not verify ``url``'s server, or None.

    Read from the transport the client would use for that URL (its SSL
    context's ``verify_mode`` and ``check_hostname``); a transport whose TLS
    settings cannot be read is refused too: nothing says it verifies."""
    import httpx

    transport = client._transport_for_url(httpx.URL(url))
    context = getattr(getattr(transport, "_pool", None), "_ssl_context", None)
    if not isinstance(context, ssl.SSLContext):
        return f"its transport ({type(transport).__name__}) shows no TLS settings to check"
    if _unverifying_context(context):
        return "verify=False"
    return None


def _httpx_proxied(client: httpx.AsyncClient, url: str) -> bool:
    import httpx

    pool = getattr(client._transport_for_url(httpx.URL(url)), "_pool", None)
    return type(pool).__name__.endswith("Proxy")


def _refuse_unverifying(stack: str, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"the {stack} given does not verify TLS ({why}); sogen-soap does not send card "
        "data without it (use ca_bundle= for a private CA)"
    )


def _no_proxy_for(endpoint: Endpoint) -> dict[str, str | None]:
    """requests' proxy settings that send plain http to ``endpoint`` direct: every
    key requests looks up for it, set to None (which drops it, whatever the
    session or the environment say)."""
    host = endpoint.host
    return dict.fromkeys(("http", "all", f"http://{host}", f"all://{host}"))


class LegacySyncSender:
    """A caller's own ``requests.Session``: slower, kept for compatibility.

    The size cap holds; connecting, sending and the head are cut at the deadline
    (``_within``); the body's reads are checked against it after each one, but each
    may wait up to the time left when the request went (requests offers no
    whole-call timeout), so a call can last up to about twice its timeout; the
    built-in sender has no such slack.
    """

    def __init__(
        self,
        session: requests.Session,
        endpoint: Endpoint,
        *,
        max_response_bytes: int,
        connect_timeout: float,
    ) -> None:
        why = requests_refusal(session) if endpoint.scheme == "https" else None
        if why is not None:
            raise _refuse_unverifying("session", why)
        self.endpoint = endpoint
        self._session = session
        self._max = max_response_bytes
        self._connect_timeout = connect_timeout

    def close(self) -> None:
        """The session stays the caller's."""

    def request(
        self,
        operation: str,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> HTTPAnswer:
        import requests
        import urllib3

        url = self.endpoint.with_target(target).url
        if self.endpoint.scheme == "https":
            why = requests_refusal(self._session)  # again: a session can change after
            if why is not None:
                raise _refuse_unverifying("session", why)
            proxies = None
        else:  # plain http: loopback only, every address checked, never a proxy
            _addresses(operation, self.endpoint, self.endpoint.host, self.endpoint.port, False)
            proxies = _no_proxy_for(self.endpoint)
        left = deadline.left()
        try:
            response = _within(
                deadline,
                functools.partial(
                    self._session.request,
                    method,
                    url,
                    data=body,
                    headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers},
                    timeout=(min(self._connect_timeout, left), left),
                    allow_redirects=False,
                    stream=True,
                    verify=self._session.verify,
                    proxies=proxies,  # type: ignore[arg-type]  # a None drops the key
                ),
            )
        except requests.exceptions.SSLError as exc:
            raise _not_connected(operation, self.endpoint, exc) from None
        except requests.exceptions.ConnectTimeout:
            raise _not_sent(operation, self.endpoint, "timed out") from None
        except requests.exceptions.ProxyError as exc:
            raise _not_sent(operation, self.endpoint, type(exc).__name__) from None
        except requests.exceptions.ConnectionError as exc:
            # Decided by the kind of failure urllib3 reports (raised only while
            # connecting), never by the text, which may quote the server.
            if _wrapped(exc, urllib3.exceptions.NewConnectionError) is not None:
                raise _not_connected(operation, self.endpoint, exc) from None
            if _wrapped(exc, http.client.RemoteDisconnected) is not None:  # no byte came back
                closed = HTTPProtocolError("the connection closed without an answer")
                raise _lost(operation, self.endpoint, closed) from None
            raise _lost(operation, self.endpoint, exc) from None
        except requests.exceptions.Timeout as exc:
            raise _lost(operation, self.endpoint, TimeoutError()) from exc
        except Exception as exc:  # whatever else broke, the request may have left
            raise _lost(operation, self.endpoint, exc) from None
        with response:
            body_read = bytearray()
            try:
                for chunk in _arriving(response):
                    body_read += chunk
                    if len(body_read) > self._max:
                        raise AnswerTooLarge(f"the answer is larger than {self._max} bytes")
                    if deadline.expired():
                        raise TimeoutError
            except (AnswerTooLarge, TimeoutError) as exc:
                raise _lost(operation, self.endpoint, exc) from None
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                cause = exc.args[0] if exc.args else None
                timed_out = isinstance(
                    exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)
                ) or isinstance(cause, urllib3.exceptions.TimeoutError)
                lost = TimeoutError() if timed_out else exc
                raise _lost(operation, self.endpoint, lost) from None
            except Exception as exc:  # a foreign failure while reading: the request had left
                raise _lost(operation, self.endpoint, exc) from None
            headers_read = {k.lower(): v for k, v in response.headers.items()}
            return HTTPAnswer(
                response.status_code, response.reason or "", headers_read, bytes(body_read)
            )


_Wrapped = TypeVar("_Wrapped", bound=BaseException)


def _wrapped(error: BaseException, kind: type[_Wrapped], numbered: bool = False) -> _Wrapped | None:
    """The error of ``kind`` (with an ``errno`` if ``numbered``) a caller's stack wrapped
    (requests in urllib3's, httpx in httpcore's), so its failure is told in the same
    words as the built-in sender's."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if isinstance(current, kind) and (not numbered or getattr(current, "errno", None)):
            return current
        seen.add(id(current))
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        pending.extend(
            item
            for item in (*linked, *current.args)
            if isinstance(item, BaseException) and id(item) not in seen
        )
    return None


def _not_connected(operation: str, endpoint: Endpoint, error: BaseException) -> TransportError:
    """A caller's stack could not connect: in the words the built-in senders use."""
    tls = _wrapped(error, ssl.SSLError)
    if tls is not None:
        return _tls_or_not_sent(operation, endpoint, tls)
    unresolved = _wrapped(error, socket.gaierror)
    if unresolved is not None:
        return _unresolved(operation, endpoint, endpoint.host, unresolved)
    refused = _wrapped(error, OSError, numbered=True)
    if refused is not None:
        return _tls_or_not_sent(operation, endpoint, refused)
    return _not_sent(operation, endpoint, type(error).__name__)


def _within(deadline: Deadline, send: Callable[[], requests.Response]) -> requests.Response:
    """``send()`` (connect, send, read the head) cut at the deadline.

    requests' read timeout is per read: a server dripping its head a byte at a time
    would hold the call for hours.  The exchange runs in a thread of its own; at the
    deadline the call ends with ``TimeoutError`` (the request may have left), and
    the thread, once the head comes or the server gives up, closes what it got, so
    the caller's session gets its connection back."""
    finished = threading.Event()
    outcome: dict[str, Any] = {}
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = send()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            finished.set()
            if abandoned.is_set() and "response" in outcome:
                outcome["response"].close()

    threading.Thread(target=run, name="sogen-soap-legacy-send", daemon=True).start()
    if not finished.wait(deadline.left()):
        abandoned.set()
        if finished.is_set() and "response" in outcome:  # it came as we gave up
            outcome["response"].close()
        raise TimeoutError
    if "error" in outcome:
        raise outcome["error"]
    response: requests.Response = outcome["response"]
    return response


def _arriving(response: requests.Response) -> Iterable[bytes]:
    """The body as it arrives, so the deadline is checked between reads: urllib3's
    ``read1`` (2.1+) returns what one read gives, where ``iter_content`` waits for a
    whole chunk (a server dripping a byte at a time would hold it as long as it likes)."""
    while chunk := response.raw.read1(_READ_SIZE, decode_content=True):
        yield chunk


class LegacyAsyncSender:
    """A caller's own ``httpx.AsyncClient``: the whole exchange under the deadline too."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        endpoint: Endpoint,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if endpoint.scheme == "https":
            why = httpx_refusal(client, endpoint.url)
            if why is not None:
                raise _refuse_unverifying("http_client", why)
        elif _httpx_proxied(client, endpoint.url):
            raise ConfigurationError(
                "the http_client given sends plain http through a proxy (HTTP_PROXY or "
                "its proxy= setting); make it with trust_env=False or mount no proxy for "
                f"{endpoint.host}: a request to the simulator carries a card number in clear"
            )
        self.endpoint = endpoint
        self._client = client
        self._max = max_response_bytes

    async def aclose(self) -> None:
        """The client stays the caller's."""

    async def request(
        self,
        operation: str,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> HTTPAnswer:
        import asyncio

        import httpx

        url = self.endpoint.with_target(target).url
        if self.endpoint.scheme == "http":  # loopback only, every address checked
            endpoint = self.endpoint
            await _addresses_async(operation, endpoint, endpoint.host, endpoint.port, False)

        async def exchange() -> HTTPAnswer:
            request = self._client.build_request(
                method, url, content=body, headers={"User-Agent": USER_AGENT, **headers}
            )
            response = await self._client.send(request, stream=True, follow_redirects=False)
            try:
                data = bytearray()
                async for chunk in response.aiter_raw():
                    data += chunk
                    if len(data) > self._max:
                        raise AnswerTooLarge(f"the answer is larger than {self._max} bytes")
                return HTTPAnswer(
                    response.status_code,
                    response.reason_phrase,
                    {k.lower(): v for k, v in response.headers.items()},
                    bytes(data),
                )
            finally:
                await response.aclose()

        try:
            return await asyncio.wait_for(exchange(), timeout=deadline.left())
        except asyncio.TimeoutError:
            raise _lost(operation, self.endpoint, TimeoutError()) from None
        except AnswerTooLarge as exc:
            raise _lost(operation, self.endpoint, exc) from None
        except httpx.ConnectTimeout:
            raise _not_sent(operation, self.endpoint, "timed out") from None
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            raise _not_connected(operation, self.endpoint, exc) from None
        except Exception as exc:  # httpx's or anything else after the request may have left
            raise _lost(operation, self.endpoint, exc) from None
