"""The simulator's wallets, in SQLite (a file that survives restarts, or memory).

No clear card number is ever written: a card is recognised by an HMAC of its
number, and shown only masked.  The HMAC's key is a random secret kept *beside*
the store, in ``<store>.key`` (0600), never in it: from the store file alone, a
card number cannot be found again by trying the few billion numbers that share
its first six and last digits.  The store and its key are created private
(0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["PaymentMean", "StoreError", "WalletStore", "mask_card"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS wallet (
    merchant_id TEXT NOT NULL,
    wallet_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_action_at TEXT NOT NULL,
    next_payment_mean_id INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (merchant_id, wallet_id)
);
CREATE TABLE IF NOT EXISTS payment_mean (
    merchant_id TEXT NOT NULL,
    wallet_id TEXT NOT NULL,
    payment_mean_id INTEGER NOT NULL,
    card_fingerprint TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    expiry TEXT NOT NULL,
    alias TEXT,
    brand TEXT NOT NULL,
    PRIMARY KEY (merchant_id, wallet_id, payment_mean_id),
    UNIQUE (merchant_id, wallet_id, card_fingerprint)
);
CREATE TABLE IF NOT EXISTS payment (
    merchant_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    scheme_id TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (merchant_id, reference)
);
CREATE INDEX IF NOT EXISTS payment_scheme ON payment (merchant_id, scheme_id);
"""


def _has_cards(path: str) -> bool:
    """Whether an existing store file holds cards (read-only; False if there is none)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return db.execute("SELECT 1 FROM payment_mean LIMIT 1").fetchone() is not None
    except sqlite3.Error:
        return False


def mask_card(card_number: str) -> str:
    """The vendor's mask: first 4 and last 2 clear, ``#`` between, same length."""
    if len(card_number) < 10:
        return "#" * len(card_number)
    return card_number[:4] + "#" * (len(card_number) - 6) + card_number[-2:]


def brand_of(card_number: str) -> str:
    """A brand from the card's leading digits, as the platform would infer it."""
    if not card_number.isdigit():
        return "UNKNOWN"
    if card_number.startswith("4"):
        return "VISA"
    if card_number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= card_number[:4] <= "2720":
        return "MASTERCARD"
    if card_number[:2] in {"34", "37"}:
        return "AMEX"
    if card_number[:2] in {"36", "38"} or "300" <= card_number[:3] <= "305":
        return "DINERS"
    if card_number[:2] == "35":
        return "JCB"
    return "CB"


class StoreError(ValueError):
    """The store cannot be used as it is (written by an earlier version, or its key
    is missing); the message says how to start a fresh one."""


def _private_file(path: str) -> None:
    """Create ``path`` empty and 0600 if it does not exist (SQLite then opens it;
    its -wal and -shm files take the same mode)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    os.close(os.open(path, flags, 0o600))


def _store_key(path: str) -> bytes:
    """The fingerprint key kept in ``<store>.key``, made (0600) on first use."""
    key_path = f"{path}.key"
    try:
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(key_path, "rb") as handle:
            key = handle.read()
        if len(key) != 32:
            raise StoreError(f"{key_path} is not a sogen-soap simulator key") from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


@dataclass(frozen=True)
class PaymentMean:
    payment_mean_id: str
    masked_pan: str
    expiry: str
    alias: str | None
    brand: str


@dataclass(frozen=True)
class Wallet:
    created_at: str
    last_action_at: str
    payment_means: tuple[PaymentMean, ...]


class WalletStore:
    """Thread-safe wallet storage; one connection guarded by a lock."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        memory = path == ":memory:"
        if not memory:
            had_cards = _has_cards(path)
            key_missing = not os.path.exists(f"{path}.key")
            if had_cards and key_missing:
                raise StoreError(
                    f"the simulator store {path} was written by an earlier sogen-soap, whose "
                    "card fingerprints could be recovered from the file alone (or its key "
                    f"file {path}.key is gone); delete {path} to start a fresh store"
                )
            _private_file(path)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if not memory:
            self._db.execute("PRAGMA journal_mode=WAL")
            # Survives a killed simulator (every commit is in the WAL); only a
            # power cut may lose the last commits.  FULL would sync every
            # commit to disk and make the simulator, not the client, what a
            # benchmark measures.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("DELETE FROM meta WHERE key = 'salt'")  # an earlier, empty store's
        self._key = secrets.token_bytes(32) if memory else _store_key(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def clear(self) -> None:
        """Forget every wallet (a fresh, empty store for the next test)."""
        with self._transaction() as db:
            db.execute("DELETE FROM payment_mean")
            db.execute("DELETE FROM wallet")
            db.execute("DELETE FROM payment")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time; rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _fingerprint(self, card_number: str) -> str:
        return hmac.new(self._key, card_number.encode("utf-8"), hashlib.sha256).hexdigest()

    def add_card(
        self,
        merchant_id: str,
        wallet_id: str,
        card_number: str,
        expiry: str,
        alias: str | None,
        brand: str | None,
        now: str,
    ) -> PaymentMean | None:
        """Enrol a card, creating the wallet; None when the card is already there."""
        fingerprint = self._fingerprint(card_number)
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM payment_mean WHERE merchant_id=? AND wallet_id=? "
                "AND card_fingerprint=?",
                (merchant_id, wallet_id, fingerprint),
            ).fetchone():
                return None
            db.execute(
                "INSERT OR IGNORE INTO wallet (merchant_id, wallet_id, created_at, "
                "last_action_at) VALUES (?, ?, ?, ?)",
                (merchant_id, wallet_id, now, now),
            )
            (next_id,) = db.execute(
                "SELECT next_payment_mean_id FROM wallet WHERE merchant_id=? AND wallet_id=?",
                (merchant_id, wallet_id),
            ).fetchone()
            mean = PaymentMean(
                payment_mean_id=str(next_id),
                masked_pan=mask_card(card_number),
                expiry=expiry,
                alias=alias,
                brand=brand or brand_of(card_number),
            )
            db.execute(
                "INSERT INTO payment_mean VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (merchant_id, wallet_id, next_id, fingerprint, mean.masked_pan,
                 mean.expiry, mean.alias, mean.brand),
            )  # fmt: skip
            db.execute(
                "UPDATE wallet SET next_payment_mean_id=?, last_action_at=? "
                "WHERE merchant_id=? AND wallet_id=?",
                (next_id + 1, now, merchant_id, wallet_id),
            )
            return mean

    def wallet(self, merchant_id: str, wallet_id: str) -> Wallet | None:
        with self._lock:
            row = self._db.execute(
                "SELECT created_at, last_action_at FROM wallet WHERE merchant_id=? AND wallet_id=?",
                (merchant_id, wallet_id),
            ).fetchone()
            if row is None:
                return None
            means = self._db.execute(
                "SELECT payment_mean_id, masked_pan, expiry, alias, brand FROM payment_mean "
                "WHERE merchant_id=? AND wallet_id=? ORDER BY payment_mean_id",
                (merchant_id, wallet_id),
            ).fetchall()
        return Wallet(
            created_at=row[0],
            last_action_at=row[1],
            payment_means=tuple(PaymentMean(str(m[0]), m[1], m[2], m[3], m[4]) for m in means),
        )

    def payment_mean(
        self, merchant_id: str, wallet_id: str, payment_mean_id: str
    ) -> PaymentMean | None:
        wallet = self.wallet(merchant_id, wallet_id)
        if wallet is None:
            return None
        return next(
            (m for m in wallet.payment_means if m.payment_mean_id == str(int(payment_mean_id))),
            None,
        )

    def _change(
        self, sql: str, args: tuple[object, ...], merchant_id: str, wallet_id: str, now: str
    ) -> bool:
        with self._transaction() as db:
            changed = db.execute(sql, args).rowcount > 0
            if changed:
                db.execute(
                    "UPDATE wallet SET last_action_at=? WHERE merchant_id=? AND wallet_id=?",
                    (now, merchant_id, wallet_id),
                )
            return changed

    def update_alias(
        self, merchant_id: str, wallet_id: str, payment_mean_id: str, alias: str, now: str
    ) -> bool:
        return self._change(
            "UPDATE payment_mean SET alias=? "
            "WHERE merchant_id=? AND wallet_id=? AND payment_mean_id=?",
            (alias, merchant_id, wallet_id, int(payment_mean_id)),
            merchant_id, wallet_id, now,
        )  # fmt: skip

    def delete_payment_mean(
        self, merchant_id: str, wallet_id: str, payment_mean_id: str, now: str
    ) -> bool:
        return self._change(
            "DELETE FROM payment_mean WHERE merchant_id=? AND wallet_id=? AND payment_mean_id=?",
            (merchant_id, wallet_id, int(payment_mean_id)),
            merchant_id, wallet_id, now,
        )  # fmt: skip

    def sign_off(self, merchant_id: str, wallet_id: str) -> bool:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM payment_mean WHERE merchant_id=? AND wallet_id=?",
                (merchant_id, wallet_id),
            )
            return (
                db.execute(
                    "DELETE FROM wallet WHERE merchant_id=? AND wallet_id=?",
                    (merchant_id, wallet_id),
                ).rowcount
                > 0
            )

    def has_card(self, merchant_id: str, wallet_id: str, card_number: str) -> bool:
        """Whether this exact card is in the wallet (by fingerprint: the store keeps no PAN)."""
        return self.find_card(merchant_id, wallet_id, card_number) is not None

    def find_card(self, merchant_id: str, wallet_id: str, card_number: str) -> PaymentMean | None:
        """This exact card's payment mean in the wallet (by fingerprint), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT payment_mean_id, masked_pan, expiry, alias, brand FROM payment_mean "
                "WHERE merchant_id=? AND wallet_id=? AND card_fingerprint=?",
                (merchant_id, wallet_id, self._fingerprint(card_number)),
            ).fetchone()
        return None if row is None else PaymentMean(str(row[0]), row[1], row[2], row[3], row[4])

    def count_cards(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM payment_mean").fetchone()
        return int(n)

    # ---------------------------------------------------------------- payments
    # A transaction is a JSON object of its fields (no card number: the masked
    # one, from the payment mean), keyed by the merchant's transactionReference.

    def add_payment(self, merchant_id: str, reference: str, data: dict[str, Any]) -> bool:
        """Store a new transaction; False when the reference is taken (a duplicate)."""
        with self._transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM payment WHERE merchant_id=? AND reference=?",
                (merchant_id, reference),
            ).fetchone()
            if taken:
                return False
            db.execute(
                "INSERT INTO payment VALUES (?, ?, ?, ?)",
                (merchant_id, reference, data.get("scheme_id"), json.dumps(data)),
            )
            return True

    def payment(self, merchant_id: str, reference: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM payment WHERE merchant_id=? AND reference=?",
                (merchant_id, reference),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def change_payment(
        self,
        merchant_id: str,
        reference: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
    ) -> dict[str, Any] | None:
        """Read, change and write one transaction atomically: ``change`` returns the
        new fields (or None to leave it); None when the reference is unknown."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT data FROM payment WHERE merchant_id=? AND reference=?",
                (merchant_id, reference),
            ).fetchone()
            if row is None:
                return None
            data = dict(json.loads(row[0]))
            changed = change(data)
            if changed is not None:
                db.execute(
                    "UPDATE payment SET data=? WHERE merchant_id=? AND reference=?",
                    (json.dumps(changed), merchant_id, reference),
                )
                return changed
            return data

    def payments(self, merchant_id: str | None = None) -> list[dict[str, Any]]:
        """Every transaction (of one merchant), in the order they were made."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM payment WHERE ? IS NULL OR merchant_id=? ORDER BY rowid",
                (merchant_id, merchant_id),
            ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def scheme_id_known(self, merchant_id: str, scheme_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM payment WHERE merchant_id=? AND scheme_id=?",
                (merchant_id, scheme_id),
            ).fetchone()
        return row is not None
