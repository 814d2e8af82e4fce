"""HTTP plumbing shared by everything that talks to the service.

One place turns ``requests`` failures into this package's exceptions, telling
apart "never connected" (safe to retry) from "sent, no answer" (outcome
unknown), and one place builds sessions with the environment read once.
"""

from __future__ import annotations

import os
from pathlib import Path

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ._version import __version__
from .errors import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    ResponseTimeout,
    TLSError,
    TransportError,
)

__all__ = ["configure_tls", "new_session", "translate"]


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


def configure_tls(
    session: requests.Session,
    *,
    ca_bundle: str | os.PathLike[str] | None = None,
    client_cert: str | os.PathLike[str] | tuple[str, str] | None = None,
    proxy: str | None = None,
) -> None:
    """Apply the HTTPS options; refuse a session that does not verify certificates."""
    if session.verify is False:
        raise ConfigurationError(
            "the session given has TLS verification switched off; sogen-soap does not send "
            "card data without it (use ca_bundle= for a private CA)"
        )
    for path in (ca_bundle, *(client_cert if isinstance(client_cert, tuple) else (client_cert,))):
        if path is not None and not Path(path).is_file():
            raise ConfigurationError(f"no such file: {path}")
    if ca_bundle is not None:
        session.verify = str(ca_bundle)
    if client_cert is not None:
        session.cert = (
            (str(client_cert[0]), str(client_cert[1]))
            if isinstance(client_cert, tuple)
            else str(client_cert)
        )
    if proxy is not None:
        session.proxies.update({"http": proxy, "https": proxy})


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
