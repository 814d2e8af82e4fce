"""One rule for cardholder data in text, checked by a sweep.

A known test card number, written every way a person writes one, is put in
every field of the API, every column of a batch file (CSV and JSON Lines)
and every flag of ``add-card``; then everything the package wrote is
searched for it: exceptions, stdout, stderr, the journal, the results file,
log records.  It is found nowhere but masked.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import MERCHANT, TEST_PAN

from sogen_soap import InvalidFieldError, SogenSoapError
from sogen_soap.redact import redact_text
from sogen_soap.simulator import Simulator
from sogen_soap.validation import FIELD_RULES, check_field

SPELLINGS = [
    TEST_PAN,
    "4100 0000 0000 0000",
    "4100-0000-0000-0000",
    "4100.0000.0000.0000",
    "4100/0000/0000/0000",
    "4100_0000_0000_0000",
    "4100 0000-0000.0000",
]
COLUMNS = ("wallet", "card", "expiry", "alias", "brand", "pan_type")


def _leaks(text: str) -> list[str]:
    """Every spelling found, and the bare digits once separators are taken out."""
    found = [s for s in SPELLINGS if s in text]
    if TEST_PAN in re.sub(r"[ ._/-]", "", text):
        found.append("digits")
    return found


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_rule_masks_every_spelling_and_leaves_other_numbers_alone(spelling: str) -> None:
    assert redact_text(f"got '{spelling}' here") == "got '4100##########00' here"
    for text in ("2026-12-04 15:24:04", "127.0.0.1", "amount 2500", "id 12345678901"):
        assert redact_text(text) == text  # dates, addresses, short numbers stay


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("field", sorted(FIELD_RULES))
def test_no_field_s_refusal_quotes_a_card_number(field: str, spelling: str) -> None:
    refusal: InvalidFieldError | None = None
    try:
        check_field(field, spelling)
    except InvalidFieldError as exc:
        refusal = exc
    if refusal is None:  # accepted (a wallet id of digits that fail Luhn): shown masked
        assert _leaks(redact_text(spelling)) == []
    else:
        assert _leaks(str(refusal)) == [] and _leaks(refusal.rule) == [], (field, str(refusal))


def test_every_exception_of_the_package_masks_what_it_was_built_from() -> None:
    error = SogenSoapError(f"something about {SPELLINGS[3]} went wrong")
    assert str(error) == "something about 4100##########00 went wrong"


def _batch(tmp_path: Path, column: str, spelling: str, json_lines: bool) -> Path:
    good = {"wallet": "w1", "card": "5100000000000000", "expiry": "203012", "alias": "a",
            "brand": "MASTERCARD", "pan_type": "PAN"}  # fmt: skip
    rows = [good, {**good, column: spelling}, {**good, "wallet": spelling, "card": "w2"}]
    if json_lines:
        path = tmp_path / "in.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path = tmp_path / "in.csv"
        path.write_text(
            ",".join(COLUMNS) + "\n" + "".join(",".join(r[c] for c in COLUMNS) + "\n" for r in rows)
        )
    return path


@pytest.mark.parametrize("json_lines", [False, True], ids=["csv", "jsonl"])
@pytest.mark.parametrize("column", COLUMNS)
def test_a_card_number_in_any_column_shows_nowhere_but_masked(
    column: str, json_lines: bool, simulator: Simulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    for spelling in SPELLINGS:
        folder = tmp_path / str(SPELLINGS.index(spelling))
        folder.mkdir()
        source = _batch(folder, column, spelling, json_lines)
        done = run_in_process(
            "enrol", source.name, "--quiet", env=merchant_env(folder, simulator.url),
            monkeypatch=monkeypatch, cwd=folder,
        )  # fmt: skip
        assert done.returncode in (0, 2, 3), done.stderr
        written = [p for p in folder.rglob("*") if p.is_file() and p != source]
        assert len(written) >= 2  # the journal and the results
        outputs = {"stdout": done.stdout, "stderr": done.stderr}
        outputs.update({str(p): p.read_bytes().decode("latin-1") for p in written})
        for where, text in outputs.items():
            assert _leaks(text) == [], (column, spelling, where)
    assert _leaks("\n".join(r.getMessage() for r in caplog.records)) == []


@pytest.mark.parametrize("flag", ["--wallet", "--expiry", "--alias", "--brand", "--pan-type"])
def test_a_card_number_in_any_flag_shows_nowhere_but_masked(
    flag: str, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = {"--wallet": "w1", "--expiry": "203012"}
    for spelling in SPELLINGS:
        args = {**base, flag: spelling}
        argv = ["add-card", "--card", "-", "--json"] + [x for kv in args.items() for x in kv]
        done = run_in_process(*argv, env=merchant_env(tmp_path, simulator.url),
                              monkeypatch=monkeypatch, stdin=TEST_PAN)  # fmt: skip
        assert _leaks(done.stdout + done.stderr) == [], (flag, spelling, done.stderr)


def test_the_merchant_s_key_and_the_card_never_show_in_a_wallet_listing(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)
    run_in_process("add-card", "--wallet", "w1", "--card", "-", "--expiry", "203012", env=env,
                   monkeypatch=monkeypatch, stdin=TEST_PAN)  # fmt: skip
    done = run_in_process("wallet", "--wallet", "w1", env=env, monkeypatch=monkeypatch)
    assert "4100##########00" in done.stdout
    assert _leaks(done.stdout + done.stderr) == []
    assert MERCHANT.secret_key not in done.stdout + done.stderr
