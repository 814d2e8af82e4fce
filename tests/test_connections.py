"""Kept-alive connections, sync and async: reused while the server keeps them,
replaced when it has closed them, and a request never sent twice unless it is
an idempotent read that the server provably never got.

The server here is written in the test (loopback, raw sockets); the senders are
the package's, driven directly with their own deadline.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import MERCHANT
from hostile import LoopbackServer, nothing_left_unclosed, read_request

from sogen_soap import (
    AsyncWalletClient,
    ConnectionDropped,
    ConnectionFailed,
    ResponseTimeout,
    RetryPolicy,
    SogenSoapError,
    WalletClient,
)
from sogen_soap.endpoints import parse_url
from sogen_soap.transport import AsyncSender, Deadline, HTTPAnswer, SyncSender

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

# A connection's script: (connection number, socket, requests seen so far) -> None
Script = Callable[[int, socket.socket, list[bytes]], None]


class Server(LoopbackServer):
    """Counts connections and requests; each connection runs ``script``."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.requests: list[bytes] = []

    @property
    def url(self) -> str:
        return f"{self.base}/services/v2/wallet"

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(5)
        self.script(number, conn, self.requests)


def answer_each(conn: socket.socket, requests: list[bytes], answer: bytes) -> None:
    while request := read_request(conn):
        requests.append(request)
        conn.sendall(answer)


def keep_alive(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    answer_each(conn, requests, OK)


def close_each(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    answer_each(conn, requests, CLOSE)


def one_then_hang_up(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    """The first connection answers once, then closes when the next request arrives."""
    requests.append(read_request(conn))
    conn.sendall(OK)
    if number == 1 or number == 3:
        read_request(conn)  # read it whole, answer nothing: the peer closes
        return
    answer_each(conn, requests, OK)


def one_then_idle_close(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    """Odd connections answer once, then close while idle (as servers do after a while)."""
    requests.append(read_request(conn))
    conn.sendall(OK)
    if number % 2 == 0:
        answer_each(conn, requests, OK)


def _send(sender: SyncSender, method: str = "POST") -> HTTPAnswer:
    return sender.request(
        "op", method, "/services/v2/wallet", {"X-Test": "1"}, b"body", Deadline(3)
    )


async def _send_async(sender: AsyncSender, method: str = "POST") -> HTTPAnswer:
    return await sender.request(
        "op", method, "/services/v2/wallet", {"X-Test": "1"}, b"body", Deadline(3)
    )


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    with Server(request.param) as running:
        yield running


@pytest.mark.parametrize(("server", "connections"), [(keep_alive, 1), (close_each, 3)],
                         indirect=["server"])  # fmt: skip
def test_a_connection_is_reused_while_the_server_keeps_it(server: Server, connections: int) -> None:
    sender = SyncSender(parse_url(server.url))
    answers = [_send(sender) for _ in range(3)]
    sender.close()
    assert [(a.status, a.reason, a.body) for a in answers] == [(200, "OK", b"ok")] * 3
    assert answers[0].headers["content-length"] == "2"
    assert server.connections == connections and len(server.requests) == 3

    async def three() -> list[HTTPAnswer]:
        sender = AsyncSender(parse_url(server.url))
        try:
            return [await _send_async(sender) for _ in range(3)]
        finally:
            await sender.aclose()

    assert [a.body for a in asyncio.run(three())] == [b"ok"] * 3
    assert server.connections == 2 * connections


@pytest.mark.parametrize("server", [one_then_idle_close], indirect=True)
def test_a_connection_the_server_closed_while_idle_is_replaced(server: Server) -> None:
    """...and closed by the sender, not left for the garbage collector (which would
    warn of an unclosed socket)."""
    with nothing_left_unclosed():
        sender = SyncSender(parse_url(server.url))
        assert _send(sender).body == b"ok"
        _wait_for_close()
        assert _send(sender).body == b"ok"  # not an error: the request went on a new one
        sender.close()
        assert server.connections == 2 and len(server.requests) == 2

        async def two() -> None:
            sender = AsyncSender(parse_url(server.url))
            assert (await _send_async(sender)).body == b"ok"
            await asyncio.sleep(0.2)
            assert (await _send_async(sender)).body == b"ok"
            await sender.aclose()

        asyncio.run(two())
        assert server.connections == 4 and len(server.requests) == 4


def _wait_for_close() -> None:
    threading.Event().wait(0.2)  # the server's close reaches this side


@pytest.mark.parametrize("server", [one_then_hang_up], indirect=True)
def test_a_post_lost_on_a_reused_connection_is_not_sent_again(server: Server) -> None:
    sender = SyncSender(parse_url(server.url))
    _send(sender)
    with pytest.raises(ConnectionDropped) as caught:
        _send(sender)  # the server read it whole: it may have acted on it
    assert str(caught.value) == (
        "op: the connection closed without an answer (http://127.0.0.1:"
        f"{parse_url(server.url).port}/services/v2/wallet)"
    )
    sender.close()
    assert server.connections == 1


@pytest.mark.parametrize("server", [one_then_hang_up], indirect=True)
def test_a_get_lost_on_a_reused_connection_is_sent_once_more(server: Server) -> None:
    sender = SyncSender(parse_url(server.url))
    _send(sender, "GET")
    assert _send(sender, "GET").body == b"ok"  # a read nobody answered: safe to send again
    sender.close()
    assert server.connections == 2


@pytest.mark.parametrize("server", [one_then_hang_up], indirect=True)
def test_the_async_sender_follows_the_same_rule(server: Server) -> None:
    async def run() -> tuple[type[BaseException] | None, bytes]:
        sender = AsyncSender(parse_url(server.url))
        await _send_async(sender)
        try:
            await _send_async(sender)
            lost: type[BaseException] | None = None
        except ConnectionDropped as error:
            lost = type(error)
        await _send_async(sender)
        body = (await _send_async(sender, "GET")).body
        await sender.aclose()
        return lost, body

    lost, body = asyncio.run(run())
    assert lost is ConnectionDropped and body == b"ok"


@pytest.mark.parametrize("server", [keep_alive], indirect=True)
def test_what_a_request_carries(server: Server) -> None:
    sender = SyncSender(parse_url(server.url))
    _send(sender)
    sender.close()
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /services/v2/wallet HTTP/1.1"
    assert b"X-Test: 1" in lines and b"Content-Length: 4" in lines
    assert b"Accept-Encoding: identity" in lines
    assert body == b"body"


def test_no_time_left_means_nothing_is_sent() -> None:
    sender = SyncSender(parse_url("http://127.0.0.1:9/services/v2/wallet"))
    with pytest.raises(ConnectionFailed) as caught:
        sender.request("op", "POST", "/", {}, b"", Deadline(-1))
    assert str(caught.value) == (
        "op: could not connect to http://127.0.0.1:9/services/v2/wallet: no time left to connect"
    )


def test_a_spent_deadline_still_hands_a_blocking_wait_to_socket_apis() -> None:
    """transport.Deadline.left: at least a millisecond.  ``settimeout(0)`` would make a
    TLS handshake non-blocking (an SSLWantReadError, reported as a TLS failure rather
    than as the time being up) and ``wait_for(timeout=0)`` never waits at all."""
    left = Deadline(-1).left()
    assert 0 < left <= 0.01
    with socket.socket() as sock:
        sock.settimeout(left)
        assert sock.getblocking() and sock.gettimeout() == left
    assert 0 < Deadline(0).left() <= 0.01
    assert 4 < Deadline(5).left() <= 5


def _answer_once_then_hang_up(both: threading.Barrier) -> Script:
    """Each connection answers its first request once two connections are open,
    then reads the next request whole and closes without answering."""

    def script(number: int, conn: socket.socket, requests: list[bytes]) -> None:
        requests.append(read_request(conn))
        both.wait()
        conn.sendall(OK)
        if second := read_request(conn):  # b"" when the client closed it unused
            requests.append(second)

    return script


def test_a_get_that_finds_every_kept_connection_closed_gives_up_after_two() -> None:
    with Server(_answer_once_then_hang_up(threading.Barrier(2, timeout=5))) as server:
        sender = SyncSender(parse_url(server.url))
        with ThreadPoolExecutor(2) as pool:  # two connections, both kept
            assert [a.body for a in pool.map(lambda _: _send(sender, "GET"), range(2))] == [
                b"ok",
                b"ok",
            ]
        with pytest.raises(ConnectionFailed) as caught:
            _send(sender, "GET")
        sender.close()
        assert server.connections == 2  # no third connection: two tries, no more
        assert len(server.requests) == 4  # each kept connection was tried once
        assert str(caught.value) == (
            f"op: could not connect to {server.url}: the connection kept closing"
        )


def test_the_async_sender_gives_up_after_two_closed_connections_too() -> None:
    async def run(url: str) -> BaseException:
        sender = AsyncSender(parse_url(url))
        answers = await asyncio.gather(_send_async(sender, "GET"), _send_async(sender, "GET"))
        assert [a.body for a in answers] == [b"ok", b"ok"]
        try:
            await _send_async(sender, "GET")
        except ConnectionFailed as error:
            return error
        finally:
            await sender.aclose()
        raise AssertionError("the third GET was answered")

    with Server(_answer_once_then_hang_up(threading.Barrier(2, timeout=5))) as server:
        error = asyncio.run(run(server.url))
        assert server.connections == 2 and len(server.requests) == 4
        assert str(error) == f"op: could not connect to {server.url}: the connection kept closing"


# More than the loopback buffers of both ends hold: the send itself has to wait.
BIG = b"x" * (32 * 1024 * 1024)


def _never_reading(release: threading.Event) -> Script:
    def script(number: int, conn: socket.socket, requests: list[bytes]) -> None:
        release.wait(10)

    return script


def _reading_late(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    threading.Event().wait(0.3)  # the client's send is blocked by now
    requests.append(read_request(conn))
    conn.sendall(OK)


def test_a_server_that_never_reads_cannot_hold_a_send_past_its_deadline() -> None:
    release = threading.Event()
    with Server(_never_reading(release)) as server:
        sender = SyncSender(parse_url(server.url))
        with pytest.raises(ResponseTimeout) as caught:
            sender.request("op", "POST", "/services/v2/wallet", {}, BIG, Deadline(0.5))

        async def run() -> BaseException:
            sender = AsyncSender(parse_url(server.url))
            try:
                await sender.request("op", "POST", "/services/v2/wallet", {}, BIG, Deadline(0.5))
            except ResponseTimeout as error:
                return error
            finally:
                await sender.aclose()
            raise AssertionError("sent in full to a server that reads nothing")

        async_error = asyncio.run(run())
        release.set()
        expected = f"op: no complete answer from {server.url} within the timeout"
        assert str(caught.value) == expected and str(async_error) == expected


def test_a_send_that_had_to_wait_is_sent_whole() -> None:
    with Server(_reading_late) as server:
        sender = SyncSender(parse_url(server.url))
        answer = sender.request("op", "POST", "/services/v2/wallet", {}, BIG, Deadline(10))
        sender.close()
        assert answer.body == b"ok"
        assert server.requests[0].endswith(b"\r\n\r\n" + BIG)


def _hang_up_on_each(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    requests.append(read_request(conn))  # read whole, never answered


def test_a_get_lost_on_a_new_connection_is_not_sent_again() -> None:
    """Only a kept connection closed while idle excuses a silent hang-up: on a new
    one the server had the request, so a lost answer is reported, not hidden."""
    with Server(_hang_up_on_each) as server:
        sender = SyncSender(parse_url(server.url))
        with pytest.raises(ConnectionDropped):
            _send(sender, "GET")

        async def run() -> None:
            sender = AsyncSender(parse_url(server.url))
            try:
                await _send_async(sender, "GET")
            finally:
                await sender.aclose()

        with pytest.raises(ConnectionDropped):
            asyncio.run(run())
        assert server.connections == 2 and len(server.requests) == 2


def _stray_bytes_when_idle(number: int, conn: socket.socket, requests: list[bytes]) -> None:
    requests.append(read_request(conn))
    conn.sendall(OK)
    if number % 2:
        threading.Event().wait(0.05)  # the client has read its answer whole by now
        conn.sendall(b"HTTP/1.1 200 OK\r\n")  # unasked, after the answer: never read as one
    answer_each(conn, requests, OK)


def test_a_kept_connection_with_unasked_bytes_is_not_reused() -> None:
    with Server(_stray_bytes_when_idle) as server:
        sender = SyncSender(parse_url(server.url))
        assert _send(sender).body == b"ok"
        _wait_for_close()  # the stray bytes have arrived
        assert _send(sender).body == b"ok"
        sender.close()

        async def run() -> list[bytes]:
            sender = AsyncSender(parse_url(server.url))
            bodies = [(await _send_async(sender)).body]
            await asyncio.sleep(0.2)
            bodies.append((await _send_async(sender)).body)
            await sender.aclose()
            return bodies

        assert asyncio.run(run()) == [b"ok", b"ok"]
        assert server.connections == 4


def _answer_once_then_stop_reading(release: threading.Event) -> Script:
    """The first request answered; the next one, on the same kept connection, never read."""

    def script(number: int, conn: socket.socket, requests: list[bytes]) -> None:
        requests.append(read_request(conn))
        conn.sendall(OK)
        release.wait(10)

    return script


def test_a_send_that_times_out_on_a_kept_connection_is_never_sent_again() -> None:
    """A reused connection that goes quiet mid-send is not a stale one (that fails at
    once): part of the request may have reached the service, so it is a lost answer,
    never a reason to open another connection and send it once more."""
    release = threading.Event()
    with Server(_answer_once_then_stop_reading(release)) as server:
        sender = SyncSender(parse_url(server.url))
        assert _send(sender).body == b"ok"
        with pytest.raises(ResponseTimeout):
            sender.request("op", "POST", "/services/v2/wallet", {}, BIG, Deadline(0.5))
        release.set()
        sender.close()
        assert server.connections == 1  # no second connection: nothing sent again


def _both_at_once(arrived: threading.Barrier, closed: list[int]) -> Script:
    """Each connection's first request is answered once both have arrived; a
    connection the client then closes is noted."""

    def script(number: int, conn: socket.socket, requests: list[bytes]) -> None:
        requests.append(read_request(conn))
        arrived.wait()
        conn.sendall(OK)
        answer_each(conn, requests, OK)
        closed.append(number)

    return script


def test_the_pool_keeps_no_more_idle_connections_than_its_size() -> None:
    closed: list[int] = []
    with Server(_both_at_once(threading.Barrier(2, timeout=5), closed)) as server:
        sender = SyncSender(parse_url(server.url), pool_size=1)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda _: _send(sender), range(2)))
        assert [a.body for a in answers] == [b"ok", b"ok"] and server.connections == 2
        for _ in range(50):  # the second connection is closed, not kept
            if closed:
                break
            threading.Event().wait(0.02)
        assert len(closed) == 1
        assert _send(sender).body == b"ok"  # the kept one serves the next request
        assert server.connections == 2
        sender.close()


class _Counting:
    """How many requests the server holds at once, at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0

    def script(self, number: int, conn: socket.socket, requests: list[bytes]) -> None:
        while request := read_request(conn):
            with self.lock:
                requests.append(request)
                self.now += 1
                self.most = max(self.most, self.now)
            threading.Event().wait(0.15)  # long enough for every caller to be waiting
            with self.lock:
                self.now -= 1
            conn.sendall(OK)


def test_the_async_sender_has_at_most_max_connections_on_the_wire() -> None:
    counting = _Counting()

    async def run(url: str) -> list[bytes]:
        sender = AsyncSender(parse_url(url), max_connections=2)
        try:
            answers = await asyncio.gather(*(_send_async(sender) for _ in range(6)))
        finally:
            await sender.aclose()
        return [a.body for a in answers]

    with Server(counting.script) as server:
        assert asyncio.run(run(server.url)) == [b"ok"] * 6
        assert len(server.requests) == 6
    assert counting.most == 2  # the others queued in the client, not on the wire


@pytest.mark.parametrize(("options", "most"), [({}, 8), ({"max_connections": 3}, 3)])
def test_the_async_client_s_connection_limit_reaches_the_wire(
    options: dict[str, int], most: int
) -> None:
    """docs: ``AsyncWalletClient(max_connections=8)`` by default: the client's limit
    (its default or the caller's) is the one on the wire, not the sender's own."""
    counting = _Counting()

    async def run(url: str) -> list[object]:
        async with AsyncWalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
            environment=url, retry=RetryPolicy(attempts=1), **options,
        ) as client:  # fmt: skip
            calls = (client.get_wallet_data(f"w{n}") for n in range(most + 4))
            return await asyncio.gather(*calls, return_exceptions=True)

    with Server(counting.script) as server:
        outcomes = asyncio.run(run(server.url))  # "ok" is no SOAP answer: each one raises
        assert len(server.requests) == most + 4
    assert all(isinstance(outcome, SogenSoapError) for outcome in outcomes)
    assert counting.most == most


@pytest.mark.parametrize(("options", "connections"), [({}, 1), ({"pool_size": 0}, 3)])
def test_the_sync_client_s_pool_size_reaches_its_connections(
    options: dict[str, int], connections: int
) -> None:
    """``WalletClient``'s docstring: ``pool_size`` kept-alive connections are reused
    between calls (16 by default); ``pool_size=0`` keeps none, so each call opens
    its own connection."""
    with Server(keep_alive) as server:
        with WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
            environment=server.url, retry=RetryPolicy(attempts=1), **options,
        ) as client:  # fmt: skip
            for n in range(3):  # "ok" is no SOAP answer: each call raises, once answered
                with pytest.raises(SogenSoapError):
                    client.get_wallet_data(f"w{n}")
        assert len(server.requests) == 3
        assert server.connections == connections


def test_a_connect_that_hangs_ends_at_the_call_s_deadline_sync_and_async() -> None:
    """A service whose accept queue is full lets a connect hang (loopback, a listener
    that never accepts): the call still ends at its deadline, not at the longer
    connect timeout, and says it could not connect (nothing was sent)."""
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        url = f"http://127.0.0.1:{address[1]}/services/v2/wallet"
        queued = socket.create_connection(address, timeout=2)  # fills the queue

        async def run() -> tuple[BaseException, float]:
            sender = AsyncSender(parse_url(url), connect_timeout=20)
            started = time.monotonic()
            try:
                await sender.request("op", "POST", "/services/v2/wallet", {}, b"b", Deadline(0.5))
            except ConnectionFailed as error:
                return error, time.monotonic() - started
            finally:
                await sender.aclose()
            raise AssertionError("connected to a listener that never accepts")

        try:
            sync_started = time.monotonic()
            with pytest.raises(ConnectionFailed) as sync_error:
                SyncSender(parse_url(url), connect_timeout=20).request(
                    "op", "POST", "/services/v2/wallet", {}, b"b", Deadline(0.5)
                )
            sync_took = time.monotonic() - sync_started
            async_error, async_took = asyncio.run(run())
        finally:
            queued.close()
    assert sync_took < 5 and async_took < 5  # the deadline (0.5 s), not the 20 s connect timeout
    assert type(async_error) is type(sync_error.value)
