"""``sogen-soap charge FILE``: charge many stored cards (recurring billing), safely
restartable, never one row twice.

One row is one charge: ``wallet``, ``id`` (the card's paymentMeanId), ``amount``
in cents, and optional ``currency`` (978) and ``reference``
(transactionReference).  Every row is checked before anything is sent; bad
rows are reported by line and never sent.

A row is known by what it is: its fields, and for rows without a reference,
which occurrence of those fields it is (two identical rows are two charges).
Before its request may leave, the row's reference (its own, or one made for
it) is committed to the journal with the state ``sending``; the answer then
gives it its outcome.  So a run killed at any point is simply run again: rows
done are skipped, and rows caught in flight (or left unknown) are charged with
the *same* reference under ``after_lost_answer``: looked up first, sent again
only when the service says, sealed, that it does not know it.  Rows sharing a
reference are one payment: the row the journal holds (else the first) is sent,
the others are its repeats (``duplicate``), never sent; a reference the service
already holds from before answers 94 (``duplicate``): nothing new is charged.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from ..client import WalletClient
from ..errors import InvalidFieldError, SogenSoapError
from ..payments import new_transaction_reference
from ..redact import redact_text
from ..validation import check_amount, check_field
from .enrol import CREDENTIAL_CODES, DEFAULT_CREDENTIAL_FAILURES, Stop, write_records
from .inputs import Columns, FileFormat, Source, records
from .journal import JournalError, exclusive
from .progress import Progress

__all__ = [
    "CHARGE_COLUMNS",
    "CHARGE_OUTCOMES",
    "Charge",
    "ChargeJournal",
    "ChargeSummary",
    "charge",
    "read_charges",
]

CHARGE_COLUMNS: Final = Columns(
    {
        "wallet": ("wallet", "merchantWalletId", "merchant_wallet_id"),
        "id": ("id", "paymentMeanId", "payment_mean_id"),
        "amount": ("amount",),
        "currency": ("currency", "currencyCode", "currency_code"),
        "reference": ("reference", "transactionReference", "transaction_reference"),
    },
    ("wallet", "id", "amount"),
    "columns: wallet, id (the card's paymentMeanId), amount (in cents: 1050 is 10.50 EUR) "
    "(required), and optional currency (978, euros, when empty), reference "
    "(transactionReference; made for the row when empty)",
    '(e.g. "amount": "1050", "id": "1")',
)
CHARGE_OUTCOMES: Final = (
    "ok", "pending", "refused", "duplicate", "failed", "invalid", "unknown"
)  # fmt: skip
_FINAL: Final = frozenset({"ok", "pending", "refused", "duplicate"})
# "failed" (the credentials were refused: nothing done) is sent again, same reference.
RESULT_FIELDS: Final = (
    "line", "wallet", "id", "amount", "currency", "reference", "outcome", "code",
    "acquirer_code", "authorisation_id", "message",
)  # fmt: skip

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS charge (
    key TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT,
    acquirer_code TEXT,
    authorisation_id TEXT,
    message TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Charge:
    """One valid row: a charge to make."""

    line: int
    wallet: str
    mean: str
    amount: int
    currency: str
    reference: str | None
    occurrence: int = 0

    @property
    def key(self) -> str:
        """What the row is (never where it stands): its fields, and for a row
        without a reference, which occurrence of them."""
        return "\x1f".join(
            (self.wallet, self.mean, str(self.amount), self.currency, self.reference or "",
             str(self.occurrence))
        )  # fmt: skip


@dataclass(frozen=True)
class BadCharge:
    line: int
    message: str
    wallet: str | None = None


def read_charges(path: Source, form: FileFormat) -> Iterator[Charge | BadCharge]:
    """Every row, validated (messages name the column, as the file does)."""
    seen: Counter[tuple[str, str, int, str]] = Counter()
    for line, record in records(path, form, CHARGE_COLUMNS):
        wallet = record["wallet"].strip()
        try:
            for column in ("wallet", "id", "amount"):
                if not record[column].strip():
                    raise InvalidFieldError(column, column, "missing")
            text = record["amount"].strip()
            if not (text.isascii() and text.isdigit()):
                raise InvalidFieldError(
                    "amount",
                    "amount",
                    f"a whole number of cents (1050 for 10.50 EUR), not {text!r}",
                )
            amount = check_amount(int(text), "amount", "amount")
            currency = check_field(
                "currencyCode", record.get("currency", "").strip() or "978", "currency"
            )
            given = record.get("reference", "").strip() or None
            reference = (
                None if given is None else check_field("transactionReference", given, "reference")
            )
            mean = check_field("paymentMeanId", record["id"].strip(), "id")
            wallet = check_field("merchantWalletId", wallet, "wallet")
        except InvalidFieldError as exc:
            yield BadCharge(line, f"{exc.parameter}: {exc.rule}", redact_text(wallet) or None)
            continue
        occurrence = 0
        if reference is None:
            seen[(wallet, mean, amount, currency)] += 1
            occurrence = seen[(wallet, mean, amount, currency)]
        yield Charge(line, wallet, mean, amount, currency, reference, occurrence)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Entry:
    reference: str
    state: str
    code: str | None
    acquirer_code: str | None
    authorisation_id: str | None
    message: str | None
    attempts: int


class ChargeJournal:
    """The charges' journal beside the input (SQLite, private, one run at a time).

    It holds no card data: wallets, payment mean ids, amounts and references."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._holder = exclusive(path, "charge")
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master")
                if not row[0].startswith("sqlite_")  # SQLite's own indexes
            }
            if tables - {"charge"}:
                raise sqlite3.DatabaseError(f"it holds tables {', '.join(sorted(tables))}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._holder.close()
            raise JournalError(
                f"{path} is not a sogen-soap charge journal ({exc}); give another --journal"
            ) from None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
        self._holder.close()

    def entry(self, key: str) -> Entry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reference, state, code, acquirer_code, authorisation_id, message, "
                "attempts FROM charge WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else Entry(*row)

    def claim(self, key: str, reference: str) -> None:
        """Committed before the request may leave: the reference is never lost."""
        with self._lock:
            if self._closed:
                raise JournalError("the journal is closed")
            self._db.execute(
                "INSERT INTO charge (key, reference, state, attempts, updated_at) "
                "VALUES (?, ?, 'sending', 1, ?) ON CONFLICT (key) DO UPDATE SET "
                "state = 'sending', attempts = charge.attempts + 1, "
                "updated_at = excluded.updated_at",
                (key, reference, _now()),
            )

    def finish(
        self,
        key: str,
        state: str,
        code: str | None = None,
        acquirer_code: str | None = None,
        authorisation_id: str | None = None,
        message: str | None = None,
    ) -> None:
        with self._lock:
            if not self._closed:  # an answer after the run was stopped: settled next run
                self._db.execute(
                    "UPDATE charge SET state = ?, code = ?, acquirer_code = ?, "
                    "authorisation_id = ?, message = ?, updated_at = ? WHERE key = ?",
                    (state, code, acquirer_code, authorisation_id,
                     redact_text(message or "") or None, _now(), key),
                )  # fmt: skip


@dataclass
class ChargeSummary:
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    skipped: int = 0
    recovered: int = 0
    seconds: float = 0.0
    results_path: Path | None = None
    stopped: int | None = None
    wrong_credentials: bool = False

    def line(self) -> str:
        parts = ", ".join(f"{self.counts[k]} {k}" for k in CHARGE_OUTCOMES if self.counts[k])
        return (
            f"{self.rows} rows: {parts or 'nothing to do'}; sent {self.sent}, skipped "
            f"{self.skipped} already done, recovered {self.recovered} in {self.seconds:.1f} s"
        )


def _state(result: Any) -> str:
    if result.fault is None and result.response_code in CREDENTIAL_CODES:
        return "failed"  # nothing was done: sent again once the credentials are fixed
    if result.ok:
        return "ok"
    if result.duplicate:
        return "duplicate"
    if result.pending:
        return "pending"
    return "refused"


def charge(
    client: WalletClient,
    path: Source,
    form: FileFormat,
    journal: ChargeJournal,
    results: Path,
    *,
    concurrency: int = 4,
    stop: Stop | None = None,
    credential_failures: int = DEFAULT_CREDENTIAL_FAILURES,
    progress: Progress | None = None,
) -> ChargeSummary:
    """Charge every valid row not charged yet; the summary of this input's rows."""
    stop = stop or Stop()
    shown = progress or Progress(0, enabled=False)
    summary = ChargeSummary(results_path=results)
    started = time.monotonic()
    outcome: dict[int, tuple[Charge | BadCharge, str, Entry | None]] = {}
    references: dict[str, int] = {}
    lock = threading.Lock()
    credentials_in_a_row = 0

    def send(row: Charge, entry: Entry | None) -> None:
        nonlocal credentials_in_a_row
        resumed = entry is not None and entry.state not in _FINAL | {"failed"}
        reference = (
            entry.reference if entry is not None else (row.reference or new_transaction_reference())
        )
        journal.claim(row.key, reference)
        try:
            result = client.wallet_order(
                row.wallet, row.mean, row.amount, row.currency,
                transaction_reference=reference, after_lost_answer=resumed,
            )  # fmt: skip
        except SogenSoapError as exc:
            journal.finish(row.key, "unknown", message=str(exc))
            with lock:
                summary.sent += 1
            shown.add("unknown")
            return
        state = _state(result)
        journal.finish(
            row.key, state, result.response_code, result.acquirer_response_code,
            result.authorisation_id, result.message,
        )  # fmt: skip
        shown.add(state)
        with lock:
            summary.sent += 1
            summary.recovered += result.recovered
            credentials_in_a_row = credentials_in_a_row + 1 if state == "failed" else 0
            if credential_failures and credentials_in_a_row >= credential_failures:
                stop.wrong_credentials()

    rows = list(read_charges(path, form))
    # Rows sharing a reference are one payment: the row the journal already holds
    # (whatever the file's order now), else the first; the others are its repeats.
    for row in rows:
        if (
            isinstance(row, Charge)
            and row.reference is not None
            and row.reference not in references
            and journal.entry(row.key) is not None
        ):
            references[row.reference] = row.line
    futures: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for row in rows:
            if isinstance(row, BadCharge):
                shown.add("invalid")
                continue
            if row.reference is not None:
                first = references.setdefault(row.reference, row.line)
                if first != row.line:
                    outcome[row.line] = (row, f"repeat:{first}", None)
                    shown.add("duplicate")
                    continue
            entry = journal.entry(row.key)
            if entry is not None and entry.state in _FINAL:
                summary.skipped += 1
                shown.skip(entry.state)
                continue
            if stop.requested:
                continue
            futures.add(pool.submit(send, row, entry))
            if len(futures) >= concurrency * 2:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for finished in done:
                    finished.result()  # a broken journal stops the run, loudly
        for finished in wait(futures).done:
            finished.result()
    summary.stopped = stop.signal
    summary.wrong_credentials = stop.credentials
    records_out = list(_results(rows, journal, outcome, summary))
    write_records(results, RESULT_FIELDS, records_out)
    summary.seconds = time.monotonic() - started
    return summary


def _results(
    rows: list[Charge | BadCharge],
    journal: ChargeJournal,
    repeats: dict[int, tuple[Charge | BadCharge, str, Entry | None]],
    summary: ChargeSummary,
) -> Iterator[dict[str, object]]:
    summary.rows = len(rows)
    for row in rows:
        if isinstance(row, BadCharge):
            summary.counts["invalid"] += 1
            yield {"line": row.line, "wallet": row.wallet, "outcome": "invalid",
                   "message": row.message}  # fmt: skip
            continue
        base: dict[str, object] = {
            "line": row.line, "wallet": row.wallet, "id": row.mean, "amount": row.amount,
            "currency": row.currency, "reference": row.reference,
        }  # fmt: skip
        repeat = repeats.get(row.line)
        if repeat is not None:
            first = repeat[1].split(":", 1)[1]
            summary.counts["duplicate"] += 1
            said = f"the same reference as line {first} (one payment): not sent"
            yield {**base, "outcome": "duplicate", "message": said}
            continue
        entry = journal.entry(row.key)
        if entry is None:  # stopped before it was sent
            summary.counts["unknown"] += 1
            yield {**base, "outcome": "unknown", "message": "not sent yet: run the batch again"}
            continue
        state = entry.state if entry.state in _FINAL | {"failed"} else "unknown"
        summary.counts[state] += 1
        message = entry.message
        if state == "unknown":
            message = (
                f"outcome unknown ({entry.message or 'stopped in flight'}); run the batch "
                "again: it looks the reference up first, never charging twice"
            )
        yield {
            **base, "reference": entry.reference, "outcome": state, "code": entry.code,
            "acquirer_code": entry.acquirer_code, "authorisation_id": entry.authorisation_id,
            "message": message,
        }  # fmt: skip
