"""A server that misbehaves on purpose, on loopback, written in the tests.

Each connection reads one HTTP request, then answers the way ``mode`` says.
It never uses the package (it is the other side), and every loop ends when
the client goes away or the fixture stops it.
"""

from __future__ import annotations

import contextlib
import gc
import select
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from sogen_soap.endpoints import parse_url

if TYPE_CHECKING:
    from typing_extensions import Self

    from sogen_soap.simulator import Simulator

SERVICE_PATH: Final = "/services/v2/wallet"


def read_request(conn: socket.socket) -> bytes:
    """One request (head and Content-Length body), or b"" if the peer left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        body += chunk
    return head + b"\r\n\r\n" + body


def request_parts(request: bytes) -> tuple[str, dict[str, str], bytes]:
    """A request as ``read_request`` returns it: its request line, its headers (names
    in lower case) and its body."""
    head, _, body = request.partition(b"\r\n\r\n")
    line, *fields = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in fields)}
    return line, headers, body


Behaviour = Callable[[socket.socket, bytes, threading.Event], None]


def _drip(conn: socket.socket, data: bytes, stop: threading.Event, every: float) -> None:
    for byte in data:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


def drip_head(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """A status line and then headers that never end, one byte every 0.2 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    _drip(conn, b"X-Slow: " + b"a" * 100_000, stop, 0.2)


def drip_body(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """A proper head announcing 900 bytes, then the body one byte every 0.2 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n")
    _drip(conn, b"<" + b"a" * 899, stop, 0.2)


def endless_chunked(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """Chunks of small XML elements, as fast as the client reads, forever."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"<a/>" * 16384
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    conn.sendall(b"3\r\n<x>\r\n")
    while not stop.is_set():
        conn.sendall(chunk)


def endless_until_close(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """No length at all: the body runs until the connection closes, which it never does."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n<x>")
    piece = b"<a/>" * 16384
    while not stop.is_set():
        conn.sendall(piece)


def huge_length(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """42 MB of small elements, announced honestly."""
    body = b"<x>" + b"<a/>" * (42_000_000 // 4) + b"</x>"
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    with contextlib.suppress(OSError):
        conn.sendall(body)


def silent(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """Reads the request, answers nothing, keeps the connection open."""
    stop.wait(30)


def silent_body(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """A proper head announcing 900 bytes, then nothing, the connection kept open."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n")
    stop.wait(30)


def garbage_status(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")


MODES: Final[dict[str, Behaviour]] = {
    "drip_head": drip_head,
    "drip_body": drip_body,
    "endless_chunked": endless_chunked,
    "endless_until_close": endless_until_close,
    "huge_length": huge_length,
    "silent": silent,
    "silent_body": silent_body,
    "garbage_status": garbage_status,
}


class LoopbackServer:
    """A server on loopback: accepts in a thread, serves each connection in its own.

    Subclasses say what a connection gets (``serve``); ``connections`` counts them.
    Every loop ends when the fixture stops it.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.listener = socket.create_server((host, 0))
        self.listener.settimeout(0.1)
        self.stop = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def serve(self, number: int, conn: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            thread = threading.Thread(
                target=self._serve, args=(self.connections, conn), daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, number: int, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client gave up: that is the point
            self.serve(number, conn)

    def __enter__(self) -> Self:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._accepting.join()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


class CountingProxy(LoopbackServer):
    """A proxy that takes connections and closes them: what reaches it is counted."""

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.recv(65536)


class Relay(LoopbackServer):
    """Passes each connection on to the endpoint of ``url``, byte for byte both ways:
    a real endpoint behind a door that counts the connections made to it.  ``url`` is
    the same endpoint reached through the relay."""

    def __init__(self, url: str) -> None:
        super().__init__()
        endpoint = parse_url(url)
        self.target = (endpoint.host, endpoint.port)
        self.url = f"{self.base}{endpoint.target}"

    def serve(self, number: int, conn: socket.socket) -> None:
        with socket.create_connection(self.target, timeout=5) as upstream:
            ends = {conn: upstream, upstream: conn}
            while not self.stop.is_set():
                readable, _, _ = select.select(list(ends), [], [], 0.1)
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    ends[end].sendall(data)


class HostileServer(LoopbackServer):
    """``url`` answers every request with ``behaviour``; ``requests`` counts them."""

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.behaviour = behaviour
        self.requests = 0
        self.bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"{self.base}{SERVICE_PATH}"

    def serve(self, number: int, conn: socket.socket) -> None:
        conn.settimeout(30)
        request = read_request(conn)
        if not request:
            return
        self.requests += 1
        self.bodies.append(request)
        self.behaviour(conn, request, self.stop)


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def settled_connections(simulator: Simulator, count: int, seconds: float = 5.0) -> int:
    """The simulator's ``open_connections`` once it comes to ``count``, or after
    ``seconds``: a connection is counted off on the simulator's loop, a moment after
    the client has seen it end."""
    deadline = time.monotonic() + seconds
    while simulator.open_connections != count and time.monotonic() < deadline:
        time.sleep(0.02)
    return simulator.open_connections


@contextlib.contextmanager
def nothing_left_unclosed() -> Iterator[None]:
    """Fails when the block leaves a socket (or any resource) for the garbage collector
    to close: CPython warns ``ResourceWarning: unclosed ...`` as it collects it."""
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[list[int]]:
    """Samples this process's RSS every 5 ms; yields a list holding the peak growth."""
    baseline = rss_bytes()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes() - baseline)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def _read_answer(sock: socket.socket) -> bytes:
    """A complete Content-Length answer from the simulator."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def forwarding_gateway(upstream: tuple[str, int], fail_first: int, status: bytes) -> Behaviour:
    """A gateway that forwards every request, but answers its first ``fail_first``
    forwarded requests with ``status`` (e.g. b"504 Gateway Timeout") and an HTML page,
    as a gateway does whose upstream answered too late for it."""
    counter = {"n": 0}
    lock = threading.Lock()

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        with socket.create_connection(upstream, timeout=10) as up:
            up.sendall(request)
            answer = _read_answer(up)
        with lock:
            counter["n"] += 1
            failing = counter["n"] <= fail_first
        if failing:
            page = b"<html><body>gateway timeout</body></html>"
            conn.sendall(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(page), page)
            )
        else:
            conn.sendall(answer)

    return behave
