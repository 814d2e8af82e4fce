"""The enrolment loop itself, driven in-process through ``enrol()`` against the
simulator: what the progress bar counts, how far ahead of the answers rows are
read, and what a stopped run leaves to the run that ends it.  (The command's own
tests see the results file; these see what only the loop knows.)"""

from __future__ import annotations

import io
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN

from sogen_soap import WalletClient
from sogen_soap.cli.enrol import Stop, enrol
from sogen_soap.cli.inputs import Row
from sogen_soap.cli.journal import Journal
from sogen_soap.cli.progress import Progress
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.cards import test_card_number


def _client(url: str) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                        environment=url, retry=FAST_RETRY)  # fmt: skip


def test_a_row_held_behind_its_unsettled_first_is_counted_failed_on_the_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's first row ends unknown (three lost answers); its later row is held
    for the next run, which the results file calls ``failed``: the bar counts it the
    same way, never as an invalid row (nothing is wrong with it)."""
    monkeypatch.setenv("COLUMNS", "120")
    rows = [Row(2, "w", TEST_PAN, "203012"), Row(3, "w", TEST_PAN, "203101"),
            Row(4, "v", OTHER_PAN, "203012")]  # fmt: skip
    shown = io.StringIO()
    progress = Progress(len(rows), shown, enabled=True)
    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    with Simulator() as sim, _client(sim.url) as client:
        sim.app.faults.fail_next("addCard", "drop", times=3)  # nothing stored, nothing answered
        summary = enrol(client, rows, journal, concurrency=1, processes=1, progress=progress)
    journal.close()
    progress.close()
    assert dict(summary.counts) == {"unknown": 1, "failed": 1, "ok": 1}
    assert dict(progress.counts) == {"unknown": 1, "failed": 1, "ok": 1}
    last = shown.getvalue().rstrip("\n").split("\r")[-1]
    assert "3/3" in last and "invalid 0" in last and "failed 2" in last  # unknown + held


@pytest.mark.parametrize("concurrency", [1, 3])
def test_rows_are_read_at_most_four_per_sender_ahead_of_their_answers(
    tmp_path: Path, concurrency: int
) -> None:
    """Memory stays flat however long the file: the loop reads a row only while fewer
    than 4 x concurrency rows wait or are on the wire (cli/enrol.py's backlog)."""
    progress = Progress(0, enabled=False)
    ahead: list[int] = []

    def rows() -> Iterator[Row]:
        for n in range(40):
            ahead.append(n - progress.done)  # rows read so far that have no outcome yet
            yield Row(n + 2, f"w{n}", test_card_number(n, 0), "203012")

    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    with Simulator() as sim, _client(sim.url) as client:
        summary = enrol(client, rows(), journal, concurrency=concurrency, processes=1,
                        progress=progress)  # fmt: skip
    journal.close()
    assert summary.counts["ok"] == 40
    assert max(ahead) <= 4 * concurrency
    assert max(ahead) >= concurrency  # the senders were kept busy, not fed one by one


def test_a_stopped_run_leaves_its_counts_to_the_run_that_ends_the_batch(tmp_path: Path) -> None:
    """A stop (SIGINT or SIGTERM) ends the run before every row is read: its summary
    counts nothing (the rows it did are counted, with the rest, by the run that ends
    the batch), and it names the signal."""
    stop = Stop()

    def rows() -> Iterator[Row]:
        for n in range(6):
            if n == 3:
                stop.request(signal.SIGTERM)  # as the handler does when the signal comes
            yield Row(n + 2, f"w{n}", test_card_number(n, 0), "203012")

    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    with Simulator() as sim, _client(sim.url) as client:
        summary = enrol(client, rows(), journal, concurrency=1, processes=1,
                        progress=Progress(0, enabled=False), stop=stop)  # fmt: skip
        stored = sim.store.count_cards()
    journal.close()
    assert summary.stopped == signal.SIGTERM
    assert summary.rows == 3  # read before the stop; no row is sent after it
    assert stored == summary.sent >= 1
    assert sum(summary.counts.values()) == 0 and summary.earlier == 0
