"""Promises small enough to break unnoticed, each held here by what a user sees:
what is retried, what "unknown wallet" means per operation, card numbers masked in
every exception and every stderr line, the command's timeout range, and what the
keys check makes of each probe answer."""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import pytest

from sogen_soap.cli import events
from sogen_soap.cli.config import resolve_settings
from sogen_soap.cli.keys import ACCEPTED, EXPIRED, REFUSED, UNPROVEN, verdict
from sogen_soap.cli.main import build_parser
from sogen_soap.errors import (
    ConfigurationError,
    ConnectionDropped,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseTimeout,
    SogenSoapError,
)
from sogen_soap.redact import redact_text
from sogen_soap.results import AddCardResult, GetWalletDataResult, SignOffResult
from sogen_soap.retry import retryable

CARD = "4100000000000000"


@pytest.mark.parametrize(
    ("status", "read", "change"),
    [(502, True, False), (503, True, False), (504, True, False), (500, False, False),
     (429, False, False)],
)  # fmt: skip
def test_gateway_answers_are_retried_for_reads_only(status: int, read: bool, change: bool) -> None:
    error = HTTPStatusError("x", status_code=status)
    assert retryable(error, "getWalletData") is read
    assert retryable(error, "getPaymentMeanData") is read
    assert retryable(error, "addCard") is change
    assert retryable(ResponseTimeout("x"), "getWalletData") is True
    assert retryable(ConnectionDropped("x"), "addCard") is False


def test_unknown_wallet_means_01_or_25_except_on_add_card() -> None:
    for code, unknown in (("01", True), ("25", True), ("00", False), ("94", False)):
        assert GetWalletDataResult(response_code=code).unknown_wallet is unknown
        assert SignOffResult(response_code=code).unknown_wallet is unknown
        assert AddCardResult(response_code=code).unknown_wallet is False


@pytest.mark.parametrize(
    "error",
    [
        SogenSoapError(f"card {CARD}"),
        ConfigurationError(f"card {CARD} in a path"),
        OutcomeUnknown(f"lost: {CARD}", reason="timeout", attempted={}),
        ConnectionDropped(f"cut while sending {CARD}", operation="addCard"),
    ],
)
def test_every_exception_masks_a_card_number_in_its_text(error: SogenSoapError) -> None:
    assert CARD not in str(error) and CARD not in repr(error)
    assert "4100##########00" in str(error)
    assert all(CARD not in str(a) for a in error.args)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("400000000000", "4000######00"),  # 12 digits: the shortest the rule masks
        ("4000000000006", "4000#######06"),
        ("4000 0000 0000 6", "4000#######06"),
        ("4000/0000/0000/6", "4000#######06"),  # any of the separators people type
        ("4000.0000-0000_6", "4000#######06"),
        ("40000000000", "40000000000"),  # 11 digits: not a card number
        ("4000000000000000003", "4000#############03"),  # 19 digits
        ("40000000000000000031", "40000000000000000031"),  # 20: an id, not a card
    ],
)
def test_card_numbers_of_12_to_19_digits_are_masked_in_text(text: str, shown: str) -> None:
    assert redact_text(f"x {text} y") == f"x {shown} y"


def test_json_stderr_lines_and_library_warnings_are_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events.configure("json")
    try:
        events.say(f"refused {CARD}", event="error", note=f"n {CARD}")
        logging.getLogger("sogen_soap.test").warning("card %s", CARD)
    finally:
        events.configure("text")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["refused 4100##########00",
                                                   "card 4100##########00"]  # fmt: skip
    assert lines[0]["note"] == "n 4100##########00"
    events.say(f"text {CARD}")
    assert capsys.readouterr().err == "sogen-soap: text 4100##########00\n"


def test_argparse_errors_mask_a_card_number_they_quote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["wallet", "--wallet", "w", "--transport", CARD])
    err = capsys.readouterr().err
    assert CARD not in err
    assert "invalid choice: '4100##########00'" in err


@pytest.mark.parametrize(("timeout", "accepted"), [("3599.5", True), ("3600", False),
                                                   ("0", False), ("0.1", True)])  # fmt: skip
def test_the_command_s_timeout_is_above_0_and_below_an_hour(
    timeout: str, accepted: bool, tmp_path: Path
) -> None:
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--timeout", timeout,
                                      "--environment", "simulator"])  # fmt: skip
    if accepted:
        assert resolve_settings(args, {}).timeout == float(timeout)
    else:
        with pytest.raises(ConfigurationError, match="more than 0 and less than 3600 seconds"):
            resolve_settings(args, {})
    assert isinstance(args, argparse.Namespace)


@pytest.mark.parametrize(
    ("code", "sealed", "state"),
    [("25", True, ACCEPTED), ("01", True, ACCEPTED), ("00", True, ACCEPTED),
     ("34", False, REFUSED), ("03", False, REFUSED), ("40", False, REFUSED),
     ("25", False, UNPROVEN), ("99", True, UNPROVEN)],
)  # fmt: skip
def test_what_a_probe_answer_says_of_its_key(code: str, sealed: bool, state: str) -> None:
    found, detail = verdict(GetWalletDataResult(response_code=code, seal_verified=sealed))
    assert found == state, detail
    assert EXPIRED == "expired"


def test_a_progress_stream_that_is_a_file_gets_no_bar() -> None:
    from sogen_soap.cli.progress import Progress

    assert Progress(1, stream=io.StringIO()).enabled is False
    assert Progress(1, stream=io.StringIO(), enabled=True).enabled is True
