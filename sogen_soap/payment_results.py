"""Typed, frozen results of the payment services: charges, credits, cash-management
operations and a transaction's data.

As for the wallet, a declined, pending or duplicate payment is an answer, returned
and not raised.  Amounts are ``int`` in the currency's smallest unit (cents for
euros), never floats.  Reprs are allow-listed like the wallet results': codes,
references, ids and masked card numbers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final

from .results import WalletResult

__all__ = [
    "PAYMENT_CODES",
    "PENDING_CODES",
    "CancelResult",
    "CashManagementResult",
    "PaymentResult",
    "RefundResult",
    "TransactionData",
    "ValidateResult",
    "WalletCreditHolderResult",
    "WalletOrderResult",
]

# responseCode (and getTransDataResponseCode) -> meaning, from the vendor's
# data dictionary ("responseCode") as the public SDKs carry it.
PAYMENT_CODES: Final = {
    "00": "Accepted",
    "02": "Referral: the card issuer asks for an authorisation by telephone",
    "03": "Invalid merchant contract",
    "05": "Authorisation refused",
    "11": "Card blocked",
    "12": "Invalid transaction, verify the request",
    "14": "Invalid card or payment mean data",
    "17": "Cancelled by the customer",
    "24": "Operation refused: already carried out with the same data",
    "25": "Transaction unknown",
    "30": "Format error",
    "34": "Suspected fraud: wrong seal or key version",
    "40": "Function not allowed for this merchant",
    "51": "Amount too high",
    "54": "Card expired",
    "60": "Transaction pending",
    "63": "Security rules not observed, transaction stopped",
    "90": "Service temporarily not available",
    "94": "Duplicate transaction: this transactionReference was used before",
    "97": "Session expired",
    "99": "Temporary problem at the server",
}
# Not final: the transaction may still be accepted or refused later.
PENDING_CODES: Final = frozenset({"60"})
_PENDING_STATUSES: Final = ("PENDING", "TO_CONFIRM")


@dataclass(frozen=True, kw_only=True, repr=False)
class _PaymentAnswer(WalletResult):
    """What every payment-service answer has beyond the wallet's fields."""

    transaction_reference: str | None = None
    recovered: bool = False
    """The answer was lost; the service's sealed word about this very
    transactionReference settled it (``getTransactionData``, or a re-send when
    the service said the transaction did not exist)."""
    reconciliation: str | None = None
    """After a lost answer, what the service's sealed word said, in words."""

    @property
    def unknown_wallet(self) -> bool:
        return False

    @property
    def message(self) -> str:
        if self.fault is not None:
            return f"SOAP fault {self.fault.code}: {self.fault.message}"
        code = self.response_code or ""
        text = PAYMENT_CODES.get(code, f"Unknown response code {code}")
        if self.error_field_name:
            text += f" (field {self.error_field_name})"
        if self.hint:
            text += f" ({self.hint})"
        if self.reconciliation:
            text += f" ({self.reconciliation})"
        elif self.recovered:
            text += " (recovered after a lost answer)"
        return text


@dataclass(frozen=True, kw_only=True, repr=False)
class PaymentResult(_PaymentAnswer):
    """A charge or a credit on a stored card: ``walletOrder`` or ``walletCreditHolder``.

    ``ok`` means accepted (00); ``pending`` (60, here or from the acquirer) is
    not final; ``duplicate`` (94) means this transactionReference was used
    before and *no* new payment was made.
    """

    amount: int | None = None
    currency_code: str | None = None
    acquirer_response_code: str | None = None
    acquirer_response_message: str | None = None
    authorisation_id: str | None = None
    complementary_code: str | None = None
    masked_pan: str | None = None
    payment_mean_brand: str | None = None
    transaction_datetime: datetime | None = None
    capture_day: int | None = None
    capture_mode: str | None = None
    capture_limit_date: str | None = None
    scheme_transaction_identifier: str | None = None
    """The scheme's id of this payment: give it as ``initial_scheme_transaction_identifier``
    to the later payments of a recurring chain."""

    @property
    def pending(self) -> bool:
        return self.response_code in PENDING_CODES or (self.acquirer_response_code in PENDING_CODES)

    @property
    def declined(self) -> bool:
        """Refused by the issuer, the acquirer or the fraud rules (not an error of ours)."""
        return self.response_code in {"02", "05", "11", "14", "51", "54", "63"}


@dataclass(frozen=True, kw_only=True, repr=False)
class WalletOrderResult(PaymentResult):
    operation: ClassVar[str] = "walletOrder"


@dataclass(frozen=True, kw_only=True, repr=False)
class WalletCreditHolderResult(PaymentResult):
    operation: ClassVar[str] = "walletCreditHolder"


@dataclass(frozen=True, kw_only=True, repr=False)
class CashManagementResult(_PaymentAnswer):
    """A refund, a cancellation or a validation of an existing transaction."""

    operation_amount: int | None = None
    acquirer_response_code: str | None = None
    authorisation_id: str | None = None
    new_amount: int | None = None
    """The transaction's amount after the operation (``currentAmount``)."""
    new_status: str | None = None
    operation_datetime: datetime | None = None
    capture_limit_date: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False)
class RefundResult(CashManagementResult):
    operation: ClassVar[str] = "refund"


@dataclass(frozen=True, kw_only=True, repr=False)
class CancelResult(CashManagementResult):
    operation: ClassVar[str] = "cancel"


@dataclass(frozen=True, kw_only=True, repr=False)
class ValidateResult(CashManagementResult):
    operation: ClassVar[str] = "validate"


@dataclass(frozen=True, kw_only=True, repr=False)
class TransactionData(_PaymentAnswer):
    """``getTransactionData``: a transaction as the service holds it.

    ``response_code`` is the lookup's own code (``getTransDataResponseCode``:
    00 found, 25 unknown); ``authorisation_response_code`` is the transaction's
    (its ``responseCode``: 00 accepted, 05 refused, ...).
    """

    operation: ClassVar[str] = "getTransactionData"

    status: str | None = None
    origin_amount: int | None = None
    current_amount: int | None = None
    currency_code: str | None = None
    transaction_datetime: datetime | None = None
    capture_limit_date: str | None = None
    last_operation_name: str | None = None
    last_operation_datetime: datetime | None = None
    authorisation_response_code: str | None = None
    acquirer_response_code: str | None = None
    authorisation_id: str | None = None
    masked_pan: str | None = None
    payment_mean_brand: str | None = None
    payment_pattern: str | None = None
    order_channel: str | None = None
    order_id: str | None = None
    customer_id: str | None = None
    scheme_transaction_identifier: str | None = None
    from_transaction_reference: str | None = None

    @property
    def unknown(self) -> bool:
        """The service does not know this transactionReference (25)."""
        return self.response_code == "25"

    @property
    def pending(self) -> bool:
        status = self.status or ""
        return status.startswith(_PENDING_STATUSES) or (
            self.authorisation_response_code in PENDING_CODES
        )
