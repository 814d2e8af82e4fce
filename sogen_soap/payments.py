"""Paying with the stored cards: the payment services' plans and their one rule
for a lost answer, on the wallet client's core.

These are plans and sans-I/O steps like the wallet's (``WalletCore`` mixes this
class in), so the sync and async clients send them with the same sender,
deadline, size cap, seal and retry rules, over SOAP or JSON.

The rule, the same as ``addCard``'s: a lost answer is settled only by a sealed
answer about the very thing asked.  A payment is identified by its
``transactionReference`` (the caller's, or one generated here and known before
anything is sent): after a lost answer the service is asked for that
transaction (``getTransactionData``), and the request is sent again only when
the service says, sealed, that it does not know it.  A reference the service
already holds answers 94 and is never reported as a new payment.  A refund,
a cancellation or a validation has no reference of its own: the transaction is
read before it is sent, and after a lost answer it is read again; the change
seen (the amount moved by exactly the operation's amount) settles it, no change
means it never arrived (sent again), anything else is left unknown.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Generator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeVar

from .errors import ConnectionFailed, OutcomeUnknown, ResponseError, SogenSoapError
from .observe import note_reconciliation
from .parsing import parse_datetime, text_or_none, unmodeled
from .payment_results import (
    CancelResult,
    CashManagementResult,
    PaymentResult,
    RefundResult,
    TransactionData,
    ValidateResult,
    WalletCreditHolderResult,
    WalletOrderResult,
)
from .validation import check_amount, check_field, holds_card_number

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .adapter import Answer, Plan

__all__ = [
    "TYPED_FIELDS",
    "CreditOptions",
    "PaymentOptions",
    "PaymentPlans",
    "new_transaction_reference",
]

log = logging.getLogger("sogen_soap")

_P = TypeVar("_P", bound=PaymentResult)
_C = TypeVar("_C", bound=CashManagementResult)

_LOOKUPS: Final = 3  # reads of a transaction: safe to try again
_SENDS: Final = 3  # a payment sent at most this many times, each after a sealed "unknown"
_STATUS: Final = frozenset({"errorFieldName", "seal"})


def new_transaction_reference() -> str:
    """A fresh ``transactionReference``: ``sg`` and 32 random characters of
    base32 (a-z, 2-7: 160 bits; 34 letters and digits, the field takes 35).
    Keep it before charging: it is what settles a lost answer, and what a
    refund names.  Never a run of 12 digits, which the field rules (and every
    redaction) would take for a card number: hex could give one."""
    while True:
        reference = "sg" + base64.b32encode(secrets.token_bytes(20)).decode("ascii").lower()
        if not holds_card_number(reference, strict=True):
            return reference


class PaymentOptions(TypedDict, total=False):
    """The optional fields of ``walletOrder``, by their snake_case names."""

    order_channel: str
    capture_day: int
    capture_mode: str
    payment_pattern: str
    initial_scheme_transaction_identifier: str
    order_id: str
    customer_id: str
    transaction_origin: str


class CreditOptions(TypedDict, total=False):
    """The optional fields of ``walletCreditHolder``."""

    order_channel: str
    order_id: str
    customer_id: str
    operation_origin: str


def _snake_to_field(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _amount(output: Mapping[str, object], name: str) -> int | None:
    text = text_or_none(output.get(name))
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ResponseError(f"the answer's {name} is not a whole number")
    return int(text)


def _known(*names: str) -> frozenset[str]:  # pragma: no mutate block
    return _STATUS | frozenset(names)


_PAYMENT_FIELDS: Final = _known(
    "responseCode", "acquirerResponseCode", "acquirerResponseMessage", "authorisationId",
    "complementaryCode", "maskedPan", "paymentMeanBrand", "transactionDateTime",
    "transactionReference", "captureDay", "captureMode", "captureLimitDate",
    "schemeTransactionIdentifier",
)  # fmt: skip
_CASH_FIELDS: Final = _known(
    "responseCode", "acquirerResponseCode", "authorisationId", "newAmount", "newStatus",
    "operationDateTime", "captureLimitDate",
)  # fmt: skip
_TRANSACTION_FIELDS: Final = _known(
    "getTransDataResponseCode", "transactionReference", "transactionStatus", "originAmount",
    "currentAmount", "currencyCode", "transactionDateTime", "captureLimitDate",
    "lastOperationName", "lastOperationDateTime", "responseCode", "acquirerResponseCode",
    "authorisationId", "maskedPan", "paymentMeanBrand", "paymentPattern", "orderChannel",
    "orderId", "customerId", "schemeTransactionIdentifier", "fromTransactionReference",
)  # fmt: skip


TYPED_FIELDS: Final = _PAYMENT_FIELDS | _CASH_FIELDS | _TRANSACTION_FIELDS
"""Every answer field of the payment services the results type (the rest: ``extra``)."""


def _payment_result(kind: type[_P], fields: Mapping[str, object]) -> Callable[[Answer], _P]:
    def convert(answer: Answer) -> _P:
        out = answer.output
        day = _amount(out, "captureDay")
        return kind(
            **answer.common(),
            transaction_reference=text_or_none(out.get("transactionReference"))
            or str(fields["transactionReference"]),
            amount=int(str(fields["amount"])),
            currency_code=str(fields["currencyCode"]),
            acquirer_response_code=text_or_none(out.get("acquirerResponseCode")),
            acquirer_response_message=text_or_none(out.get("acquirerResponseMessage")),
            authorisation_id=text_or_none(out.get("authorisationId")),
            complementary_code=text_or_none(out.get("complementaryCode")),
            masked_pan=text_or_none(out.get("maskedPan")),
            payment_mean_brand=text_or_none(out.get("paymentMeanBrand")),
            transaction_datetime=parse_datetime(out.get("transactionDateTime")),
            capture_day=day,
            capture_mode=text_or_none(out.get("captureMode")),
            capture_limit_date=text_or_none(out.get("captureLimitDate")),
            scheme_transaction_identifier=text_or_none(out.get("schemeTransactionIdentifier")),
            extra=unmodeled(out, _PAYMENT_FIELDS),
        )

    return convert


def _cash_result(kind: type[_C], fields: Mapping[str, object]) -> Callable[[Answer], _C]:
    def convert(answer: Answer) -> _C:
        out = answer.output
        return kind(
            **answer.common(),
            transaction_reference=str(fields["transactionReference"]),
            operation_amount=int(str(fields["operationAmount"])),
            acquirer_response_code=text_or_none(out.get("acquirerResponseCode")),
            authorisation_id=text_or_none(out.get("authorisationId")),
            new_amount=_amount(out, "newAmount"),
            new_status=text_or_none(out.get("newStatus")),
            operation_datetime=parse_datetime(out.get("operationDateTime")),
            capture_limit_date=text_or_none(out.get("captureLimitDate")),
            extra=unmodeled(out, _CASH_FIELDS),
        )

    return convert


def transaction_data(answer: Answer) -> TransactionData:
    out = answer.output
    return TransactionData(
        **answer.common(),
        transaction_reference=text_or_none(out.get("transactionReference")),
        status=text_or_none(out.get("transactionStatus")),
        origin_amount=_amount(out, "originAmount"),
        current_amount=_amount(out, "currentAmount"),
        currency_code=text_or_none(out.get("currencyCode")),
        transaction_datetime=parse_datetime(out.get("transactionDateTime")),
        capture_limit_date=text_or_none(out.get("captureLimitDate")),
        last_operation_name=text_or_none(out.get("lastOperationName")),
        last_operation_datetime=parse_datetime(out.get("lastOperationDateTime")),
        authorisation_response_code=text_or_none(out.get("responseCode")),
        acquirer_response_code=text_or_none(out.get("acquirerResponseCode")),
        authorisation_id=text_or_none(out.get("authorisationId")),
        masked_pan=text_or_none(out.get("maskedPan")),
        payment_mean_brand=text_or_none(out.get("paymentMeanBrand")),
        payment_pattern=text_or_none(out.get("paymentPattern")),
        order_channel=text_or_none(out.get("orderChannel")),
        order_id=text_or_none(out.get("orderId")),
        customer_id=text_or_none(out.get("customerId")),
        scheme_transaction_identifier=text_or_none(out.get("schemeTransactionIdentifier")),
        from_transaction_reference=text_or_none(out.get("fromTransactionReference")),
        extra=unmodeled(out, _TRANSACTION_FIELDS),
    )


def _attempted(fields: Mapping[str, object]) -> dict[str, str]:
    return {
        name: str(fields[name])
        for name in (
            "transactionReference", "amount", "operationAmount", "currencyCode",
            "merchantWalletId", "paymentMeanId",
        )
        if fields.get(name) is not None
    }  # fmt: skip


class PaymentPlans:
    """The payment services' plans and steps, mixed into ``WalletCore``."""

    _endpoint_of: Callable[[str], str]  # WalletCore's: where an operation's calls go

    # ------------------------------------------------------------- plans

    def _charge_fields(
        self,
        merchant_wallet_id: str,
        payment_mean_id: str | int,
        amount: int,
        currency_code: str | int,
        transaction_reference: str | None,
        optional: Mapping[str, object],
        allowed: frozenset[str],
        what: str,
    ) -> dict[str, object]:
        unknown = sorted(set(optional) - allowed)
        if unknown:
            raise TypeError(f"{what}() got unexpected keyword {', '.join(unknown)}")
        fields: dict[str, object] = {
            "amount": str(check_amount(amount)),
            "currencyCode": check_field("currencyCode", currency_code),
            "merchantWalletId": check_field("merchantWalletId", merchant_wallet_id),
            "paymentMeanId": check_field("paymentMeanId", payment_mean_id),
            "transactionReference": check_field(
                "transactionReference", transaction_reference or new_transaction_reference()
            ),
        }
        for name, value in optional.items():
            if value is not None:
                field = _snake_to_field(name)
                fields[field] = check_field(field, value, name)
        return fields

    def plan_wallet_order(
        self,
        merchant_wallet_id: str,
        payment_mean_id: str | int,
        amount: int,
        currency_code: str | int = "978",
        transaction_reference: str | None = None,
        **options: Unpack[PaymentOptions],
    ) -> Plan[WalletOrderResult]:
        from .adapter import Plan

        fields = self._charge_fields(
            merchant_wallet_id,
            payment_mean_id,
            amount,
            currency_code,
            transaction_reference,
            {"order_channel": "INTERNET", **options},
            frozenset(PaymentOptions.__annotations__),
            "wallet_order",
        )
        if fields.get("paymentPattern") == "RECURRING_N" and not fields.get(
            "initialSchemeTransactionIdentifier"
        ):
            from .errors import InvalidFieldError

            raise InvalidFieldError(
                "initialSchemeTransactionIdentifier",
                "initial_scheme_transaction_identifier",
                "is needed with payment_pattern RECURRING_N: the scheme transaction "
                "identifier of the chain's first payment",
            )
        return Plan("walletOrder", fields, _payment_result(WalletOrderResult, fields))

    def plan_wallet_credit_holder(
        self,
        merchant_wallet_id: str,
        payment_mean_id: str | int,
        amount: int,
        currency_code: str | int = "978",
        transaction_reference: str | None = None,
        **options: Unpack[CreditOptions],
    ) -> Plan[WalletCreditHolderResult]:
        from .adapter import Plan

        fields = self._charge_fields(
            merchant_wallet_id,
            payment_mean_id,
            amount,
            currency_code,
            transaction_reference,
            dict(options),
            frozenset(CreditOptions.__annotations__),
            "wallet_credit_holder",
        )
        return Plan("walletCreditHolder", fields, _payment_result(WalletCreditHolderResult, fields))

    def _cash(
        self,
        operation: str,
        kind: type[_C],
        transaction_reference: str,
        amount: int,
        currency_code: str | int,
        operation_origin: str | None,
    ) -> Plan[_C]:
        from .adapter import Plan

        fields: dict[str, object] = {
            "transactionReference": check_field("transactionReference", transaction_reference),
            "operationAmount": str(check_amount(amount, "operationAmount", "amount")),
            "currencyCode": check_field("currencyCode", currency_code),
        }
        if operation_origin is not None:
            fields["operationOrigin"] = check_field("operationOrigin", operation_origin)
        return Plan(operation, fields, _cash_result(kind, fields))

    def plan_refund(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        operation_origin: str | None = None,
    ) -> Plan[RefundResult]:
        return self._cash(
            "refund", RefundResult, transaction_reference, amount, currency_code, operation_origin
        )

    def plan_cancel(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        operation_origin: str | None = None,
    ) -> Plan[CancelResult]:
        return self._cash(
            "cancel", CancelResult, transaction_reference, amount, currency_code, operation_origin
        )

    def plan_validate(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        operation_origin: str | None = None,
    ) -> Plan[ValidateResult]:
        return self._cash(
            "validate",
            ValidateResult,
            transaction_reference,
            amount,
            currency_code,
            operation_origin,
        )

    def plan_get_transaction_data(self, transaction_reference: str) -> Plan[TransactionData]:
        from .adapter import Plan

        fields: dict[str, object] = {
            "transactionReference": check_field("transactionReference", transaction_reference)
        }
        return Plan("getTransactionData", fields, transaction_data)

    # ------------------------------------------------------------- lost answers

    def _look_up(self, reference: str) -> Generator[Plan[Any], Any, TransactionData | None]:
        """The transaction as the service holds it (sealed), or None when it cannot be read."""
        for _ in range(_LOOKUPS):
            try:
                found: TransactionData = yield self.plan_get_transaction_data(reference)
            except SogenSoapError:
                continue
            if found.fault is None and found.seal_verified and not found.temporary:
                return found
        return None

    def _payment_unknown(self, plan: Plan[Any], why: str) -> OutcomeUnknown:
        reference = plan.fields["transactionReference"]
        return OutcomeUnknown(
            f"{plan.operation}: the answer was lost and {why}; whether transaction "
            f"{reference} was {'changed' if 'operationAmount' in plan.fields else 'made'} "
            f"is unknown. Look it up before anything else: sogen-soap transaction {reference}",
            reason="unresolved",
            attempted=_attempted(plan.fields),
            operation=plan.operation,
            endpoint=self._endpoint_of(plan.operation),
        )

    def payment_steps(
        self, plan: Plan[_P], *, reconcile: bool = True, after_lost_answer: bool = False
    ) -> Generator[Plan[Any], Any, _P]:
        """A charge or a credit, settled after a lost answer by its reference.

        Lost (a timeout, a cut or unreadable answer, a 5xx, a SOAP fault, or a
        99 that may have come after the work): the service is asked for the
        transaction; found (sealed 00), that is the answer (``recovered``);
        unknown (sealed 25), the request is sent again; anything else raises
        ``OutcomeUnknown``.  A 94 to a request sent again means the first one
        arrived after all: looked up the same way.  A 94 to a first request is
        the answer: the reference was used before, nothing new was charged.
        """
        reference = str(plan.fields["transactionReference"])
        lost = after_lost_answer
        reconcile = reconcile or after_lost_answer  # a lost answer is settled, said so
        for _ in range(_SENDS):
            if lost:
                note_reconciliation()
                found = yield from self._look_up(reference)
                if found is None:
                    raise self._payment_unknown(plan, "the transaction could not be read (sealed)")
                if found.ok:
                    return self._settled(plan, found)
                if not found.unknown:
                    raise self._payment_unknown(plan, f"looking it up answered {found.message!r}")
            try:
                result: _P = yield plan
            except OutcomeUnknown:
                if not reconcile:
                    raise
                lost = True
                continue
            except ConnectionFailed:
                if lost:  # an earlier request may still have arrived
                    raise self._payment_unknown(
                        plan, "the service could not be reached again"
                    ) from None
                raise
            if result.fault is not None or result.temporary or (lost and result.duplicate):
                if not reconcile:
                    if result.temporary:
                        return result
                    raise OutcomeUnknown(
                        f"{plan.operation}: the service answered {result.message!r}, which it "
                        f"may send after the work was done: whether transaction {reference} "
                        "was made is unknown. Send it again with reconcile=True, or look: "
                        f"sogen-soap transaction {reference}",
                        reason="fault",
                        attempted=_attempted(plan.fields),
                        operation=plan.operation,
                        endpoint=self._endpoint_of(plan.operation),
                    )
                lost = True
                continue
            return result
        raise self._payment_unknown(plan, f"it was sent {_SENDS} times without a sealed answer")

    def _settled(self, plan: Plan[_P], found: TransactionData) -> _P:
        """The answer of a lost charge, from its transaction as the service holds it.

        Only when the transaction is this request's: same amount and currency.
        Otherwise the reference was another payment's, and this one was refused
        as a duplicate (94): nothing new was charged."""
        template: _P = plan.convert(_answer_from(found))
        amount = int(str(plan.fields["amount"]))
        currency = str(plan.fields["currencyCode"])
        if (found.origin_amount is not None and found.origin_amount != amount) or (
            found.currency_code is not None and found.currency_code != currency
        ):
            log.warning(
                "%s %s: the reference belongs to another payment (%s %s); not charged",
                plan.operation,
                plan.fields["transactionReference"],
                found.origin_amount,
                found.currency_code,
            )
            return replace(
                template,
                response_code="94",
                acquirer_response_code=None,
                authorisation_id=None,
                scheme_transaction_identifier=None,
                reconciliation=(
                    f"the reference belongs to another payment ({found.origin_amount} in "
                    f"currency {found.currency_code}); this one was not made"
                ),
            )
        log.info(
            "%s %s: lost answer settled by looking the transaction up (%s, status %s)",
            plan.operation,
            plan.fields["transactionReference"],
            found.authorisation_response_code,
            found.status,
        )
        return replace(template, recovered=True, transaction_datetime=found.transaction_datetime)

    def cash_steps(
        self, plan: Plan[_C], *, reconcile: bool = True
    ) -> Generator[Plan[Any], Any, _C]:
        """A refund, a cancellation or a validation, settled after a lost answer.

        The transaction is read first; after a lost answer it is read again:
        its amount moved by exactly this operation's amount (for a validation:
        no longer waiting, at this amount) settles it (``recovered``); unchanged,
        the request is sent again; anything else raises ``OutcomeUnknown``.
        """
        reference = str(plan.fields["transactionReference"])
        before = (yield from self._look_up(reference)) if reconcile else None
        for _ in range(_SENDS):
            try:
                result: _C = yield plan
            except OutcomeUnknown:
                if not reconcile:
                    raise
            else:
                if result.fault is None and not result.temporary:
                    return result
                if not reconcile:
                    if result.temporary:
                        return result
                    raise self._payment_unknown(plan, f"the service answered {result.message!r}")
            note_reconciliation()
            if before is None or not before.ok:
                raise self._payment_unknown(plan, "the transaction could not be read before it")
            after = yield from self._look_up(reference)
            if after is None or not after.ok:
                raise self._payment_unknown(plan, "the transaction could not be read after it")
            applied = _applied(plan, before, after)
            if applied is None:
                raise self._payment_unknown(
                    plan,
                    f"the transaction changed otherwise (amount {before.current_amount} -> "
                    f"{after.current_amount}, status {before.status} -> {after.status})",
                )
            if applied:
                log.info(
                    "%s %s: lost answer settled by reading the transaction (%s -> %s)",
                    plan.operation,
                    reference,
                    before.current_amount,
                    after.current_amount,
                )
                settled: _C = plan.convert(_answer_from(after, code_only=True))
                return replace(
                    settled,
                    recovered=True,
                    new_amount=after.current_amount,
                    new_status=after.status,
                )
        raise self._payment_unknown(plan, f"it was sent {_SENDS} times without a sealed answer")


def _applied(plan: Plan[Any], before: TransactionData, after: TransactionData) -> bool | None:
    """Whether the transaction shows this operation done (True), not done (False), or
    changed some other way (None: nothing can be concluded)."""
    amount = int(str(plan.fields["operationAmount"]))
    if plan.operation == "validate":
        if (after.status, after.current_amount) == (before.status, before.current_amount):
            return False
        waiting = (before.status or "").startswith("TO_VALIDATE")
        done = not (after.status or "").startswith("TO_VALIDATE")
        return True if waiting and done and after.current_amount == amount else None
    if before.current_amount is None or after.current_amount is None:
        return None
    if after.current_amount == before.current_amount:
        return False
    return True if after.current_amount == before.current_amount - amount else None


def _answer_from(found: TransactionData, *, code_only: bool = False) -> Answer:
    """A checked answer built from a sealed lookup, for a result's converter."""
    from .adapter import Answer

    output: dict[str, object] = {"responseCode": found.authorisation_response_code or "00"}
    if not code_only:
        shown = {
            "acquirerResponseCode": found.acquirer_response_code,
            "authorisationId": found.authorisation_id,
            "maskedPan": found.masked_pan,
            "paymentMeanBrand": found.payment_mean_brand,
            "transactionDateTime": None,
            "captureLimitDate": found.capture_limit_date,
            "schemeTransactionIdentifier": found.scheme_transaction_identifier,
            "transactionReference": found.transaction_reference,
        }
        output.update({k: v for k, v in shown.items() if v is not None})
    return Answer(
        output=output,
        fault=None,
        seal_verified=found.seal_verified,
        seal_order=found.seal_order,
        key_version=found.key_version,
        code_field="responseCode",
    )
