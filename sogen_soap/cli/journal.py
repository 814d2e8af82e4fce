"""The batch journal: each row's outcome, written as it completes.

A row is marked ``sending`` (and committed) before its request goes out and
given its outcome when the answer comes back, so a run killed at any point
leaves an exact record: rows done are skipped next time, rows caught in flight
are sent again under the reconcile rule (a sealed 94 then means the card is
in), never read back by masked PAN.  Each row also carries a ``card_key``
(wallet, card, expiry), so an exact repeat in the file is known as one.

No card number is stored.  A row is keyed by an HMAC of its line and fields
under a random salt *and* a value derived from the merchant's secret key, so
the file alone cannot be brute-forced back to card numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

__all__ = ["FINAL_STATES", "IN_FLIGHT_STATES", "Journal", "JournalError", "JournalRow"]

FINAL_STATES: Final = frozenset({"ok", "duplicate", "refused", "invalid"})
IN_FLIGHT_STATES: Final = frozenset({"sending", "unknown"})

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS row (
    key TEXT PRIMARY KEY,
    line INTEGER NOT NULL,
    wallet TEXT,
    masked_pan TEXT,
    expiry TEXT,
    state TEXT NOT NULL,
    code TEXT,
    payment_mean_id TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    run INTEGER NOT NULL DEFAULT 0,
    card_key TEXT
);
CREATE INDEX IF NOT EXISTS row_run_line ON row (run, line);
"""
_CARD_INDEX: Final = "CREATE INDEX IF NOT EXISTS row_card ON row (card_key, run, line)"


# Every statement, in one place (SQL reads the same in any letter case).
_TABLES: Final = "SELECT name FROM sqlite_master"
_WAL: Final = "PRAGMA journal_mode=WAL"
# NORMAL survives a killed process (what the journal is for); only a power cut
# may lose the last commits.
_SYNCHRONOUS: Final = "PRAGMA synchronous=NORMAL"
_ROW_COLUMNS: Final = "PRAGMA table_info(row)"
_ADD_CARD_KEY: Final = "ALTER TABLE row ADD COLUMN card_key TEXT"
_NEW_SALT: Final = "INSERT OR IGNORE INTO meta VALUES ('salt', ?)"
_SALT: Final = "SELECT value FROM meta WHERE key = 'salt'"
_FIRST_RUN: Final = "INSERT OR IGNORE INTO meta VALUES ('run', '0')"
_NEXT_RUN: Final = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'run'"
_RUN: Final = "SELECT value FROM meta WHERE key = 'run'"
_STATE: Final = "SELECT state FROM row WHERE key = ?"
_SEEN: Final = "UPDATE row SET run = ?, card_key = coalesce(?, card_key) WHERE key = ?"
_FIRST_REPEAT: Final = "SELECT min(line) FROM row WHERE card_key = ? AND run = ? AND line < ?"
_CLAIM: Final = (
    "INSERT INTO row (key, line, wallet, masked_pan, state, attempts, updated_at, run, card_key) "
    "VALUES (?, ?, ?, ?, 'sending', 1, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    "state = 'sending', attempts = row.attempts + 1, updated_at = excluded.updated_at, "
    "run = excluded.run, card_key = excluded.card_key"
)
_FINISH: Final = (
    "INSERT INTO row (key, line, wallet, masked_pan, state, code, payment_mean_id, message, "
    "updated_at, run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    "state=excluded.state, code=excluded.code, payment_mean_id=excluded.payment_mean_id, "
    "message=excluded.message, updated_at=excluded.updated_at, run=excluded.run"
)
_PAGE: Final = (
    "SELECT line, wallet, masked_pan, state, code, payment_mean_id, message, attempts "
    "FROM row WHERE run = ? AND line > ? ORDER BY line LIMIT 500"
)

_OWN_TABLES: Final = frozenset(
    {"meta", "row", "row_run_line", "row_card", "sqlite_autoindex_meta_1", "sqlite_autoindex_row_1"}
)


class JournalError(ValueError):
    """The journal cannot be used: not ours, unreadable, or in use by another run."""


def _exclusive(path: Path) -> Any:
    """Create the journal private (0600) if new, and hold an exclusive lock on it.

    SQLite's own locks guard single writes, not a whole run: two runs of the
    same file would send the same rows.  The lock is ``flock`` on the file
    (independent of SQLite's POSIX locks); where there is none, no lock.
    """
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise JournalError(f"cannot open the journal {path}: {exc.strerror}") from None
    handle = os.fdopen(descriptor, "rb")
    with contextlib.suppress(OSError):  # not ours to change: the lock still holds
        os.chmod(path, 0o600)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalError(
            f"another sogen-soap enrol is running with the journal {path}; wait for it to "
            "finish (then run again to see its results), or give another --journal"
        ) from None
    return handle


@dataclass(frozen=True)
class JournalRow:
    line: int
    wallet: str | None
    masked_pan: str | None
    state: str
    code: str | None
    payment_mean_id: str | None
    message: str | None
    attempts: int


class Journal:
    """A SQLite journal beside the input; safe to write from several threads."""

    def __init__(self, path: Path, secret: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._holder = _exclusive(path)  # one run per journal; released by close()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._open(secret)
        except sqlite3.DatabaseError as exc:
            self._holder.close()
            raise JournalError(
                f"{path} is not a sogen-soap journal ({exc}); give another --journal, "
                "or remove that file if it is left from something else"
            ) from None

    def _open(self, secret: str) -> None:
        tables = {row[0] for row in self._db.execute(_TABLES)}
        if tables - _OWN_TABLES:
            raise sqlite3.DatabaseError(
                f"it holds tables {', '.join(sorted(tables - _OWN_TABLES))}"
            )
        self._db.execute(_WAL)
        self._db.execute(_SYNCHRONOUS)
        self._db.executescript(_SCHEMA)
        columns = {info[1] for info in self._db.execute(_ROW_COLUMNS)}
        if "card_key" not in columns:  # a journal written by an earlier version
            self._db.execute(_ADD_CARD_KEY)
        self._db.execute(_CARD_INDEX)
        self._db.execute(_NEW_SALT, (secrets.token_hex(32),))
        (salt,) = self._db.execute(_SALT).fetchone()
        pepper = hmac.new(secret.encode(), b"sogen-soap journal", hashlib.sha256).digest()
        self._key = bytes.fromhex(salt) + pepper
        # Each run marks the rows it saw, so results cover exactly the current
        # input even if an earlier run read a different version of the file.
        self._db.execute(_FIRST_RUN)
        self._db.execute(_NEXT_RUN)
        (run,) = self._db.execute(_RUN).fetchone()
        self.run = int(run)

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._holder.close()

    def key(self, line: int, *fields: str) -> str:
        message = "\x1f".join([str(line), *fields]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def seen(self, key: str, card_key: str | None, line: int) -> tuple[str | None, int | None]:
        """Mark the row as part of this run: (its state so far, the first earlier
        line of this run holding the same card, if any)."""
        with self._lock:
            found = self._db.execute(_STATE, (key,)).fetchone()
            if found is not None:
                self._db.execute(_SEEN, (self.run, card_key, key))
            first = None
            if card_key is not None:
                (first,) = self._db.execute(_FIRST_REPEAT, (card_key, self.run, line)).fetchone()
        return (None if found is None else str(found[0])), first

    def card_key(self, wallet: str, card: str, expiry: str) -> str:
        """The same card for the same wallet, whatever line it stands on."""
        return self.key(0, "card", wallet, card, expiry)

    def claim(self, key: str, line: int, wallet: str, masked_pan: str, card_key: str) -> None:
        """Mark a row ``sending`` (committed, one attempt more) before it may go out.

        Done by the one thread that reads the input, so a later repeat of the
        same card always finds this row.
        """
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute(_CLAIM, (key, line, wallet, masked_pan, now, self.run, card_key))

    def finish(
        self,
        key: str,
        line: int,
        wallet: str | None,
        masked_pan: str | None,
        state: str,
        code: str | None = None,
        payment_mean_id: str | None = None,
        message: str | None = None,
    ) -> None:
        """Record a row's outcome (a row never claimed is inserted: invalid, repeats)."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            self._db.execute(
                _FINISH,
                (
                    key,
                    line,
                    wallet,
                    masked_pan,
                    state,
                    code,
                    payment_mean_id,
                    message,
                    now,
                    self.run,
                ),
            )

    def rows(self) -> Iterator[JournalRow]:
        """This run's rows in input order, read a page at a time (memory stays flat)."""
        last = 0  # lines count from 1
        while True:
            with self._lock:
                page = self._db.execute(_PAGE, (self.run, last)).fetchall()
            if not page:
                return
            for row in page:
                yield JournalRow(*row)
            last = page[-1][0]
