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
from types import MappingProxyType
from typing import Final

from .errors import ResponseError
from .results import PaymentMean

__all__ = ["freeze", "list_items", "parse_datetime", "payment_mean", "text_or_none", "unmodeled"]

# The fields of walletPaymentMeanData the client types; anything else goes to ``extra``.
MEAN_FIELDS: Final = frozenset(
    {
        "paymentMeanId",
        "maskedPan",
        "paymentMeanAlias",
        "panExpiryDate",
        "paymentMeanBrand",
        "paymentMeanBrandSelectionStatus",
        "paymentMeanCoBadgingBrandList",
        "transactionActors",
        "mandateId",
        "issuerWalletId",
        "issuerWalletType",
    }
)

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


def freeze(value: object) -> object:
    """A read-only copy: mappings become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(freeze(item) for item in value)
    return value


def unmodeled(values: Mapping[str, object], known: frozenset[str]) -> Mapping[str, object]:
    """The fields the client does not type, kept as received (read-only)."""
    return MappingProxyType({k: freeze(v) for k, v in values.items() if k not in known})


def list_items(
    value: object, item_name: str, *, list_name: str, operation: str
) -> list[Mapping[str, object]]:
    """The items of a list element, in either layout the service may use.

    Wrapped: ``<xList><x>fields</x><x>fields</x></xList>`` (a wrapper holding
    repeated items).  JAXB's default for a list field: the list element itself
    repeated, the fields directly inside (``<xList>fields</xList>`` twice).
    Any other layout raises ``ResponseError`` naming it: an answer the client
    cannot read is never shown as an empty list.
    """
    if value is None or value == "":
        return []
    found: list[Mapping[str, object]] = []
    for entry in value if isinstance(value, list) else [value]:
        if entry is None or entry == "":
            continue
        if not isinstance(entry, Mapping):
            raise ResponseError(
                f"{operation}: {list_name} holds text where a list was expected; not read"
            )
        if item_name in entry:
            others = sorted(set(entry) - {item_name})
            inner = entry[item_name]
            for item in inner if isinstance(inner, list) else [inner]:
                if item == "" or item is None:
                    continue
                if not isinstance(item, Mapping):
                    raise ResponseError(
                        f"{operation}: {list_name}/{item_name} holds text; not read"
                    )
                found.append(item)
            if others:
                raise ResponseError(
                    f"{operation}: {list_name} holds {', '.join(others)} beside {item_name}, "
                    "a layout the client cannot read; not read"
                )
        elif set(entry) & MEAN_FIELDS:
            found.append(entry)  # JAXB layout: the fields directly inside
        else:
            raise ResponseError(
                f"{operation}: {list_name} has a layout the client cannot read (it holds "
                f"{', '.join(sorted(entry))}); not read"
            )
    return found


def strings(value: object) -> tuple[str, ...]:
    """A list of strings in any layout: one value, repeats, or an item list."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping):
        return tuple(text for item in value.values() for text in strings(item))
    if isinstance(value, (list, tuple)):
        return tuple(text for item in value for text in strings(item))
    return ()


def payment_mean(values: object) -> PaymentMean | None:
    """A ``walletPaymentMeanData`` container as a ``PaymentMean``; nothing dropped."""
    if not isinstance(values, Mapping):
        return None
    return PaymentMean(
        payment_mean_id=text_or_none(values.get("paymentMeanId")),
        masked_pan=text_or_none(values.get("maskedPan")),
        payment_mean_alias=text_or_none(values.get("paymentMeanAlias")),
        pan_expiry_date=text_or_none(values.get("panExpiryDate")),
        payment_mean_brand=text_or_none(values.get("paymentMeanBrand")),
        payment_mean_brand_selection_status=text_or_none(
            values.get("paymentMeanBrandSelectionStatus")
        ),
        co_badging_brands=strings(values.get("paymentMeanCoBadgingBrandList")),
        transaction_actors=strings(values.get("transactionActors")),
        mandate_id=text_or_none(values.get("mandateId")),
        issuer_wallet_id=text_or_none(values.get("issuerWalletId")),
        issuer_wallet_type=text_or_none(values.get("issuerWalletType")),
        extra=unmodeled(values, MEAN_FIELDS),
    )
