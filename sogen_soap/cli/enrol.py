"""``sogen-soap enrol FILE``: enrol many cards, safely restartable.

Every row is validated before anything is sent; bad rows are reported with
their line number and never sent.  Good rows go out on worker threads
sharing one client (or worker processes, ``--processes``).  Rows naming the
same card for the same wallet are sent one after the other, in file order,
so the first row is the one that enrols.

The journal records each outcome as it happens, so a run that is killed can
simply be started again: rows done are skipped; rows caught in flight (or
left unknown) are sent again under the reconcile rule, where the service's
own duplicate check on the full card number decides (a sealed 94 means the
card is in); rows that certainly did not arrive (99, never connected) are
sent again normally.  An exact repeat of an earlier row (same wallet, card
and expiry) is ``duplicate`` and never sent, so one card has exactly one
``ok`` row.

A stop asked for by a signal (SIGINT, SIGTERM) sends no new row, lets the
rows on the wire get their answers (worker processes get a few seconds, then
are ended), and leaves the journal exact: a row is marked in flight only once
its request may have left.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Protocol

from ..client import WalletClient
from ..errors import (
    ConnectionFailed,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseError,
    SogenSoapError,
    TransportError,
)
from ..redact import redact_text
from ..results import AddCardResult
from .events import say
from .inputs import BadRow, FileFormat, Row, Source, read_rows, results_suffix
from .journal import FINAL_STATES, IN_FLIGHT_STATES, Identity, Journal
from .progress import Progress

__all__ = [
    "OUTCOMES",
    "BatchSummary",
    "Stop",
    "WorkersGone",
    "check_rows",
    "enrol",
    "write_results",
]

# A results cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")

OUTCOMES: Final = ("ok", "in-wallet", "duplicate", "refused", "invalid", "failed", "unknown")
"""Every outcome a row can end with, in the summary's order (README: the batch contract)."""

_SETTLED: Final = frozenset({"ok", "in-wallet", "duplicate", "refused"})
"""Outcomes after which a card's next row may be sent: its fate is known."""

STOP_GRACE: Final = 3.0
"""Seconds worker processes get, after a stop, to finish the rows on the wire."""


def _safe_text(value: object) -> object:
    """A cell as the package writes text: any card number in it masked."""
    return redact_text(value) if isinstance(value, str) else value


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: a leading ``'`` before a formula start."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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
    """What a run did: ``counts`` per outcome of this input's rows (exactly the
    results file's), ``earlier`` rows of earlier runs no longer in the input."""

    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    skipped: int = 0
    recovered: int = 0
    retries: int = 0
    earlier: int = 0
    without_expiry: int = 0  # valid rows of cards without expiry (a blank cell), said aloud
    seconds: float = 0.0
    results_path: Path | None = None
    stopped: int | None = None  # the signal that stopped the run
    wrong_credentials: bool = False  # stopped: answers in a row said the key is wrong

    def line(self) -> str:
        parts = ", ".join(f"{self.counts[k]} {k}" for k in OUTCOMES if self.counts[k])
        rate = self.sent / self.seconds if self.seconds else 0.0
        earlier = f"; {self.earlier} earlier rows not in this file" if self.earlier else ""
        blank = f"; {self.without_expiry} cards without expiry" if self.without_expiry else ""
        return (
            f"{self.rows} rows: {parts or 'nothing to do'}{earlier}{blank}; sent {self.sent}, "
            f"skipped {self.skipped} already done, recovered {self.recovered}, "
            f"retries {self.retries} "
            f"in {self.seconds:.1f} s ({rate:.0f} rows/s)"
        )


CREDENTIAL_CODES: Final = frozenset({"34", "03"})
"""Answers that mean the key, key version or merchant id is wrong: nothing was done,
so such a row is ``failed`` (sent again once the credentials are fixed)."""
DEFAULT_CREDENTIAL_FAILURES: Final = 5
"""Answers in a row saying the credentials are wrong after which a batch stops."""


def _outcome(result: AddCardResult) -> str:
    if result.response_code in CREDENTIAL_CODES and result.fault is None:
        return "failed"
    if result.ok:
        # the service said, sealed, that the card is in; without an id: in-wallet
        return "ok" if result.payment_mean_id else "in-wallet"
    if result.duplicate:
        return "duplicate"
    if result.fault is not None:
        return "unknown"  # a fault may come after storing (reconcile raises first)
    if result.temporary:
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


@dataclass(frozen=True)
class Outcome:
    """What sending one row came to (crosses a process boundary: no card in it)."""

    state: str
    code: str | None = None
    payment_mean_id: str | None = None
    message: str | None = None
    recovered: bool = False


def send_row(client: WalletClient, row: Row, resumed: bool) -> Outcome:
    """Send one row under the reconcile rule; never raises."""
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
    except Exception as exc:  # a bug of ours: the request may have left
        return Outcome("unknown", message=redact_text(f"internal error ({type(exc).__name__})"))
    return Outcome(
        _outcome(result),
        result.fault.code if result.fault else result.response_code,
        result.payment_mean_id,
        result.message,
        result.recovered or result.reconciliation is not None,
    )


# ------------------------------------------------------------------ stopping


class Stop:
    """A stop asked for by a signal: the batch sends no new row once it is set.

    ``install`` catches SIGINT and SIGTERM for the time of a run (the main
    thread only); a second signal of either kind is left to its default.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self.credentials = False  # stopped because the credentials are wrong
        self._previous: dict[int, Any] = {}

    def request(self, signum: int) -> None:
        self.signal = signum
        self.event.set()

    def wrong_credentials(self) -> None:
        self.credentials = True
        self.event.set()

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def _handle(self, signum: int, frame: object) -> None:
        self.request(signum)
        for other, previous in self._previous.items():  # a second one acts at once
            signal.signal(other, previous)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


# ------------------------------------------------------------------ senders


@dataclass(frozen=True)
class _Item:
    """A row on its way: which entry it is, and what the journal said before."""

    row: Row
    identity: Identity
    previous: str | None

    @property
    def resumed(self) -> bool:
        return self.previous in IN_FLIGHT_STATES


_Done = list[tuple[_Item, Outcome]]


class _Sender(Protocol):
    batch: int  # rows handed out at once

    @property
    def retries(self) -> int:
        """Retries made by worker processes (threads share the batch's client,
        which counts its own)."""

    @property
    def gone(self) -> bool:
        """Nobody is left to send: every worker process ended."""

    def free(self) -> int: ...
    def submit(self, items: list[_Item]) -> None: ...
    def back(self, worker: _Worker | None, count: int, alive: bool) -> None: ...
    def finish(self, stop: Stop) -> None: ...


class _Threads:
    """Rows on threads of this process, sharing one client; a thread records
    its row's outcome in the journal as soon as it has it."""

    batch = 1
    gone = False
    retries = 0  # made by the batch's own client, which counts them

    def __init__(self, batch: _Batch, concurrency: int) -> None:
        self._batch = batch
        self._concurrency = concurrency
        self._running = 0
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="enrol")

    def free(self) -> int:
        return self._concurrency - self._running

    def submit(self, items: list[_Item]) -> None:
        for item in items:
            self._running += 1
            self._pool.submit(self._send, item)

    def _send(self, item: _Item) -> None:
        outcome = send_row(self._batch.client, item.row, item.resumed)  # never raises
        try:
            self._batch.record(item, outcome)
        finally:
            self._batch.done.put((None, [item], [outcome]))

    def back(self, worker: _Worker | None, count: int, alive: bool) -> None:
        self._running -= count

    def finish(self, stop: Stop) -> None:
        """Rows on the wire get their answer (each within its call's deadline)."""
        self._pool.shutdown(wait=True)


class _Processes:
    """Rows spread over worker processes (``python -m sogen_soap.cli.worker``).

    Each worker takes one chunk at a time and sends its rows on its threads;
    this process claims a chunk's rows just before handing it to an idle
    worker, and records their outcomes when they come back.  Workers run in
    their own session (a terminal's Ctrl-C reaches this process only) and end
    when this process goes, however it goes.
    """

    def __init__(self, batch: _Batch, processes: int, threads: int, options: dict[str, object]):
        self._batch = batch
        self.batch = threads
        self._workers = [_Worker(options, threads, batch.done) for _ in range(processes)]
        self._started = list(self._workers)  # a worker that died still made its retries
        self._idle = list(self._workers)

    @property
    def retries(self) -> int:
        return sum(worker.retries for worker in self._started)

    def free(self) -> int:
        return len(self._idle) * self.batch

    def submit(self, items: list[_Item]) -> None:
        worker = self._idle.pop()
        worker.send(items)

    def back(self, worker: _Worker | None, count: int, alive: bool) -> None:
        assert worker is not None
        if alive:
            self._idle.append(worker)
        elif worker in self._workers:
            self._workers.remove(worker)

    @property
    def gone(self) -> bool:
        """Every worker process ended (killed from outside, or it could not start)."""
        return not self._workers

    def finish(self, stop: Stop) -> None:
        """Close the workers: at once when the run is done; after a stop, once their
        rows on the wire are answered, or ``STOP_GRACE`` seconds, whichever first."""
        limit = time.monotonic() + STOP_GRACE
        while any(w.items is not None for w in self._workers) and time.monotonic() < limit:
            self._batch.settle(0.05)
        busy = any(w.items is not None for w in self._workers)
        for worker in list(self._workers):
            worker.close(kill=busy)


class _Worker:
    """One worker process and the thread that reads its answers."""

    def __init__(self, options: dict[str, object], threads: int, done: queue.Queue[Any]) -> None:
        import subprocess

        self.items: list[_Item] | None = None
        self.retries = 0  # as the worker's own client counts them, after its last chunk
        self._closing = False
        self._taking = threading.Lock()  # who hands back ``items``: the reader or ``send``
        self._done = done
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sogen_soap.cli.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C and a terminal's hang-up reach the batch alone
            text=True,
            encoding="utf-8",
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in: IO[str] = self.process.stdin
        hello = {"options": options, "threads": threads, "parent": os.getpid()}
        self._in.write(json.dumps(hello) + "\n")  # the key goes over the pipe, never argv
        self._in.flush()
        self._reader = threading.Thread(
            target=self._read, args=(self.process.stdout,), daemon=True, name="enrol-worker"
        )
        self._reader.start()

    def send(self, items: list[_Item]) -> None:
        self.items = items
        rows = [{**asdict(item.row), "resumed": item.resumed} for item in items]
        try:
            self._in.write(json.dumps({"rows": rows}) + "\n")
            self._in.flush()
        except OSError:
            # The worker is gone, perhaps before this chunk: its reader may have ended
            # already and handed back nothing, and no one else would hand these rows
            # back (the batch would wait for them for ever).  They never left: they
            # come back unsettled, as the reader gives back a dead worker's rows.
            self._reader.join(timeout=STOP_GRACE)
            if not self._reader.is_alive():
                items = self._take_back()
                if items:
                    self._done.put((self, items, None))

    def _take_back(self) -> list[_Item]:
        """The rows still handed to this worker, taken once: by the reader when the
        worker ends, or by ``send`` when it ended before the chunk could be written."""
        with self._taking:
            items, self.items = self.items or [], None
        return items

    def _read(self, stream: IO[str]) -> None:
        """Post each chunk's outcomes; at the end, what it was still sending (those
        rows stay in flight: they may have left)."""
        try:
            for text in stream:
                answer = json.loads(text)
                items, self.items = self.items or [], None
                outcomes = [Outcome(**o) for o in answer["outcomes"]]
                self.retries = int(answer["retries"])
                self._done.put((self, items, outcomes))
        except (OSError, ValueError, TypeError, KeyError):
            pass  # a worker that broke its protocol is one that died
        items = self._take_back()
        if items or not self._closing:  # it ended on its own: no more rows for it
            self._done.put((self, items, None))

    def close(self, *, kill: bool) -> None:
        import subprocess

        self._closing = True
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):  # already gone
                self._in.close()
        try:
            self.process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=1.0)


# ------------------------------------------------------------------ the run


class _Batch:
    """One run: which rows may go now (one row per card at a time, in file order),
    and what came back."""

    def __init__(
        self, client: WalletClient, journal: Journal, progress: Progress, stop: Stop
    ) -> None:
        self.client = client
        self.journal = journal
        self.progress = progress
        self.stop = stop
        self.recovered = 0
        self.done: queue.Queue[Any] = queue.Queue()
        self.sender: _Sender
        self._lock = threading.Lock()
        self._ready: deque[_Item] = deque()
        self._waiting: dict[str, deque[_Item]] = {}  # a card's later rows, behind its first
        self._unsettled: dict[str, int] = {}  # cards whose row ended unsettled: its line
        self.credential_failures = DEFAULT_CREDENTIAL_FAILURES
        self._refusals = 0  # answers in a row saying the credentials are wrong
        self.in_flight = 0
        self.sent = 0

    @property
    def running(self) -> bool:
        """Whether rows may still be handed out: no stop, and someone to send them."""
        return not (self.stop.requested or self.sender.gone)

    @property
    def queued(self) -> int:
        return len(self._ready) + sum(len(q) for q in self._waiting.values())

    def add(self, item: _Item) -> None:
        """Queue a row: at once, or behind the row of the same card before it."""
        group = item.identity.group
        if group in self._unsettled:
            self._hold(item, self._unsettled[group])
            return
        behind = self._waiting.get(group)
        if behind is None:
            self._waiting[group] = deque()
            self._ready.append(item)
        else:
            behind.append(item)

    def pump(self) -> None:
        """Hand rows to free senders, each claimed just before it may leave."""
        while self._ready and self.running and self.sender.free() > 0:
            chunk = [self._ready.popleft() for _ in range(min(self.sender.batch, len(self._ready)))]
            for item in chunk:
                self.journal.claim(
                    item.identity.key, item.row.line, item.row.wallet, item.row.masked_pan
                )
            self.in_flight += len(chunk)
            self.sent += len(chunk)
            self.sender.submit(chunk)

    def record(self, item: _Item, outcome: Outcome) -> None:
        with self._lock:
            self.recovered += outcome.recovered
            if outcome.code in CREDENTIAL_CODES:
                self._refusals += 1
                if self.credential_failures and self._refusals >= self.credential_failures:
                    self.stop.wrong_credentials()  # nothing more is sent
            elif outcome.code is not None:  # another answer: the credentials work
                self._refusals = 0
        self.journal.finish(
            item.identity.key,
            outcome.state,
            outcome.code,
            outcome.payment_mean_id,
            outcome.message,
        )
        self.progress.add(outcome.state)

    def settle(self, timeout: float) -> None:
        """Take what came back within ``timeout``; free the next row of each card."""
        try:
            got = self.done.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            # (None, [row], [outcome]) from a thread, which recorded its row itself;
            # from a worker process, its chunk and their outcomes, or None if it died
            worker, items, outcomes = got
            if worker is not None:
                for item, outcome in zip(items, outcomes or (), strict=False):
                    self.record(item, outcome)
            self.sender.back(worker, len(items), alive=worker is None or outcomes is not None)
            self.in_flight -= len(items)
            states = [o.state for o in outcomes] if outcomes is not None else [None] * len(items)
            for item, state in zip(items, states, strict=True):
                self._release(item, state in _SETTLED)
            try:
                got = self.done.get_nowait()
            except queue.Empty:
                return

    def _release(self, item: _Item, settled: bool) -> None:
        """The next row of the card may go once this one is settled.  If it is not
        (failed, unknown, its worker gone), the card's later rows wait for a later
        run: sent now, one of them could enrol the card in the first row's place."""
        group = item.identity.group
        behind = self._waiting.pop(group)
        if settled:
            if behind:
                self._ready.append(behind.popleft())
                self._waiting[group] = behind
            return
        self._unsettled[group] = item.row.line
        for later in behind:
            self._hold(later, item.row.line)

    def _hold(self, item: _Item, first: int) -> None:
        self.journal.note_line(
            item.row.line,
            item.identity,
            state="failed",
            message=f"not sent: line {first} is the same card and is not settled yet; "
            "sent after it on the next run",
        )
        self.progress.add("failed")


def _identity(journal: Journal, row: Row) -> Identity:
    return journal.identity(row.wallet, row.card, row.expiry, row.alias, row.brand, row.pan_type)


def enrol(
    client: WalletClient,
    rows: Iterable[Row | BadRow],
    journal: Journal,
    *,
    concurrency: int,
    progress: Progress,
    processes: int,
    client_options: dict[str, object] | None = None,
    stop: Stop | None = None,
    credential_failures: int = DEFAULT_CREDENTIAL_FAILURES,
) -> BatchSummary:
    """Send every row not done yet, ``concurrency`` at a time; rows stream through.

    With ``processes`` > 1 the sending is spread over that many worker
    processes (each with ``concurrency / processes`` threads), built from
    ``client_options``; this process reads, checks and journals every row.
    ``stop``, once requested, ends the run early with the journal exact
    (``summary.stopped`` names the signal).  After ``credential_failures``
    answers in a row saying the key, key version or merchant id is wrong (34,
    03; 0: never), nothing more is sent (``summary.wrong_credentials``).
    """
    stop = stop or Stop()
    started = time.monotonic()
    batch = _Batch(client, journal, progress, stop)
    batch.credential_failures = credential_failures
    summary = BatchSummary()
    if processes > 1:
        threads = max(1, concurrency // processes)
        batch.sender = _Processes(batch, processes, threads, dict(client_options or {}))
    else:
        batch.sender = _Threads(batch, concurrency)
    backlog = 4 * concurrency  # rows read ahead: memory stays flat however long the file
    try:
        for row in rows:
            if stop.requested:
                break
            summary.rows += 1
            if isinstance(row, BadRow):
                journal.note_line(row.line, None, state="invalid", message=row.message,
                                  wallet=row.wallet, masked_pan=row.masked_pan)  # fmt: skip
                progress.add("invalid")
                continue
            summary.without_expiry += not row.expiry
            identity = _identity(journal, row)
            same = journal.same_row(identity, row.line)  # the very same row again
            state = None
            if same is None:
                state = journal.state(identity, row.line, _legacy(row))
                if state in FINAL_STATES:  # done by an earlier run, wherever it stood then
                    journal.note_line(row.line, identity)
                    summary.skipped += 1
                    progress.skip(str(state))
                    continue
                # the same card and expiry again, other fields aside
                same = journal.same_card(identity, row.line)
            if same is not None:
                journal.note_line(row.line, identity, state="duplicate",
                                  message=f"repeats line {same}; not sent",
                                  wallet=row.wallet, masked_pan=row.masked_pan)  # fmt: skip
                progress.add("duplicate")
                continue
            journal.note_line(row.line, identity)
            batch.add(_Item(row, identity, state))
            batch.pump()
            while batch.queued + batch.in_flight >= backlog and batch.running:
                batch.settle(0.2)
                batch.pump()
        while (batch.queued or batch.in_flight) and batch.running:
            batch.pump()
            batch.settle(0.2)
    finally:
        _wind_down(batch, stop)
    if batch.sender.gone and not stop.requested:
        raise WorkersGone(
            "the worker processes ended before the batch was done; what they were "
            "sending is settled by the next run"
        )
    summary.sent = batch.sent
    summary.stopped = stop.signal
    summary.wrong_credentials = stop.credentials
    summary.seconds = time.monotonic() - started
    summary.retries = client.retries_made + batch.sender.retries
    summary.recovered = batch.recovered
    if not stop.requested:  # a stopped run's rows are counted by the run that ends it
        for result in journal.rows():
            if result.line is None:
                summary.earlier += 1
            else:
                summary.counts[result.state] += 1
    return summary


class WorkersGone(SogenSoapError):
    """Every worker process of ``--processes`` ended before the batch was done."""


def _wind_down(batch: _Batch, stop: Stop) -> None:
    """Let the rows on the wire end, then take their answers (a worker process
    ended first leaves its rows in flight, settled by the next run)."""
    batch.sender.finish(stop)
    limit = time.monotonic() + 2.0
    while batch.in_flight and time.monotonic() < limit:
        batch.settle(0.05)


def _legacy(row: Row) -> tuple[str, str, str, str]:
    return row.wallet, row.card, row.expiry, row.masked_pan


def results_of(journal: Journal) -> Iterator[dict[str, object]]:
    """The results file's records: this input's rows in order, then earlier ones."""
    for r in journal.rows():
        yield {
            "line": r.line,
            "wallet": r.wallet,
            "masked_pan": r.masked_pan,
            "outcome": r.state,
            "code": r.code,
            "payment_mean_id": r.payment_mean_id,
            "message": r.message
            if r.line is not None
            else f"not in this file (an earlier run's row): {r.message or r.state}",
        }


def write_results(journal: Journal, path: Path) -> None:
    """Every row's outcome: this input's rows in order, then the rows of earlier runs
    no longer in the file (``line`` empty); see ``write_records``."""
    write_records(path, RESULT_FIELDS, results_of(journal))


def write_records(
    path: Path, fieldnames: Sequence[str], records: Iterable[dict[str, object]]
) -> None:
    """A results file: CSV, or JSON Lines for ``.jsonl``/``.ndjson``.

    The file is private (0600: it names wallets) and written atomically.  In
    CSV, a cell that would start with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading ``'``, so a spreadsheet shows it as text
    instead of running it as a formula.
    """
    lines = path.suffix.lower() in (".jsonl", ".ndjson")  # what --output allows
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(fieldnames))
            if not lines:
                writer.writeheader()
            for record in records:
                record = {k: _safe_text(v) for k, v in record.items()}
                if lines:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def default_paths(source: Path, journal: str = "journal") -> tuple[Path, Path]:
    """Journal (``FILE.<journal>.sqlite3``) and result file beside the input."""
    stem = source.with_suffix("")
    return Path(f"{stem}.{journal}.sqlite3"), Path(f"{stem}.results{results_suffix(source)}")


def check_rows(path: Source, form: FileFormat, *, any_expiry: bool = False) -> tuple[int, int]:
    """Second pass: report every bad row by line number; (rows, bad rows)."""
    rows = bad = 0
    for row in read_rows(path, form, any_expiry=any_expiry):
        rows += 1
        if isinstance(row, BadRow):
            bad += 1
            say(f"line {row.line}: {row.message}", event="bad_row", prefix=False, line=row.line)
    return rows, bad
