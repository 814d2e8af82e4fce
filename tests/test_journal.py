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
from conftest import TEST_PAN

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


def test_a_journal_of_an_earlier_version_gains_the_card_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE row (key TEXT PRIMARY KEY, line INTEGER NOT NULL, wallet TEXT, "
            "masked_pan TEXT, expiry TEXT, state TEXT NOT NULL, code TEXT, payment_mean_id TEXT,"
            " message TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,"
            " run INTEGER NOT NULL DEFAULT 0);"
        )
    journal = Journal(path, SECRET)
    card = journal.card_key("w", TEST_PAN, "203012")
    journal.claim(journal.key(2, "w"), 2, "w", "4100##########00", card)
    assert journal.seen(journal.key(3, "w"), card, 3) == (None, 2)
    journal.close()


def test_keys_are_an_hmac_under_the_salt_and_the_secret_and_no_card_is_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    key = journal.key(7, "w1", TEST_PAN, "203012")
    journal.claim(key, 7, "w1", "4100##########00", journal.card_key("w1", TEST_PAN, "203012"))
    journal.finish(key, 7, "w1", "4100##########00", "ok", "00", "3", "Successful operation")
    journal.close()
    with sqlite3.connect(path) as db:
        (salt,) = db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
    pepper = hmac.new(SECRET.encode(), b"sogen-soap journal", hashlib.sha256).digest()
    expected = hmac.new(
        bytes.fromhex(salt) + pepper, f"7\x1fw1\x1f{TEST_PAN}\x1f203012".encode(), hashlib.sha256
    ).hexdigest()
    assert key == expected
    assert len(bytes.fromhex(salt)) == 32
    # a card's key is the same HMAC over line 0 and a "card" tag: apart from every row key
    card = hmac.new(
        bytes.fromhex(salt) + pepper,
        f"0\x1fcard\x1fw1\x1f{TEST_PAN}\x1f203012".encode(),
        hashlib.sha256,
    ).hexdigest()
    reopened = Journal(path, SECRET)
    assert reopened.card_key("w1", TEST_PAN, "203012") == card
    reopened.close()
    with sqlite3.connect(path) as db:
        (updated_at,) = db.execute("SELECT updated_at FROM row").fetchone()
    assert updated_at.endswith("+00:00")  # when, in UTC, whatever this machine's zone
    for name in os.listdir(tmp_path):
        assert TEST_PAN.encode() not in (tmp_path / name).read_bytes(), name
    other = Journal(tmp_path / "other.sqlite3", SECRET)  # a new salt: other keys
    assert other.key(7, "w1", TEST_PAN, "203012") != key
    other.close()
    again = Journal(path, "another secret")  # the same salt, another secret: other keys
    assert again.key(7, "w1", TEST_PAN, "203012") != key
    again.close()


def test_each_run_sees_its_own_rows_in_input_order_page_after_page(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    assert journal.run == 1
    for line in range(1203, 1, -1):  # written out of order, more than two pages
        key = journal.key(line, "w")
        assert journal.seen(key, None, line) == (None, None)
        journal.finish(key, line, "w", None, "invalid", message=f"bad {line}")
    rows = list(journal.rows())
    assert [r.line for r in rows] == list(range(2, 1204))
    assert rows[0] == JournalRow(2, "w", None, "invalid", None, None, "bad 2", 0)
    journal.close()

    journal = Journal(path, SECRET)
    assert journal.run == 2
    assert list(journal.rows()) == []  # nothing of this run yet
    assert journal.seen(journal.key(5, "w"), None, 5) == ("invalid", None)  # now part of run 2
    assert [r.line for r in journal.rows()] == [5]
    journal.close()


def test_a_repeat_is_found_only_earlier_in_the_same_run(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    card = journal.card_key("w", TEST_PAN, "203012")
    assert card == journal.card_key("w", TEST_PAN, "203012")
    assert card not in {
        journal.card_key("w2", TEST_PAN, "203012"),
        journal.card_key("w", TEST_PAN, "203112"),
    }
    assert journal.seen(journal.key(4, "a"), card, 4) == (None, None)
    journal.claim(journal.key(4, "a"), 4, "w", "4100##########00", card)
    assert journal.seen(journal.key(9, "b"), card, 9) == (None, 4)
    assert journal.seen(journal.key(2, "c"), card, 2) == (None, None)  # only earlier lines
    journal.close()
    journal = Journal(path, SECRET)  # a new run: the earlier run's row is not a repeat
    assert journal.seen(journal.key(9, "b"), card, 9) == (None, None)
    assert journal.seen(journal.key(4, "a"), card, 4) == ("sending", None)
    assert journal.seen(journal.key(9, "b"), card, 9) == (None, 4)
    journal.close()


def test_each_claim_counts_an_attempt_and_an_outcome_replaces_the_last(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path, SECRET)
    key, card = journal.key(2, "w"), journal.card_key("w", TEST_PAN, "203012")
    journal.claim(key, 2, "w", "4100##########00", card)
    journal.finish(key, 2, "w", "4100##########00", "unknown", None, None, "lost")
    journal.close()
    journal = Journal(path, SECRET)
    assert journal.path == path
    journal.seen(key, card, 2)
    journal.claim(key, 2, "w", "4100##########00", card)
    (row,) = journal.rows()
    assert (row.state, row.attempts, row.message) == ("sending", 2, "lost")
    with sqlite3.connect(path) as db:  # when, in UTC to the millisecond
        (stamp,) = db.execute("SELECT updated_at FROM row").fetchone()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp), stamp
    journal.finish(key, 2, "w", "4100##########00", "ok", "94", "5", "recovered")
    (row,) = journal.rows()
    assert row == JournalRow(2, "w", "4100##########00", "ok", "94", "5", "recovered", 2)
    journal.close()
