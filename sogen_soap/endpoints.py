"""Where the service lives and which interface version each function speaks.

Kept in one place because these are the facts most likely to change (a new
host, a new recommended version) and the ones a sister brand differs by.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Final

from .errors import ConfigurationError
from .services import WALLET

__all__ = [
    "DEFAULT_INTERFACE_VERSION",
    "ENVIRONMENTS",
    "INTERFACE_VERSIONS",
    "OPERATIONS",
    "Endpoint",
    "is_loopback",
    "parse_endpoint",
    "parse_url",
    "resolve_endpoint",
]

ENVIRONMENTS: Final = {
    "prod": "https://office-server.sogenactif.com/services/v2/wallet",
    "test": "https://office-server-sogenactif.test.sips-services.com/services/v2/wallet",
}
DEFAULT_INTERFACE_VERSION: Final = "WR_WS_2.55"

# The interface version each function sends unless told otherwise.  The vendor
# pages recommend versions from WR_WS_2.51 to 2.58 depending on the function
# and move them over time; every function accepts 2.55, so that is the default
# everywhere until a page says otherwise.  Override per client with
# ``WalletClient(interface_versions={...})``.
INTERFACE_VERSIONS: Final = dict(WALLET.versions)  # the wallet's; services.py has all
OPERATIONS: Final = tuple(INTERFACE_VERSIONS)


_AUTHORITY_END: Final = re.compile(r"[/?#]")
_HOST_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME: Final = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Endpoint:
    """A URL read once: the host checked is the host the senders connect to.

    ``host`` is a lowercase DNS name or an IP literal (no brackets); ``target``
    is the path and query sent on the request line.
    """

    scheme: str
    host: str
    port: int
    target: str

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def with_target(self, target: str) -> Endpoint:
        """The same origin, another path (``wsdl fetch`` following a same-origin import)."""
        return replace(self, target=target)

    def __str__(self) -> str:
        return self.url


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host(text: str, url: str) -> str:
    if "%" in text:
        raise ConfigurationError(f"{text!r} in {url!r}: no percent-encoding or zone ids in a host")
    if text.startswith("["):
        if not text.endswith("]"):
            raise ConfigurationError(f"malformed IPv6 address in {url!r}")
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise ConfigurationError(f"malformed IPv6 address in {url!r}") from None
    host = text.lower()
    last = host.rsplit(".", 1)[-1]
    if host.replace(".", "").isdigit() or last.isdigit() or host.startswith("0x"):
        # Numeric hosts only as a plain dotted quad: inet_aton reads "127.1",
        # "0x7f.1" or "2130706433" too, and so would read them differently.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise ConfigurationError(
                f"{text!r} in {url!r} is not a plain dotted IPv4 address"
            ) from None
    if len(host) > 253 or not _HOST_NAME.fullmatch(host):
        raise ConfigurationError(f"{text!r} in {url!r} is not a valid host name")
    return host


def parse_url(url: str, *, what: str = "endpoint") -> Endpoint:
    """Read a service URL once, strictly; refuse any spelling an HTTP stack could
    read differently (user info, backslashes, spaces, control or non-ASCII
    characters, fragments, odd numeric hosts).

    Plain ``http`` is accepted for loopback only (a simulator): anything else
    would send card numbers and seals in clear over a network.
    """
    if not isinstance(url, str) or not url.isascii() or not url.isprintable():
        raise ConfigurationError(f"{what} URL must be printable ASCII without control characters")
    if any(c in url for c in " \\\t"):
        raise ConfigurationError(f"{what} URL must not contain spaces or backslashes: {url!r}")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ConfigurationError(f"{what} must be 'test', 'prod' or an https:// URL, not {url!r}")
    cut = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    if "@" in authority:
        # the URL is not echoed: its user info may be a password
        raise ConfigurationError(
            f"{what} URL must not carry user info (user:password@); the URL is not shown here"
        )
    if "#" in tail:
        raise ConfigurationError(f"{what} URL must not carry a #fragment: {url!r}")
    host_text, port_text = authority, ""
    if authority.startswith("["):
        close = authority.find("]")
        host_text, port_text = authority[: close + 1], authority[close + 1 :]
        if close < 0 or (port_text and not port_text.startswith(":")):
            raise ConfigurationError(f"malformed IPv6 address in {url!r}")
        port_text = port_text[1:]
    elif ":" in authority:
        host_text, _, port_text = authority.partition(":")
    if not host_text:
        raise ConfigurationError(f"{what} URL has no host: {url!r}")
    host = _host(host_text, url)
    port = _DEFAULT_PORTS[scheme]
    if port_text or authority.endswith(":"):
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise ConfigurationError(f"{what} URL has a bad port: {url!r}")
        port = int(port_text)
    if tail.startswith("?"):
        tail = "/" + tail
    endpoint = Endpoint(scheme, host, port, tail or "/")
    if scheme == "http" and not endpoint.loopback:
        raise ConfigurationError(
            f"refusing plain http to {host}: card data must travel over https "
            "(plain http is accepted for loopback simulators only)"
        )
    return endpoint


def parse_endpoint(environment: str) -> Endpoint:
    """The SOAP endpoint for ``"test"``, ``"prod"`` or an explicit URL, read once."""
    return parse_url(ENVIRONMENTS.get(environment, environment), what="environment")


def resolve_endpoint(environment: str) -> str:
    """The SOAP endpoint URL for ``"test"``, ``"prod"`` or an explicit URL (normalised)."""
    return parse_endpoint(environment).url
