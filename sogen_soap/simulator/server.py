"""Serving the simulator on loopback: threaded, keep-alive, quiet, stopped cleanly."""

from __future__ import annotations

import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .app import CONNECTION_KEY, DEFAULT_MERCHANT, Merchant, SimulatorApp
from .faults import FaultProfile
from .store import WalletStore
from .tls import ServerTLS

__all__ = ["SERVICE_PATH", "Simulator"]

SERVICE_PATH = "/services/v2/wallet"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections under a few
    # dozen concurrent clients.
    request_queue_size = 256
    tls: ssl.SSLContext | None = None
    app: SimulatorApp

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, on the connection's own thread, so a
        # slow or hostile client cannot stall the accepting loop.
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Network errors (refused handshakes, dropped peers) are expected: stay quiet."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Gateway(BaseHTTPRequestHandler):
    """A minimal WSGI gateway that keeps connections alive (HTTP/1.1).

    wsgiref speaks HTTP/1.0 only: a new connection, and a new server thread,
    for every call, which costs both sides more than the call itself.
    """

    protocol_version = "HTTP/1.1"
    server_version = "sogen-soap-simulator"
    disable_nagle_algorithm = True  # headers and body leave without waiting for an ACK
    server: _Server

    def _run(self) -> None:
        path, _, query = self.path.partition("?")
        host, port = (str(part) for part in self.server.server_address[:2])
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": self.headers.get("Content-Length", ""),
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "HTTP_HOST": self.headers.get("Host", f"{host}:{port}"),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.server.tls is not None else "http",
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            CONNECTION_KEY: self.connection,
        }
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            started[:] = [status, headers]

        try:
            body = b"".join(self.server.app(environ, start_response))
        except ConnectionAbortedError:  # a fault dropped the connection on purpose
            self.close_connection = True
            return
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _run

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Access logs would go to stderr on every call; the simulator stays quiet."""


class Simulator:
    """The wallet service on ``http://127.0.0.1:<port>/services/v2/wallet``.

    Use it as a context manager; ``url`` is what ``WalletClient(environment=...)``
    takes.  ``db`` is a SQLite file (kept across restarts) or ``":memory:"``.
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
    ) -> None:
        self.store = WalletStore(db)
        self.app = SimulatorApp(self.store, merchants, faults=faults, clock=clock, latency=latency)
        self._server = _Server((host, port), _Gateway)
        self._server.app = self.app
        self._server.tls = tls.context() if tls is not None else None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = (str(part) for part in self._server.server_address[:2])
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self._server.tls is not None else "http"
        return f"{scheme}://{host}:{port}{SERVICE_PATH}"

    @property
    def requests_seen(self) -> int:
        """HTTP requests received so far (any method, any path)."""
        return self.app.requests_seen

    def start(self) -> Simulator:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
                name="sogen-simulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
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
