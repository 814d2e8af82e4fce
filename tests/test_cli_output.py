"""What the command prints for a result, exactly: the field table, the payment-mean
table, the JSON object, the exit status.  Expected texts are written out by hand:
columns two spaces apart, ``-`` for an empty cell, extra fields marked, card
numbers masked wherever they come from."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sogen_soap.cli.output import (
    EXIT_FAULT,
    EXIT_OK,
    EXIT_REFUSED,
    exit_status,
    print_result,
    table,
)
from sogen_soap.results import (
    AddCardResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    PaymentMean,
    SignOffResult,
    SoapFault,
)
from sogen_soap.simulator import Simulator

PARIS = timezone(timedelta(hours=1))


def _printed(result: object, as_json: bool = False) -> str:
    out = io.StringIO()
    print_result(result, as_json=as_json, out=out)  # type: ignore[arg-type]
    return out.getvalue()


def test_an_enrolment_as_a_table_with_its_extra_fields() -> None:
    result = AddCardResult(
        response_code="00", seal_verified=True, seal_order="received", key_version=2,
        wallet_action_datetime=datetime(2026, 11, 29, 2, 51, 28, tzinfo=PARIS),
        payment_mean_id="1", masked_pan="4100##########00",
        extra={"newField": "x", "nested": {"a": "1"}, "note": "card 4100000000000000"},
    )  # fmt: skip
    assert _printed(result) == (
        "operation               addCard\n"
        "response                00 Successful operation\n"
        "error field name        -\n"
        "seal verified           True\n"
        "seal order              received\n"
        "key version             2\n"
        "wallet action datetime  2026-11-29T02:51:28+01:00\n"
        "payment mean id         1\n"
        "masked pan              4100##########00\n"
        "newField (extra)        x\n"
        'nested (extra)          {"a": "1"}\n'
        "note (extra)            card 4100##########00\n"
    )


def test_recovered_reconciliation_and_hint_lines_show_only_when_set() -> None:
    plain = _printed(AddCardResult(response_code="94"))
    for word in ("recovered", "reconciliation", "hint"):
        assert word not in plain
    settled = _printed(
        AddCardResult(
            response_code="94", recovered=True, reconciliation="why not known", hint="a hint"
        )
    )
    assert "recovered               True\n" in settled
    assert "reconciliation          why not known\n" in settled
    assert "hint                    a hint\n" in settled
    assert (
        "response                94 Duplicated wallet / payment mean (a hint) (why not known)\n"
        in settled
    )


def test_a_wallet_prints_its_fields_then_its_payment_means() -> None:
    result = GetWalletDataResult(
        response_code="00", seal_verified=True,
        wallet_creation_datetime=datetime(2026, 1, 2, 3, 4, 5, tzinfo=PARIS),
        payment_means=(
            PaymentMean("1", "4100##########00", "home", "203012", "VISA"),
            PaymentMean("2", "5100##########00", None, "203101", "MASTERCARD"),
        ),
    )  # fmt: skip
    assert _printed(result) == (
        "operation                    getWalletData\n"
        "response                     00 Successful operation\n"
        "error field name             -\n"
        "seal verified                True\n"
        "seal order                   -\n"
        "key version                  -\n"
        "wallet creation datetime     2026-01-02T03:04:05+01:00\n"
        "wallet last action datetime  -\n"
        "\n"
        "id  masked pan        expiry  brand       alias\n"
        "1   4100##########00  203012  VISA        home\n"
        "2   5100##########00  203101  MASTERCARD  -\n"
    )


def test_an_empty_wallet_says_so_and_a_refused_one_shows_no_table() -> None:
    empty = _printed(GetWalletDataResult(response_code="00"))
    assert empty.endswith("\n\n(no payment means)\n")
    unknown = _printed(GetWalletDataResult(response_code="25"))
    assert "(no payment means)" not in unknown
    assert "response                     25 Wallet / payment mean unknown\n" in unknown


def test_one_payment_mean_prints_its_row() -> None:
    result = GetPaymentMeanDataResult(
        response_code="00", payment_mean=PaymentMean("7", "4100##########00", None, "203012")
    )
    assert _printed(result).endswith(
        "\n\nid  masked pan        expiry  brand  alias\n7   4100##########00  203012  -      -\n"
    )


def test_json_is_one_object_with_every_field_and_masked_cards() -> None:
    result = AddCardResult(
        response_code=None, fault=SoapFault("soap:Server", "boom 4100000000000000")
    )
    text = _printed(result, as_json=True)
    assert text.endswith("}\n") and text.count("\n") == 1
    data = json.loads(text)
    assert data["operation"] == "addCard" and data["ok"] is False
    assert data["fault"] == {"code": "soap:Server", "message": "boom 4100##########00",
                             "qname": None}  # fmt: skip
    assert data["message"] == "SOAP fault soap:Server: boom 4100##########00"
    assert "4100000000000000" not in text


def test_the_exit_status_of_a_result() -> None:
    assert exit_status(SignOffResult(response_code="00")) == EXIT_OK == 0
    assert exit_status(SignOffResult(response_code="25")) == EXIT_REFUSED == 3
    fault = SignOffResult(response_code=None, fault=SoapFault("soap:Server", "x"))
    assert exit_status(fault) == EXIT_FAULT == 4
    assert exit_status(AddCardResult(response_code="94", recovered=True)) == EXIT_OK
    # a fault is never ok, whatever code sits beside it (results are public dataclasses)
    for kind in (SignOffResult, AddCardResult):
        faulted = kind(response_code="00", fault=SoapFault("soap:Server", "x"))
        assert not faulted.ok and exit_status(faulted) == EXIT_FAULT
    faulted = AddCardResult(response_code="94", recovered=True, fault=SoapFault("S:Server", "x"))
    assert not faulted.ok


def test_a_table_pads_to_the_widest_cell_and_shows_empty_as_a_dash() -> None:
    assert table(["a", "bb"], [["xxx", None], ["", "y"]]) == "a    bb\nxxx  -\n-    y"
    assert table(["only"], []) == "only"


def test_the_command_says_the_library_s_warnings_not_its_info_lines(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr carries what needs a person (warnings, errors); the library's INFO lines
    (a retry planned, a lost answer settled) are for logs, not for every run, even
    when the program running ``main()`` logs the library at INFO."""
    import logging

    from cli_support import merchant_env, run_in_process

    library = logging.getLogger("sogen_soap")
    previous = library.level
    library.setLevel(logging.INFO)  # a host application's setting (setLevel clears the cache)
    try:
        simulator.app.faults.fail_next("getWalletData", "code_99")  # answered 99: sent again
        done = run_in_process("wallet", "--wallet", "w", env=merchant_env(tmp_path, simulator.url),
                              monkeypatch=monkeypatch)  # fmt: skip
        assert simulator.requests_seen == 2  # the retry happened
    finally:
        library.setLevel(previous)
    assert done.returncode == 3  # 25: no such wallet, said on stdout
    assert "25" in done.stdout
    assert done.stderr == ""


def test_a_program_running_the_command_twice_gets_each_warning_once(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cli/events.py routes the library's warnings to stderr once per process, however
    many times ``main()`` runs in it (a scheduler calling it for each job): a warning
    is one line, not one line per earlier run."""
    import logging

    from cli_support import merchant_env, run_in_process

    for _ in range(2):
        done = run_in_process("wallet", "--wallet", "w", env=merchant_env(tmp_path, simulator.url),
                              monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 3 and done.stderr == ""
    capsys.readouterr()
    logging.getLogger("sogen_soap.keys").warning("key version 2 expires in 20 days")
    assert capsys.readouterr().err == "sogen-soap: warning: key version 2 expires in 20 days\n"


def test_a_refused_card_lookup_prints_its_code_and_no_table(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``payment-mean`` for a card the service does not know: exit 3, the code and its
    words on stdout, no table (there is no card to show) and nothing on stderr."""
    from cli_support import merchant_env, run_in_process

    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("payment-mean", "--wallet", "nobody", "--id", "1", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert (done.returncode, done.stderr) == (3, "")
    assert done.stdout.splitlines()[:2] == [
        "operation         getPaymentMeanData",
        "response          25 Wallet / payment mean unknown",
    ]
    assert "masked pan" not in done.stdout and "\n\n" not in done.stdout
