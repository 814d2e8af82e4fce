"""Serving the simulator on loopback: a small HTTP/1.1 front, bounded in every way.

Why not ``http.server``: it gives each connection a thread for as long as the
connection lives, so a few thousand idle keep-alive sockets (or clients that
send a request one byte at a time) hold every thread and real clients starve;
and it parses every request's headers through ``email.parser``, which made
the simulator, not the client, what benchmarks measured.

Here one thread waits on all connections with a selector.  A connection
costs a worker only while a complete request is being answered; workers are
a fixed pool.  A connection idle for ``idle_timeout`` seconds, or taking more
than ``request_timeout`` seconds to deliver a request, is closed; past
``max_connections`` the longest-idle connections are closed first.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from .app import CONNECTION_KEY, DEFAULT_MERCHANT, Merchant, SimulatorApp
from .faults import FaultProfile
from .store import WalletStore
from .tls import ServerTLS

__all__ = ["SERVICE_PATH", "Simulator"]

SERVICE_PATH: Final = "/services/v2/wallet"
_MAX_HEAD: Final = 16 * 1024  # the request line and header lines, before the blank line
_MAX_BODY: Final = 1 << 20
_REASONS: Final = {400: "Bad Request", 408: "Request Timeout", 413: "Payload Too Large"}
_ACCEPT_BACKOFF: Final = 0.25  # seconds without accepting, at the open-file limit
_MAX_CHUNK_LINE: Final = 4096
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,8}")


class _Connection:
    """One client connection and the bytes it has sent so far."""

    __slots__ = ("address", "buffer", "handshaking", "last", "sock", "started")

    def __init__(self, sock: socket.socket, address: Any) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.last = time.monotonic()
        self.started: float | None = None  # when the request now arriving began
        self.handshaking = False  # TLS: the handshake is still under way

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Request:
    __slots__ = ("body", "headers", "keep_alive", "method", "target", "version")

    def __init__(
        self, method: str, target: str, version: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.method, self.target, self.version = method, target, version
        self.headers, self.body = headers, body
        connection = headers.get("connection", "").lower()
        self.keep_alive = (
            "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        )


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _take_request(buffer: bytearray) -> _Request | None:
    """A complete request from the front of ``buffer`` (removed), or None for not yet."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > _MAX_HEAD + 3:  # the blank line may still begin in the last 3
            raise _BadRequest(413)
        return None
    if end > _MAX_HEAD:  # arrived whole: bounded the same, not only while it drips
        raise _BadRequest(413)
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise _BadRequest(400)
        headers[name.lower()] = value.strip()
    if "transfer-encoding" in headers:
        # Java's HTTP client streams bodies chunked.  Only "chunked" alone, and never
        # beside a Content-Length (two framings of one body: request smuggling).
        if headers["transfer-encoding"].lower() != "chunked" or "content-length" in headers:
            raise _BadRequest(400)
        taken = _chunked(buffer, end + 4)
        if taken is None:
            return None
        body, consumed = taken
        del buffer[:consumed]
        return _Request(parts[0], parts[1], parts[2], headers, body)
    length_text = headers.get("content-length", "0")
    if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 12:
        raise _BadRequest(400)  # str.isdigit() alone takes "²", which int() refuses
    length = int(length_text)
    if length > _MAX_BODY:
        raise _BadRequest(413)
    if len(buffer) < end + 4 + length:
        return None
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return _Request(parts[0], parts[1], parts[2], headers, body)


def _chunked(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body from ``buffer[start:]``: (body, where the request ends), or
    None while it is still arriving.  Bounded like a Content-Length body (the
    sweep bounds the time it may take)."""
    body = bytearray()
    position = start
    while True:
        end = buffer.find(b"\r\n", position)
        if end < 0:
            if len(buffer) - position > _MAX_CHUNK_LINE:
                raise _BadRequest(400)
            return None
        size_text = bytes(buffer[position:end]).split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise _BadRequest(400)
        size = int(size_text, 16)
        position = end + 2
        if size == 0:
            break
        if len(body) + size > _MAX_BODY:
            raise _BadRequest(413)
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            raise _BadRequest(400)
        body += buffer[position : position + size]
        position += size + 2
    while True:  # trailer lines, then the blank line that ends the request
        end = buffer.find(b"\r\n", position)
        if end < 0:
            if len(buffer) - position > _MAX_CHUNK_LINE:
                raise _BadRequest(400)
            return None
        line, position = buffer[position:end], end + 2
        if not line:
            return bytes(body), position


class _Front:
    """The selector loop, the worker pool and the WSGI call, on one listening socket."""

    def __init__(
        self,
        app: SimulatorApp,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        *,
        workers: int,
        idle_timeout: float,
        request_timeout: float,
        max_connections: int,
    ) -> None:
        self.app = app
        self.tls = tls
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.listener, selectors.EVENT_READ, None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-worker")
        self._parked: dict[int, _Connection] = {}  # waiting for bytes, by fd
        self._returned: list[_Connection] = []  # answered, to watch again
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stopping = threading.Event()
        self._accept_again = 0.0  # when to watch the listener again (0: it is watched)
        self.open_connections = 0

    # ------------------------------------------------------------ the loop

    def serve(self) -> None:
        next_sweep = time.monotonic() + 0.25
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.25):
                if key.data is None:
                    self._accept()
                elif key.data == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                else:
                    self._readable(key.data)
            with self._lock:
                returned, self._returned = self._returned, []
            for connection in returned:
                self._park(connection)
                if connection.buffer:  # a request already waiting in the buffer
                    self._readable(connection, read=False)
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + 0.25
            if self._accept_again and time.monotonic() >= self._accept_again:
                self._accept_again = 0.0
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.register(self.listener, selectors.EVENT_READ, None)
        for connection in list(self._parked.values()):
            self._unpark(connection)
            connection.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            returned, self._returned = self._returned, []
        for connection in returned:
            connection.close()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def close(self) -> None:
        self._selector.close()
        for sock in (self.listener, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting()  # out of descriptors: wait, do not spin
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
            connection = _Connection(sock, address)
            with self._lock:
                self.open_connections += 1
            if self.tls is not None:
                # The handshake runs here, a step each time bytes come, never on a
                # worker: a peer that drips it costs no thread, and the sweep ends
                # it after request_timeout like a request that drips.
                try:
                    connection.sock = self.tls.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                except (OSError, ValueError):
                    self._closed(connection)
                    continue
                connection.handshaking = True
                connection.started = time.monotonic()
            self._park(connection)
            if len(self._parked) > self.max_connections:
                self._shed()

    def _pause_accepting(self) -> None:
        """At the open-file limit: stop watching the listener for a moment, and free
        a descriptor by closing the longest-idle connection."""
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self.listener)
        self._accept_again = time.monotonic() + _ACCEPT_BACKOFF
        idle = sorted(self._parked.values(), key=lambda c: c.last)[:1]
        for connection in idle:
            self._unpark(connection)
            self._closed(connection)

    def _handshake_step(self, connection: _Connection) -> bool:
        """Advance a TLS handshake; True once done (False: wait for more, or closed)."""
        assert isinstance(connection.sock, ssl.SSLSocket)
        try:
            connection.sock.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except (OSError, ValueError):
            self._unpark(connection)
            self._closed(connection)
            return False
        connection.handshaking = False
        connection.started = None
        return True

    def _park(self, connection: _Connection) -> None:
        try:
            self._selector.register(connection.sock, selectors.EVENT_READ, connection)
        except (ValueError, KeyError, OSError):
            self._closed(connection)
            return
        self._parked[connection.sock.fileno()] = connection

    def _unpark(self, connection: _Connection) -> None:
        self._parked.pop(connection.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(connection.sock)

    def _closed(self, connection: _Connection) -> None:
        connection.close()
        with self._lock:
            self.open_connections -= 1

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            self._returned.append(connection)
        self._wake()

    def _readable(self, connection: _Connection, *, read: bool = True) -> None:
        if connection.handshaking and not self._handshake_step(connection):
            return
        now = time.monotonic()
        if read:
            while True:
                try:
                    data = connection.sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, InterruptedError):
                    break
                except OSError:
                    data = b""
                if not data:
                    self._unpark(connection)
                    self._closed(connection)
                    return
                connection.buffer += data
                if len(connection.buffer) > _MAX_HEAD + _MAX_BODY:
                    break
        connection.last = now
        if connection.started is None and connection.buffer:
            connection.started = now
        try:
            request = _take_request(connection.buffer)
        except _BadRequest as bad:
            self._unpark(connection)
            self._pool.submit(self._refuse, connection, bad.status)
            return
        except Exception:  # whatever a request holds, it never stops the loop
            self._unpark(connection)
            self._pool.submit(self._refuse, connection, 400)
            return
        if request is None:
            return
        connection.started = None
        self._unpark(connection)
        self._pool.submit(self._answer, connection, request)

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in list(self._parked.values()):
            started = connection.started
            slow = started is not None and now - started > self.request_timeout
            if slow or now - connection.last > self.idle_timeout:
                self._unpark(connection)
                self._closed(connection)

    def _shed(self) -> None:
        """Too many connections: close the longest-idle ones."""
        excess = len(self._parked) - self.max_connections
        for connection in sorted(self._parked.values(), key=lambda c: c.last)[:excess]:
            self._unpark(connection)
            self._closed(connection)

    # ------------------------------------------------------------ a worker

    def _send(self, connection: _Connection, data: bytes) -> bool:
        try:
            connection.sock.settimeout(self.request_timeout)
            connection.sock.sendall(data)
            connection.sock.setblocking(False)
        except OSError:
            return False
        return True

    def _refuse(self, connection: _Connection, status: int) -> None:
        body = _REASONS[status].encode()
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        self._send(connection, head.encode() + body)
        self._closed(connection)

    def _answer(self, connection: _Connection, request: _Request) -> None:
        try:
            data, keep = self._call_app(connection, request)
        except ConnectionAbortedError:  # a fault dropped the connection on purpose
            self._closed(connection)
            return
        except Exception:  # a simulator bug must not kill the worker: say it, refuse
            import traceback

            traceback.print_exc(file=sys.stderr)
            self._refuse(connection, 400)
            return
        if not self._send(connection, data) or not keep or self._stopping.is_set():
            self._closed(connection)
            return
        connection.last = time.monotonic()
        self._give_back(connection)

    def _call_app(self, connection: _Connection, request: _Request) -> tuple[bytes, bool]:
        path, _, query = request.target.partition("?")
        host, port = (str(part) for part in self.address[:2])
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(request.body)),
            "SERVER_NAME": host,
            "SERVER_PORT": port,
            "SERVER_PROTOCOL": request.version,
            "HTTP_HOST": request.headers.get("host", f"{host}:{port}"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.tls is not None else "http",
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            CONNECTION_KEY: connection.sock,
        }
        for name, value in request.headers.items():
            environ.setdefault("HTTP_" + name.upper().replace("-", "_"), value)
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            started[:] = [status, headers]

        body = b"".join(self.app(environ, start_response))
        status, headers = started
        keep = request.keep_alive
        lines = [f"HTTP/1.1 {status}", "Server: sogen-soap-simulator"]
        lines += [f"{name}: {value}" for name, value in headers]
        if not keep:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body, keep


class Simulator:
    """The wallet service on ``http://127.0.0.1:<port>/services/v2/wallet``.

    Use it as a context manager; ``url`` is what ``WalletClient(environment=...)``
    takes.  ``db`` is a SQLite file (kept across restarts) or ``":memory:"``.
    ``workers`` answer at most that many requests at once;
    ``idle_timeout``/``request_timeout`` (seconds) close idle and slow
    connections; ``max_connections`` bounds the open ones.  ``record`` keeps
    every request answered, masked, in ``app.received`` (for tests).
    ``shape`` lays lists out as ``"wrapped"`` or ``"jaxb"``; ``newer_fields``
    adds the fields newer SDKs show to each payment mean.
    """

    def __init__(
        self,
        db: str = ":memory:",
        merchants: Iterable[Merchant] = (DEFAULT_MERCHANT,),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultProfile | None = None,
        clock: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        tls: ServerTLS | None = None,
        workers: int = 32,
        idle_timeout: float = 30.0,
        request_timeout: float = 10.0,
        max_connections: int = 4096,
        record: bool = False,
        shape: str = "wrapped",
        newer_fields: bool = False,
    ) -> None:
        self.store = WalletStore(db)
        self.app = SimulatorApp(
            self.store,
            merchants,
            faults=faults,
            clock=clock,
            latency=latency,
            record=record,
            shape=shape,
            newer_fields=newer_fields,
        )
        self._front = _Front(
            self.app,
            host,
            port,
            tls.context() if tls is not None else None,
            workers=workers,
            idle_timeout=idle_timeout,
            request_timeout=request_timeout,
            max_connections=max_connections,
        )
        self._thread: threading.Thread | None = None
        self._served: threading.Event | None = None  # serve_forever()'s end, once called

    @property
    def url(self) -> str:
        host, port = (str(part) for part in self._front.address[:2])
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self._front.tls is not None else "http"
        return f"{scheme}://{host}:{port}{SERVICE_PATH}"

    @property
    def requests_seen(self) -> int:
        """HTTP requests received so far (any method, any path)."""
        return self.app.requests_seen

    @property
    def open_connections(self) -> int:
        """Client connections open right now."""
        return self._front.open_connections

    def start(self) -> Simulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._front.serve, name="sogen-simulator", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` is called from another one
        (``start()`` does this in a thread of its own)."""
        served = self._served = threading.Event()
        try:
            self._front.serve()
        finally:
            served.set()

    def stop(self) -> None:
        """Stop serving, wherever it runs, then close the listener and the store:
        no socket is closed under a serving loop."""
        self._front.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        elif self._served is not None:
            self._served.wait()
        self._front.close()
        self.store.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
