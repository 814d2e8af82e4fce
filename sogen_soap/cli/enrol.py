"""``sogen-soap enrol FILE``: enrol many cards, safely restartable.

Every row is validated before anything is sent; bad rows are reported with
their line number and never sent.  Good rows go out on worker threads
sharing one client.  The journal records each outcome as it happens, so a run
that is killed can simply be started again: rows done are skipped; rows caught
in flight (or left unknown) are sent again under the reconcile rule, where
the service's own duplicate check on the full card number decides (a sealed
94 means the card is in: ``ok``, recovered); rows that certainly did not
arrive (99, never connected) are sent again normally.  An exact repeat of an
earlier row (same wallet, card and expiry) is ``duplicate`` and never sent,
so one card has exactly one ``ok`` row, with its payment mean id.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..client import WalletClient
from ..errors import (
    ConnectionFailed,
    HTTPStatusError,
    InvalidFieldError,
    OutcomeUnknown,
    ResponseError,
    SogenSoapError,
    TransportError,
)
from ..redact import mask_pan
from ..results import AddCardResult
from ..validation import check_card_number, check_field
from .journal import FINAL_STATES, IN_FLIGHT_STATES, Journal
from .progress import Progress

__all__ = ["BatchSummary", "Row", "check_rows", "enrol", "read_rows", "write_results"]

# Accepted column names (CSV header or JSON key) for each input.
COLUMNS: Final = {
    "wallet": ("wallet", "merchantWalletId", "merchant_wallet_id"),
    "card": ("card", "cardNumber", "card_number"),
    "expiry": ("expiry", "cardExpiryDate", "card_expiry_date"),
    "alias": ("alias", "paymentMeanAlias", "payment_mean_alias"),
    "brand": ("brand", "paymentMeanBrand", "payment_mean_brand"),
    "pan_type": ("pan_type", "panType"),
}
NO_ID: Final = (
    "the card is in the wallet (a sealed 94 to sending again), but its payment mean id "
    "could not be read or told apart; run again, or see: sogen-soap wallet --wallet "
)
RESULT_FIELDS: Final = (
    "line",
    "wallet",
    "masked_pan",
    "outcome",
    "code",
    "payment_mean_id",
    "message",
)


@dataclass(frozen=True)
class Row:
    """One valid input row, ready to send; the card never shows in a repr."""

    line: int
    wallet: str
    card: str = field(repr=False)
    expiry: str
    alias: str | None = None
    brand: str | None = None
    pan_type: str | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.card)


@dataclass(frozen=True)
class BadRow:
    line: int
    wallet: str | None
    masked_pan: str | None
    message: str
    raw: tuple[str, ...] = field(repr=False, default=())


@dataclass
class BatchSummary:
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    skipped: int = 0
    recovered: int = 0
    retries: int = 0
    seconds: float = 0.0
    results_path: Path | None = None

    def line(self) -> str:
        order = ("ok", "duplicate", "refused", "invalid", "failed", "unknown")
        parts = ", ".join(f"{self.counts[k]} {k}" for k in order if self.counts[k])
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"{self.rows} rows: {parts or 'nothing to do'}; sent {self.sent}, "
            f"skipped {self.skipped} already done, recovered {self.recovered}, "
            f"retries {self.retries} "
            f"in {self.seconds:.1f} s ({rate:.0f} rows/s)"
        )


def _records(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    try:
                        record = json.loads(text)
                    except json.JSONDecodeError:
                        yield number, {"__error__": "not a JSON object"}
                        continue
                    yield (
                        number,
                        record if isinstance(record, dict) else {"__error__": "not a JSON object"},
                    )
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        for record in reader:
            yield reader.line_num, record


def _column(record: Mapping[str, object], name: str) -> str | None:
    for key in COLUMNS[name]:
        value = record.get(key)
        if value not in (None, ""):
            return str(value).strip()
    return None


def read_rows(path: Path) -> Iterator[Row | BadRow]:
    """Every input row, validated; the reason for each bad one, without its card number."""
    for line, record in _records(path):
        wallet = _column(record, "wallet")
        card = _column(record, "card") or ""
        masked = mask_pan(card) if card else None
        if "__error__" in record:
            yield BadRow(line, None, None, str(record["__error__"]))
            continue
        try:
            if wallet is None:
                raise InvalidFieldError("merchantWalletId", "wallet", "missing")
            if not card:
                raise InvalidFieldError("cardNumber", "card", "missing")
            pan_type = _column(record, "pan_type")
            alias, brand = _column(record, "alias"), _column(record, "brand")
            yield Row(
                line=line,
                wallet=check_field("merchantWalletId", wallet, "wallet"),
                pan_type=None if pan_type is None else check_field("panType", pan_type, "pan_type"),
                card=check_card_number(card, pan_type),
                expiry=check_field("cardExpiryDate", _column(record, "expiry") or "", "expiry"),
                alias=None if alias is None else check_field("paymentMeanAlias", alias, "alias"),
                brand=None if brand is None else check_field("paymentMeanBrand", brand, "brand"),
            )
        except InvalidFieldError as exc:
            yield BadRow(line, wallet, masked, str(exc), raw=(wallet or "", card))


def _outcome(result: AddCardResult) -> str:
    if result.ok:
        # an ok row always names its card: a recovery without an id is read again
        return "ok" if result.payment_mean_id else "unknown"
    if result.duplicate:
        return "duplicate"
    if result.temporary or result.fault is not None:
        return "failed"  # tried again on the next run
    return "refused"


def _failure_state(exc: SogenSoapError, resumed: bool) -> str:
    """After an exception: may the card have been stored?"""
    if resumed:
        return "unknown"  # an earlier attempt may have stored it: settle it next run
    if isinstance(exc, OutcomeUnknown):
        return "unknown"  # sent, answer lost: sent again under the reconcile rule next run
    if isinstance(exc, ConnectionFailed) or (
        isinstance(exc, HTTPStatusError) and exc.status_code < 500
    ):
        return "failed"  # it certainly was not stored: send again next run
    if isinstance(exc, (TransportError, ResponseError)):
        return "unknown"  # an answer came but cannot be trusted: settle it next run
    return "failed"


class _Batch:
    def __init__(self, client: WalletClient, journal: Journal, progress: Progress) -> None:
        self.client = client
        self.journal = journal
        self.progress = progress
        self.recovered = 0
        self._lock = threading.Lock()

    def key(self, row: Row | BadRow) -> str:
        if isinstance(row, Row):
            return self.journal.key(row.line, row.wallet, row.card, row.expiry)
        return self.journal.key(row.line, *row.raw, row.message)

    def finish(
        self,
        row: Row | BadRow,
        key: str,
        state: str,
        code: str | None = None,
        payment_mean_id: str | None = None,
        message: str | None = None,
    ) -> str:
        """Record a row's outcome in the journal and on the progress line."""
        self.journal.finish(
            key, row.line, row.wallet, row.masked_pan, state, code, payment_mean_id, message
        )
        self.progress.add(state)
        return state

    def send(self, row: Row, key: str, resumed: bool = False) -> str:
        """Send one row; ``resumed``: an earlier attempt of it lost its answer."""
        self.journal.sending(key, row.line, row.wallet, row.masked_pan)
        try:
            result = self.client.add_card(
                row.wallet,
                row.card,
                row.expiry,
                pan_type=row.pan_type,
                payment_mean_alias=row.alias,
                payment_mean_brand=row.brand,
                reconcile=True,  # a lost answer is settled by sending again, never by masked PAN
                after_lost_answer=resumed,
            )
        except SogenSoapError as exc:
            return self.finish(
                row, key, _failure_state(exc, resumed), message=f"{type(exc).__name__}: {exc}"
            )
        if result.recovered:
            with self._lock:
                self.recovered += 1
        state = _outcome(result)
        return self.finish(
            row,
            key,
            state,
            result.fault.code if result.fault else result.response_code,
            result.payment_mean_id,
            NO_ID + row.wallet if state == "unknown" else result.message,
        )


def enrol(
    client: WalletClient,
    rows: Iterable[Row | BadRow],
    journal: Journal,
    *,
    workers: int,
    progress: Progress,
) -> BatchSummary:
    """Send every row not done yet; rows stream through, at most ``2 x workers`` in flight."""
    started = time.monotonic()
    batch = _Batch(client, journal, progress)
    summary = BatchSummary()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrol") as pool:
        pending: set[Future[str]] = set()
        for row in rows:
            summary.rows += 1
            key = batch.key(row)
            card_key = (
                journal.card_key(row.wallet, row.card, row.expiry) if isinstance(row, Row) else None
            )
            state = journal.seen(key, card_key)
            if state in FINAL_STATES:
                summary.skipped += 1
                progress.add(state or "")
                continue
            if isinstance(row, BadRow):
                batch.finish(row, key, "invalid", message=row.message)
                continue
            assert card_key is not None
            first = journal.first_line(card_key, row.line)
            if first is not None:
                batch.finish(row, key, "duplicate", message=f"repeats line {first}; not sent")
                continue
            journal.claim(key, row.line, row.wallet, row.masked_pan, card_key)
            if len(pending) >= workers * 2:  # memory stays flat however long the file
                _, pending = wait(pending, return_when=FIRST_COMPLETED)
            pending.add(pool.submit(batch.send, row, key, state in IN_FLIGHT_STATES))
            summary.sent += 1
        for future in pending:
            future.result()
    summary.seconds = time.monotonic() - started
    summary.retries = client.retries_made
    summary.recovered += batch.recovered
    summary.counts = Counter(progress.counts)
    return summary


def write_results(journal: Journal, path: Path) -> None:
    """This run's outcome of every row, in input order: CSV, or JSON Lines for ``.jsonl``."""
    lines = path.suffix.lower() in (".jsonl", ".ndjson")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=RESULT_FIELDS)
            if not lines:
                writer.writeheader()
            for r in journal.rows():
                record = {
                    "line": r.line,
                    "wallet": r.wallet,
                    "masked_pan": r.masked_pan,
                    "outcome": r.state,
                    "code": r.code,
                    "payment_mean_id": r.payment_mean_id,
                    "message": r.message,
                }
                if lines:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    writer.writerow(record)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def default_paths(source: Path) -> tuple[Path, Path]:
    """Journal and result file beside the input."""
    stem = source.with_suffix("")
    lines = source.suffix.lower() in (".jsonl", ".ndjson")
    return Path(f"{stem}.journal.sqlite3"), Path(f"{stem}.results{'.jsonl' if lines else '.csv'}")


def check_rows(path: Path) -> tuple[int, int]:
    """First pass: report every bad row by line number; (rows, bad rows)."""
    rows = bad = 0
    for row in read_rows(path):
        rows += 1
        if isinstance(row, BadRow):
            bad += 1
            print(f"line {row.line}: {row.message}", file=sys.stderr)
    return rows, bad
