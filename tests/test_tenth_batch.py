"""Properties batch 15 of realistic bugs found untested: plain http never goes through
a proxy (it is loopback-only and checked address by address; through a proxy, that
check would be skipped); a charge batch with a pending row exits 3; an empty results
file is written over without --force."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import TEST_PAN
from hostile import CountingProxy

from sogen_soap import (
    ConnectionFailed,
    GetWalletDataResult,
    HTTPStatusError,
    InvalidFieldError,
    ResponseTimeout,
    SogenSoapError,
    WalletCreditHolderResult,
    WalletOrderResult,
)
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.cards import test_card_number
from sogen_soap.testing import SimulatedWallet


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_plain_http_never_goes_through_a_proxy(kit: SimulatedWallet, asynchronous: bool) -> None:
    with kit.client() as client:
        client.add_card("w", TEST_PAN, "203012")
    with CountingProxy() as proxy:
        if asynchronous:

            async def read() -> GetWalletDataResult:
                async with kit.async_client(proxy=proxy.base) as client:
                    return await client.get_wallet_data("w")

            answer = asyncio.run(read())
        else:
            with kit.client(proxy=proxy.base) as client:
                answer = client.get_wallet_data("w")
        assert proxy.connections == 0
    assert [m.masked_pan for m in answer.payment_means] == ["4100##########00"]


def test_a_charge_batch_with_a_pending_row_exits_3(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/cli.md: 3 when a row was refused, a duplicate or pending (not final yet)
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                          env=env, monkeypatch=monkeypatch, stdin=TEST_PAN + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,2560\n")  # an amount ending in 60: pending
    charged = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert json.loads(charged.stdout)["counts"] == {"pending": 1}
    assert charged.returncode == 3, charged.stderr
    # pending is final for the batch: the next run neither sends nor looks it up again
    again = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    summary = json.loads(again.stdout)
    assert (summary["sent"], summary["skipped"], summary["recovered"]) == (0, 1, 0)
    assert len(simulator.store.payments()) == 1


def test_an_empty_results_file_is_written_without_force(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an empty file is what `touch` or a mktemp left: nothing of the user's to lose
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    output = tmp_path / "out.csv"
    output.write_text("")
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("enrol", str(cards), "--output", str(output), "--quiet", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = output.read_text().splitlines()
    assert lines[0] == "line,wallet,masked_pan,outcome,code,payment_mean_id,message"
    assert lines[1].startswith("2,w1,4100##########00,ok,00,")


DECLINES = ("02", "05", "11", "14", "51", "54", "63")  # docs/payments.md, "Non-final states"


@pytest.mark.parametrize("code", [*DECLINES, "00", "03", "12", "24", "25", "30", "34", "60",
                                  "90", "94", "99"])  # fmt: skip
def test_declined_is_exactly_the_documented_refusals(code: str) -> None:
    for kind in (WalletOrderResult, WalletCreditHolderResult):
        assert kind(response_code=code).declined is (code in DECLINES), (kind, code)


@pytest.mark.parametrize(
    ("error", "resumed", "state"),
    [
        (ConnectionFailed("x"), False, "failed"),  # certainly not sent
        (HTTPStatusError("x", status_code=404), False, "failed"),  # refused unread
        (HTTPStatusError("x", status_code=500), False, "unknown"),  # it may have stored it
        (HTTPStatusError("x", status_code=503), False, "unknown"),
        (ResponseTimeout("x"), False, "unknown"),
        (ConnectionFailed("x"), True, "unknown"),  # an earlier attempt may have stored it
    ],
    ids=["connect", "404", "500", "503", "timeout", "resumed"],
)
def test_an_enrolment_failure_is_unknown_whenever_the_card_may_be_stored(
    error: SogenSoapError, resumed: bool, state: str
) -> None:
    from sogen_soap.cli.enrol import _failure_state

    assert _failure_state(error, resumed) == state


class _BrokenClient:
    """Our own client with a bug of ours in it: raises after the request may have left."""

    retries_made = 0

    def add_card(self, *args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug of ours")


def test_a_bug_of_ours_while_a_row_is_sent_leaves_it_unknown_never_failed() -> None:
    # "failed" would send the row again as new next run; "unknown" settles it first
    from sogen_soap.cli.enrol import send_row
    from sogen_soap.cli.inputs import Row

    row = Row(line=2, wallet="w", card=TEST_PAN, expiry="203012")
    outcome = send_row(_BrokenClient(), row, resumed=False)  # type: ignore[arg-type]
    assert (outcome.state, outcome.message) == ("unknown", "internal error (RuntimeError)")


def test_a_refused_card_lets_its_next_row_go(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a refusal is settled: nothing was stored, so the card's next row is safe to send
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw1,{TEST_PAN},203112\n")
    simulator.app.faults.fail_next("addCard", "code_77")
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("enrol", str(cards), "--json", "--quiet", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert json.loads(done.stdout)["counts"] == {"refused": 1, "ok": 1}, done.stderr
    assert done.returncode == 3
    assert simulator.store.count_cards() == 1
    # a refusal is final: the next run sends neither row again
    again = run_in_process("enrol", str(cards), "--json", "--quiet", env=env,
                           monkeypatch=monkeypatch)  # fmt: skip
    summary = json.loads(again.stdout)
    assert (summary["sent"], summary["skipped"]) == (0, 2)


def test_enrol_stops_only_for_wrong_credentials_in_a_row(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as charge (test_seventh_batch): 03 answers apart never add up to a stop
    from test_seventh_batch import _mischief

    wallets = ["w", "bad", "bad", "w", "bad", "bad", "w", "bad", "w"]
    rows = [f"{w},{test_card_number(1, k)},203012" for k, w in enumerate(wallets)]
    cards = tmp_path / "cards.csv"
    cards.write_text("wallet,card,expiry\n" + "\n".join(rows) + "\n")
    path = "/" + "/".join(simulator.url.split("/")[3:])  # the wallet's path
    with _mischief(simulator.url) as url:
        env = merchant_env(tmp_path, url + path)
        done = run_in_process("enrol", str(cards), "--json", "--quiet", "--concurrency", "1",
                              "--credential-failures", "3", env=env,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 5, done.stderr  # failed rows: run again, not stopped (7)
    assert json.loads(done.stdout)["counts"] == {"ok": 4, "failed": 5}


@pytest.mark.parametrize(
    "char", ["\x00", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "\uffff"]
)
def test_every_character_xml_cannot_carry_is_refused_before_sending(
    kit: SimulatedWallet, char: str
) -> None:
    # XML 1.0's Char production leaves out these (vertical tab and form feed too)
    with kit.client() as client, pytest.raises(InvalidFieldError) as caught:
        client.get_wallet_data(f"w{char}1")
    assert (caught.value.field, caught.value.rule) == (
        "merchantWalletId",
        "contains a control character that XML cannot carry",
    )
    assert kit.requests == []
