"""Wire text to Python values for results.

The vendor sends ISO 8601 date-times with an offset at the merchant's local
time.  A value without an offset is read in Europe/Paris, Sogenactif's zone
(an assumption stated in the README); the result is always aware.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from typing import Final

from .results import PaymentMean

__all__ = ["items", "parse_datetime", "payment_mean", "text_or_none"]

log = logging.getLogger("sogen_soap")

_FRACTION: Final = re.compile(r"(\.[0-9]+)")


@lru_cache(maxsize=1)
def _paris() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:  # no tz database on this machine  # pragma: no cover
        return timezone.utc


def parse_datetime(text: object) -> datetime | None:
    """An aware ``datetime`` from ISO 8601 text, or None when absent or unreadable."""
    if not isinstance(text, str) or not text.strip():
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python 3.10 accepts exactly 3 or 6 fraction digits.
    value = _FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], value, count=1)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        log.warning("unreadable date-time %r in a response; left empty", text)
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_paris())
    return parsed


def text_or_none(value: object) -> str | None:
    """A text field as received, None when absent or empty."""
    return value if isinstance(value, str) and value != "" else None


def items(container: object, item_name: str) -> list[Mapping[str, object]]:
    """The items of a list wrapper (``<xList><x/>...</xList>``), however many came."""
    if not isinstance(container, Mapping):
        return []
    found = container.get(item_name)
    values = found if isinstance(found, list) else [found]
    return [value for value in values if isinstance(value, Mapping)]


def payment_mean(values: object) -> PaymentMean | None:
    """A ``walletPaymentMeanData`` container as a ``PaymentMean``."""
    if not isinstance(values, Mapping):
        return None
    brands = values.get("paymentMeanCoBadgingBrandList")
    if isinstance(brands, Mapping):
        found: object = next(iter(brands.values()), [])
        listed = found if isinstance(found, list) else [found]
        co_badging = tuple(b for b in listed if isinstance(b, str) and b)
    else:
        co_badging = ()
    return PaymentMean(
        payment_mean_id=text_or_none(values.get("paymentMeanId")),
        masked_pan=text_or_none(values.get("maskedPan")),
        payment_mean_alias=text_or_none(values.get("paymentMeanAlias")),
        pan_expiry_date=text_or_none(values.get("panExpiryDate")),
        payment_mean_brand=text_or_none(values.get("paymentMeanBrand")),
        co_badging_brands=co_badging,
        transaction_actors=text_or_none(values.get("transactionActors")),
        mandate_id=text_or_none(values.get("mandateId")),
        issuer_wallet_id=text_or_none(values.get("issuerWalletId")),
        issuer_wallet_type=text_or_none(values.get("issuerWalletType")),
    )
