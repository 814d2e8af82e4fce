"""Wire text to Python values for results.

The vendor sends ISO 8601 date-times with an offset at the merchant's local
time.  A value without an offset is read in Europe/Paris, Sogenactif's zone
(an assumption stated in the README); the result is always aware.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from typing import Final

__all__ = ["parse_datetime", "text_or_none"]

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
