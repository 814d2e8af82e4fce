"""HTTP plumbing shared by everything that talks to the service.

One place turns ``requests`` failures into this package's exceptions, telling
apart "never connected" (safe to retry) from "sent, no answer" (outcome
unknown), and one place builds sessions with the environment read once.
"""

from __future__ import annotations

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ._version import __version__
from .errors import (
    ConnectionDropped,
    ConnectionFailed,
    ResponseTimeout,
    TLSError,
    TransportError,
)

__all__ = ["new_session", "translate"]


def new_session(endpoint: str) -> requests.Session:
    """A session with proxy and CA settings read from the environment once.

    ``trust_env`` is then switched off: requests would otherwise re-read the
    environment (proxies, netrc) on every call, about 2 ms each.
    """
    session = requests.Session()
    settings = session.merge_environment_settings(endpoint, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"] if settings["verify"] is not None else True
    session.trust_env = False
    session.headers["User-Agent"] = f"sogen-soap/{__version__}"
    return session


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def translate(exc: requests.RequestException, operation: str, endpoint: str) -> TransportError:
    """The package exception for a ``requests`` failure (raise it ``from None``)."""
    where = {"operation": operation, "endpoint": endpoint}
    if isinstance(exc, requests.exceptions.SSLError):
        return TLSError(f"{operation}: TLS failure talking to {endpoint}: {exc}", **where)
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return ConnectionFailed(f"{operation}: could not connect to {endpoint}: {exc}", **where)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ResponseTimeout(
            f"{operation}: no response from {endpoint} within the read timeout; "
            "the request was sent, its outcome is unknown",
            **where,
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _never_connected(exc):
            return ConnectionFailed(f"{operation}: could not connect to {endpoint}: {exc}", **where)
        return ConnectionDropped(
            f"{operation}: the connection to {endpoint} broke after the request was sent; "
            "its outcome is unknown",
            **where,
        )
    return TransportError(f"{operation}: {type(exc).__name__} talking to {endpoint}", **where)
