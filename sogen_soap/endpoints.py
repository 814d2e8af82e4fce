"""Where the service lives and which interface version each function speaks.

Kept in one place because these are the facts most likely to change (a new
host, a new recommended version) and the ones a sister brand differs by.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_INTERFACE_VERSION",
    "ENVIRONMENTS",
    "INTERFACE_VERSIONS",
    "OPERATIONS",
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
INTERFACE_VERSIONS: Final = {
    "addCard": DEFAULT_INTERFACE_VERSION,
    "getWalletData": DEFAULT_INTERFACE_VERSION,
    "getPaymentMeanData": DEFAULT_INTERFACE_VERSION,
    "updatePaymentMean": DEFAULT_INTERFACE_VERSION,
    "deletePaymentMean": DEFAULT_INTERFACE_VERSION,
    "signOff": DEFAULT_INTERFACE_VERSION,
}
OPERATIONS: Final = tuple(INTERFACE_VERSIONS)


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
