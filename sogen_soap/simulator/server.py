"""Serving the simulator on loopback: threaded, quiet, started and stopped cleanly."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .app import DEFAULT_MERCHANT, Merchant, SimulatorApp
from .faults import FaultProfile
from .store import WalletStore

__all__ = ["SERVICE_PATH", "Simulator"]

SERVICE_PATH = "/services/v2/wallet"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 resets connections under a few
    # dozen concurrent clients.
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
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
    ) -> None:
        self.store = WalletStore(db)
        self.app = SimulatorApp(self.store, merchants, faults=faults, clock=clock, latency=latency)
        self._server = _ThreadingWSGIServer((host, port), _QuietHandler)
        self._server.set_app(self.app)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = (str(part) for part in self._server.server_address[:2])
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{SERVICE_PATH}"

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
