"""Where the service lives and which interface version each function speaks.

Kept in one place because these are the facts most likely to change (a new
host, a new recommended version) and the ones a sister brand differs by.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["DEFAULT_INTERFACE_VERSION", "ENVIRONMENTS", "resolve_endpoint"]

ENVIRONMENTS: Final = {
    "prod": "https://office-server.sogenactif.com/services/v2/wallet",
    "test": "https://office-server-sogenactif.test.sips-services.com/services/v2/wallet",
}
DEFAULT_INTERFACE_VERSION: Final = "WR_WS_2.55"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_endpoint(environment: str) -> str:
    """The SOAP endpoint URL for ``"test"``, ``"prod"`` or an explicit URL.

    Plain ``http`` is accepted for loopback only (the simulator): anything
    else would send card numbers and seals in clear over a network.
    """
    if environment in ENVIRONMENTS:
        return ENVIRONMENTS[environment]
    parts = urlsplit(environment)
    if parts.scheme == "https" and parts.hostname:
        return environment
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return environment
    if parts.scheme == "http" and parts.hostname:
        raise ConfigurationError(
            f"refusing plain http to {parts.hostname}: card data must travel over https "
            "(plain http is accepted for loopback simulators only)"
        )
    raise ConfigurationError(
        f"environment must be 'test', 'prod' or an https:// endpoint URL, not {environment!r}"
    )
