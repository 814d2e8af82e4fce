"""The charge batch's journal on its own: what a row's record holds at each step,
in UTC, and that a closed journal takes no new claim (a charge must never leave
without its reference written first)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from sogen_soap.cli.charge import ChargeJournal
from sogen_soap.cli.journal import JournalError

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def _stamp(path: Path, key: str) -> str:
    with sqlite3.connect(path) as db:
        (stamp,) = db.execute("SELECT updated_at FROM charge WHERE key = ?", (key,)).fetchone()
    return str(stamp)


def test_a_claim_is_sending_until_finished_and_counts_its_attempts(tmp_path: Path) -> None:
    path = tmp_path / "bill.charges.sqlite3"
    journal = ChargeJournal(path)
    try:
        assert journal.entry("k") is None
        journal.claim("k", "REF1")
        entry = journal.entry("k")
        assert entry is not None
        assert (entry.reference, entry.state, entry.attempts, entry.message) == (
            "REF1", "sending", 1, None,
        )  # fmt: skip
        assert STAMP.fullmatch(_stamp(path, "k")), _stamp(path, "k")  # UTC, whatever the zone
        journal.claim("k", "REF1")  # sent again after a lost answer: the same reference
        journal.finish("k", "ok", code="00", acquirer_code="00", authorisation_id="A1")
        entry = journal.entry("k")
        assert entry is not None
        assert (entry.state, entry.code, entry.authorisation_id, entry.attempts) == (
            "ok", "00", "A1", 2,
        )  # fmt: skip
        assert entry.message is None  # no message given: none stored, not a placeholder
        assert STAMP.fullmatch(_stamp(path, "k"))
    finally:
        journal.close()


def test_a_closed_journal_refuses_a_claim_and_keeps_what_it_held(tmp_path: Path) -> None:
    """After a stop the journal is closed while answers may still arrive: a new
    claim is refused (its charge would leave unrecorded) and a late answer is
    left for the next run, which looks the charge up."""
    path = tmp_path / "bill.charges.sqlite3"
    journal = ChargeJournal(path)
    journal.claim("k", "REF1")
    journal.close()
    journal.close()  # twice is harmless
    with pytest.raises(JournalError, match=r"^the journal is closed$"):
        journal.claim("k2", "REF2")
    journal.finish("k", "ok", code="00")  # a late answer: not written
    reopened = ChargeJournal(path)  # the lock was given back
    try:
        entry = reopened.entry("k")
        assert entry is not None and entry.state == "sending"
        assert reopened.entry("k2") is None
    finally:
        reopened.close()
