"""Typed, frozen results: what a wallet call *answered*.

A declined or duplicate enrolment, and even a SOAP fault, is an answer: it is
returned, not raised, so a batch script handles every row the same way.  Reprs
are allow-listed: codes, ids and masked PANs only, never a raw body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, Final

from .errors import WalletResponseError

__all__ = [
    "RESPONSE_CODES",
    "TEMPORARY_CODES",
    "UNKNOWN_WALLET_CODES",
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
]

# walletResponseCode -> what it means (vendor's wallet pages and NOTES.md).
RESPONSE_CODES: Final = {
    "00": "Successful operation",
    "01": "Wallet account unknown",
    "03": "Invalid merchant contract",
    "12": "Invalid data, verify the request",
    "25": "Wallet / payment mean unknown",
    "30": "Format error",
    "34": "Suspected fraud: wrong seal or key version",
    "40": "merchantId not allowed to access this wallet service",
    "94": "Duplicated wallet / payment mean",
    "99": "Temporary problem at the Sogenactif server level",
}
# "Unknown wallet": 01 in the vendor's data dictionary, 25 in Worldline's Java SDK.
UNKNOWN_WALLET_CODES: Final = frozenset({"01", "25"})
# Codes after which sending the same request again is safe and may succeed.
TEMPORARY_CODES: Final = frozenset({"99"})


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    return value


def _nothing() -> Mapping[str, object]:
    return MappingProxyType({})


@dataclass(frozen=True)
class SoapFault:
    """A SOAP 1.1 fault, its text already redacted.

    ``code`` is the faultcode as written (``soap:Server``, ``S:Server``: the
    prefix is the server's choice); ``qname`` the same as a qualified name,
    ``{namespace}local``, to compare across servers.
    """

    code: str
    message: str
    qname: str | None = None


@dataclass(frozen=True, kw_only=True, repr=False)
class WalletResult:
    """What every wallet operation answers.

    ``response_code`` is the ``walletResponseCode`` as received (unknown codes
    are kept), or ``None`` when the service answered with a SOAP fault.
    ``seal_verified`` says whether the response's seal was present and right;
    a successful result always has it true (the client raises otherwise), and
    ``seal_order`` says over which order of lists it was right.
    ``unknown_wallet``: the service does not know the wallet (01 in the vendor's
    data dictionary, 25 in its Java SDK; both mean it here).
    """

    operation: ClassVar[str] = ""

    response_code: str | None
    error_field_name: str | None = None
    fault: SoapFault | None = None
    seal_verified: bool = False
    seal_order: str | None = None
    """Which way the verified seal was computed: ``"received"`` (lists in the order
    they came) or ``"sorted"`` (lists of plain values sorted, as Worldline's Java
    SDK seals them); None when the seal was not verified."""
    extra: Mapping[str, object] = field(default_factory=_nothing, compare=False)
    """Fields of the answer the client does not type, as received (read-only):
    text, a nested mapping, or a tuple for repeats.  Nothing sealed is dropped."""
    key_version: int | None = None
    """The key version the request was sealed with, and its answer verified with."""
    hint: str | None = None
    """What may explain this answer beyond its code: for a 34 right after a key
    switch, that the service may not have activated the new version yet."""

    @property
    def ok(self) -> bool:
        return self.response_code == "00" and self.fault is None

    @property
    def duplicate(self) -> bool:
        return self.response_code == "94"

    @property
    def unknown_wallet(self) -> bool:
        """The wallet named is unknown: 01 or 25 (on ``addCard`` a wallet is made,
        so never there)."""
        return self.operation != "addCard" and self.response_code in UNKNOWN_WALLET_CODES

    @property
    def temporary(self) -> bool:
        """True when the same request may succeed if sent again later."""
        return self.response_code in TEMPORARY_CODES

    @property
    def message(self) -> str:
        if self.fault is not None:
            return f"SOAP fault {self.fault.code}: {self.fault.message}"
        code = self.response_code or ""
        text = RESPONSE_CODES.get(code, f"Unknown response code {code}")
        if self.error_field_name:
            text += f" (field {self.error_field_name})"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view: operation, outcome, message and every field."""
        return {
            "operation": self.operation,
            "ok": self.ok,
            "message": self.message,
            **{f.name: _jsonable(getattr(self, f.name)) for f in fields(self)},
        }

    def raise_for_code(self) -> WalletResult:
        """Return ``self`` when ok, else raise ``WalletResponseError``."""
        if not self.ok:
            raise WalletResponseError(self)
        return self

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) is not None and getattr(self, f.name) != {}
        )
        return f"{type(self).__name__}({shown})"


@dataclass(frozen=True)
class PaymentMean:
    """One payment mean of a wallet, as ``walletPaymentMeanData`` describes it.

    Only masked card data: the service never returns a full card number.
    """

    payment_mean_id: str | None = None
    masked_pan: str | None = None
    payment_mean_alias: str | None = None
    pan_expiry_date: str | None = None  # YYYYMM, as sent
    payment_mean_brand: str | None = None
    payment_mean_brand_selection_status: str | None = None
    co_badging_brands: tuple[str, ...] = ()
    transaction_actors: tuple[str, ...] = ()
    mandate_id: str | None = None
    issuer_wallet_id: str | None = None
    issuer_wallet_type: str | None = None
    extra: Mapping[str, object] = field(default_factory=_nothing, compare=False)
    """Fields the client does not type (``paymentMeanData``, ``pspData``, newer
    ones), as received and read-only."""


@dataclass(frozen=True, kw_only=True, repr=False)
class WalletActionResult(WalletResult):
    """The answer of an operation that changes a wallet."""

    wallet_action_datetime: datetime | None = None


@dataclass(frozen=True, kw_only=True, repr=False)
class AddCardResult(WalletActionResult):
    """The answer to ``addCard``; ``masked_pan`` shows the first 4 and last 2 digits."""

    operation: ClassVar[str] = "addCard"

    payment_mean_id: str | None = None
    masked_pan: str | None = None
    recovered: bool = False
    """The answer was lost; sending again got the service's sealed word that the
    card is in the wallet (00, or 94 for a card stored as this request asked)."""
    reconciliation: str | None = None
    """After a lost answer, what the service's sealed word could not settle, in
    words: why ``payment_mean_id`` is not known, or that the card was in the
    wallet before this request (then ``duplicate``, with the card's id)."""

    @property
    def ok(self) -> bool:
        return self.fault is None and (self.response_code == "00" or self.recovered)

    @property
    def message(self) -> str:
        text = super().message
        if self.reconciliation:
            return f"{text} ({self.reconciliation})"
        return f"{text} (recovered after a lost answer)" if self.recovered else text


@dataclass(frozen=True, kw_only=True, repr=False)
class UpdatePaymentMeanResult(WalletActionResult):
    operation: ClassVar[str] = "updatePaymentMean"


@dataclass(frozen=True, kw_only=True, repr=False)
class DeletePaymentMeanResult(WalletActionResult):
    operation: ClassVar[str] = "deletePaymentMean"


@dataclass(frozen=True, kw_only=True, repr=False)
class SignOffResult(WalletActionResult):
    operation: ClassVar[str] = "signOff"


@dataclass(frozen=True, kw_only=True, repr=False)
class GetWalletDataResult(WalletResult):
    """A wallet and its payment means, in the service's order (by paymentMeanId)."""

    operation: ClassVar[str] = "getWalletData"

    wallet_creation_datetime: datetime | None = None
    wallet_last_action_datetime: datetime | None = None
    payment_means: tuple[PaymentMean, ...] = ()


@dataclass(frozen=True, kw_only=True, repr=False)
class GetPaymentMeanDataResult(WalletResult):
    operation: ClassVar[str] = "getPaymentMeanData"

    payment_mean: PaymentMean | None = None
