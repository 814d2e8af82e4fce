"""The sender's edges, fast: proxies and their tunnels, what each failure is called,
and a caller's own ``requests.Session`` / ``httpx.AsyncClient``.

Everything talks to real sockets on loopback: the package's simulator over
TLS, a CONNECT proxy written here, and the hostile server of ``hostile.py``.
The slow, memory-measuring runs of the same failures are ``test_hostile.py``;
these keep timeouts short so every failure path is checked in well under a
second, where coverage and mutation testing see it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import MERCHANT, TEST_PAN, read_wallet
from hostile import (
    MODES,
    HostileServer,
    LoopbackServer,
    nothing_left_unclosed,
    read_request,
    request_parts,
)

from sogen_soap import (
    AsyncWalletClient,
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    HTTPStatusError,
    ResponseError,
    ResponseTimeout,
    ResponseTooLarge,
    RetryPolicy,
    SogenSoapError,
    TLSError,
    TransportError,
    WalletClient,
    __version__,
)
from sogen_soap.endpoints import parse_url
from sogen_soap.simulator import Simulator, ThrowawayPKI, make_test_pki
from sogen_soap.transport import Proxy, environment_proxy, ssl_context

ONCE = RetryPolicy(attempts=1)
SHORT = 0.6


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server()) as sim:
        yield sim


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ------------------------------------------------------------------ proxy URLs


def test_a_proxy_url_with_credentials_gives_a_basic_authorization_never_shown() -> None:
    proxy = Proxy.from_url("http://ops%40acme:p%3Ass@127.0.0.1:3128")
    assert (proxy.host, proxy.port) == ("127.0.0.1", 3128)
    assert proxy.authorization == "Basic " + base64.b64encode(b"ops@acme:p:ss").decode()
    assert repr(proxy) == "Proxy(127.0.0.1:3128, with credentials)"
    assert "p:ss" not in repr(proxy) and "ops" not in repr(proxy)


@pytest.mark.parametrize(
    ("url", "host", "port", "token"),
    [
        ("127.0.0.1:3128", "127.0.0.1", 3128, None),  # no scheme: http
        ("http://proxy.corp.example", "proxy.corp.example", 80, None),
        ("HTTP://proxy.corp.example:8080/ignored/path", "proxy.corp.example", 8080, None),
        ("http://[::1]:8080", "::1", 8080, None),
        ("http://[::1]", "::1", 80, None),
        ("http://ops@proxy.corp.example:1", "proxy.corp.example", 1, b"ops:"),
        ("http://proxy-X.corp.example:8080/x://y", "proxy-x.corp.example", 8080, None),
        ("http://proxy.corp.example/p:1", "proxy.corp.example", 80, None),
        ("http://proxy.corp.example:1/a@b/c", "proxy.corp.example", 1, None),
    ],
)
def test_proxy_urls_are_read_once_and_strictly(
    url: str, host: str, port: int, token: bytes | None
) -> None:
    proxy = Proxy.from_url(url)
    assert (proxy.host, proxy.port) == (host, port)
    expected = None if token is None else "Basic " + base64.b64encode(token).decode()
    assert proxy.authorization == expected
    if token is None:
        assert repr(proxy) == f"Proxy({host}:{port})"


@pytest.mark.parametrize("scheme", ["https", "socks5"])
def test_only_plain_http_proxies_are_accepted(scheme: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Proxy.from_url(f"{scheme}://proxy.corp.example:1")
    assert str(caught.value) == (
        f"proxy: only http:// proxies (CONNECT tunnels) are supported, not {scheme}://"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://proxy.corp.example:1\\@127.0.0.1:2",  # urllib: 127.0.0.1; WHATWG: proxy.corp
        "http://ops:pass word@127.0.0.1:2",
        "http://127.0.0.1:2\t",
        "http://prøxy.example:2",
    ],
)
def test_a_proxy_url_another_stack_could_read_another_way_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Proxy.from_url(url)
    assert str(caught.value) == "proxy URL must be printable ASCII without spaces or backslashes"


SERVICE = parse_url("https://office-server.example.com/services/v2/wallet")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:1"}, "http://p:1"),
        ({"https_proxy": "http://p:1"}, "http://p:1"),
        ({"ALL_PROXY": "http://a:1"}, "http://a:1"),
        ({"ALL_PROXY": "http://a:1", "HTTPS_PROXY": "http://p:1"}, "http://p:1"),
        ({"HTTP_PROXY": "http://h:1"}, None),  # not for https
        ({"HTTPS_PROXY": ""}, None),
        ({}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "office-server.example.com:443"}, None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "OTHER.test, example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample.com"}, "http://p:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.test"}, "http://p:1"),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": ",,"}, "http://p:1"),
    ],
)
def test_the_environment_proxy_follows_the_usual_variables(
    environ: dict[str, str], expected: str | None
) -> None:
    assert environment_proxy(SERVICE, environ) == expected


@pytest.mark.parametrize(
    ("no_proxy", "expected"),
    [("[2001:db8::1]", None), ("[2001:DB8::1]:8443", None), ("2001:db8::1", None),
     ("2001:db8::2", "http://p:1"), ("[2001:db8::2]", "http://p:1"), ("2001", "http://p:1"),
     ("1::2", "http://p:1")],
)  # fmt: skip
def test_no_proxy_names_an_ipv6_service_with_or_without_brackets(
    no_proxy: str, expected: str | None
) -> None:
    service = parse_url("https://[2001:db8::1]:8443/services/v2/wallet")
    two_colons = parse_url("https://[1::2]/services/v2/wallet")
    assert environment_proxy(two_colons, {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "1::2"}) is None
    environ = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert environment_proxy(service, environ) == expected


def test_a_variable_that_only_looks_like_a_proxy_variable_is_not_read() -> None:
    assert environment_proxy(SERVICE, {"HTTPS_PROXI": "http://typo:1"}) is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/services/v2/wallet", "https://127.0.0.1:8443/x"]
)
def test_loopback_and_plain_http_never_go_through_a_proxy(url: str) -> None:
    assert environment_proxy(parse_url(url), {"HTTPS_PROXY": "http://p:1"}) is None


def test_the_ca_bundle_variables_are_read_in_order(
    pki: ThrowawayPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing, good = str(tmp_path / "missing.pem"), str(pki.ca_cert)
    names = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
    for i, name in enumerate(names):
        for earlier in names[:i]:
            monkeypatch.delenv(earlier, raising=False)
        monkeypatch.setenv(name, missing)  # read before the later ones: it fails
        for later in names[i + 1 :]:
            monkeypatch.setenv(later, good)
        with pytest.raises(ConfigurationError, match="cannot load the TLS files"):
            ssl_context()
        monkeypatch.setenv(name, good)  # and when it is good, the later ones do not matter
        for later in names[i + 1 :]:
            monkeypatch.setenv(later, missing)
        assert ssl_context().verify_mode.name == "CERT_REQUIRED"
    for name in names:
        monkeypatch.setenv(name, missing)
    assert ssl_context(good).verify_mode.name == "CERT_REQUIRED"  # an explicit bundle first


# ------------------------------------------------------------------ a CONNECT proxy


class TunnelProxy(LoopbackServer):
    """A CONNECT proxy on loopback: records each CONNECT head, then answers as told.

    ``answer`` is what it says to CONNECT: ``None`` opens the tunnel (200 and
    relaying to the target), ``b""`` closes at once, anything else is sent
    as is and the connection closed.
    """

    def __init__(
        self,
        answer: bytes | None = None,
        *,
        silent: bool = False,
        after: bytes = b"",
        drip: bool = False,
    ) -> None:
        super().__init__()
        self.answer = answer
        self.silent = silent
        self.drip = drip  # a 200 whose head never ends: one header byte every 0.1 s
        self.after = after  # sent right behind its 200, as if from inside the tunnel
        self.heads: list[bytes] = []

    @property
    def url(self) -> str:
        return self.base

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(5)
        head = read_request(conn)
        self.heads.append(head)
        if self.silent:
            self.stop.wait(30)
            return
        if self.drip:
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 200 Connection established\r\nX-Drip: ")
                while not self.stop.wait(0.1):
                    conn.sendall(b"a")
            return
        if self.answer is not None:
            with contextlib.suppress(OSError):
                conn.sendall(self.answer)
            return
        target = head.split(b" ")[1].decode()
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n" + self.after)
            self._relay(conn, upstream)

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        def pump(src: socket.socket, dst: socket.socket) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        other = threading.Thread(target=pump, args=(b, a), daemon=True)
        other.start()
        pump(a, b)
        other.join(timeout=5)


def _tls_client(sim: Simulator, pki: ThrowawayPKI, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=sim.url, ca_bundle=pki.ca_cert, retry=ONCE, **{"timeout": 5, **options},  # type: ignore[arg-type]
    )  # fmt: skip


def _async_tls_client(sim: Simulator, pki: ThrowawayPKI, **options: object) -> AsyncWalletClient:
    return AsyncWalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=sim.url, ca_bundle=pki.ca_cert, retry=ONCE, **{"timeout": 5, **options},  # type: ignore[arg-type]
    )  # fmt: skip


def _fail_sync_and_async(
    sim: Simulator, pki: ThrowawayPKI, proxy: str, failures: tuple[type[Exception], ...]
) -> tuple[Exception, Exception]:
    """One addCard through ``proxy`` by each client; ``failures`` are the exceptions
    expected of the sync and the async one."""
    with _tls_client(sim, pki, proxy=proxy) as client, pytest.raises(failures[0]) as sync:
        client.add_card("w", TEST_PAN, "203012")

    async def main() -> None:
        async with _async_tls_client(sim, pki, proxy=proxy) as client:
            await client.add_card("w", TEST_PAN, "203012")

    with pytest.raises(failures[-1]) as asynchronous:
        asyncio.run(main())
    return sync.value, asynchronous.value


def _expected_connect(sim: Simulator, authorization: str | None) -> bytes:
    port = parse_url(sim.url).port
    auth = f"Proxy-Authorization: {authorization}\r\n" if authorization else ""
    return (f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n").encode()


@pytest.mark.parametrize("credentials", ["", "ops:s3cret@"])
def test_calls_go_through_the_proxy_tunnel_sync_and_async(
    credentials: str, https: Simulator, pki: ThrowawayPKI
) -> None:
    authorization = "Basic " + base64.b64encode(b"ops:s3cret").decode() if credentials else None
    with TunnelProxy() as proxy:
        url = proxy.url.replace("http://", f"http://{credentials}")
        with _tls_client(https, pki, proxy=url) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok
            assert client.get_wallet_data("w").ok  # the tunnel's connection is kept alive

        async def main() -> bool:
            async with _async_tls_client(https, pki, proxy=url) as client:
                first = await client.get_wallet_data("w")
                second = await client.get_wallet_data("w")
                return first.ok and second.ok

        assert asyncio.run(main())
    assert proxy.heads == [_expected_connect(https, authorization)] * 2
    assert https.requests_seen == 4


REFUSALS = [
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
     "the proxy refused the tunnel (HTTP 407 Proxy Authentication Required)"),
    (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
     "the proxy refused the tunnel (HTTP 502 Bad Gateway)"),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Type: text/html\r\n"
     b"Content-Length: 40\r\n\r\n<html><body>Log in first</body></html>\r\n",
     "the proxy refused the tunnel (HTTP 407 Proxy Authentication Required)"),
    (b"HTTP/1.1 407 Proxy Authentication Required\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nLog i",  # and the page never ends: the status line is enough
     "the proxy refused the tunnel (HTTP 407 Proxy Authentication Required)"),
    (b"HTTP/1.1 300 Multiple Choices\r\nContent-Length: 0\r\n\r\n",
     "the proxy refused the tunnel (HTTP 300 Multiple Choices)"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
     "the proxy refused the tunnel (HTTP 101 Switching Protocols)"),
    (b"HTTP/1.1 100 Continue\r\n\r\n", "the proxy closed the tunnel"),  # interim, then gone
    (b"", "the proxy closed the tunnel"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "the proxy did not answer HTTP"),
    (b"HTTP/1.1 200 OK\r\n", "the proxy closed the tunnel"),  # cut mid-answer
]  # fmt: skip


@pytest.mark.parametrize(("answer", "why"), REFUSALS, ids=[w for _, w in REFUSALS])
def test_a_tunnel_refused_or_broken_is_a_failure_before_anything_was_sent(
    answer: bytes, why: str, https: Simulator, pki: ThrowawayPKI
) -> None:
    """Nothing reached the service: ConnectionFailed even for a change (safe to retry)."""
    with TunnelProxy(answer) as proxy:
        errors = _fail_sync_and_async(https, pki, proxy.url, (ConnectionFailed,))
    for error in errors:
        assert str(error) == f"addCard: could not connect to {https.url}: {why}"
        assert error.operation == "addCard" and error.endpoint == https.url
    assert https.requests_seen == 0


FORGED = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\n<a/>\n"


def test_bytes_a_proxy_sends_after_its_200_and_before_tls_are_refused_sync_and_async(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    """Bytes behind the proxy's 200 would be read, from inside TLS, as the service's
    answer (and push the real answers onto later calls): refused before anything
    is sent, by both clients, every time."""
    with TunnelProxy(after=FORGED) as proxy:
        for _ in range(5):
            errors = _fail_sync_and_async(https, pki, proxy.url, (ConnectionFailed,))
            for error in errors:
                assert str(error) == (
                    f"addCard: could not connect to {https.url}: the proxy sent bytes after "
                    "accepting the tunnel, before TLS began"
                )
    assert https.requests_seen == 0


class TunnelThenClose(LoopbackServer):
    """Answers CONNECT with 200, reads the client's first TLS bytes, then closes its
    side cleanly (no reset: everything the client sent was read)."""

    @property
    def url(self) -> str:
        return self.base

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(5)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        conn.recv(65536)  # the ClientHello
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass


def test_through_a_tunnel_the_certificate_must_still_name_the_host(tmp_path: Path) -> None:
    """The TLS inside the tunnel checks the service's name: a certificate for
    ``localhost`` only is refused for ``127.0.0.1``, sync and async alike."""
    named = make_test_pki(tmp_path, server_names=["localhost"])
    with Simulator(tls=named.server()) as sim, TunnelProxy() as proxy:
        errors = _fail_sync_and_async(sim, named, proxy.url, (TLSError,))
        assert len(proxy.heads) == 2 and sim.requests_seen == 0
    for error in errors:
        assert str(error) == (
            f"addCard: TLS failure talking to {sim.url}: CERTIFICATE_VERIFY_FAILED: "
            "IP address mismatch, certificate is not valid for '127.0.0.1'."
        )


def test_through_a_tunnel_the_service_s_name_is_checked_not_the_proxy_s(tmp_path: Path) -> None:
    """The name TLS checks inside the tunnel is the service's (``localhost``, all the
    certificate names), never the proxy's (``127.0.0.1``, which it does not): the calls
    succeed, sync and async."""
    named = make_test_pki(tmp_path, server_names=["localhost"])
    with Simulator(tls=named.server()) as sim, TunnelProxy() as proxy:
        url = sim.url.replace("127.0.0.1", "localhost")
        assert proxy.url.startswith("http://127.0.0.1:")
        options = {"environment": url, "proxy": proxy.url, "ca_bundle": named.ca_cert}
        with WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, retry=ONCE,
            timeout=5, **options,  # type: ignore[arg-type]
        ) as client:  # fmt: skip
            assert client.add_card("w", TEST_PAN, "203012").ok

        async def main() -> str | None:
            async with AsyncWalletClient(
                MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, retry=ONCE,
                timeout=5, **options,  # type: ignore[arg-type]
            ) as client:  # fmt: skip
                return (await client.get_wallet_data("w")).response_code

        assert asyncio.run(main()) == "00"
        assert [head.split(b" ")[1].split(b":")[0] for head in proxy.heads] == [b"localhost"] * 2


def test_a_tunnel_closed_before_the_handshake_is_a_failure_before_anything_was_sent(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    """The proxy says the tunnel is up, then closes it: the TLS handshake with the
    service never happened (sync reads it as TLS, asyncio as a bare reset)."""
    with TunnelThenClose() as proxy:
        sync_error, async_error = _fail_sync_and_async(
            https, pki, proxy.url, (TLSError, ConnectionFailed)
        )
    assert str(sync_error) == (
        f"addCard: TLS failure talking to {https.url}: UNEXPECTED_EOF_WHILE_READING"
    )
    assert str(async_error) == (f"addCard: could not connect to {https.url}: the connection closed")
    assert https.requests_seen == 0


def test_a_silent_proxy_cannot_hold_a_call_past_its_deadline(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    with TunnelProxy(silent=True) as proxy:
        with _tls_client(https, pki, proxy=proxy.url, timeout=0.5) as client:
            with pytest.raises(ConnectionFailed) as sync_error:
                client.get_wallet_data("w")

        async def main() -> None:
            async with _async_tls_client(https, pki, proxy=proxy.url, timeout=0.5) as client:
                await client.get_wallet_data("w")

        with pytest.raises(ConnectionFailed) as async_error:
            asyncio.run(main())
    for error in (sync_error.value, async_error.value):
        assert str(error) == f"getWalletData: could not connect to {https.url}: timed out"
    assert https.requests_seen == 0


def test_a_proxy_dripping_its_answer_to_connect_cannot_hold_a_call_past_its_deadline(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    """Each byte comes well within the connect timeout, the head never ends: the wait
    for it is cut at what is left of the call's deadline (0.3 + 0.3 s), not renewed
    per read (which would wait for 64 KiB of head, about two hours)."""
    with TunnelProxy(drip=True) as proxy:
        started = time.monotonic()
        with _tls_client(https, pki, proxy=proxy.url, timeout=(0.3, 0.3)) as client:
            with pytest.raises(ConnectionFailed) as sync_error:
                client.get_wallet_data("w")
        sync_took = time.monotonic() - started

        async def main() -> None:
            async with _async_tls_client(https, pki, proxy=proxy.url, timeout=(0.3, 0.3)) as client:
                await client.get_wallet_data("w")

        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as async_error:
            asyncio.run(main())
        async_took = time.monotonic() - started
    for error in (sync_error.value, async_error.value):
        assert str(error) == f"getWalletData: could not connect to {https.url}: timed out"
    assert sync_took < 5 and async_took < 5  # ended near 0.6 s, not after the 64 KiB head
    assert https.requests_seen == 0


# ------------------------------------------------------------------ what failures are called


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=url, retry=ONCE, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _async_client(url: str, **options: object) -> AsyncWalletClient:
    return AsyncWalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=url, retry=ONCE, **options,  # type: ignore[arg-type]
    )  # fmt: skip


# What a read of each hostile answer is called, and the text that says it.
TIMED_OUT = "getWalletData: no complete answer from {url} within the timeout"
TOO_LARGE = "getWalletData: the answer "
NAMED = {
    "silent": (ResponseTimeout, TIMED_OUT),
    "drip_body": (ResponseTimeout, TIMED_OUT),
    "huge_length": (ResponseTooLarge, TOO_LARGE),
    "endless_chunked": (ResponseTooLarge, TOO_LARGE),
    "garbage_status": (ConnectionDropped, "getWalletData: "),
    "cut_body": (ConnectionDropped, "getWalletData: "),
    "stall_body": (ResponseTimeout, TIMED_OUT),
}  # fmt: skip


def _cut_body(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """900 bytes announced, 10 sent, then the connection closes."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n<abcdefghi")


def _stall_body(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """900 bytes announced, 10 sent, then nothing more, the connection kept open."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n<abcdefghi")
    stop.wait(30)


BEHAVIOURS = {**MODES, "cut_body": _cut_body, "stall_body": _stall_body}

Factory = Callable[[str], object]


_sync_read = read_wallet
_async_read = functools.partial(read_wallet, asynchronous=True)


def _session_read(url: str, **options: object) -> None:
    with requests.Session() as session, _client(url, session=session, **options) as client:
        client.get_wallet_data("w")


def _httpx_read(url: str, **options: object) -> None:
    async def main() -> None:
        async with (
            httpx.AsyncClient(follow_redirects=True) as http,  # set to follow: not followed
            _async_client(url, http_client=http, **options) as client,
        ):
            await client.get_wallet_data("w")

    asyncio.run(main())


READERS = {"sync": _sync_read, "async": _async_read, "session": _session_read, "httpx": _httpx_read}


@pytest.mark.parametrize("mode", sorted(NAMED))
@pytest.mark.parametrize("reader", sorted(READERS))
def test_each_failure_after_sending_has_its_own_exception_and_words(mode: str, reader: str) -> None:
    kind, text = NAMED[mode]
    with HostileServer(BEHAVIOURS[mode]) as server:
        url = server.url
        with pytest.raises(TransportError) as caught:
            READERS[reader](url, timeout=SHORT, max_response_bytes=65536)
    assert type(caught.value) is kind, caught.value
    assert str(caught.value).startswith(text.format(url=url)), str(caught.value)
    if kind is ResponseTooLarge:
        assert str(caught.value).endswith(" 65536; reading stopped") or str(caught.value).endswith(
            " 65536 bytes; reading stopped"
        )
    assert caught.value.operation == "getWalletData"
    assert caught.value.endpoint == url
    assert server.requests >= 1


def _status(line: bytes) -> Callable[[socket.socket, bytes, threading.Event], None]:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(line + b"\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\nbusy")

    return answer


@pytest.mark.parametrize(("line", "named"), [(b"HTTP/1.1 503 Service Unavailable",
                                              "HTTP 503 Service Unavailable"),
                                             (b"HTTP/1.1 502", "HTTP 502")])  # fmt: skip
@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_stack_names_an_http_error_by_its_status_line(
    reader: str, line: bytes, named: str
) -> None:
    with HostileServer(_status(line)) as server:
        url = server.url
        with pytest.raises(HTTPStatusError) as caught:
            READERS[reader](url, timeout=2)
    assert str(caught.value) == f"getWalletData: {named} from {url} without a SOAP answer"


REFUSED = dict.fromkeys(READERS, "Connection refused")  # the OS's words, whatever the stack


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_refused_connection_is_a_failure_before_sending(reader: str) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/services/v2/wallet"
    with pytest.raises(ConnectionFailed) as caught:
        READERS[reader](url, timeout=SHORT)
    assert str(caught.value).startswith(f"getWalletData: could not connect to {url}: ")
    assert str(caught.value).endswith(REFUSED[reader]), str(caught.value)
    assert caught.value.endpoint == url


@contextlib.contextmanager
def _never_accepting() -> Iterator[str]:
    """A listener whose queue is full: the kernel drops further SYNs, so a connect
    waits (as to a host that is down) and no byte can be sent."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        queued = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
            queued.append(filler)
        try:
            yield f"http://127.0.0.1:{address[1]}/services/v2/wallet"
        finally:
            for filler in queued:
                filler.close()


def _httpx_quick_read(url: str, **options: object) -> None:
    """A caller's httpx client whose own connect timeout is short."""

    async def main() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, connect=0.3)) as http,
            _async_client(url, http_client=http, **options) as client,
        ):
            await client.get_wallet_data("w")

    asyncio.run(main())


@pytest.mark.parametrize("reader", ["sync", "async", "session", "httpx"])
def test_a_connect_that_hangs_ends_at_the_connect_timeout(reader: str) -> None:
    read = _httpx_quick_read if reader == "httpx" else READERS[reader]
    why = "timed out"
    with _never_accepting() as url:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as caught:
            read(url, timeout=(0.3, 10))
        took = time.monotonic() - started
    assert str(caught.value) == f"getWalletData: could not connect to {url}: {why}"
    assert took < 5, took  # the connect's 0.3 s, not the call's 10.3 s


@pytest.mark.parametrize("reader", ["sync", "async"])
def test_addresses_left_untried_when_the_deadline_is_spent_are_a_failure_before_sending(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first address takes the whole call's time; the second is never tried."""
    with _never_accepting() as url:
        port = parse_url(url).port
        twice = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))] * 2
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: twice)
        with pytest.raises(ConnectionFailed) as caught:
            READERS[reader](url, timeout=(0.3, 1e-6))
    assert str(caught.value) == f"getWalletData: could not connect to {url}: timed out"


def _sized(size: int) -> Callable[[socket.socket, bytes, threading.Event], None]:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (size, b"x" * size))

    return answer


@pytest.mark.parametrize("reader", sorted(READERS))
def test_the_size_cap_holds_at_its_exact_boundary_for_every_stack(reader: str) -> None:
    with HostileServer(_sized(2048)) as server:
        url = server.url
        with pytest.raises(ResponseError) as fits:  # read whole: then found not to be XML
            READERS[reader](url, timeout=2, max_response_bytes=2048)
    assert str(fits.value) == "getWalletData: the response is not XML"
    with HostileServer(_sized(2049)) as server:
        url = server.url
        with pytest.raises(ResponseTooLarge):
            READERS[reader](url, timeout=2, max_response_bytes=2048)


def test_a_proxy_url_with_a_bad_port_is_named_as_the_proxy() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Proxy.from_url("http://proxy.corp.example:99999")
    assert str(caught.value).startswith("proxy URL")


@pytest.mark.parametrize("reader", sorted(READERS))
def test_a_name_that_does_not_resolve_is_a_failure_before_sending(
    reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused in-process (no DNS query leaves this machine)."""

    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)

    async def refuse(*args: object, **kwargs: object) -> object:
        no_such_host()
        return None

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", refuse)
    url = "https://office-server.example.com/services/v2/wallet"
    with pytest.raises(ConnectionFailed) as caught:
        READERS[reader](url, timeout=SHORT, proxy=None)
    assert str(caught.value) == (
        f"getWalletData: could not connect to {url}: cannot resolve office-server.example.com: "
        "[Errno -2] Name or service not known"
    )


def test_an_untrusted_certificate_is_a_tls_error_before_sending(https: Simulator) -> None:
    for reader in (_sync_read, _async_read):
        with pytest.raises(TLSError) as caught:
            reader(https.url, timeout=2)
        assert str(caught.value).startswith(
            f"getWalletData: TLS failure talking to {https.url}: CERTIFICATE_VERIFY_FAILED"
        )
    assert https.requests_seen == 0


# ------------------------------------------------------------------ callers' own stacks


def _answer_and_close(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    body = b"not xml"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_stack_says_who_is_calling_and_sends_the_body_whole(reader: str) -> None:
    with HostileServer(_answer_and_close) as server:
        url = server.url
        with contextlib.suppress(SogenSoapError):  # the answer is not XML: beside the point
            READERS[reader](url, timeout=2)
    line, headers, body = request_parts(server.bodies[0])
    assert line == "POST /services/v2/wallet HTTP/1.1"
    assert headers["user-agent"] == f"sogen-soap/{__version__}"
    assert headers["host"] == url.split("/")[2]
    assert int(headers["content-length"]) == len(body) > 0
    # SOAP 1.1 with its charset said (a Java stack reads a body without one as
    # ISO-8859-1 and garbles any accented alias)
    assert headers["content-type"] == "text/xml; charset=utf-8"
    assert b"getWalletData" in body
    assert headers["soapaction"] == f'"{_soap_action("getWalletData")}"'


def _soap_action(operation: str) -> str:
    """The soapAction the bundled WSDL declares for ``operation``, read with lxml here."""
    from lxml import etree

    from sogen_soap.wsdl_cache import bundled_wsdl_path

    tree = etree.parse(bundled_wsdl_path())
    actions = tree.xpath(
        "//wsdl:binding/wsdl:operation[@name=$name]/soap:operation/@soapAction",
        name=operation,
        namespaces={
            "wsdl": "http://schemas.xmlsoap.org/wsdl/",
            "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
        },
    )
    assert isinstance(actions, list) and len(actions) == 1
    return str(actions[0])


def test_a_session_answer_past_the_cap_stops_reading() -> None:
    with HostileServer(MODES["endless_until_close"]) as server:
        with pytest.raises(ResponseTooLarge):
            _session_read(server.url, timeout=5, max_response_bytes=65536)


def test_a_callers_own_stack_reports_an_untrusted_certificate_as_a_tls_error(
    https: Simulator,
) -> None:
    for reader in (_sync_read, _async_read, _session_read, _httpx_read):
        with pytest.raises(TLSError) as caught:
            reader(https.url, timeout=2)
        assert str(caught.value) == (  # the same words whichever stack sent it
            f"getWalletData: TLS failure talking to {https.url}: "
            "CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate"
        )
    assert https.requests_seen == 0


def test_a_callers_own_stack_behind_a_closed_proxy_sends_nothing(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    with requests.Session() as session:
        session.verify = str(pki.ca_cert)
        with (
            _client(https.url, session=session, proxy=proxy, timeout=2) as client,
            pytest.raises(ConnectionFailed) as caught,
        ):
            client.get_wallet_data("w")
    assert str(caught.value) == f"getWalletData: could not connect to {https.url}: ProxyError"
    assert https.requests_seen == 0


def test_a_callers_session_gets_the_body_decoded_if_the_server_compresses_anyway() -> None:
    import gzip

    from sogen_soap.transport import Deadline, LegacySyncSender

    packed = gzip.compress(b"<answer/>" * 100)

    def compressing(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(packed), packed)
        )

    with HostileServer(compressing) as server, requests.Session() as session:
        sender = LegacySyncSender(
            session, parse_url(server.url), max_response_bytes=65536, connect_timeout=2
        )
        answer = sender.request("op", "POST", "/services/v2/wallet", {}, b"x", Deadline(3))
        head = server.bodies[0].split(b"\r\n\r\n")[0].lower()
    assert answer.body == b"<answer/>" * 100
    assert b"accept-encoding: identity" in head  # it asked for none


def test_a_refused_tunnel_leaves_no_connection_open_in_the_async_client(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    with TunnelProxy(refusal) as proxy:

        async def main() -> None:
            async with _async_tls_client(https, pki, proxy=proxy.url) as client:
                with pytest.raises(ConnectionFailed):
                    await client.get_wallet_data("w")

        with nothing_left_unclosed():
            asyncio.run(main())


def test_a_refused_tunnel_leaves_no_connection_open_in_the_sync_client(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    """The socket to the proxy is closed when the tunnel is refused, not left for the
    garbage collector: a long-running process behind a proxy that refuses does not
    pile up open descriptors."""
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"

    def refused(proxy: str) -> None:
        with _tls_client(https, pki, proxy=proxy) as client, pytest.raises(ConnectionFailed):
            client.get_wallet_data("w")

    with TunnelProxy(refusal) as proxy, nothing_left_unclosed():
        refused(proxy.url)


@pytest.mark.parametrize("reader", sorted(READERS))
def test_no_stack_follows_a_redirect(reader: str) -> None:
    """Not even a caller's own session or client set to follow them: card data goes to
    the one endpoint configured."""
    with HostileServer(_answer_and_close) as elsewhere:
        target = elsewhere.url

        def redirect(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
            conn.sendall(
                b"HTTP/1.1 307 Temporary Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                % target.encode()
            )

        with HostileServer(redirect) as server:
            url = server.url
            with pytest.raises(HTTPStatusError) as caught:
                READERS[reader](url, timeout=2)
        assert elsewhere.requests == 0
    assert caught.value.status_code == 307


def test_a_tls_failure_says_what_failed(https: Simulator) -> None:
    for reader in (_sync_read, _async_read):
        with pytest.raises(TLSError) as caught:
            reader(https.url, timeout=2)
        text = str(caught.value)
        assert re.search(r": CERTIFICATE_VERIFY_FAILED: \S+", text), text
        assert caught.value.operation == "getWalletData" and caught.value.endpoint == https.url


# ------------------------------------------------------------------ plain http: never a proxy


def test_plain_http_to_loopback_never_goes_through_a_proxy_with_a_caller_s_session(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY set, a session trusting the environment: the addCard body (a card
    number in clear) goes straight to the simulator, never to the proxy."""

    def record(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    with HostileServer(record) as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.base)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        session = requests.Session()
        session.proxies["all"] = proxy.base  # and the session's own setting too
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=simulator.url,
                          session=session) as client:  # fmt: skip
            assert client.add_card("w", TEST_PAN, "203012").ok
        assert proxy.requests == 0


def test_an_httpx_client_that_would_proxy_plain_http_is_refused(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(ConfigurationError, match="sends plain http through a proxy"):
        AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment=simulator.url, http_client=httpx.AsyncClient())  # fmt: skip
    direct = httpx.AsyncClient(trust_env=False)
    AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment=simulator.url, http_client=direct)  # fmt: skip


@pytest.mark.parametrize("stack", ["built-in", "session", "async", "httpx"])
def test_plain_http_needs_every_address_of_the_name_on_loopback(
    stack: str, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``localhost`` resolving first to loopback, then elsewhere: refused before any
    connection, whichever stack sends (a connect could fall through to the other)."""
    port = parse_url(simulator.url).port
    real = socket.getaddrinfo

    def two_addresses(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", port)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    url = simulator.url.replace("127.0.0.1", "localhost")
    seen = simulator.requests_seen
    with pytest.raises(ConfigurationError) as caught:  # the same refusal on every stack
        if stack in ("async", "httpx"):
            extra = {"http_client": httpx.AsyncClient(trust_env=False)} if stack == "httpx" else {}

            async def call() -> None:
                async with AsyncWalletClient(
                    MERCHANT.merchant_id,
                    MERCHANT.secret_key,
                    1,
                    environment=url,
                    retry=ONCE,
                    **extra,
                ) as client:
                    await client.add_card("w", TEST_PAN, "203012")

            asyncio.run(call())
        else:
            extra = {"session": requests.Session()} if stack == "session" else {}
            with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                              retry=ONCE, **extra) as client:  # fmt: skip
                client.add_card("w", TEST_PAN, "203012")
    assert "resolves to a non-loopback address" in str(caught.value)
    assert simulator.requests_seen == seen


def _late_head(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """The head dripped a byte every 30 ms (each read in time, the whole past the
    caller's deadline), then no body."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 900\r\n\r\n":
        if stop.wait(0.03):
            return
        conn.sendall(bytes([byte]))
    stop.wait(30)


def test_a_head_that_comes_after_the_call_gave_up_is_closed_in_a_caller_s_session() -> None:
    """A caller's ``requests`` session cannot be cut at a deadline: the exchange waits in
    a thread of its own.  A head that comes after the call has given up is closed by that
    thread, not left for the garbage collector (which would warn of an unclosed socket)."""
    with nothing_left_unclosed(), HostileServer(_late_head) as server:
        with (
            requests.Session() as session,
            _client(server.url, session=session, timeout=0.3) as client,
        ):
            with pytest.raises(ResponseTimeout):
                client.get_wallet_data("w")
            time.sleep(2.0)  # the head comes; the thread that waited for it closes it
