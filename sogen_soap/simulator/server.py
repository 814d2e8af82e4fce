"""Serving the simulator on loopback: threaded, quiet, started and stopped cleanly."""

from __future__ import annotations

import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import CONNECTION_KEY, DEFAULT_MERCHANT, Merchant, SimulatorApp
from .faults import FaultProfile
from .store import WalletStore
from .tls import ServerTLS

__all__ = ["SERVICE_PATH", "Simulator"]

SERVICE_PATH = "/services/v2/wallet"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections under a few
    # dozen concurrent clients.
    request_queue_size = 256
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, on the request's own thread, so a
        # slow or hostile client cannot stall the accepting loop.
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Network errors (refused handshakes, dropped peers) are expected: stay quiet."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Access logs would go to stderr on every call; the simulator stays quiet."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[CONNECTION_KEY] = self.connection  # so a fault can drop it
        return environ


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
        self._server = _ThreadingWSGIServer((host, port), _QuietHandler)
        self._server.set_app(self.app)
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
