"""sogen-soap: a client for the Sogenactif Office Server wallet SOAP service.

Results for business outcomes, exceptions for broken plumbing: see
``results`` and ``errors``.  Everything else is reachable but not advertised.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING

from ._version import __version__
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
    UnreadableOutcome,
    UnverifiedOutcome,
    WalletResponseError,
)

if TYPE_CHECKING:
    from .aio import AsyncWalletClient
    from .client import DEFAULT_TIMEOUT, WalletClient
    from .credentials import SecretKey, secret_key_from_file
    from .keys import KeyExpired, KeyRing, KeyVersion
    from .payment_results import (
        PAYMENT_CODES,
        CancelResult,
        CashManagementResult,
        PaymentResult,
        RefundResult,
        TransactionData,
        ValidateResult,
        WalletCreditHolderResult,
        WalletOrderResult,
    )
    from .payments import new_transaction_reference
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

# Loaded on first use, so that importing the package (or its pytest plugin,
# in every test session of a project that installs it) costs almost nothing.
_LAZY = {
    "AsyncWalletClient": ".aio",
    "WalletClient": ".client",
    "DEFAULT_TIMEOUT": ".client",
    "SecretKey": ".credentials",
    "KeyRing": ".keys",
    "KeyVersion": ".keys",
    "KeyExpired": ".keys",
    "secret_key_from_file": ".credentials",
    "RetryPolicy": ".retry",
    "new_transaction_reference": ".payments",
    **dict.fromkeys(
        (
            "PAYMENT_CODES",
            "CancelResult",
            "CashManagementResult",
            "PaymentResult",
            "RefundResult",
            "TransactionData",
            "ValidateResult",
            "WalletCreditHolderResult",
            "WalletOrderResult",
        ),
        ".payment_results",
    ),
    **dict.fromkeys(
        (
            "RESPONSE_CODES",
            "AddCardResult",
            "DeletePaymentMeanResult",
            "GetPaymentMeanDataResult",
            "GetWalletDataResult",
            "PaymentMean",
            "SignOffResult",
            "SoapFault",
            "UpdatePaymentMeanResult",
            "WalletActionResult",
            "WalletResult",
        ),
        ".results",
    ),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sogen_soap' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_TIMEOUT",
    "PAYMENT_CODES",
    "RESPONSE_CODES",
    "AddCardResult",
    "AsyncWalletClient",
    "CancelResult",
    "CashManagementResult",
    "ConfigurationError",
    "ConnectionDropped",
    "ConnectionFailed",
    "DeletePaymentMeanResult",
    "GetPaymentMeanDataResult",
    "GetWalletDataResult",
    "HTTPStatusError",
    "InvalidFieldError",
    "KeyExpired",
    "KeyRing",
    "KeyVersion",
    "OutcomeUnknown",
    "PaymentMean",
    "PaymentResult",
    "RefundResult",
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
    "TransactionData",
    "TransportError",
    "UnreadableOutcome",
    "UnverifiedOutcome",
    "UpdatePaymentMeanResult",
    "ValidateResult",
    "WalletActionResult",
    "WalletClient",
    "WalletCreditHolderResult",
    "WalletOrderResult",
    "WalletResponseError",
    "WalletResult",
    "__version__",
    "new_transaction_reference",
    "secret_key_from_file",
]
