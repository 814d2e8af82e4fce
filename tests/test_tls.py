"""HTTPS to the simulator with a throw-away CA: verification on, mutual TLS, proxies."""

from __future__ import annotations

import os
import select
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import FAST_RETRY, MERCHANT, TEST_PAN, read_wallet
from hostile import LoopbackServer, nothing_left_unclosed, read_request

from sogen_soap import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    OutcomeUnknown,
    TLSError,
    WalletClient,
)
from sogen_soap.simulator import Simulator, ThrowawayPKI, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server()) as sim:
        yield sim


@pytest.fixture
def mutual(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        yield sim


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        1,
        environment=url,
        retry=FAST_RETRY,
        **options,  # type: ignore[arg-type]
    )


def test_a_trusted_chain_works(https: Simulator, pki: ThrowawayPKI) -> None:
    assert https.url.startswith("https://")
    with _client(https.url, ca_bundle=pki.ca_cert) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    # the throw-away server certificate names localhost as well as 127.0.0.1
    by_name = https.url.replace("127.0.0.1", "localhost")
    with _client(by_name, ca_bundle=pki.ca_cert) as client:
        assert client.get_wallet_data("w").ok


def test_a_throw_away_pki_makes_its_folder_with_parents(tmp_path: Path) -> None:
    made = make_test_pki(tmp_path / "not" / "yet")
    assert made.ca_cert.parent == tmp_path / "not" / "yet" and made.ca_cert.is_file()


def test_only_the_throw_away_ca_may_sign_certificates(pki: ThrowawayPKI) -> None:
    """The server's and the client's keys are written unencrypted beside their
    certificates: were those certificates CAs, whoever read a key could mint a
    certificate for any host that every client trusting ``ca.pem`` would accept.
    Only the CA's certificate says CA (RFC 5280 basic constraints, critical)."""
    from cryptography import x509

    def constraints(path: Path) -> x509.BasicConstraints:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        extension = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        assert extension.critical
        return extension.value

    assert constraints(pki.ca_cert).ca
    assert not constraints(pki.server_cert).ca
    assert not constraints(pki.client_cert).ca


def test_an_untrusted_server_certificate_fails_with_a_tls_error(https: Simulator) -> None:
    """...and the socket of the failed handshake is closed then, not left for the
    garbage collector (which would warn of an unclosed socket)."""
    with nothing_left_unclosed():
        with _client(https.url) as client, pytest.raises(TLSError, match="TLS failure") as caught:
            client.add_card("w", TEST_PAN, "203012")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert https.store.count_cards() == 0


def test_the_ca_bundle_of_the_environment_is_honoured(
    https: Simulator, pki: ThrowawayPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))
    with _client(https.url) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mutual: Simulator, pki: ThrowawayPKI
) -> None:
    # TLS 1.3: the server judges the client certificate after the client's side of
    # the handshake is done, so its refusal comes as an alert on the first read, or,
    # when the server's reset overtakes the alert, as a dropped connection.  Either
    # way the call fails, nothing is stored, and the error says what happened.
    with _client(mutual.url, ca_bundle=pki.ca_cert) as client:
        with pytest.raises((TLSError, ConnectionDropped)) as caught:
            client.get_wallet_data("w")
        with pytest.raises((TLSError, OutcomeUnknown)):
            client.add_card("w", "4100000000000000", "203012")
    assert mutual.store.count_cards() == 0
    if isinstance(caught.value, TLSError):
        assert "CERTIFICATE" in str(caught.value).upper()


def test_mutual_tls_accepts_the_client_certificate(mutual: Simulator, pki: ThrowawayPKI) -> None:
    with _client(
        mutual.url, ca_bundle=pki.ca_cert, client_cert=(str(pki.client_cert), str(pki.client_key))
    ) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


def test_mutual_tls_refuses_the_servers_own_certificate_as_a_client_one(
    mutual: Simulator, pki: ThrowawayPKI
) -> None:
    """The throw-away PKI issues each certificate for its one purpose (serverAuth,
    clientAuth), as a real CA does: the server's certificate, signed by the same CA,
    does not open mutual TLS, so a test of it proves the check, not only the CA."""
    with _client(
        mutual.url, ca_bundle=pki.ca_cert, client_cert=(str(pki.server_cert), str(pki.server_key))
    ) as client:
        with pytest.raises((TLSError, ConnectionDropped)):
            client.get_wallet_data("w")
    assert mutual.requests_seen == 0


def test_a_session_given_by_the_caller_is_used(https: Simulator, pki: ThrowawayPKI) -> None:
    session = requests.Session()
    session.verify = str(pki.ca_cert)
    with _client(https.url, session=session) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    # still the caller's session, still open
    session.get(https.url + "?wsdl", timeout=5, verify=session.verify).raise_for_status()


class _UnverifyingAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose pools were given a context that checks nothing."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        kwargs["ssl_context"] = context
        super().init_poolmanager(*args, **kwargs)


def _unverifying_session(how: str) -> requests.Session:
    session = requests.Session()
    if how == "adapter":
        session.mount("https://", _UnverifyingAdapter())
    else:
        session.verify = {"False": False, "0": 0, "empty": "", "None": None}[how]  # type: ignore[assignment]
    return session


@pytest.mark.parametrize("how", ["False", "0", "empty", "None", "adapter"])
def test_a_session_that_does_not_verify_is_refused_however_it_says_so(
    how: str, https: Simulator
) -> None:
    session = _unverifying_session(how)
    with pytest.raises(ConfigurationError) as caught:
        _client(https.url, session=session)
    why = (
        "its adapter for https:// does not check certificates"
        if how == "adapter"
        else (f"verify={session.verify!r}")
    )
    assert str(caught.value) == (
        f"the session given does not verify TLS ({why}); sogen-soap does not send card data "
        "without it (use ca_bundle= for a private CA)"
    )
    assert https.requests_seen == 0


def test_a_session_switched_off_after_the_client_was_made_is_refused_before_sending(
    https: Simulator, pki: ThrowawayPKI
) -> None:
    session = requests.Session()
    with _client(https.url, session=session, ca_bundle=pki.ca_cert) as client:
        session.verify = False
        with pytest.raises(ConfigurationError, match=r"verify=False"):
            client.add_card("w", TEST_PAN, "203012")
    assert https.requests_seen == 0


@pytest.mark.parametrize("verify", [False, "context"])
def test_an_httpx_client_that_does_not_verify_is_refused(verify: object, https: Simulator) -> None:
    import httpx

    from sogen_soap import AsyncWalletClient

    if verify == "context":
        verify = ssl.create_default_context()
        verify.check_hostname = False  # type: ignore[attr-defined]
    client = httpx.AsyncClient(verify=verify)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as caught:
        AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment=https.url, http_client=client)  # fmt: skip
    assert "the http_client given does not verify TLS (verify=False)" in str(caught.value)
    assert https.requests_seen == 0


def test_an_httpx_client_whose_transport_shows_no_tls_settings_is_refused(
    https: Simulator,
) -> None:
    """transport.httpx_refusal: a transport of the caller's own (a custom one, a
    mounted test double) has no SSL context to read; nothing says it verifies, so it
    is refused like verify=False, before anything is sent."""
    import httpx

    from sogen_soap import AsyncWalletClient

    class Own(httpx.AsyncBaseTransport):
        calls = 0

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            Own.calls += 1
            raise AssertionError("nothing may be sent through it")

    client = httpx.AsyncClient(transport=Own())
    with pytest.raises(ConfigurationError) as caught:
        AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment=https.url, http_client=client)  # fmt: skip
    assert str(caught.value) == (
        "the http_client given does not verify TLS (its transport (Own) shows no TLS settings "
        "to check); sogen-soap does not send card data without it (use ca_bundle= for a "
        "private CA)"
    )
    assert Own.calls == 0 and https.requests_seen == 0


def test_a_missing_certificate_file_is_a_configuration_error(
    https: Simulator, pki: ThrowawayPKI, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        _client(https.url, ca_bundle=tmp_path / "nope.pem")
    # a client certificate's separate key file, missing: named the same way
    with pytest.raises(ConfigurationError) as caught:
        _client(https.url, client_cert=(str(pki.client_cert), str(tmp_path / "nope.key")))
    assert str(caught.value) == f"no such file: {tmp_path / 'nope.key'}"
    # a folder where a file is needed: refused by the same check, naming it
    for given in ({"ca_bundle": tmp_path}, {"client_cert": tmp_path}):
        with pytest.raises(ConfigurationError) as caught:
            _client(https.url, **given)
        assert str(caught.value) == f"no such file: {tmp_path}"


def test_tls_options_are_for_https_only(tmp_path: Path) -> None:
    """One set of options for production and a loopback simulator: over plain http
    there is nothing to verify, so the CA bundle and client certificate are not
    read (a path valid only on the production host does not stop a local test)."""
    missing = tmp_path / "nope.pem"
    with Simulator() as plain, _client(plain.url, ca_bundle=missing, client_cert=missing) as client:
        assert client.get_wallet_data("w").response_code == "25"


def test_the_proxy_option_is_used(https: Simulator, pki: ThrowawayPKI) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    with (
        _client(https.url, ca_bundle=pki.ca_cert, proxy=proxy) as client,
        pytest.raises(ConnectionFailed),  # the (closed) proxy was tried, not the service
    ):
        client.add_card("w", TEST_PAN, "203012")
    assert https.requests_seen == 0


# ------------------------------------------------------------------ what TLS failures are called


def _read_wallet(url: str, asynchronous: bool, **options: object) -> Any:
    return read_wallet(url, asynchronous=asynchronous, **{"timeout": (2, 3), **options})


SENDERS = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])


@SENDERS
def test_a_tls_failure_at_one_address_is_not_taken_to_the_next(
    tmp_path: Path, pki: ThrowawayPKI, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    """``localhost`` resolving to two addresses: the first answers with a certificate
    the client does not trust, the second with one it does.  A refused connection
    moves on to the next address; a TLS failure does not (the peer was reached and
    could not prove itself): the call fails as TLS, and the second hears nothing."""
    other = make_test_pki(tmp_path / "other")
    with Simulator(tls=other.server()) as impostor:
        port = int(impostor.url.split(":")[2].split("/")[0])
        with Simulator(tls=pki.server(), host="127.0.0.2", port=port) as trusted:
            real = socket.getaddrinfo

            def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
                if host != "localhost":
                    return real(host, *args, **kwargs)
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                        for address in ("127.0.0.1", "127.0.0.2")]  # fmt: skip

            monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
            url = f"https://localhost:{port}/services/v2/wallet"
            with pytest.raises(TLSError):
                _read_wallet(url, asynchronous, ca_bundle=pki.ca_cert)
            assert (impostor.requests_seen, trusted.requests_seen) == (0, 0)


@SENDERS
def test_the_certificate_must_name_the_host_the_url_names(
    tmp_path: Path, asynchronous: bool
) -> None:
    named = make_test_pki(tmp_path, server_names=["localhost"])  # not 127.0.0.1
    with Simulator(tls=named.server()) as sim:
        by_name = sim.url.replace("127.0.0.1", "localhost")
        answer = _read_wallet(by_name, asynchronous, ca_bundle=named.ca_cert)
        assert answer.seal_verified
        with pytest.raises(TLSError) as caught:
            _read_wallet(sim.url, asynchronous, ca_bundle=named.ca_cert)
        assert sim.requests_seen == 1
    assert str(caught.value) == (
        f"getWalletData: TLS failure talking to {sim.url}: CERTIFICATE_VERIFY_FAILED: "
        "IP address mismatch, certificate is not valid for '127.0.0.1'."
    )


@SENDERS
def test_a_common_name_alone_does_not_name_the_host(tmp_path: Path, asynchronous: bool) -> None:
    """The throw-away server certificate's common name is ``localhost``; one whose
    subjectAltName lists only 127.0.0.1 does not cover ``localhost`` (names come from
    subjectAltName alone, RFC 6125): OpenSSL's default would take the common name."""
    by_address = make_test_pki(tmp_path, server_names=["127.0.0.1"])
    with Simulator(tls=by_address.server()) as sim:
        assert _read_wallet(sim.url, asynchronous, ca_bundle=by_address.ca_cert).seal_verified
        with pytest.raises(TLSError) as caught:
            _read_wallet(sim.url.replace("127.0.0.1", "localhost"), asynchronous,
                         ca_bundle=by_address.ca_cert)  # fmt: skip
        assert sim.requests_seen == 1
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert "localhost" in str(caught.value)


class HTTPSServer(LoopbackServer):
    """A server written here, reached as the wallet service over https."""

    @property
    def url(self) -> str:
        return self.base.replace("http:", "https:") + "/services/v2/wallet"


class TLSScriptServer(HTTPSServer):
    """A TLS server written here, to fail in one exact way after the handshake."""

    def __init__(self, context: ssl.SSLContext, after: str) -> None:
        super().__init__()
        self.context = context
        self.after = after
        self.requests = 0

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(5)
        tls = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
            if self.after == "reset":  # right after the handshake, before any request
                tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                tls.close()  # SO_LINGER 0: a reset, not a close
                return
        except ssl.SSLError:  # the client certificate was refused: the alert is sent
            # Hold the connection until the client leaves, so it reads the alert
            # rather than a reset (closing on its unread request would send one).
            _hold(tls)
            return
        if read_request(tls):
            self.requests += 1
        if self.after == "garbage":  # raw bytes where a TLS record should be
            os.write(tls.fileno(), b"HTTP/1.1 200 OK\r\n\r\nnot a TLS record at all")
            _hold(tls)


def _hold(conn: socket.socket) -> None:
    """Read raw bytes until the client leaves (or 5 s pass): closing on bytes it
    sent and nobody read would reset the connection before it reads what came."""
    while select.select([conn], [], [], 5)[0] and os.read(conn.fileno(), 65536):
        pass


class _TLSOverBIO:
    """The server's side of TLS in memory over a plain socket, so the test can hand it
    a record the client never sent."""

    def __init__(self, context: ssl.SSLContext, conn: socket.socket) -> None:
        self.conn = conn
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    def flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.conn.sendall(data)

    def _more(self) -> None:
        self.flush()
        data = self.conn.recv(65536)
        if not data:
            raise ConnectionError("the client left")
        self.incoming.write(data)

    def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._more()
        self.flush()

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                self._more()


class BadRecordServer(HTTPSServer):
    """Reads the request, then is handed a record no key opens: its TLS stack answers
    with an alert (bad record MAC), which is about no certificate.  The request was
    read, so what the service did is unknown to the client."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.requests = 0
        self.refused: list[str] = []

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(5)
        side = _TLSOverBIO(self.context, conn)
        side.handshake()
        if not read_request(side):  # type: ignore[arg-type]
            return
        self.requests += 1
        side.incoming.write(b"\x17\x03\x03\x00\x20" + bytes(range(32)))  # not a sealed record
        try:
            side.tls.read(65536)
        except ssl.SSLError as exc:
            self.refused.append(str(exc.reason))
        side.flush()  # the alert
        _hold(conn)


@SENDERS
def test_an_alert_about_no_certificate_after_the_request_leaves_the_outcome_unknown(
    pki: ThrowawayPKI, asynchronous: bool
) -> None:
    # Only a certificate alert after the handshake means "never read" (TLS 1.3's late
    # client-certificate refusal); any other alert came after the server read the
    # request.  Reported as a TLS failure, the caller would take it for nothing done.
    with BadRecordServer(_server_context(pki, False)) as server:
        with pytest.raises(ConnectionDropped) as caught:
            _read_wallet(server.url, asynchronous, ca_bundle=pki.ca_cert)
        assert server.requests == 1
        assert server.refused == ["DECRYPTION_FAILED_OR_BAD_RECORD_MAC"]
        assert str(caught.value) == (
            f"getWalletData: the connection to {server.url} broke before the answer was complete"
        )


def _server_context(pki: ThrowawayPKI, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca_cert)
    return context


AFTER_HANDSHAKE = [
    # TLS 1.3: a refused client certificate arrives as an alert on the first read,
    # after the request left; the server never read it, so this is a TLS error
    # (nothing was done), not an outcome unknown.
    pytest.param(True, "alert", TLSError, 0,
                 "TLS failure talking to {url}: TLSV13_ALERT_CERTIFICATE_REQUIRED",
                 id="certificate refused"),
    # Any other TLS error on the answer comes after the server read the request:
    # what it did is unknown, so it is not reported as a TLS failure (nothing done).
    pytest.param(False, "garbage", ConnectionDropped, 1,
                 "the connection to {url} broke before the answer was complete",
                 id="stream broken"),
]  # fmt: skip


@SENDERS
@pytest.mark.parametrize(
    ("client_cert", "after", "kind", "requests_read", "words"), AFTER_HANDSHAKE
)
def test_a_tls_failure_after_the_handshake_says_whether_the_request_was_read(
    pki: ThrowawayPKI,
    asynchronous: bool,
    client_cert: bool,
    after: str,
    kind: type[Exception],
    requests_read: int,
    words: str,
) -> None:
    with TLSScriptServer(_server_context(pki, client_cert), after) as server:
        with pytest.raises(kind) as caught:
            _read_wallet(server.url, asynchronous, ca_bundle=pki.ca_cert)
        assert server.requests == requests_read
        assert str(caught.value) == "getWalletData: " + words.format(url=server.url)


@SENDERS
def test_a_reset_right_after_the_handshake_is_a_lost_answer_never_sent_again(
    pki: ThrowawayPKI, asynchronous: bool
) -> None:
    """The server resets each connection as soon as TLS 1.2's handshake ends: the
    request fails while it is written or read.  Bytes may have reached the service,
    so a change is an unknown outcome, sent on one connection only, never retried as
    "not sent" on a new one."""
    from sogen_soap import AsyncWalletClient, OutcomeUnknown

    context = _server_context(pki, False)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # the client learns the end of it
    with TLSScriptServer(context, "reset") as server:
        with pytest.raises(OutcomeUnknown) as caught:
            if asynchronous:
                import asyncio

                async def add() -> object:
                    async with AsyncWalletClient(
                        MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=server.url,
                        ca_bundle=pki.ca_cert, retry=FAST_RETRY, timeout=3,
                    ) as client:  # fmt: skip
                        return await client.add_card("w", TEST_PAN, "203012")

                asyncio.run(add())
            else:
                with _client(server.url, ca_bundle=pki.ca_cert, timeout=3) as client:
                    client.add_card("w", TEST_PAN, "203012")
        assert server.connections == 1
    assert caught.value.reason == "dropped"


class SilentServer(HTTPSServer):
    """Accepts the connection and never says a word: a TLS handshake that never ends."""

    def serve(self, number: int, conn: socket.socket) -> None:
        self.stop.wait(30)


@SENDERS
def test_a_handshake_that_never_ends_is_a_failure_before_sending(
    pki: ThrowawayPKI, asynchronous: bool
) -> None:
    with SilentServer() as server:
        with pytest.raises(ConnectionFailed) as caught:
            _read_wallet(server.url, asynchronous, ca_bundle=pki.ca_cert, timeout=(0.5, 0.5))
        assert str(caught.value) == f"getWalletData: could not connect to {server.url}: timed out"


@SENDERS
def test_a_handshake_that_never_ends_ends_at_the_connect_timeout(
    pki: ThrowawayPKI, asynchronous: bool
) -> None:
    """``(connect, answer)`` connects within the first (docs/api.md), and connecting
    over https is the TCP connect and the TLS handshake: a silent handshake ends at
    0.3 s on both senders, not at the call's 10.3 s."""
    with SilentServer() as server:
        started = time.monotonic()
        with pytest.raises(ConnectionFailed) as caught:
            _read_wallet(server.url, asynchronous, ca_bundle=pki.ca_cert, timeout=(0.3, 10))
        took = time.monotonic() - started
        assert str(caught.value) == f"getWalletData: could not connect to {server.url}: timed out"
    assert took < 5, took  # the connect's 0.3 s, not the call's 10.3 s


IMPOSTOR_PATHS = ["sync", "async", "sync mutual", "async mutual", "requests session", "httpx"]


@pytest.mark.parametrize("path", IMPOSTOR_PATHS)
def test_an_impostor_certificate_is_refused_on_every_path_and_receives_nothing(
    path: str, pki: ThrowawayPKI, tmp_path: Path
) -> None:
    """The server holds a certificate of another CA for the very same name: every
    way of sending refuses it in the handshake, mutual TLS included."""
    import asyncio

    import httpx

    from sogen_soap import AsyncWalletClient

    impostor = make_test_pki(tmp_path / "impostor")
    mutual = "mutual" in path
    options: dict[str, Any] = {"ca_bundle": pki.ca_cert, "timeout": 5}
    if mutual:
        options["client_cert"] = (str(pki.client_cert), str(pki.client_key))
    with Simulator(tls=impostor.server(require_client_cert=mutual)) as sim:
        with pytest.raises(TLSError) as caught:
            if path.startswith("async") or path == "httpx":
                http_client = (
                    httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(pki.ca_cert)))
                    if path == "httpx" else None
                )  # fmt: skip

                async def call() -> None:
                    extra = {} if http_client is None else {"http_client": http_client}
                    async with AsyncWalletClient(
                        MERCHANT.merchant_id,
                        MERCHANT.secret_key,
                        1,
                        environment=sim.url,
                        **options,
                        **extra,
                    ) as c:
                        await c.add_card("w", TEST_PAN, "203012")

                asyncio.run(call())
            else:
                session = requests.Session() if path == "requests session" else None
                extra = {} if session is None else {"session": session}
                with _client(sim.url, **options, **extra) as client:
                    client.add_card("w", TEST_PAN, "203012")
        assert sim.requests_seen == 0 and sim.store.count_cards() == 0
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_the_simulator_speaks_tls_1_2_or_later_only(https: Simulator, pki: ThrowawayPKI) -> None:
    """A peer offering TLS 1.0 or 1.1 only (its own security level lowered so that
    it may) is refused by the simulator's HTTPS, as by the vendor's."""
    import socket
    import ssl
    import warnings

    from sogen_soap.endpoints import parse_url

    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(pki.ca_cert)
    old.set_ciphers("DEFAULT@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the point of the test
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    endpoint = parse_url(https.url)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="localhost")
    with _client(https.url, ca_bundle=str(pki.ca_cert)) as client:  # a modern peer is served
        assert client.get_wallet_data("w").response_code == "25"
