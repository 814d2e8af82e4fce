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
from collections.abc import Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ..client import WalletClient
from ..errors import (
    ConnectionFailed,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseError,
    SogenSoapError,
    TransportError,
)
from ..results import AddCardResult
from .inputs import BadRow, FileFormat, Row, read_rows
from .journal import FINAL_STATES, IN_FLIGHT_STATES, Journal
from .progress import Progress

__all__ = ["BatchSummary", "check_rows", "enrol", "write_results"]

# A results cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: a leading ``'`` before a formula start."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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

    def send(self, row: Row, key: str, resumed: bool) -> str:
        """Send one row (already marked ``sending``); ``resumed``: an earlier
        attempt of it lost its answer."""
        return self.record(row, key, send_row(self.client, row, resumed))

    def record(self, row: Row, key: str, outcome: Outcome) -> str:
        if outcome.recovered:
            with self._lock:
                self.recovered += 1
        return self.finish(
            row, key, outcome.state, outcome.code, outcome.payment_mean_id, outcome.message
        )


@dataclass(frozen=True)
class Outcome:
    """What sending one row came to (crosses a process boundary: no card in it)."""

    state: str
    code: str | None = None
    payment_mean_id: str | None = None
    message: str | None = None
    recovered: bool = False


def send_row(client: WalletClient, row: Row, resumed: bool) -> Outcome:
    """Send one row under the reconcile rule; never raises a package exception."""
    try:
        result = client.add_card(
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
        return Outcome(_failure_state(exc, resumed), message=f"{type(exc).__name__}: {exc}")
    state = _outcome(result)
    return Outcome(
        state,
        result.fault.code if result.fault else result.response_code,
        result.payment_mean_id,
        NO_ID + row.wallet if state == "unknown" else result.message,
        result.recovered,
    )


# ------------------------------------------------------------------ worker processes

_worker: dict[str, Any] = {}


def _start_worker(options: dict[str, object], threads: int) -> None:
    """In each worker process: one client and a thread pool, made once."""
    options = dict(options)
    secret = str(options.pop("secret_key"))
    merchant_id, key_version = str(options.pop("merchant_id")), int(str(options.pop("key_version")))
    _worker["client"] = WalletClient(merchant_id, secret, key_version, **options)  # type: ignore[arg-type]
    _worker["pool"] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="enrol")


def _send_chunk(chunk: list[tuple[Row, bool]]) -> list[Outcome]:
    client: WalletClient = _worker["client"]
    pool: ThreadPoolExecutor = _worker["pool"]
    return list(pool.map(lambda item: send_row(client, *item), chunk))


def _process_pool(
    processes: int, client_options: dict[str, object] | None, threads: int
) -> ProcessPoolExecutor:  # pragma: no mutate block
    """Worker processes, each with a client built from ``client_options``."""
    import multiprocessing

    start: Any = _start_worker
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start,
        initargs=(client_options, threads),
    )


class _Dispatcher:
    """Where rows go: threads in this process, or chunks to worker processes.

    Either way this process alone writes the journal: a row is marked
    ``sending`` (committed) before any worker may send it.
    """

    def __init__(
        self,
        batch: _Batch,
        concurrency: int,
        processes: int,
        client_options: dict[str, object] | None,
    ) -> None:
        self.batch = batch
        self.concurrency = concurrency
        self.processes = processes
        self.pending: set[Future[object]] = set()
        self._chunk: list[tuple[Row, str, bool]] = []  # pragma: no mutate
        self._chunk_size = max(1, concurrency // max(processes, 1))  # pragma: no mutate
        self.pool: ThreadPoolExecutor | ProcessPoolExecutor
        if processes > 1:  # pragma: no mutate
            chunk = self._chunk_size  # pragma: no mutate
            self.pool = _process_pool(processes, client_options, chunk)  # pragma: no mutate
        else:
            self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="enrol")

    def submit(self, row: Row, key: str, resumed: bool) -> None:
        limit = 2 * (self.processes if self.processes > 1 else self.concurrency)
        if len(self.pending) >= limit:  # memory stays flat however long the file
            done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        if self.processes <= 1:  # pragma: no mutate
            self.pending.add(self.pool.submit(self.batch.send, row, key, resumed))
        else:
            self._chunk_up(row, key, resumed)  # pragma: no mutate

    # What follows runs only with worker processes.  It is tested
    # (test_enrol_rows.py, test_enrol.py), but mutation testing cannot start
    # spawned processes from inside its runner, so it is left out of mutation
    # (tests/mutation-equivalents.md).

    def _chunk_up(self, row: Row, key: str, resumed: bool) -> None:  # pragma: no mutate block
        self._chunk.append((row, key, resumed))
        if len(self._chunk) >= self._chunk_size:
            self.flush()

    def flush(self) -> None:  # pragma: no mutate block
        if not self._chunk:
            return
        chunk, self._chunk = self._chunk, []
        future = self.pool.submit(_send_chunk, [(row, resumed) for row, _, resumed in chunk])
        batch = self.batch

        def record(done: Future[list[Outcome]]) -> None:
            for (row, key, _), outcome in zip(chunk, done.result(), strict=True):
                batch.record(row, key, outcome)

        future.add_done_callback(record)
        self.pending.add(future)  # type: ignore[arg-type]

    def close(self) -> None:
        self.flush()
        for future in list(self.pending):
            future.result()
        self.pool.shutdown(wait=True)


def enrol(
    client: WalletClient,
    rows: Iterable[Row | BadRow],
    journal: Journal,
    *,
    concurrency: int,
    progress: Progress,
    processes: int,
    client_options: dict[str, object] | None = None,
) -> BatchSummary:
    """Send every row not done yet, ``concurrency`` at a time; rows stream through.

    With ``processes`` > 1 the sending is spread over that many worker
    processes (each with ``concurrency / processes`` threads), built from
    ``client_options``; this process reads, checks and journals every row.
    """
    started = time.monotonic()
    batch = _Batch(client, journal, progress)
    summary = BatchSummary()
    dispatcher = _Dispatcher(batch, concurrency, processes, client_options)  # pragma: no mutate
    try:
        for row in rows:
            summary.rows += 1
            key = batch.key(row)
            card_key = (
                journal.card_key(row.wallet, row.card, row.expiry) if isinstance(row, Row) else None
            )
            state, first = journal.seen(key, card_key, row.line)
            if state in FINAL_STATES:
                summary.skipped += 1
                progress.skip(str(state))
                continue
            if isinstance(row, BadRow):
                batch.finish(row, key, "invalid", message=row.message)
                continue
            assert card_key is not None
            if first is not None:
                batch.finish(row, key, "duplicate", message=f"repeats line {first}; not sent")
                continue
            journal.claim(key, row.line, row.wallet, row.masked_pan, card_key)
            dispatcher.submit(row, key, state in IN_FLIGHT_STATES)
            summary.sent += 1
    finally:
        dispatcher.close()
    summary.seconds = time.monotonic() - started
    summary.retries = client.retries_made
    summary.recovered = batch.recovered
    summary.counts = Counter(progress.counts)
    return summary


def write_results(journal: Journal, path: Path) -> None:
    """This run's outcome of every row, in input order: CSV, or JSON Lines for ``.jsonl``.

    The file is private (0600: it names wallets) and written atomically.  In
    CSV, a cell that would start with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading ``'``, so a spreadsheet shows it as text
    instead of running it as a formula.
    """
    lines = path.suffix.lower() == ".jsonl"  # what --output and default_paths allow
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
                    writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def default_paths(source: Path) -> tuple[Path, Path]:
    """Journal and result file beside the input."""
    stem = source.with_suffix("")
    lines = source.suffix.lower() in (".jsonl", ".ndjson")
    return Path(f"{stem}.journal.sqlite3"), Path(f"{stem}.results{'.jsonl' if lines else '.csv'}")


def check_rows(path: Path, form: FileFormat) -> tuple[int, int]:
    """Second pass: report every bad row by line number; (rows, bad rows)."""
    rows = bad = 0
    for row in read_rows(path, form):
        rows += 1
        if isinstance(row, BadRow):
            bad += 1
            print(f"line {row.line}: {row.message}", file=sys.stderr)
    return rows, bad
