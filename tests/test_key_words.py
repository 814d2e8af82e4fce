"""Key settings refused in words that name where the bad value came from (the
variable, the config table, the field), and the key ring's own clock obeyed.

Found by mutmut's survivors in ``keys.py``: each of these refusals was raised,
but no test read whom it named, so a refusal naming nothing passed.
"""

from __future__ import annotations

import logging
import pickle
from datetime import date, timedelta
from pathlib import Path

import pytest

from sogen_soap import ConfigurationError, InvalidFieldError
from sogen_soap.credentials import SecretKey
from sogen_soap.keys import KeyExpired, KeyRing, KeyVersion, key_from_table, keys_from_env


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "k1"
    path.write_text("002001000000001_KEY1_example\n")
    return path


def test_a_spec_of_the_wrong_shape_names_the_variable_and_the_shape(key_file: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        keys_from_env({"SOGEN_KEYS": f"one:{key_file}"})
    assert str(refused.value) == (
        "SOGEN_KEYS: expected VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]] (dates YYYY-MM-DD)"
    )


@pytest.mark.parametrize("which", ["expires", "active_from"])
def test_a_spec_s_impossible_date_names_the_variable_and_the_date(
    which: str, key_file: Path
) -> None:
    spec = f"1:{key_file}:2027-13-45" if which == "expires" else f"1:{key_file}::2027-02-30"
    with pytest.raises(ConfigurationError) as refused:
        keys_from_env({"SOGEN_KEYS": spec})
    assert str(refused.value).startswith(f"SOGEN_KEYS: {which} must be a date written YYYY-MM-DD")


def test_a_spec_s_unreadable_key_file_names_the_variable_not_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key"
    with pytest.raises(ConfigurationError) as refused:
        keys_from_env({"SOGEN_KEYS": f"1:{missing}"})
    assert str(refused.value).startswith("SOGEN_KEYS: the file given cannot be read")
    assert str(missing) not in str(refused.value)  # it may be a key typed as a path


def test_an_active_version_that_is_no_number_names_sogen_key_version(key_file: Path) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        keys_from_env({"SOGEN_KEYS": f"1:{key_file}", "SOGEN_KEY_VERSION": "v1"})
    assert (refused.value.field, refused.value.parameter) == ("keyVersion", "SOGEN_KEY_VERSION")


def test_a_table_without_its_key_file_is_refused_by_name(key_file: Path) -> None:
    for entry in ({"version": 1}, {"version": 1, "secret_key_file": ""}, {"secret_key_file": "x"}):
        with pytest.raises(ConfigurationError) as refused:
            key_from_table(entry, "keys in c.toml")
        assert str(refused.value) == (
            "keys in c.toml: each key has version and secret_key_file, and may have expires "
            "and active_from"
        ), entry


def test_a_table_s_version_that_is_no_number_names_its_field(key_file: Path) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        key_from_table({"version": "two", "secret_key_file": str(key_file)}, "keys in c.toml")
    assert (refused.value.field, refused.value.parameter) == ("keyVersion", "version")


def test_a_table_s_unreadable_key_file_and_dates_name_the_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        key_from_table({"version": 1, "secret_key_file": str(tmp_path / "none")}, "keys in c")
    assert str(refused.value).startswith("keys in c: the file given cannot be read")
    (tmp_path / "k").write_text("k\n")
    with pytest.raises(ConfigurationError) as dated:
        key_from_table({"version": 1, "secret_key_file": str(tmp_path / "k"),
                        "active_from": "soon"}, "keys in c")  # fmt: skip
    assert str(dated.value) == (
        "keys in c: active_from must be a date written YYYY-MM-DD, not 'soon'"
    )


def test_a_key_ring_says_why_it_cannot_be_pickled() -> None:
    with pytest.raises(TypeError) as refused:
        pickle.dumps(KeyRing({1: "k1"}))
    assert str(refused.value) == "a KeyRing cannot be pickled"


def test_activate_refuses_a_version_expired_by_the_ring_s_own_clock() -> None:
    """The ring's ``today=`` is its calendar: a version that has expired by it is
    refused even while the machine's date is earlier."""
    later = date.today() + timedelta(days=400)
    ring = KeyRing(
        [KeyVersion(1, SecretKey("k1")), KeyVersion(2, SecretKey("k2"), expires=later)],
        active=1,
        today=lambda: later + timedelta(days=1),
    )
    with pytest.raises(KeyExpired):
        ring.activate(2)
    assert ring.active.version == 1


@pytest.mark.parametrize(("left", "words"), [(1, "in 1 day:"), (2, "in 2 days:")])
def test_the_expiry_warning_says_day_for_one_and_days_otherwise(
    left: int, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    today = date(2027, 6, 1)
    version = 7700 + left  # the warning is once per process and version
    ring = KeyRing([KeyVersion(version, SecretKey("k"), today + timedelta(days=left))],
                   today=lambda: today)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="sogen_soap.keys"):
        ring.for_request()
    (warned,) = [r.getMessage() for r in caplog.records if r.name == "sogen_soap.keys"]
    assert words in warned, warned


def test_a_key_s_days_are_counted_on_the_utc_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    """keys._today: a day is the UTC calendar's, whatever the host's zone, so every
    host of a merchant warns and refuses on the same day.  The host is put in a zone
    whose date differs from UTC's right now (UTC+14 after noon UTC, UTC-12 before)."""
    import time
    from datetime import datetime, timezone

    utc_now = datetime.now(timezone.utc)
    utc_today = utc_now.date()
    zone = "Etc/GMT-14" if utc_now.hour >= 12 else "Etc/GMT+12"  # POSIX signs: GMT-14 is UTC+14
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert date.today() != utc_today  # the host's day is another
        key = KeyVersion(1, SecretKey("k"), expires=utc_today + timedelta(days=10))
        assert key.days_left() == 10
        assert not KeyVersion(1, SecretKey("k"), expires=utc_today).expired()
    finally:
        monkeypatch.undo()
        time.tzset()
