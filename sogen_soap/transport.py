"""HTTP plumbing shared by everything that talks to the service.

One place turns ``requests`` failures into this package's exceptions, telling
apart "never connected" (safe to retry) from "sent, no answer" (outcome
unknown), and one place builds sessions with the environment read once.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path
from typing import Any

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

__all__ = ["configure_tls", "new_session", "ssl_context", "translate", "translate_httpx"]


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


@functools.lru_cache(maxsize=16)
def ssl_context(
    ca_bundle: str | None = None, client_cert: str | None = None, client_key: str | None = None
) -> ssl.SSLContext:
    """A verifying TLS context, made once per settings and shared.

    Loading a CA bundle reads and parses a file; doing it once keeps that off
    an event loop for every client built after the first.  The CA is, in
    order: ``ca_bundle``, ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, certifi's.
    """
    import certifi

    cafile = (
        ca_bundle
        or os.environ.get("REQUESTS_CA_BUNDLE")
        or os.environ.get("CURL_CA_BUNDLE")
        or certifi.where()
    )
    context = ssl.create_default_context(cafile=cafile)
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


def translate_httpx(exc: Exception, operation: str, endpoint: str) -> TransportError:
    """The package exception for an ``httpx`` failure, sorted like ``translate``'s."""
    import httpx

    where = {"operation": operation, "endpoint": endpoint}
    cause: Any = exc.__cause__ or exc.__context__
    if (
        isinstance(cause, ssl.SSLError)
        or "SSL" in type(cause).__name__
        or (isinstance(exc, httpx.ConnectError) and "CERTIFICATE" in str(exc).upper())
    ):
        return TLSError(f"{operation}: TLS failure talking to {endpoint}: {exc}", **where)
    if isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError, httpx.PoolTimeout)
    ):
        return ConnectionFailed(f"{operation}: could not connect to {endpoint}: {exc}", **where)
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return ResponseTimeout(
            f"{operation}: no response from {endpoint} within the read timeout; "
            "the request was sent, its outcome is unknown",
            **where,
        )
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return ConnectionDropped(
            f"{operation}: the connection to {endpoint} broke after the request was sent; "
            "its outcome is unknown",
            **where,
        )
    return TransportError(f"{operation}: {type(exc).__name__} talking to {endpoint}", **where)
