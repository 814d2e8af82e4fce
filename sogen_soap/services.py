"""The Office Server services the package talks to, as data: where each one lives,
its namespace, its bundled WSDL, the field its answers carry their code in, and
the interface version each of its functions sends unless told otherwise.

One table, read by the client (where a plan goes, how its answer is read), by
the simulator (what it serves where) and by the WSDL tools (what to fetch and
compare).  What is published and what is inferred is said per entry; the
README's table of assumptions repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "CASH_MANAGEMENT",
    "CHECKOUT",
    "DIAGNOSTIC",
    "PAYMENT_OPERATIONS",
    "SERVICES",
    "WALLET",
    "Service",
    "service_of",
]

_PREFIX: Final = "urn:sips:cn:contract:office:"


@dataclass(frozen=True)
class Service:
    """One Office Server service.

    ``name`` is the path segment both endpoints use (``/services/v2/<name>`` for
    SOAP, ``/rs-services/v2/<name>/<function>`` for JSON); ``code_field`` the
    answer field holding the service's response code; ``versions`` each
    function's default ``interfaceVersion``.
    """

    name: str
    namespace: str
    wsdl_file: str
    code_field: str
    versions: MappingProxyType[str, str]

    @property
    def soap_path(self) -> str:
        return f"/services/v2/{self.name}"

    @property
    def json_path(self) -> str:
        return f"/rs-services/v2/{self.name}"

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self.versions)

    @property
    def stem(self) -> str:
        """The bundled files' common name: ``CheckoutService`` for ``.wsdl``/``.xsd``."""
        return self.wsdl_file.rsplit(".", 1)[0]


def _versions(**by_operation: str) -> MappingProxyType[str, str]:  # pragma: no mutate block
    return MappingProxyType(dict(by_operation))


_WALLET_VERSION: Final = "WR_WS_2.55"

WALLET: Final = Service(
    "wallet",
    f"{_PREFIX}wallet:v2",
    "WalletService.wsdl",
    "walletResponseCode",
    _versions(
        addCard=_WALLET_VERSION,
        getWalletData=_WALLET_VERSION,
        getPaymentMeanData=_WALLET_VERSION,
        updatePaymentMean=_WALLET_VERSION,
        deletePaymentMean=_WALLET_VERSION,
        signOff=_WALLET_VERSION,
    ),
)
# walletOrder: IR_WS_2.32 is what Worldline's sips-sdk-php sends (its WalletOrderRequest).
CHECKOUT: Final = Service(
    "checkout",
    f"{_PREFIX}checkout:v2",
    "CheckoutService.wsdl",
    "responseCode",
    _versions(walletOrder="IR_WS_2.32"),
)
# CR_WS_2.27: the community Office PHP SDK's refund, cancel and validate; the
# namespace ``...:cashmanagement:v2`` is seen publicly (all lower case).
CASH_MANAGEMENT: Final = Service(
    "cashManagement",
    f"{_PREFIX}cashmanagement:v2",
    "CashManagementService.wsdl",
    "responseCode",
    _versions(
        refund="CR_WS_2.27",
        cancel="CR_WS_2.27",
        validate="CR_WS_2.27",
        walletCreditHolder="CR_WS_2.27",
    ),
)
# DR_WS_2.27: the same SDK's getTransactionData; its answer's own code is
# getTransDataResponseCode (responseCode there is the transaction's).
DIAGNOSTIC: Final = Service(
    "diagnostic",
    f"{_PREFIX}diagnostic:v2",
    "DiagnosticService.wsdl",
    "getTransDataResponseCode",
    _versions(getTransactionData="DR_WS_2.27"),
)

SERVICES: Final = (WALLET, CHECKOUT, CASH_MANAGEMENT, DIAGNOSTIC)
_BY_OPERATION: Final = MappingProxyType(
    {operation: service for service in SERVICES for operation in service.operations}
)
PAYMENT_OPERATIONS: Final = tuple(op for service in SERVICES[1:] for op in service.operations)


def service_of(operation: str) -> Service:
    """The service an operation belongs to (every name is unique across them)."""
    return _BY_OPERATION[operation]
