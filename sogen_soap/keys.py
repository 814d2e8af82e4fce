"""The merchant's secret keys over the years: a key ring.

The vendor's keys are valid for two years.  Before one expires the merchant is
given its successor under a new ``keyVersion``; the service starts accepting it
on a date of its own, and stops accepting the old one at its expiry.  A client
that holds one key must be restarted, everywhere at once, at that moment.  A
``KeyRing`` holds every version the merchant has, with its expiry, and which one
seals new requests: switched by ``activate()`` (no restart) or by the date each
version becomes active (``active_from``).  An answer is always verified with
the key its own request was sealed with, so calls in flight across a switch
stay verifiable.

Expiry: a warning 90, 45 and 20 days ahead, once per process and version
(logger ``sogen_soap.keys``); an expired key is refused before anything is sent.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Final

from .credentials import SecretKey, secret_key_from_file
from .errors import ConfigurationError
from .validation import check_field

__all__ = [
    "EXPIRY_WARNINGS",
    "KeyExpired",
    "KeyRing",
    "KeyVersion",
    "key_from_spec",
    "key_from_table",
    "key_specs",
    "keys_from_env",
    "parse_day",
]

log = logging.getLogger("sogen_soap.keys")

EXPIRY_WARNINGS: Final = (90, 45, 20)
"""Days before a key's expiry when a warning is logged: the vendor's alert e-mails."""

# (version, expiry) -> the nearest threshold already warned of in this process.
_warned: dict[tuple[int, date], int] = {}
_warned_lock = threading.Lock()


_KEY_SPEC: Final = re.compile(
    r"(?P<version>[0-9]{1,10}):(?P<file>.+?)"
    r"(?::(?P<expires>[0-9]{4}-[0-9]{2}-[0-9]{2})?(?::(?P<active_from>[0-9]{4}-[0-9]{2}-[0-9]{2}))?)?"
)


class KeyExpired(ConfigurationError):
    """The key that would seal this request has expired: the service refuses it, so
    nothing was sent.  Activate its successor."""


def _today() -> date:
    """The service's notion of a day is the calendar; UTC keeps every host the same."""
    return datetime.now(timezone.utc).date()


def parse_day(value: object, what: str) -> date | None:
    """``YYYY-MM-DD`` (or a ``date``; a TOML date is one) -> ``date``; empty -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigurationError(f"{what} must be a date written YYYY-MM-DD, not {value!r}")


@dataclass(frozen=True)
class KeyVersion:
    """One version of the merchant's secret key.

    ``expires``: the last day the service accepts it (UTC calendar day);
    ``active_from``: the first day it seals new requests when the ring's active
    version is not set by hand (see ``KeyRing``).
    """

    version: int
    secret_key: SecretKey = field(repr=False)
    expires: date | None = None
    active_from: date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "version", int(check_field("keyVersion", self.version, "key_version"))
        )
        if not isinstance(self.secret_key, SecretKey):
            object.__setattr__(self, "secret_key", SecretKey(self.secret_key))
        object.__setattr__(self, "expires", parse_day(self.expires, "expires"))
        object.__setattr__(self, "active_from", parse_day(self.active_from, "active_from"))

    def days_left(self, today: date | None = None) -> int | None:
        """Days until expiry (0 on the last valid day, negative once expired)."""
        if self.expires is None:
            return None
        return (self.expires - (today or _today())).days

    def expired(self, today: date | None = None) -> bool:
        left = self.days_left(today)
        return left is not None and left < 0


class KeyRing:
    """Every key version of one merchant, and which one seals new requests.

    The active version is the one given to ``activate()`` (or ``active=``), else
    the version with the latest ``active_from`` on or before today (a version
    without one counts as active from the start).  Thread-safe: a switch takes
    effect for the next call, in every thread, with no restart.

    ``KeyRing.single(key, version)`` is what the one-key forms of the clients
    build.
    """

    def __init__(
        self,
        versions: Iterable[KeyVersion] | Mapping[int, str | SecretKey],
        *,
        active: int | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        if isinstance(versions, Mapping):
            versions = [KeyVersion(v, _secret(k)) for v, k in versions.items()]
        self._versions: dict[int, KeyVersion] = {}
        for entry in versions:
            if not isinstance(entry, KeyVersion):
                raise ConfigurationError(
                    f"a key ring holds KeyVersion entries, not {type(entry).__name__}"
                )
            if entry.version in self._versions:
                raise ConfigurationError(f"key version {entry.version} is given twice")
            self._versions[entry.version] = entry
        if not self._versions:
            raise ConfigurationError("a key ring needs at least one key version")
        self._today = today or _today  # looked up now, not at import: a test holds the day
        self._lock = threading.Lock()
        self._chosen: int | None = None
        self._last_used: int | None = None
        self._switched_at: float | None = None
        self._proven: set[int] = set()
        if active is not None:
            self.activate(active)
        elif len(self._versions) == 1 and next(iter(self._versions.values())).active_from is None:
            self._chosen = next(iter(self._versions))  # nothing to follow: no date to read
        elif len(self._versions) > 1 and not any(v.active_from for v in self._versions.values()):
            raise ConfigurationError(
                "several key versions and none active: name the active one "
                f"(active=, key_version) among {', '.join(map(str, sorted(self._versions)))}, "
                "or give each its active_from date"
            )

    @classmethod
    def single(cls, secret_key: str | SecretKey, version: int, expires: object = None) -> KeyRing:
        return cls([KeyVersion(version, _secret(secret_key), parse_day(expires, "expires"))])

    def __repr__(self) -> str:
        return f"KeyRing(versions={sorted(self._versions)}, active={self.active.version})"

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a KeyRing cannot be pickled")

    @property
    def versions(self) -> tuple[KeyVersion, ...]:
        """Every version, oldest first."""
        return tuple(self._versions[v] for v in sorted(self._versions))

    def __getitem__(self, version: int) -> KeyVersion:
        try:
            return self._versions[int(version)]
        except (KeyError, ValueError, TypeError):
            raise ConfigurationError(
                f"no key version {version} in the ring (it holds "
                f"{', '.join(map(str, sorted(self._versions)))})"
            ) from None

    @property
    def active(self) -> KeyVersion:
        """The version that seals the next request."""
        chosen = self._chosen
        if chosen is not None:
            return self._versions[chosen]
        today = self._today()
        started = [
            v for v in self._versions.values() if v.active_from is None or v.active_from <= today
        ]
        if not started:
            first = min(self._versions.values(), key=lambda v: v.active_from or today)
            raise ConfigurationError(
                f"no key version is active yet: the first, {first.version}, starts on "
                f"{first.active_from}"
            )
        return max(started, key=lambda v: (v.active_from or date.min, v.version))

    def activate(self, version: int) -> None:
        """Seal new requests with ``version`` from the next call on (it must be in the
        ring and not expired).  Calls already sent keep theirs."""
        entry = self[version]
        if entry.expired(self._today()):
            raise KeyExpired(
                f"key version {entry.version} expired on {entry.expires}; it cannot be activated"
            )
        with self._lock:
            self._chosen = entry.version

    def for_request(self) -> KeyVersion:
        """The version to seal a request with now: expiry checked (warned of, or
        refused) and the switch noted, so a 34 right after it can say so."""
        entry = self.active
        left = entry.days_left(self._today())
        if left is not None:
            if left < 0:
                raise KeyExpired(
                    f"key version {entry.version} expired on {entry.expires}: the service "
                    "refuses it, nothing was sent; activate its successor"
                )
            _warn_expiry(entry, left)
        if self._last_used != entry.version:  # a switch (or the first call): rare
            with self._lock:
                if self._last_used is not None and self._last_used != entry.version:
                    self._switched_at = time.monotonic()
                self._last_used = entry.version
        return entry

    def proven(self, version: int) -> None:
        """An answer sealed with ``version`` was verified: the service accepts it."""
        if version not in self._proven:
            with self._lock:
                self._proven.add(version)

    def hint_for_34(self, version: int) -> str | None:
        """Why a 34 may have come, when the version it answered was switched to and
        the service has not yet accepted it once."""
        with self._lock:
            switched = self._switched_at is not None and version not in self._proven
            others = sorted(v for v in self._proven if v != version)
        if not switched or version != self._last_used:
            return None
        back = f"; version {others[-1]} was accepted before" if others else ""
        return (
            f"key version {version} was switched to and has not been accepted yet: the "
            f"service may not have activated it{back}"
        )


def key_from_table(entry: Mapping[str, object], where: str) -> KeyVersion:
    """One version from a table (a config file's ``[[sogen-soap.keys]]``): version,
    secret_key_file, and optionally expires and active_from."""
    unknown = sorted(set(entry) - {"version", "secret_key_file", "expires", "active_from"})
    if unknown or "version" not in entry or not entry.get("secret_key_file"):
        raise ConfigurationError(
            f"{where}: each key has version and secret_key_file, and may have expires and "
            "active_from" + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return KeyVersion(
        int(check_field("keyVersion", str(entry["version"]), "version")),
        secret_key_from_file(str(entry["secret_key_file"]), where),
        parse_day(entry.get("expires"), f"{where}: expires"),
        parse_day(entry.get("active_from"), f"{where}: active_from"),
    )


def key_from_spec(spec: str, where: str) -> KeyVersion:
    """``VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]``, as --key-ring and SOGEN_KEYS take them."""
    match = _KEY_SPEC.fullmatch(spec.strip())
    if match is None:
        raise ConfigurationError(
            f"{where}: expected VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]] (dates YYYY-MM-DD)"
        )
    return key_from_table(
        {
            "version": match["version"],
            "secret_key_file": match["file"],
            "expires": match["expires"],
            "active_from": match["active_from"],
        },
        where,
    )


def _secret(value: str | SecretKey) -> SecretKey:
    return value if isinstance(value, SecretKey) else SecretKey(value)


def _warn_expiry(entry: KeyVersion, left: int) -> None:
    """Warn once per threshold reached (90, 45, 20 days), the nearest one only."""
    threshold = min((t for t in EXPIRY_WARNINGS if left <= t), default=None)
    if threshold is None:
        return
    assert entry.expires is not None
    key = (entry.version, entry.expires)
    with _warned_lock:
        if _warned.get(key, threshold + 1) <= threshold:
            return
        _warned[key] = threshold
    log.warning(
        "key version %d expires on %s, in %d day%s: activate its successor before then",
        entry.version,
        entry.expires,
        left,
        "" if left == 1 else "s",
    )


def key_specs(text: str, where: str) -> list[KeyVersion]:
    """Comma-separated ``VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]`` entries (``SOGEN_KEYS``).

    Text that holds no entry (``","``, spaces) is refused naming where it came from:
    a variable set to a ring that came out empty is a mistake, not an absence."""
    versions = [key_from_spec(spec, where) for spec in text.split(",") if spec.strip()]
    if not versions:
        raise ConfigurationError(
            f"{where} holds no key: expected VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]], "
            "comma-separated"
        )
    return versions


def keys_from_env(environ: Mapping[str, str]) -> KeyRing | None:
    """``SOGEN_KEYS`` (``VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]``, comma-separated),
    active ``SOGEN_KEY_VERSION`` if set; None when ``SOGEN_KEYS`` is not set or empty
    (as the command reads it: set to anything else, it must hold a key)."""
    text = environ.get("SOGEN_KEYS", "")
    if not text:
        return None
    versions = key_specs(text, "SOGEN_KEYS")
    if environ.get("SOGEN_SECRET_KEY") or environ.get("SOGEN_SECRET_KEY_FILE"):
        raise ConfigurationError(
            "SOGEN_KEYS and SOGEN_SECRET_KEY(_FILE) are both set: a key ring or one key; keep one"
        )
    active = environ.get("SOGEN_KEY_VERSION")
    return KeyRing(
        versions,
        active=int(check_field("keyVersion", active, "SOGEN_KEY_VERSION")) if active else None,
    )
