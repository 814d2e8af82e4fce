"""The simulated payment services: charging stored cards, crediting them, and the
cash-management operations, over the wallet store.

The rules the simulated service keeps (documented in docs/simulator.md):

- A charge or a credit needs a wallet and payment mean of the merchant (else 12,
  naming the field) and a ``transactionReference`` the merchant never used
  (else 94: nothing is made).  Refused charges keep their reference too.
- Authorisation by amount, on its last two digits: ``..02`` referral (02),
  ``..05`` refused (05), ``..59`` fraud (63, acquirer 59), ``..60`` pending (60,
  status PENDING); anything else is accepted (00).
- An accepted charge is TO_CAPTURE (mode AUTHOR_CAPTURE), CAPTURED when the
  capture day is over (``captureDay`` days after the day of the payment, on the
  simulator's clock, which the testing kit moves), TO_VALIDATE in mode
  VALIDATION until validated, and CAPTURED at once in mode IMMEDIATE.
- ``cancel`` only before capture, ``refund`` only after, each up to the amount
  that remains (else 12 naming ``operationAmount``); the whole amount cancelled
  makes it CANCELLED, refunded REFUNDED.  An unknown reference answers 25.
- Every charge gets a ``schemeTransactionIdentifier``; RECURRING_N needs the
  ``initialSchemeTransactionIdentifier`` of one of the merchant's payments.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final

from .store import WalletStore

__all__ = ["PaymentDesk"]

Fields = dict[str, Any]

_BY_ENDING: Final = {
    "02": ("02", "02", "PENDING_REFERRAL"),
    "05": ("05", "05", "REFUSED"),
    "59": ("63", "59", "REFUSED"),
    "60": ("60", "60", "PENDING"),
}
_CAPTURABLE: Final = frozenset({"TO_CAPTURE", "TO_VALIDATE"})


def _scheme_id() -> str:
    """A scheme transaction id: 16 letters and digits 2-7 (never a long digit run)."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def _day(text: str) -> date:
    return datetime.fromisoformat(text).date()


def _refused(code: str, field: str | None = None) -> Fields:
    return {"responseCode": code, "errorFieldName": field}


class PaymentDesk:
    """Checkout, cash management and diagnostic, as handlers of the simulator app.

    Each handler takes ``(merchant_id, fields, now, shape)`` like the wallet's and
    returns the answer's fields; a refusal carries its own ``responseCode``.
    """

    def __init__(self, store: WalletStore, now: Callable[[], datetime]) -> None:
        self.store = store
        self._now = now

    def handlers(self) -> dict[str, Callable[[str, Fields, str, str], Fields]]:
        return {
            "walletOrder": self.wallet_order,
            "walletCreditHolder": self.wallet_credit_holder,
            "refund": self.refund,
            "cancel": self.cancel,
            "validate": self.validate,
            "getTransactionData": self.get_transaction_data,
        }

    # ------------------------------------------------------------- states

    def current(self, data: Fields, today: date | None = None) -> Fields:
        """The transaction as it stands today: captured once its capture day is over."""
        today = today or self._now().date()
        limit = date.fromisoformat(data["capture_limit"])
        if data["status"] == "TO_CAPTURE" and today > limit:
            return {**data, "status": "CAPTURED", "last_op": "CAPTURE"}
        if data["status"] == "TO_CREDIT" and today > limit:
            return {**data, "status": "CREDITED"}
        if data["status"] == "TO_VALIDATE" and today > limit:
            return {**data, "status": "EXPIRED"}
        return data

    # ------------------------------------------------------------- charges

    def _charge(self, kind: str, merchant_id: str, fields: Fields, now: str) -> Fields:
        wallet_id = str(fields["merchantWalletId"])
        wallet = self.store.wallet(merchant_id, wallet_id)
        if wallet is None:
            return _refused("12", "merchantWalletId")
        mean = self.store.payment_mean(merchant_id, wallet_id, str(fields["paymentMeanId"]))
        if mean is None:
            return _refused("12", "paymentMeanId")
        initial = fields.get("initialSchemeTransactionIdentifier")
        pattern = fields.get("paymentPattern")
        if pattern == "RECURRING_N" and not (
            initial and self.store.scheme_id_known(merchant_id, str(initial))
        ):
            return _refused("12", "initialSchemeTransactionIdentifier")
        amount = int(str(fields["amount"]))
        code, acquirer, status = _BY_ENDING.get(f"{amount:02d}"[-2:], ("00", "00", ""))
        mode = str(fields.get("captureMode") or "AUTHOR_CAPTURE")
        capture_day = int(str(fields.get("captureDay") or 0))
        if kind == "credit":
            code, acquirer, status, mode = "00", "00", "TO_CREDIT", ""
        elif not status:
            status = {"IMMEDIATE": "CAPTURED", "VALIDATION": "TO_VALIDATE"}.get(mode, "TO_CAPTURE")
        accepted = code == "00"
        reference = str(fields["transactionReference"])
        data: Fields = {
            "reference": reference,
            "kind": kind,
            "wallet_id": wallet_id,
            "payment_mean_id": mean.payment_mean_id,
            "origin_amount": amount,
            "current_amount": amount if accepted else 0,
            "currency": str(fields["currencyCode"]),
            "status": status,
            "created": now,
            "capture_limit": (_day(now) + timedelta(days=capture_day)).isoformat(),
            "response_code": code,
            "acquirer_code": acquirer,
            "authorisation_id": f"{secrets.randbelow(10**6):06d}" if accepted else None,
            "masked_pan": mean.masked_pan,
            "brand": mean.brand,
            "pattern": pattern,
            "scheme_id": _scheme_id() if accepted and kind == "order" else None,
            "initial_scheme_id": initial,
            "order_channel": fields.get("orderChannel"),
            "order_id": fields.get("orderId"),
            "customer_id": fields.get("customerId"),
            "last_op": "CREDIT" if kind == "credit" else "AUTHOR",
            "last_op_at": now,
        }
        if not self.store.add_payment(merchant_id, reference, data):
            return _refused("94")
        return {
            "responseCode": code,
            "acquirerResponseCode": acquirer,
            "authorisationId": data["authorisation_id"],
            "maskedPan": mean.masked_pan,
            "paymentMeanBrand": mean.brand,
            "transactionDateTime": now,
            "transactionReference": reference,
            "captureDay": str(capture_day) if kind == "order" else None,
            "captureMode": mode or None,
            "captureLimitDate": data["capture_limit"].replace("-", ""),
            "schemeTransactionIdentifier": data["scheme_id"],
        }

    def wallet_order(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        return self._charge("order", merchant_id, fields, now)

    def wallet_credit_holder(
        self, merchant_id: str, fields: Fields, now: str, shape: str
    ) -> Fields:
        return self._charge("credit", merchant_id, fields, now)

    # ------------------------------------------------------------- cash management

    def _operate(
        self,
        merchant_id: str,
        fields: Fields,
        now: str,
        allowed: frozenset[str],
        apply: Callable[[Fields, int], Fields],
        name: str,
    ) -> Fields:
        reference = str(fields["transactionReference"])
        amount = int(str(fields["operationAmount"]))
        outcome: Fields = {}

        def change(stored: Fields) -> Fields | None:
            data = self.current(stored, _day(now))
            if data["kind"] != "order" or data["status"] not in allowed:
                outcome.update(_refused("12"))
                return None
            if str(fields["currencyCode"]) != data["currency"]:
                outcome.update(_refused("12", "currencyCode"))
                return None
            if amount > data["current_amount"]:  # a validation too: a cancelled part is gone
                outcome.update(_refused("12", "operationAmount"))
                return None
            changed = {**apply(data, amount), "last_op": name, "last_op_at": now}
            outcome.update(
                {
                    "acquirerResponseCode": "00",
                    "authorisationId": data["authorisation_id"],
                    "newAmount": str(changed["current_amount"]),
                    "newStatus": changed["status"],
                    "operationDateTime": now,
                    "captureLimitDate": changed["capture_limit"].replace("-", ""),
                }
            )
            return changed

        if self.store.change_payment(merchant_id, reference, change) is None:
            return _refused("25")
        return {"responseCode": outcome.pop("responseCode", "00"), **outcome}

    def cancel(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        def apply(data: Fields, amount: int) -> Fields:
            left = data["current_amount"] - amount
            return {
                **data,
                "current_amount": left,
                "status": data["status"] if left else "CANCELLED",
            }

        return self._operate(merchant_id, fields, now, _CAPTURABLE, apply, "CANCEL")

    def refund(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        def apply(data: Fields, amount: int) -> Fields:
            left = data["current_amount"] - amount
            return {**data, "current_amount": left, "status": "CAPTURED" if left else "REFUNDED"}

        return self._operate(merchant_id, fields, now, frozenset({"CAPTURED"}), apply, "REFUND")

    def validate(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        def apply(data: Fields, amount: int) -> Fields:
            return {**data, "current_amount": amount, "status": "TO_CAPTURE"}

        return self._operate(
            merchant_id, fields, now, frozenset({"TO_VALIDATE"}), apply, "VALIDATE"
        )

    # ------------------------------------------------------------- diagnostic

    def get_transaction_data(
        self, merchant_id: str, fields: Fields, now: str, shape: str
    ) -> Fields:
        stored = self.store.payment(merchant_id, str(fields["transactionReference"]))
        if stored is None:
            return {"getTransDataResponseCode": "25"}
        data = self.current(stored, _day(now))
        return {
            "getTransDataResponseCode": "00",
            "transactionReference": data["reference"],
            "transactionStatus": data["status"],
            "originAmount": str(data["origin_amount"]),
            "currentAmount": str(data["current_amount"]),
            "currencyCode": data["currency"],
            "transactionDateTime": data["created"],
            "captureLimitDate": data["capture_limit"].replace("-", ""),
            "lastOperationName": data["last_op"],
            "lastOperationDateTime": data["last_op_at"],
            "responseCode": data["response_code"],
            "acquirerResponseCode": data["acquirer_code"],
            "authorisationId": data["authorisation_id"],
            "maskedPan": data["masked_pan"],
            "paymentMeanBrand": data["brand"],
            "paymentPattern": data["pattern"],
            "orderChannel": data["order_channel"],
            "orderId": data["order_id"],
            "customerId": data["customer_id"],
            "schemeTransactionIdentifier": data["scheme_id"],
        }
