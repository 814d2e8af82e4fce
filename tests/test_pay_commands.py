"""The payment commands, through the command's own main() against a simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import TEST_PAN

from sogen_soap.simulator import Simulator


def test_pay_capture_refund_and_look_up(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)

    def sogen(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        done = run_in_process(*args, env=env, monkeypatch=monkeypatch, stdin=stdin)
        return done.returncode, done.stdout, done.stderr

    code, _, err = sogen("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                         stdin=TEST_PAN + "\n")  # fmt: skip
    assert code == 0, err
    code, out, err = sogen("pay", "--wallet", "w", "--id", "1", "--amount", "2500",
                           "--reference", "order42", "--capture-mode", "VALIDATION",
                           "--json")  # fmt: skip
    assert code == 0, err
    paid = json.loads(out)
    assert paid["operation"] == "walletOrder" and paid["ok"] and paid["amount"] == 2500
    assert paid["transaction_reference"] == "order42"
    code, out, _ = sogen("capture", "--reference", "order42", "--amount", "2000", "--json")
    assert code == 0 and json.loads(out)["new_amount"] == 2000
    code, out, _ = sogen("transaction", "--reference", "order42")
    assert code == 0 and "TO_CAPTURE" in out and "2000" in out
    # the same reference again: 94, refused (exit 3), nothing charged
    code, out, _ = sogen("pay", "--wallet", "w", "--id", "1", "--amount", "2500",
                         "--reference", "order42")  # fmt: skip
    assert code == 3 and "94" in out
    code, out, _ = sogen("refund", "--reference", "order42", "--amount", "100")
    assert code == 3 and "12" in out  # not captured yet
    code, out, _ = sogen("cancel", "--reference", "order42", "--amount", "2000")
    assert code == 0 and "CANCELLED" in out
    assert len(simulator.store.payments()) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["pay", "--wallet", "w", "--id", "1", "--amount", "10.50"], "whole number of cents"),
        (["pay", "--wallet", "w", "--id", "1", "--amount", "5", "--currency", "EUR"],
         "--currency: must be the 3-digit ISO 4217 code"),
        (["refund", "--reference", "a-b", "--amount", "5"], "--reference: must be 1 to 35"),
        (["pay", "--wallet", "w", "--id", "1", "--amount", "5", "--pattern", "RECURRING_N"],
         "--initial-scheme-id"),
    ],
)  # fmt: skip
def test_bad_payment_input_exits_2_with_nothing_sent(
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    words: str,
) -> None:
    before = simulator.app.requests_seen
    done = run_in_process(*args, env=merchant_env(tmp_path, simulator.url), monkeypatch=monkeypatch)
    assert done.returncode == 2 and words in done.stderr
    assert "Traceback" not in done.stderr
    assert simulator.app.requests_seen == before
