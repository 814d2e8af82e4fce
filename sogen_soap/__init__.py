"""sogen-soap: a client for the Sogenactif Office Server wallet SOAP service.

Results for business outcomes, exceptions for broken plumbing: see
``results`` and ``errors``.  Everything else is reachable but not advertised.
"""

from __future__ import annotations

import logging

from ._version import __version__
from .client import DEFAULT_TIMEOUT, WalletClient
from .credentials import SecretKey
from .errors import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    HTTPStatusError,
    InvalidFieldError,
    OutcomeUnknown,
    ResponseError,
    ResponseTimeout,
    ResponseTooLarge,
    SealVerificationError,
    SogenSoapError,
    TLSError,
    TransportError,
    WalletResponseError,
)
from .results import (
    RESPONSE_CODES,
    AddCardResult,
    DeletePaymentMeanResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    PaymentMean,
    SignOffResult,
    SoapFault,
    UpdatePaymentMeanResult,
    WalletActionResult,
    WalletResult,
)
from .retry import RetryPolicy

logging.getLogger("sogen_soap").addHandler(logging.NullHandler())


def __getattr__(name: str) -> object:
    # Imported on first use: it needs httpx, an optional extra ("sogen-soap[async]").
    if name == "AsyncWalletClient":
        from .aio import AsyncWalletClient

        return AsyncWalletClient
    raise AttributeError(f"module 'sogen_soap' has no attribute {name!r}")


__all__ = [
    "DEFAULT_TIMEOUT",
    "RESPONSE_CODES",
    "AddCardResult",
    "AsyncWalletClient",
    "ConfigurationError",
    "ConnectionDropped",
    "ConnectionFailed",
    "DeletePaymentMeanResult",
    "GetPaymentMeanDataResult",
    "GetWalletDataResult",
    "HTTPStatusError",
    "InvalidFieldError",
    "OutcomeUnknown",
    "PaymentMean",
    "ResponseError",
    "ResponseTimeout",
    "ResponseTooLarge",
    "RetryPolicy",
    "SealVerificationError",
    "SecretKey",
    "SignOffResult",
    "SoapFault",
    "SogenSoapError",
    "TLSError",
    "TransportError",
    "UpdatePaymentMeanResult",
    "WalletActionResult",
    "WalletClient",
    "WalletResponseError",
    "WalletResult",
    "__version__",
]
