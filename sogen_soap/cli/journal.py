"""The batch journal: each row's outcome, written as it completes.

A row is known by what it is, not where it stands: its *entry* is keyed by
the wallet, a keyed fingerprint of the card and the row's other fields.  So
deleting, inserting or reordering rows between runs never sends a row that
is done, and the results of a run still carry the outcome and id of every
row done earlier.  An edited row is another entry: a new row.

An entry is marked ``sending`` (and committed) just before its request may go
out, and given its outcome when the answer comes back, so a run killed at any
point leaves an exact record: entries done are skipped next time; entries
caught in flight are sent again under the reconcile rule (a sealed 94 then
means the card is in), never read back by masked PAN.  Each run also records
its *lines* (which entry each input line is, or why it is not sent), so the
results follow the input as it is now.

No card number is stored: every text column passes the package's rule for
cardholder data (a card number typed into the wallet column is stored
masked).  Keys are HMACs under a random salt *and* a value
derived from the merchant's secret key, so the file alone cannot be
brute-forced back to card numbers.
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

from ..errors import ConfigurationError
from ..keys import KeyRing
from ..redact import redact_text

__all__ = [
    "FINAL_STATES",
    "IN_FLIGHT_STATES",
    "Journal",
    "JournalError",
    "JournalRow",
    "exclusive",
]

FINAL_STATES: Final = frozenset({"ok", "in-wallet", "duplicate", "refused", "invalid"})
IN_FLIGHT_STATES: Final = frozenset({"sending", "unknown"})

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entry (
    key TEXT PRIMARY KEY,
    wallet TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT,
    payment_mean_id TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    run INTEGER NOT NULL,
    line INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS line (
    run INTEGER NOT NULL,
    line INTEGER NOT NULL,
    key TEXT,
    card_key TEXT,
    state TEXT,
    message TEXT,
    wallet TEXT,
    masked_pan TEXT,
    PRIMARY KEY (run, line)
);
CREATE INDEX IF NOT EXISTS line_key ON line (run, key);
CREATE INDEX IF NOT EXISTS line_card ON line (run, card_key);
"""

# Every statement, in one place (SQL reads the same in any letter case).
_TABLES: Final = "SELECT name FROM sqlite_master"
_WAL: Final = "PRAGMA journal_mode=WAL"
# NORMAL survives a killed process (what the journal is for); only a power cut
# may lose the last commits.
_SYNCHRONOUS: Final = "PRAGMA synchronous=NORMAL"
_NEW_SALT: Final = "INSERT OR IGNORE INTO meta VALUES ('salt', ?)"
_SALT: Final = "SELECT value FROM meta WHERE key = 'salt'"
_FIRST_RUN: Final = "INSERT OR IGNORE INTO meta VALUES ('run', '0')"
_NEXT_RUN: Final = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'run'"
_RUN: Final = "SELECT value FROM meta WHERE key = 'run'"
_NEW_PEPPER_VERSION: Final = "INSERT OR IGNORE INTO meta VALUES ('pepper_version', ?)"
_PEPPER_VERSION: Final = "SELECT value FROM meta WHERE key = 'pepper_version'"
_ENTRY_STATE: Final = "SELECT state FROM entry WHERE key = ?"
_LINE: Final = (
    "INSERT OR REPLACE INTO line (run, line, key, card_key, state, message, wallet, masked_pan) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_FIRST_OF_KEY: Final = "SELECT min(line) FROM line WHERE run = ? AND key = ? AND line < ?"
_FIRST_OF_CARD: Final = "SELECT min(line) FROM line WHERE run = ? AND card_key = ? AND line < ?"
_SEEN: Final = "UPDATE entry SET run = ?, line = ? WHERE key = ?"
_CLAIM: Final = (
    "INSERT INTO entry (key, wallet, masked_pan, state, attempts, updated_at, run, line) "
    "VALUES (?, ?, ?, 'sending', 1, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
    "state = 'sending', attempts = entry.attempts + 1, updated_at = excluded.updated_at, "
    "run = excluded.run, line = excluded.line"
)
_UNCLAIM: Final = "UPDATE entry SET state = ?, attempts = attempts - 1 WHERE key = ?"
_FINISH: Final = (
    "UPDATE entry SET state = ?, code = ?, payment_mean_id = ?, message = ?, updated_at = ? "
    "WHERE key = ?"
)
_IMPORT: Final = (
    "INSERT OR IGNORE INTO entry (key, wallet, masked_pan, state, code, payment_mean_id, "
    "message, attempts, updated_at, run, line) "
    "SELECT ?, ?, ?, state, code, payment_mean_id, message, attempts, updated_at, ?, ? "
    "FROM row WHERE key = ? AND state != 'invalid'"
)
_PAGE: Final = (
    "SELECT l.line, coalesce(e.wallet, l.wallet), coalesce(e.masked_pan, l.masked_pan), "
    "coalesce(l.state, e.state), CASE WHEN l.state IS NULL THEN e.code END, "
    "CASE WHEN l.state IS NULL THEN e.payment_mean_id END, coalesce(l.message, e.message), "
    "coalesce(e.attempts, 0) "
    "FROM line l LEFT JOIN entry e ON e.key = l.key "
    "WHERE l.run = ? AND l.line > ? ORDER BY l.line LIMIT 500"
)
_EARLIER: Final = (
    "SELECT e.run, e.line, e.wallet, e.masked_pan, e.state, e.code, e.payment_mean_id, "
    "e.message, e.attempts FROM entry e WHERE e.run < ? AND (e.run, e.line) > (?, ?) "
    "ORDER BY e.run, e.line LIMIT 500"
)

_OWN_TABLES: Final = frozenset(
    {
        "meta", "entry", "line", "line_key", "line_card",
        "sqlite_autoindex_meta_1", "sqlite_autoindex_entry_1", "sqlite_autoindex_line_1",
        # a journal of sogen-soap 0.x (rows keyed by line number): read, never written
        "row", "row_run_line", "row_card", "sqlite_autoindex_row_1",
    }
)  # fmt: skip


class JournalError(ValueError):
    """The journal cannot be used: not ours, unreadable, or in use by another run."""


def exclusive(path: Path, command: str = "enrol") -> Any:
    """Create the journal private (0600) if new, and hold an exclusive lock on it.

    SQLite's own locks guard single writes, not a whole run: two runs of the
    same file would send the same rows.  The lock is ``flock`` on the file
    (independent of SQLite's POSIX locks); where there is none, no lock.
    """
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)  # never through a link
    try:
        descriptor = os.open(path, flags, 0o600)
    except OSError as exc:
        raise JournalError(f"cannot open the journal {path}: {exc.strerror}") from None
    handle = os.fdopen(descriptor, "rb")
    with contextlib.suppress(OSError, AttributeError):  # not ours to change; no fchmod
        os.fchmod(descriptor, 0o600)  # this very file, not what a path might point to
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalError(
            f"another sogen-soap {command} is running with the journal {path}; wait for it to "
            "finish (then run again to see its results), or give another --journal"
        ) from None
    return handle


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JournalRow:
    """One line of the results: ``line`` is None for a row of an earlier run that
    is not in this run's input."""

    line: int | None
    wallet: str | None
    masked_pan: str | None
    state: str
    code: str | None
    payment_mean_id: str | None
    message: str | None
    attempts: int


@dataclass(frozen=True)
class Identity:
    """What a valid row is, as keys: the entry (every field), the card in its
    wallet (the order of sending), and the card with its expiry (exact repeats)."""

    key: str
    group: str
    card_key: str


class Journal:
    """A SQLite journal beside the input; safe to write from several threads.

    After ``close`` every write is dropped: an answer that arrives later is not
    recorded, and its row stays in flight, settled by the next run.
    """

    def __init__(self, path: Path, secret: str | KeyRing) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._holder = exclusive(path)  # one run per journal; released by close()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._open(secret)
        except sqlite3.DatabaseError as exc:
            self._holder.close()
            raise JournalError(
                f"{path} is not a sogen-soap journal ({exc}); give another --journal, "
                "or remove that file if it is left from something else"
            ) from None
        except JournalError:
            self._db.close()
            self._holder.close()
            raise

    def _open(self, secret: str | KeyRing) -> None:
        tables = {row[0] for row in self._db.execute(_TABLES)}
        if tables - _OWN_TABLES:
            raise sqlite3.DatabaseError(
                f"it holds tables {', '.join(sorted(tables - _OWN_TABLES))}"
            )
        self._legacy = "row" in tables
        self._db.execute(_WAL)
        self._db.execute(_SYNCHRONOUS)
        self._db.executescript(_SCHEMA)
        self._db.execute(_NEW_SALT, (secrets.token_hex(32),))
        (salt,) = self._db.execute(_SALT).fetchone()
        if isinstance(secret, KeyRing):
            secret = self._pepper_key(secret)
        pepper = hmac.new(secret.encode(), b"sogen-soap journal", hashlib.sha256).digest()
        self._key = bytes.fromhex(salt) + pepper
        self._db.execute(_FIRST_RUN)
        self._db.execute(_NEXT_RUN)
        (run,) = self._db.execute(_RUN).fetchone()
        self.run = int(run)

    def _pepper_key(self, keys: KeyRing) -> str:
        """The secret of the key version the journal was started under: rows keep
        their identity across a key switch, so a resumed batch re-sends nothing."""
        self._db.execute(_NEW_PEPPER_VERSION, (str(keys.active.version),))
        (version,) = self._db.execute(_PEPPER_VERSION).fetchone()
        try:
            return keys[int(version)].secret_key.reveal()
        except ConfigurationError:
            raise JournalError(
                f"{self.path} was started under key version {version}, which is not "
                "configured now: add that version to the key ring (it seals nothing; it "
                "keeps the journal's rows recognisable) to resume, or start a new journal"
            ) from None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
        self._holder.close()

    def _write(self, sql: str, parameters: tuple[object, ...]) -> None:
        with self._lock:
            if not self._closed:
                self._db.execute(sql, parameters)

    def key(self, line: int, *fields: str) -> str:
        """An HMAC of ``fields`` (and ``line``, 0 for none) under the journal's key."""
        message = "\x1f".join([str(line), *fields]).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def identity(
        self,
        wallet: str,
        card: str,
        expiry: str,
        alias: str | None,
        brand: str | None,
        pan_type: str | None,
    ) -> Identity:
        optional = [f"{name}={value}" for name, value in
                    (("alias", alias), ("brand", brand), ("pan_type", pan_type))
                    if value is not None]  # fmt: skip
        return Identity(
            key=self.key(0, "row", wallet, card, expiry, *optional),
            group=self.key(0, "card-in-wallet", wallet, card),
            card_key=self.key(0, "card", wallet, card, expiry),
        )

    # ----------------------------------------------------------------- this run's lines

    def state(self, identity: Identity, line: int, legacy: tuple[str, str, str, str]) -> str | None:
        """The entry's state so far (None: never claimed).  ``legacy`` (wallet, card,
        expiry, masked PAN) finds the row in a journal of sogen-soap 0.x, keyed by
        line number, as long as the row has not moved."""
        with self._lock:
            found = self._db.execute(_ENTRY_STATE, (identity.key,)).fetchone()
            if found is None and self._legacy and not self._closed:
                wallet, card, expiry, masked = legacy
                old = self.key(line, wallet, card, expiry)
                self._db.execute(_IMPORT, (identity.key, wallet, masked, self.run, line, old))
                found = self._db.execute(_ENTRY_STATE, (identity.key,)).fetchone()
        return None if found is None else str(found[0])

    def same_row(self, identity: Identity, line: int) -> int | None:
        """The first earlier line of this run that is the very same row, if any."""
        return self._first(_FIRST_OF_KEY, identity.key, line)

    def same_card(self, identity: Identity, line: int) -> int | None:
        """The first earlier line of this run with the same card and expiry, if any."""
        return self._first(_FIRST_OF_CARD, identity.card_key, line)

    def _first(self, sql: str, key: str, line: int) -> int | None:
        with self._lock:
            (first,) = self._db.execute(sql, (self.run, key, line)).fetchone()
        return None if first is None else int(first)

    def note_line(
        self,
        line: int,
        identity: Identity | None,
        *,
        state: str | None = None,
        message: str | None = None,
        wallet: str | None = None,
        masked_pan: str | None = None,
    ) -> None:
        """Record which entry input ``line`` is in this run, or (``state``) what
        became of it without an entry: ``invalid``, or a repeat not sent."""
        key, card_key = (identity.key, identity.card_key) if identity else (None, None)
        texts = [None if t is None else redact_text(t) for t in (message, wallet, masked_pan)]
        with self._lock:
            if self._closed:
                return
            self._db.execute(_LINE, (self.run, line, key, card_key, state, *texts))
            if key is not None:  # its entry is part of this run's input, at this line
                self._db.execute(_SEEN, (self.run, line, key))

    # ----------------------------------------------------------------- entries

    def claim(self, key: str, line: int, wallet: str, masked_pan: str) -> None:
        """Mark an entry ``sending`` (committed, one attempt more) just before its
        request may go out."""
        wallet, masked_pan = redact_text(wallet), redact_text(masked_pan)
        self._write(_CLAIM, (key, wallet, masked_pan, _now(), self.run, line))

    def unclaim(self, key: str, previous: str | None) -> None:
        """Undo a claim whose request certainly never left (the run stopped first)."""
        self._write(_UNCLAIM, (previous or "failed", key))

    def finish(
        self,
        key: str,
        state: str,
        code: str | None = None,
        payment_mean_id: str | None = None,
        message: str | None = None,
    ) -> None:
        """Record a claimed entry's outcome."""
        message = None if message is None else redact_text(message)
        self._write(_FINISH, (state, code, payment_mean_id, message, _now(), key))

    # ----------------------------------------------------------------- reading back

    def rows(self) -> Iterator[JournalRow]:
        """This run's lines in input order, then the entries of earlier runs that are
        not in this input; read a page at a time (memory stays flat)."""
        last = 0  # lines count from 1
        while True:
            with self._lock:
                page = self._db.execute(_PAGE, (self.run, last)).fetchall()
            if not page:
                break
            for row in page:
                yield JournalRow(*row)
            last = page[-1][0]
        yield from self.earlier_rows()

    def earlier_rows(self) -> Iterator[JournalRow]:
        """Entries done or tried by earlier runs whose row is not in this input."""
        run, line = -1, -1
        while True:
            with self._lock:
                page = self._db.execute(_EARLIER, (self.run, run, line)).fetchall()
            if not page:
                return
            for _run, _line, *fields in page:
                yield JournalRow(None, *fields)
            run, line = page[-1][0], page[-1][1]
