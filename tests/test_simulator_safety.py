"""The simulator is safe to leave running.

Its store and data folder are private, its card fingerprints are keyed by a
secret that is not in the store, a malformed request is answered 400 and
never stops it, handshakes and request heads that drip cannot starve it, and
at the open-file limit it backs off instead of spinning.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import resource
import socket
import sqlite3
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import cpu_seconds
from conftest import MERCHANT, TEST_PAN
from hostile import nothing_left_unclosed, settled_connections

from sogen_soap import ConnectionDropped, WalletClient
from sogen_soap.endpoints import parse_url
from sogen_soap.retry import NO_RETRY
from sogen_soap.simulator import Simulator, ThrowawayPKI, make_test_pki
from sogen_soap.simulator.store import StoreError, WalletStore


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                        timeout=5, **options)  # type: ignore[arg-type]  # fmt: skip


def test_the_store_and_its_key_are_private_and_the_key_is_not_in_the_store(
    tmp_path: Path,
) -> None:
    db = tmp_path / "wallets.sqlite3"
    with Simulator(str(db)) as sim, _client(sim.url) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    key_file = Path(f"{db}.key")
    for path in (db, key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key = key_file.read_bytes()
    assert len(key) == 32
    with sqlite3.connect(db) as connection:
        (stored,) = connection.execute("SELECT card_fingerprint FROM payment_mean").fetchone()
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    assert stored == hmac.new(key, TEST_PAN.encode(), hashlib.sha256).hexdigest()  # by hand
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p != key_file)
    assert key not in store_bytes and key.hex().encode() not in store_bytes
    assert "salt" not in meta  # nothing in the store keys the fingerprints


def test_a_store_of_an_earlier_version_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """Card fingerprints are keyed by ``<store>.key``: a store holding cards whose key
    is gone (or one written before the key existed) would take every card again as
    new, so it is refused with how to start afresh; a store with no card is not."""
    db = tmp_path / "old.sqlite3"
    store = WalletStore(str(db))
    store.add_card(MERCHANT.merchant_id, "w", TEST_PAN, "203012", None, None, "now")
    store.close()
    Path(f"{db}.key").unlink()  # as an earlier version left it: no key beside the store
    with pytest.raises(StoreError) as caught:
        WalletStore(str(db))
    assert str(caught.value).startswith(f"the simulator store {db} was written by an earlier")
    assert str(caught.value).endswith(f"delete {db} to start a fresh store")
    empty = tmp_path / "empty.sqlite3"
    WalletStore(str(empty)).close()
    Path(f"{empty}.key").unlink()
    with sqlite3.connect(empty) as connection:  # an earlier version kept its salt there
        connection.execute("INSERT INTO meta VALUES ('salt', 'c2FsdA==')")
    connection.close()
    WalletStore(str(empty)).close()  # no card held: a new key is made, nothing lost
    with sqlite3.connect(empty) as connection:
        assert connection.execute("SELECT key FROM meta").fetchall() == []  # nor kept
    connection.close()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, some notes\n" * 100)
    with pytest.raises(sqlite3.DatabaseError):  # not a store at all: said as such upstream
        WalletStore(str(notes))


def test_the_embedded_simulator_s_data_folder_is_where_docs_say_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/cli.md: ``sogen-soap/simulator.sqlite3`` under the data folder (a user
    resetting it deletes that file; a new name would lose the wallets kept so far)."""
    from sogen_soap.cli.config import simulator_db_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = simulator_db_path()
    assert path == tmp_path / "data" / "sogen-soap" / "simulator.sqlite3"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def _raw(url: str, request: bytes) -> bytes:
    endpoint = parse_url(url)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize(
    "length",
    [b"\xb2", "\u00b2".encode(), b"-1", b"99999999999999999999", b"\xd9\xa3", b"0x10"],
)
def test_a_malformed_request_is_answered_400_and_the_simulator_keeps_answering(
    length: bytes, simulator: Simulator
) -> None:
    answer = _raw(simulator.url, b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: " + length + b"\r\n\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    with _client(simulator.url) as client:
        assert client.get_wallet_data("w").response_code == "25"


def test_under_another_wsgi_server_a_length_that_is_no_number_reads_no_body() -> None:
    """``SimulatorApp`` is a WSGI application: under the standard library's server a
    Content-Length that is not a number means no body, answered at once, the
    connection still open (read as "all of it", the app would wait for the client
    to hang up)."""
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from sogen_soap.simulator.app import SimulatorApp

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    with make_server("127.0.0.1", 0, SimulatorApp(WalletStore(":memory:")),
                     handler_class=Quiet) as server:  # fmt: skip
        serving = threading.Thread(target=server.handle_request, daemon=True)
        serving.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/services/v2/wallet"
        request = b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n<x/>"
        answer = _raw(url, request)  # times out if the app reads on
        serving.join(5)
    assert answer.split(b"\r\n", 1)[0].endswith(b" 500 Internal Server Error"), answer[:80]
    assert b"not well-formed" in answer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.mark.parametrize("tls", [False, True], ids=["heads", "handshakes"])
def test_64_connections_dripping_never_stop_it_answering(tls: bool, pki: ThrowawayPKI) -> None:
    """64 connections each sending a byte every 0.2 s (a request head, or a TLS
    ClientHello): calls beside them are answered as usual."""
    with Simulator(tls=pki.server() if tls else None, request_timeout=10) as sim:
        endpoint = parse_url(sim.url)
        drips = [socket.create_connection((endpoint.host, endpoint.port)) for _ in range(64)]
        start = b"\x16\x03\x01\x02\x00" if tls else b"POST /services/v2/wallet HTTP/1.1\r\n"
        try:
            options = {"ca_bundle": pki.ca_cert} if tls else {}
            answered = 0
            until = time.monotonic() + 3
            with _client(sim.url, **options) as client:
                for byte in range(15):
                    for sock in drips:
                        sock.send(start[byte % len(start) : byte % len(start) + 1])
                    if client.get_wallet_data("w").response_code == "25":
                        answered += 1
                    time.sleep(0.2)
                    if time.monotonic() > until:
                        break
            assert answered >= 10
        finally:
            for sock in drips:
                sock.close()


def test_a_tls_connection_that_never_handshakes_is_closed_at_the_request_timeout(
    pki: ThrowawayPKI,
) -> None:
    """The request timeout runs from the moment a TLS connection is accepted: one that
    never sends its ClientHello is closed once it passes (here 0.5 s), long before the
    idle timeout (30 s by default); it does not hold a descriptor until then."""
    with Simulator(tls=pki.server(), request_timeout=0.5) as sim:
        endpoint = parse_url(sim.url)
        with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as silent:
            assert silent.recv(1) == b""  # closed by the simulator, not timed out here


@contextlib.contextmanager
def _handshaken(pki: ThrowawayPKI) -> Iterator[ssl.SSLSocket]:
    """A TLS connection, its handshake done, to a simulator whose request timeout is
    0.5 s."""
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    with Simulator(tls=pki.server(), request_timeout=0.5) as sim:
        endpoint = parse_url(sim.url)
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=5)
        with context.wrap_socket(raw, server_hostname=endpoint.host) as tls:
            yield tls


def test_a_finished_handshake_restarts_the_request_clock(pki: ThrowawayPKI) -> None:
    """Once the handshake is done the connection is idle, not slow: a request sent a
    second after it (twice the 0.5 s request timeout, far within the idle timeout) is
    answered."""
    with _handshaken(pki) as tls:
        time.sleep(1.0)
        tls.sendall(b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")  # fmt: skip
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:100]


def test_a_request_dripping_after_the_handshake_is_closed_at_the_request_timeout(
    pki: ThrowawayPKI,
) -> None:
    """The clock the handshake restarted runs from the request's first byte: a request
    sent a byte every 0.1 s over TLS is closed once it passes 0.5 s, as over plain
    HTTP, not kept until the idle timeout because bytes keep coming."""
    with _handshaken(pki) as tls:
        tls.settimeout(0.1)
        started, closed = time.monotonic(), False
        while not closed and time.monotonic() - started < 5:
            try:
                tls.sendall(b"P")
                closed = tls.recv(1) == b""
            except TimeoutError:  # nothing to read yet (a session ticket, perhaps)
                pass
            except OSError:  # reset, or TLS's end
                closed = True
        waited = time.monotonic() - started
    assert closed and waited < 3, waited


def test_a_simulator_keeps_no_request_unless_asked_to_record() -> None:
    """``record`` is for tests: a simulator left running keeps no copy of what it was
    sent (its memory would grow with every request), and one asked to keeps each."""
    for record in (False, True):
        with Simulator(record=record) if record else Simulator() as sim:
            with _client(sim.url) as client:
                for number in range(3):
                    assert client.add_card(f"w{number}", TEST_PAN, "203012").ok
            assert len(sim.app.received) == (3 if record else 0)


def test_a_bug_of_the_simulator_is_answered_400_and_said_on_its_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A request that makes the simulator's application raise is answered 400 (the
    client sees an HTTP error, not a dropped connection it would take for a lost
    answer), the traceback goes to stderr, and the next request is served."""
    from sogen_soap import HTTPStatusError

    with Simulator() as sim:
        real = sim.app.handle

        def broken(body: bytes, *service: object) -> tuple[str, bytes, str]:
            raise RuntimeError("a simulator bug")

        sim.app.handle = broken  # type: ignore[method-assign]
        with _client(sim.url) as client:
            with pytest.raises(HTTPStatusError) as caught:
                client.get_wallet_data("w")
            sim.app.handle = real  # type: ignore[method-assign]
            assert client.get_wallet_data("w").response_code == "25"
    assert caught.value.status_code == 400
    assert "RuntimeError: a simulator bug" in capfd.readouterr().err


def test_at_the_open_file_limit_it_backs_off_instead_of_spinning(tmp_path: Path) -> None:
    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))

    process = subprocess.Popen(
        [sys.executable, "-m", "sogen_soap.simulator", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=low_limit,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        endpoint = parse_url(url)
        flood = [socket.create_connection((endpoint.host, endpoint.port)) for _ in range(80)]
        time.sleep(0.5)
        before = cpu_seconds(process.pid)
        time.sleep(2.0)
        used = cpu_seconds(process.pid) - before
        assert used < 0.5, f"{used:.2f} s of CPU in 2 s at the open-file limit"
        # each pause frees a descriptor by closing the longest-idle connection: the
        # first ones opened are closed by now (the idle timeout is 30 s away)
        closed = 0
        for sock in flood[:20]:
            try:
                closed += sock.recv(1, socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 1
        for sock in flood:
            sock.close()
        time.sleep(0.5)
        with _client(url) as client:
            assert client.get_wallet_data("w").response_code == "25"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _add_card_body() -> tuple[bytes, dict[str, str]]:
    """A real addCard request, as the client builds and seals it."""
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1) as client:
        body, headers, _key = client._request(client.plan_add_card("w", TEST_PAN, "203012"))
        return body, headers


def test_a_chunked_request_is_answered_as_a_whole_one(simulator: Simulator) -> None:
    """Java's HTTP client in streaming mode sends bodies chunked."""
    import requests

    body, headers = _add_card_body()
    pieces = [body[i : i + 97] for i in range(0, len(body), 97)]
    answer = requests.post(simulator.url, data=iter(pieces), headers=headers, timeout=5)
    assert answer.request.headers["Transfer-Encoding"] == "chunked"
    assert answer.status_code == 200
    assert b"<ns:walletResponseCode>00</ns:walletResponseCode>" in answer.content
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


_TWO_HALF_MEGABYTE_CHUNKS = (b"80000\r\n" + b"a" * 0x80000 + b"\r\n") * 2


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"400"),  # two framings
        (b"Transfer-Encoding: gzip, chunked\r\n", b"400"),
        (b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),  # not a hex size
        (b"Transfer-Encoding: chunked\r\n\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b"400"),  # no size
        # five bytes said, seven sent: the chunk does not end where its size says
        (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", b"400"),
        (b"Transfer-Encoding: chunked\r\n\r\n200000\r\n", b"413"),  # over the body cap
        # chunks under the cap one by one, over it together (two of 512 KiB, then one byte)
        (b"Transfer-Encoding: chunked\r\n\r\n" + _TWO_HALF_MEGABYTE_CHUNKS + b"1\r\n", b"413"),
        # lines that never end are cut at 4 KiB, not buffered until the request timeout
        (b"Transfer-Encoding: chunked\r\n\r\n" + b"5" * 5000, b"400"),  # a chunk size
        (b"Transfer-Encoding: chunked\r\n\r\n0\r\n" + b"T" * 5000, b"400"),  # a trailer
    ],
)
def test_a_chunked_request_framed_wrong_or_too_large_is_refused(
    framing: bytes, status: bytes, simulator: Simulator
) -> None:
    head = b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n" + framing
    answer = _raw(simulator.url, head if framing.endswith(b"\r\n\r\n") or b"\r\n\r\n" in framing
                  else head + b"\r\n")  # fmt: skip
    assert answer.startswith(b"HTTP/1.1 " + status)


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b'{"merchantId": "a", "merchantId": "b"}', 400, "the request is not JSON"),  # twice
        (b'{"merchantId": "\xff"}', 400, "the request is not JSON"),
        (b"[1, 2]", 400, "the request is not a JSON object"),
        (b'{"bad name": "x"}', 400, "a field name is not a name"),
        (b'{"a:b": "x"}', 400, "a field name is not a name"),
    ],
)
def test_the_json_front_refuses_what_is_not_one_json_object_of_fields(
    body: bytes, status: int, said: str, simulator: Simulator
) -> None:
    import requests

    root = simulator.url.split("/services/", 1)[0]
    answer = requests.post(f"{root}/rs-services/v2/wallet/getWalletData", data=body,
                           headers={"Content-Type": "application/json"}, timeout=5)  # fmt: skip
    assert (answer.status_code, answer.json()) == (status, {"error": said})
    missing = requests.post(f"{root}/rs-services/v2/wallet/noSuchFunction", data=b"{}",
                            headers={"Content-Type": "application/json"}, timeout=5)  # fmt: skip
    assert (missing.status_code, missing.json()) == (404, {"error": "no such function"})
    with _client(simulator.url, transport="json") as client:  # and it keeps answering
        assert client.get_wallet_data("w").response_code == "25"


@pytest.mark.parametrize("alias", [{"x": "1"}, ["1"], 1.5])
def test_a_json_field_that_is_not_text_or_a_number_is_schema_invalid(
    alias: object, simulator: Simulator
) -> None:
    """The JSON front reads a field as the SOAP one would: an object, a list or a
    fraction where a text field belongs is answered 30 naming it, as the schema
    refuses it, never taken for an empty field (then checked for its seal: 34)."""
    import json

    import requests

    root = simulator.url.split("/services/", 1)[0]
    body = {"merchantId": MERCHANT.merchant_id, "interfaceVersion": "WR_WS_2.55",
            "keyVersion": 1, "merchantWalletId": "w", "cardNumber": TEST_PAN,
            "cardExpiryDate": "203012", "paymentMeanAlias": alias, "seal": "0" * 64}  # fmt: skip
    answer = requests.post(f"{root}/rs-services/v2/wallet/addCard", data=json.dumps(body),
                           headers={"Content-Type": "application/json"}, timeout=5)  # fmt: skip
    found = answer.json()
    assert (found["walletResponseCode"], found["errorFieldName"]) == ("30", "paymentMeanAlias")
    assert simulator.store.count_cards() == 0


@pytest.mark.parametrize("path", ["/rs-services/v2/wallet-getWalletData",
                                  "/rs-services/v2/wallets/getWalletData",
                                  "/rs-services/v2/checkoutX/walletOrder"])  # fmt: skip
def test_a_json_path_that_only_begins_like_a_service_s_is_not_served(
    path: str, simulator: Simulator
) -> None:
    """A typo in the JSON path must fail against the simulator as it would against
    the service: ``/rs-services/v2/<service>/<function>``, the service's name whole."""
    import requests

    root = simulator.url.split("/services/", 1)[0]
    answer = requests.post(f"{root}{path}", data=b"{}",
                           headers={"Content-Type": "application/json"}, timeout=5)  # fmt: skip
    assert answer.status_code == 404
    assert answer.text.startswith("Not the wallet service.")


@pytest.mark.parametrize(
    "head",
    [
        b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
        b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n Content-Length: 0\r\n\r\n",
        b"POST /services/v2/wallet HTTP/2.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST /services/v2/wallet ICAP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST  /services/v2/wallet HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"POST\t/services/v2/wallet\tHTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"\r\n\r\n",
    ],
    ids=[
        "space-before-colon",
        "space-before-name",
        "http-2",
        "not-http",
        "two-spaces",
        "tabs",
        "no-request-line",
    ],
)
def test_a_head_another_server_could_read_otherwise_is_refused(
    head: bytes, simulator: Simulator
) -> None:
    """A header name with white space, or a version that is not HTTP/1.x, is read one
    way by one server and another way by the next (request smuggling): refused."""
    assert _raw(simulator.url, head).startswith(b"HTTP/1.1 400 Bad Request\r\n")


def _chunked_add_card(
    coding: bytes = b"chunked", *, head: bytes = b"", trailers: bytes = b""
) -> bytes:
    """A real addCard request sent as one chunk under ``Transfer-Encoding: coding``,
    with ``head`` among its header lines and ``trailers`` after the last chunk."""
    body, headers = _add_card_body()
    own = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    return (
        b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n" + head
        + b"Transfer-Encoding: " + coding + b"\r\n" + own.encode() + b"\r\n"
        + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n" + trailers + b"\r\n"
    )  # fmt: skip


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_a_sealed_request_under_another_method_than_post_changes_nothing(
    method: str, simulator: Simulator
) -> None:
    """The service takes SOAP and JSON calls by POST only: a sealed addCard sent with
    another method (a GET too, when it is not the ?wsdl one) is answered 405 and
    stores nothing, as a real front would."""
    import requests

    body, headers = _add_card_body()
    answer = requests.request(method, simulator.url, data=body, headers=headers, timeout=5)
    assert (answer.status_code, answer.text) == (405, "POST SOAP 1.1 here")
    assert simulator.store.wallet(MERCHANT.merchant_id, "w") is None


def test_a_chunk_size_in_upper_case_hex_is_read(simulator: Simulator) -> None:
    """RFC 9112 writes a chunk size in HEXDIG, either case: ``AB`` is 171 bytes, as
    ``ab`` is."""
    body, headers = _add_card_body()
    own = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    first, rest = body[:0xAB], body[0xAB:]
    request = (
        b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"Transfer-Encoding: chunked\r\n" + own.encode() + b"\r\n"
        + b"AB\r\n" + first + b"\r\n" + f"{len(rest):X}\r\n".encode() + rest + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    answer = _raw(simulator.url, request)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


def test_a_chunked_request_arriving_in_pieces_at_every_boundary_is_read_whole(
    simulator: Simulator,
) -> None:
    """Chunks of 1, 16 and 255 bytes and the rest, one with two extensions, each sent
    on its own (so a read ends exactly after a chunk's CRLF); the 16-byte chunk's size
    line, data and CRLF apart; then the last chunk and the blank line that ends the
    request apart.  A 4 KiB header puts every wait past the 4 KiB line bound: the bound
    is on the line still arriving, not on the request read so far."""
    import time

    body, headers = _add_card_body()
    own = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    sizes = [1, 16, 255, len(body) - 272]
    pieces, start = [], 0
    for number, size in enumerate(sizes):
        extension = b";name=value;other=1" if number == 1 else b""
        line, data = f"{size:x}".encode() + extension + b"\r\n", body[start : start + size]
        pieces += [line, data, b"\r\n"] if number == 1 else [line + data + b"\r\n"]
        start += size
    head = (b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-Padding: " + b"p" * 4200 + b"\r\n"
            b"Transfer-Encoding: chunked\r\n" + own.encode() + b"\r\n")  # fmt: skip
    endpoint = parse_url(simulator.url)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in [head, *pieces, b"0\r\n", b"\r\n"]:
            sock.sendall(piece)
            time.sleep(0.05)  # each piece read on its own
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert b"<ns:walletResponseCode>00</ns:walletResponseCode>" in answer
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


def test_pipelined_requests_are_each_read_to_their_own_length(simulator: Simulator) -> None:
    """Two requests sent at once on one connection (HTTP/1.1 pipelining): the first
    body ends where its Content-Length says, and the next request starts right after
    it, not a byte before or after."""
    body, headers = _add_card_body()
    own = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    first = (b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n" + own.encode()
             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
    second = b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answers = _raw(simulator.url, first + second)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2, answers[:300]
    assert b"<ns:walletResponseCode>00</ns:walletResponseCode>" in answers
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


def test_a_chunked_request_s_trailers_are_read_as_part_of_it(simulator: Simulator) -> None:
    """Trailer fields after the last chunk belong to the request: the next request on
    the same connection starts after them, not inside them."""
    chunked = _chunked_add_card(trailers=b"X-Checksum: none\r\n") + (
        b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answers = _raw(simulator.url, chunked)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 2, answers[:300]
    assert b"<ns:walletResponseCode>00</ns:walletResponseCode>" in answers
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


def test_a_client_that_never_reads_holds_a_worker_only_until_the_request_timeout() -> None:
    """A worker writing an answer nobody reads gives up after ``request_timeout``:
    with one worker, a client that asks for the WSDL a thousand times and reads none
    must not starve the next client for ever."""
    with Simulator(workers=1, request_timeout=0.5) as sim:
        endpoint = parse_url(sim.url)
        hog = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            hog.connect((endpoint.host, endpoint.port))
            hog.sendall(b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)
            time.sleep(0.5)  # its answers fill both buffers; the worker blocks writing
            with _client(sim.url) as client:
                assert client.get_wallet_data("w").response_code == "25"
        finally:
            hog.close()


def test_over_its_connection_cap_it_closes_the_longest_idle_first() -> None:
    """docs: past ``max_connections`` the longest-idle connections are closed first;
    the one just opened is served."""
    ask = b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\n\r\n"

    def answered(sock: socket.socket) -> bytes:
        sock.sendall(ask)
        data = b""
        while not data.rstrip().endswith(b"definitions>"):  # the WSDL's last tag
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    with Simulator(max_connections=2) as sim:
        endpoint = parse_url(sim.url)
        address = (endpoint.host, endpoint.port)
        oldest = socket.create_connection(address, timeout=5)
        assert answered(oldest).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.05)
        middle = socket.create_connection(address, timeout=5)
        assert answered(middle).startswith(b"HTTP/1.1 200 OK")
        time.sleep(0.05)
        newest = socket.create_connection(address, timeout=5)
        try:
            with nothing_left_unclosed():  # shed by closing it, not by dropping it
                assert answered(newest).startswith(b"HTTP/1.1 200 OK")  # served, not shed
                assert oldest.recv(1) == b""  # closed by the simulator
                assert answered(middle).startswith(b"HTTP/1.1 200 OK")
                assert sim.open_connections == 2  # and counted off
        finally:
            for sock in (oldest, middle, newest):
                sock.close()


@pytest.mark.parametrize(
    ("version", "asked", "closes"),
    [
        (b"HTTP/1.1", b"Connection: close\r\n", True),
        (b"HTTP/1.1", b"", False),
        (b"HTTP/1.1", b"Connection: keep-alive\r\n", False),
        (b"HTTP/1.0", b"", True),  # HTTP/1.0 closes unless asked to keep
        (b"HTTP/1.0", b"Connection: Keep-Alive\r\n", False),
    ],
)
def test_the_simulator_says_when_it_closes_the_connection(
    version: bytes, asked: bytes, closes: bool, simulator: Simulator
) -> None:
    """RFC 9112: a server that will close after its answer says ``Connection: close``
    (a client that pools connections relies on it); one that keeps it says nothing."""
    endpoint = parse_url(simulator.url)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.sendall(b"GET /services/v2/wallet?wsdl " + version + b"\r\nHost: x\r\n" + asked
                     + b"\r\n")  # fmt: skip
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    head = data.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")
    assert head[0] == b"http/1.1 200 ok"
    assert (b"connection: close" in head) is closes


def test_the_wsdl_points_back_to_the_host_the_client_named(simulator: Simulator) -> None:
    """The WSDL's addresses follow the request's ``Host`` header (its port after a
    colon included), as CXF's do: a client that reached the simulator by another
    name, through a tunnel or a container's port, is sent back the same way."""
    from lxml import etree

    endpoint = parse_url(simulator.url)
    asked = f"localhost:{endpoint.port}".encode()
    answer = _raw(simulator.url, b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: " + asked
                  + b"\r\nConnection: close\r\n\r\n")  # fmt: skip
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    safe = etree.XMLParser(resolve_entities=False, no_network=True)
    addresses = etree.fromstring(body, safe).findall(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    expected = f"http://localhost:{endpoint.port}/services/v2/wallet"
    assert [a.get("location") for a in addresses] == [expected] * len(addresses) != []


def test_a_transfer_coding_is_read_whatever_its_case(simulator: Simulator) -> None:
    """RFC 9112 (section 7): transfer-coding names are case-insensitive, so
    ``Transfer-Encoding: Chunked`` frames the body like ``chunked``."""
    answer = _raw(simulator.url, _chunked_add_card(b"Chunked", head=b"Connection: close\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)


def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_refused(
    simulator: Simulator,
) -> None:
    """docs/simulator.md: a body of at most 1 MiB (1,048,576 bytes) is read; more is 413."""
    head = b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    cap = 1 << 20
    at_cap = _raw(simulator.url, head + f"Content-Length: {cap}\r\n\r\n".encode() + b" " * cap)
    assert not at_cap.startswith(b"HTTP/1.1 413"), at_cap[:100]
    assert at_cap.startswith(b"HTTP/1.1 500"), at_cap[:100]  # read, and not a SOAP request
    over = _raw(simulator.url, head + f"Content-Length: {cap + 1}\r\n\r\n".encode())
    assert over.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")
    # chunked, the same cap over the chunks added up: two halves are read, one more
    # byte in a third chunk is refused
    half = f"{cap // 2:x}\r\n".encode() + b" " * (cap // 2) + b"\r\n"
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + 2 * half
    at_cap = _raw(simulator.url, chunked + b"0\r\n\r\n")
    assert at_cap.startswith(b"HTTP/1.1 500"), at_cap[:100]
    over = _raw(simulator.url, chunked + b"1\r\n \r\n0\r\n\r\n")
    assert over.startswith(b"HTTP/1.1 413 Payload Too Large\r\n")


@pytest.mark.parametrize("dripping", [False, True], ids=["whole", "dripping"])
@pytest.mark.parametrize(
    ("size", "status"), [(16384, b"200 OK"), (16385, b"413 Payload Too Large")]
)
def test_a_head_of_exactly_16_kib_is_read_and_one_byte_more_is_refused(
    size: int, status: bytes, dripping: bool, simulator: Simulator
) -> None:
    """docs/simulator.md: a request head of at most 16 KiB (its lines, before the blank
    line that ends it), whether it arrives at once or drips (found: a head sent whole
    was read whatever its size)."""
    lines = b"GET /services/v2/wallet?wsdl HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: "
    lines += b"p" * (size - len(lines))
    assert len(lines) == size
    endpoint = parse_url(simulator.url)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        if dripping:  # all but the blank line's last byte, read on its own first
            sock.sendall(lines + b"\r\n\r")
            time.sleep(0.2)
            with contextlib.suppress(OSError):  # refused already: the point
                sock.sendall(b"\n")
        else:
            sock.sendall(lines + b"\r\n\r\n")
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 " + status + b"\r\n"), answer[:100]


def test_a_refused_request_gives_its_connection_back(simulator: Simulator) -> None:
    """``open_connections`` counts what is open: a connection refused 400 is closed,
    and no longer counted."""
    for _ in range(5):
        answer = _raw(simulator.url, b"GARBAGE\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert settled_connections(simulator, 0) == 0


def test_an_idle_connection_closed_by_the_sweep_is_counted_off_once() -> None:
    """A connection idle past ``idle_timeout`` is closed by the sweep and leaves it:
    ``open_connections`` goes to 0 and stays there, sweep after sweep (not below)."""
    with Simulator(idle_timeout=0.3) as sim:
        endpoint = parse_url(sim.url)
        with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
            assert sock.recv(1) == b""  # closed by the server, having said nothing
        time.sleep(1.5)  # sweeps come more often than this
        assert sim.open_connections == 0


def test_a_connection_dropped_by_a_fault_is_counted_off() -> None:
    """A ``drop`` fault hangs up on the client and closes the connection at the server:
    ``open_connections`` goes back to 0, one connection counted off per drop."""
    with Simulator() as sim:
        sim.app.faults.fail_next("getWalletData", "drop", times=3)
        with WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
            environment=sim.url, retry=NO_RETRY,
        ) as client:  # fmt: skip
            for _ in range(3):
                with pytest.raises(ConnectionDropped):
                    client.get_wallet_data("w")
        assert settled_connections(sim, 0) == 0


def test_leaving_its_block_stops_it_and_closes_the_connections_kept_open() -> None:
    """A simulator whose ``with`` block has ended listens no more and leaves no client
    waiting on an open connection: an idle connection and one kept alive after an
    answer are both closed."""
    with Simulator() as sim:
        endpoint = parse_url(sim.url)
        address = (endpoint.host, endpoint.port)
        idle = socket.create_connection(address, timeout=5)
        kept = socket.create_connection(address, timeout=5)
        kept.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(65536).startswith(b"HTTP/1.1 ")
        assert settled_connections(sim, 2) == 2
    with idle, kept:
        assert idle.recv(1) == b"" and kept.recv(1) == b""  # closed, not timed out
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def test_serve_forever_serves_in_the_calling_thread_until_stopped() -> None:
    """``serve_forever()`` answers in the thread that calls it, and ``stop()`` from
    another thread ends it cleanly: it returns, having raised nothing."""
    sim = Simulator()
    raised: list[BaseException] = []

    def serve() -> None:
        try:
            sim.serve_forever()
        except BaseException as exc:  # what the thread died of, checked below
            raised.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, environment=sim.url
        ) as client:
            assert client.add_card("w", TEST_PAN, card_expiry_date="203012").ok
    finally:
        sim.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and raised == []
    assert sim.requests_seen == 1


def test_stop_ends_the_serving_thread_before_closing_what_it_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``stop()`` waits for the serving thread, then closes the selector and the
    listener: the thread ends on its own, never on a closed selector."""
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died.append(hook.exc_value))
    threads = []
    for _ in range(5):
        with Simulator() as sim:
            threads.append(sim._thread)
    for thread in threads:
        assert thread is not None
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert died == []


def test_a_failed_handshake_gives_its_connection_back(pki: ThrowawayPKI) -> None:
    """A TLS listener sent plain HTTP closes the connection once, and counts it once:
    ``open_connections`` goes back to 0, not below."""
    with Simulator(tls=pki.server()) as sim:
        endpoint = parse_url(sim.url)
        for _ in range(3):
            with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                with contextlib.suppress(ConnectionResetError):  # closed, perhaps reset
                    while sock.recv(65536):  # at most a TLS alert, then the end
                        pass
        assert settled_connections(sim, 0) == 0


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400 Bad Request"),
        (b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
         b"413 Payload Too Large"),
    ],
)  # fmt: skip
def test_a_refusal_says_it_closes_the_connection(
    request_bytes: bytes, status: bytes, simulator: Simulator
) -> None:
    """A refusal is the connection's last answer, and says so (RFC 9112 9.6): a
    client that kept it for its next request would send into a closed socket."""
    answer = _raw(simulator.url, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 " + status
    assert b"Connection: close" in lines[1:]
    assert f"Content-Length: {len(body)}".encode() in lines[1:]


def test_the_wsdl_served_over_tls_points_back_over_tls(pki: ThrowawayPKI) -> None:
    """The WSDL's address and schema location point back here, as CXF does: over
    https when served over https (a client reading the address must not fall back
    to plain http)."""
    import requests
    from lxml import etree

    with Simulator(tls=pki.server()) as sim:
        assert sim.url.startswith("https://")
        answer = requests.get(f"{sim.url}?wsdl", verify=str(pki.ca_cert), timeout=5)
    assert answer.status_code == 200
    safe = etree.XMLParser(resolve_entities=False, no_network=True)
    tree = etree.fromstring(answer.content, safe)
    addresses = tree.findall(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert [a.get("location") for a in addresses] == [sim.url] * len(addresses) != []
    imports = tree.findall(".//{http://www.w3.org/2001/XMLSchema}import[@schemaLocation]")
    assert imports and all(i.get("schemaLocation", "").startswith(f"{sim.url}?xsd=")
                           for i in imports)  # fmt: skip


def test_a_store_path_that_is_a_symbolic_link_is_not_followed(tmp_path: Path) -> None:
    """The store is made private (0600) where it is named: a link planted there by
    someone else is not followed into a file of theirs."""
    import errno

    elsewhere = tmp_path / "theirs.sqlite3"
    elsewhere.write_bytes(b"")
    link = tmp_path / "store.sqlite3"
    link.symlink_to(elsewhere)
    with pytest.raises(OSError, match="Too many levels of symbolic links") as caught:
        WalletStore(str(link))
    assert caught.value.errno == errno.ELOOP
    assert elsewhere.read_bytes() == b""


def test_a_card_found_by_its_number_is_the_payment_mean_stored(tmp_path: Path) -> None:
    store = WalletStore(str(tmp_path / "s.sqlite3"))
    try:
        store.add_card("m", "w", TEST_PAN, "203012", None, None, "2026-12-06T10:00:00+01:00")
        added = store.add_card("m", "w", "5100000000000000", "203101", "work", "CB",
                               "2026-12-06T10:00:00+01:00")  # fmt: skip
        assert added is not None
        assert store.find_card("m", "w", "5100000000000000") == added
        assert added.payment_mean_id == "2" and added.alias == "work" and added.brand == "CB"
        assert store.find_card("m", "other", "5100000000000000") is None
    finally:
        store.close()
