"""The batch journal: private, one run at a time, no card number, keys that cannot
be recomputed without the merchant's secret, and exactly this run's rows."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sqlite3
import stat
from pathlib import Path

import pytest
from conftest import OTHER_PAN, TEST_PAN

from sogen_soap.cli.journal import Journal, JournalError, JournalRow

SECRET = "journal-test-secret"


def test_a_new_journal_is_private_and_an_existing_one_made_private(tmp_path: Path) -> None:
    old_mask = os.umask(0)
    try:
        Journal(tmp_path / "new.sqlite3", SECRET).close()
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "new.sqlite3").stat().st_mode) == 0o600
    shared = tmp_path / "shared.sqlite3"
    shared.touch(mode=0o644)
    shared.chmod(0o644)
    Journal(shared, SECRET).close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o600


def test_one_run_at_a_time_holds_a_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    first = Journal(path, SECRET)
    with pytest.raises(JournalError) as caught:
        Journal(path, SECRET)
    assert str(caught.value) == (
        f"another sogen-soap enrol is running with the journal {path}; wait for it to "
        "finish (then run again to see its results), or give another --journal"
    )
    first.close()
    Journal(path, SECRET).close()  # released with close()


def test_a_journal_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no" / "j.sqlite3"
    with pytest.raises(JournalError) as caught:
        Journal(path, SECRET)
    assert str(caught.value) == f"cannot open the journal {path}: No such file or directory"


def test_a_database_of_something_else_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
        db.execute("CREATE TABLE orders (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(JournalError) as caught:
        Journal(path, SECRET)
    assert str(caught.value) == (
        f"{path} is not a sogen-soap journal (it holds tables customers, orders); give "
        "another --journal, or remove that file if it is left from something else"
    )
    assert path.read_bytes() == before
    Journal(tmp_path / "other.sqlite3", SECRET).close()  # the lock was let go


def test_a_database_holding_our_tables_beside_others_is_refused_too(tmp_path: Path) -> None:
    """Tables named like the journal's do not make a database a journal: one more
    table of anything else, and it is some other program's file."""
    path = tmp_path / "mixed.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE customers (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(JournalError, match=r"\(it holds tables customers\)"):
        Journal(path, SECRET)
    assert path.read_bytes() == before


def _hmac(salt: str, secret: str, *fields: str) -> str:
    """A journal key computed here by hand: HMAC-SHA-256 under salt + pepper."""
    pepper = hmac.new(secret.encode(), b"sogen-soap journal", hashlib.sha256).digest()
    return hmac.new(
        bytes.fromhex(salt) + pepper, "\x1f".join(fields).encode(), hashlib.sha256
    ).hexdigest()


def _salt(path: Path) -> str:
    with sqlite3.connect(path) as db:
        (salt,) = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
    return str(salt)


def _journal_0_x(path: Path, outcome: tuple[str, str | None, str | None, str]) -> None:
    """A journal of sogen-soap 0.x (rows keyed by line number) whose line 2 is ``w``'s
    TEST_PAN, ``outcome`` being its state, code, payment mean id and message."""
    salt = "ab" * 32
    old_key = _hmac(salt, SECRET, "2", "w", TEST_PAN, "203012")
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE row (key TEXT PRIMARY KEY, line INTEGER NOT NULL, wallet TEXT, "
            "masked_pan TEXT, expiry TEXT, state TEXT NOT NULL, code TEXT, payment_mean_id TEXT,"
            " message TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,"
            " run INTEGER NOT NULL DEFAULT 0, card_key TEXT);"
        )
        db.execute("INSERT INTO meta VALUES ('salt', ?), ('run', '3')", (salt,))
        db.execute(
            "INSERT INTO row VALUES (?, 2, 'w', '4100##########00', NULL, ?, ?, ?, ?, 1, "
            "'then', 3, NULL)",
            (old_key, *outcome),
        )


def test_a_journal_of_sogen_soap_0_x_is_read_for_the_rows_it_holds(tmp_path: Path) -> None:
    """Rows keyed by line number in the old table are found while they stay where
    they were, so an upgrade mid-batch sends nothing twice."""
    path = tmp_path / "old.sqlite3"
    _journal_0_x(path, ("ok", "00", "7", "Successful operation"))
    journal = Journal(path, SECRET)
    assert journal.run == 4
    legacy = ("w", TEST_PAN, "203012", "4100##########00")
    here = journal.identity("w", TEST_PAN, "203012", None, None, None)
    moved = journal.identity("w", OTHER_PAN, "203012", None, None, None)
    assert journal.state(here, 2, legacy) == "ok"  # the same row on the same line
    assert journal.state(moved, 3, ("w", OTHER_PAN, "203012", "5100##########00")) is None
    journal.note_line(2, here)
    assert list(journal.rows()) == [
        JournalRow(2, "w", "4100##########00", "ok", "00", "7", "Successful operation", 1)
    ]
    journal.close()


def test_keys_are_an_hmac_under_the_salt_and_the_secret_and_no_card_is_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    identity = journal.identity("w1", TEST_PAN, "203012", "a", None, "PAN")
    journal.claim(identity.key, 7, "w1", "4100##########00")
    journal.finish(identity.key, "ok", "00", "3", "Successful operation")
    journal.close()
    salt = _salt(path)
    assert len(bytes.fromhex(salt)) == 32
    # what the row is: every field, tagged; not where it stands (line 0)
    assert identity.key == _hmac(
        salt, SECRET, "0", "row", "w1", TEST_PAN, "203012", "alias=a", "pan_type=PAN"
    )
    assert identity.group == _hmac(salt, SECRET, "0", "card-in-wallet", "w1", TEST_PAN)
    assert identity.card_key == _hmac(salt, SECRET, "0", "card", "w1", TEST_PAN, "203012")
    reopened = Journal(path, SECRET)
    assert reopened.identity("w1", TEST_PAN, "203012", "a", None, "PAN") == identity
    # another alias or brand is another row; the card in the wallet is the same card
    other = reopened.identity("w1", TEST_PAN, "203012", "b", None, "PAN")
    assert other.key != identity.key and other.group == identity.group
    assert reopened.identity("w1", TEST_PAN, "203012", None, "a", "PAN").key != identity.key
    reopened.close()
    with sqlite3.connect(path) as db:
        (updated_at,) = db.execute("SELECT updated_at FROM entry").fetchone()
    assert updated_at.endswith("+00:00")  # when, in UTC, whatever this machine's zone
    for name in os.listdir(tmp_path):
        assert TEST_PAN.encode() not in (tmp_path / name).read_bytes(), name
    other_file = Journal(tmp_path / "other.sqlite3", SECRET)  # a new salt: other keys
    assert other_file.identity("w1", TEST_PAN, "203012", "a", None, "PAN") != identity
    other_file.close()
    again = Journal(path, "another secret")  # the same salt, another secret: other keys
    assert again.identity("w1", TEST_PAN, "203012", "a", None, "PAN") != identity
    again.close()


def test_each_run_sees_its_own_rows_in_input_order_page_after_page(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    assert journal.run == 1
    for line in range(1203, 1, -1):  # written out of order, more than two pages
        journal.note_line(line, None, state="invalid", message=f"bad {line}", wallet="w")
    rows = list(journal.rows())
    assert [r.line for r in rows] == list(range(2, 1204))
    assert rows[0] == JournalRow(2, "w", None, "invalid", None, None, "bad 2", 0)
    journal.close()

    journal = Journal(path, SECRET)
    assert journal.run == 2
    assert list(journal.rows()) == []  # nothing of this run yet
    journal.note_line(5, None, state="invalid", message="bad 5", wallet="w")
    assert [r.line for r in journal.rows()] == [5]
    journal.close()


def test_rows_of_earlier_runs_not_in_this_input_follow_this_input_s_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    kept, dropped = (journal.identity("w", pan, "203012", None, None, None)
                     for pan in (TEST_PAN, OTHER_PAN))  # fmt: skip
    for line, identity, masked, pmid in ((2, kept, "4100##########00", "1"),
                                         (3, dropped, "5100##########00", "2")):  # fmt: skip
        journal.note_line(line, identity)
        journal.claim(identity.key, line, "w", masked)
        journal.finish(identity.key, "ok", "00", pmid, "Successful operation")
    journal.close()
    journal = Journal(path, SECRET)  # the file now holds only the first card, on line 5
    assert journal.state(kept, 5, ("w", TEST_PAN, "203012", "4100##########00")) == "ok"
    journal.note_line(5, kept)
    assert list(journal.rows()) == [
        JournalRow(5, "w", "4100##########00", "ok", "00", "1", "Successful operation", 1),
        JournalRow(None, "w", "5100##########00", "ok", "00", "2", "Successful operation", 1),
    ]
    journal.close()


def test_a_repeat_is_found_only_earlier_in_the_same_run(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    row = journal.identity("w", TEST_PAN, "203012", "a", None, None)
    alias = journal.identity("w", TEST_PAN, "203012", "b", None, None)
    expiry = journal.identity("w", TEST_PAN, "203112", "a", None, None)
    elsewhere = journal.identity("w2", TEST_PAN, "203012", "a", None, None)
    journal.note_line(4, row)
    journal.note_line(6, row)  # a second repeat: the first line is still the one named
    assert (journal.same_row(row, 9), journal.same_card(row, 9)) == (4, 4)
    assert (journal.same_row(alias, 9), journal.same_card(alias, 9)) == (None, 4)
    assert (journal.same_row(expiry, 9), journal.same_card(expiry, 9)) == (None, None)
    assert journal.same_card(elsewhere, 9) is None
    assert journal.same_row(row, 2) is None  # only earlier lines
    journal.close()
    journal = Journal(path, SECRET)  # a new run: the earlier run's line is not a repeat
    assert (journal.same_row(row, 9), journal.same_card(row, 9)) == (None, None)
    journal.close()


def test_a_row_0_x_found_invalid_is_not_taken_as_done(tmp_path: Path) -> None:
    """A row 0.x refused as invalid is checked again by today's rules: valid now (the
    rules or the file changed), it is a new row to send, not one done before."""
    path = tmp_path / "old.sqlite3"
    _journal_0_x(path, ("invalid", None, None, "expiry: in the past"))
    journal = Journal(path, SECRET)
    here = journal.identity("w", TEST_PAN, "203012", None, None, None)
    assert journal.state(here, 2, ("w", TEST_PAN, "203012", "4100##########00")) is None
    journal.close()


def test_each_claim_counts_an_attempt_and_an_outcome_replaces_the_last(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    identity = journal.identity("w", TEST_PAN, "203012", None, None, None)
    legacy = ("w", TEST_PAN, "203012", "4100##########00")
    journal.note_line(2, identity)
    journal.claim(identity.key, 2, "w", "4100##########00")
    journal.finish(identity.key, "unknown", None, None, "lost")
    journal.close()
    journal = Journal(path, SECRET)
    assert journal.path == path
    assert journal.state(identity, 2, legacy) == "unknown"
    journal.note_line(2, identity)
    journal.claim(identity.key, 2, "w", "4100##########00")
    (row,) = journal.rows()
    assert (row.state, row.attempts, row.message) == ("sending", 2, "lost")
    with sqlite3.connect(path) as db:  # when, in UTC to the millisecond
        (stamp,) = db.execute("SELECT updated_at FROM entry").fetchone()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp), stamp
    journal.finish(identity.key, "ok", "94", "5", "recovered")
    (row,) = journal.rows()
    assert row == JournalRow(2, "w", "4100##########00", "ok", "94", "5", "recovered", 2)
    journal.close()


def test_after_close_nothing_is_written_and_nothing_raises(tmp_path: Path) -> None:
    """An answer that arrives after the run stopped leaves its row in flight."""
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    identity = journal.identity("w", TEST_PAN, "203012", None, None, None)
    journal.note_line(2, identity)
    journal.claim(identity.key, 2, "w", "4100##########00")
    journal.close()
    journal.finish(identity.key, "ok", "00", "1", "late")
    journal.note_line(3, None, state="invalid")
    journal = Journal(path, SECRET)
    assert journal.state(identity, 2, ("w", TEST_PAN, "203012", "x")) == "sending"
    journal.close()


def test_a_claim_given_back_takes_its_attempt_back(tmp_path: Path) -> None:
    """``unclaim`` undoes a claim whose request never left: the row is as it was,
    its attempts included (a row never sent has not been tried)."""
    journal = Journal(tmp_path / "j.sqlite3", SECRET)
    identity = journal.identity("w", TEST_PAN, "203012", None, None, None)
    journal.note_line(2, identity)
    journal.claim(identity.key, 2, "w", "4100##########00")
    journal.finish(identity.key, "failed", "99", None, "try later")
    journal.claim(identity.key, 2, "w", "4100##########00")
    journal.unclaim(identity.key, "failed")
    (row,) = journal.rows()
    assert (row.state, row.attempts) == ("failed", 1)
    journal.close()


def test_no_text_the_journal_keeps_holds_a_card_number(tmp_path: Path) -> None:
    """A card number typed into the wallet column, or quoted back in an answer's
    message, is stored masked, whichever way it reaches the journal."""
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    identity = journal.identity("w", OTHER_PAN, "203012", None, None, None)
    journal.note_line(2, None, state="invalid", message=f"wallet: {TEST_PAN} is not a wallet",
                      wallet=TEST_PAN, masked_pan=TEST_PAN)  # fmt: skip
    journal.note_line(3, identity)
    journal.claim(identity.key, 3, "w", "5100##########00")
    journal.finish(identity.key, "refused", "12", None, f"the service said {TEST_PAN} is bad")
    rows = list(journal.rows())
    journal.close()
    assert [(r.line, r.wallet, r.masked_pan) for r in rows] == [
        (2, "4100##########00", "4100##########00"), (3, "w", "5100##########00"),
    ]  # fmt: skip
    assert rows[0].message == "wallet: 4100##########00 is not a wallet"
    assert rows[1].message == "the service said 4100##########00 is bad"
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert TEST_PAN.encode() not in stored and OTHER_PAN.encode() not in stored
