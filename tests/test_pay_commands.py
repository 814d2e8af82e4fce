"""The payment commands, through the command's own main() against a simulator."""

from __future__ import annotations

import csv
import json
import signal
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import MERCHANT, TEST_PAN
from hostile import Relay

from sogen_soap import WalletClient
from sogen_soap.cli.charge import CHARGE_COLUMNS
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.cards import test_card_number
from sogen_soap.testing import SimulatedWallet


def _command(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``sogen(*args, stdin=None)``: the command in-process against ``simulator``,
    as (exit status, stdout, stderr)."""
    env = merchant_env(tmp_path, simulator.url)

    def sogen(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        done = run_in_process(*args, env=env, monkeypatch=monkeypatch, stdin=stdin)
        return done.returncode, done.stdout, done.stderr

    return sogen


def test_pay_capture_refund_and_look_up(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sogen = _command(simulator, tmp_path, monkeypatch)
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
    assert paid["currency_code"] == "978"  # no --currency: euros, as its help says
    assert simulator.store.payments()[0]["currency"] == "978"  # and 978 is what was sent
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


def test_the_cash_commands_send_the_currency_given(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--currency`` of capture, cancel and refund reaches the service: a payment in
    dollars is changed in dollars (in euros the service would refuse it, 12)."""
    sogen = _command(simulator, tmp_path, monkeypatch)
    assert sogen("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                 stdin=TEST_PAN + "\n")[0] == 0  # fmt: skip
    for reference, mode in (("usd1", "VALIDATION"), ("usd2", "AUTHOR_CAPTURE")):
        assert sogen("pay", "--wallet", "w", "--id", "1", "--amount", "1000", "--currency",
                     "840", "--reference", reference, "--capture-mode", mode)[0] == 0  # fmt: skip
    assert sogen("capture", "--reference", "usd1", "--amount", "600", "--currency", "840")[0] == 0
    assert sogen("cancel", "--reference", "usd2", "--amount", "400", "--currency", "840")[0] == 0
    simulator.app.clock_offset = timedelta(days=2)  # usd1's capture day is over
    assert sogen("refund", "--reference", "usd1", "--amount", "100", "--currency", "840")[0] == 0
    held = {p["reference"]: (p["currency"], p["current_amount"], p["status"])
            for p in simulator.store.payments()}  # fmt: skip
    assert held == {"usd1": ("840", 500, "CAPTURED"), "usd2": ("840", 600, "TO_CAPTURE")}


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


def test_charge_a_file_then_again_charges_nothing_twice(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)
    monkeypatch.chdir(tmp_path)
    done = run_in_process("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                          env=env, monkeypatch=monkeypatch, stdin=TEST_PAN + "\n")  # fmt: skip
    assert done.returncode == 0
    bill = tmp_path / "bill.csv"
    bill.write_text(
        "wallet,id,amount,currency,reference\n"
        "w,1,1000,,\n"  # two identical rows: two charges
        "w,1,1000,,\n"
        "w,1,2505,978,r1\n"  # refused (..05)
        "w,1,2500,978,r1\n"  # the same reference: one payment, not sent
        "w,1,10.50,,\n"  # invalid, reported before anything is sent
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    first = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert first.returncode == 2, first.stderr  # an invalid row
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the batch's are gone
    assert "line 6: amount: a whole number of cents" in first.stderr
    summary = json.loads(first.stdout)
    assert summary["counts"] == {"ok": 2, "refused": 1, "duplicate": 1, "invalid": 1}
    assert (summary["rows"], summary["bad_rows"], summary["sent"]) == (5, 1, 3)
    assert summary["results"] == str(tmp_path / "bill.results.csv")
    assert isinstance(summary["seconds"], float) and summary["seconds"] >= 0
    assert len(simulator.store.payments()) == 3
    with (tmp_path / "bill.results.csv").open(newline="") as handle:
        by_line = {row["line"]: row for row in csv.DictReader(handle)}
    assert (by_line["5"]["outcome"], by_line["5"]["message"]) == (
        "duplicate", "the same reference as line 4 (one payment): not sent",
    )  # fmt: skip
    # the file reordered: rows are known by what they are, not by their line
    bill.write_text(
        "wallet,id,amount,currency,reference\n"
        "w,1,2500,978,r1\nw,1,1000,,\nw,1,2505,978,r1\nw,1,1000,,\n"
    )
    again = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert again.returncode == 3, again.stderr  # refused and duplicate rows
    assert json.loads(again.stdout)["sent"] == 0
    assert len(simulator.store.payments()) == 3
    results = (tmp_path / "bill.results.csv").read_text().splitlines()
    assert results[0].startswith("line,wallet,id,amount,currency,reference,outcome")
    assert results[1].startswith("2,w,1,2500,978,r1,duplicate,")  # the journal's row owns r1
    assert ",r1,refused,05,05," in results[3]
    assert results[2].startswith("3,w,1,1000,978,sg")  # no currency given: euros, 978
    assert (tmp_path / "bill.charges.sqlite3").stat().st_mode & 0o077 == 0
    assert (tmp_path / "bill.results.csv").stat().st_mode & 0o077 == 0


def test_a_charge_file_without_its_columns_is_refused_whole(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,price\nw,1,1000\n")
    before = simulator.app.requests_seen
    done = run_in_process("charge", str(bill), env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2 and "price" in done.stderr and "amount" in done.stderr
    assert simulator.app.requests_seen == before
    assert not (tmp_path / "bill.charges.sqlite3").exists()


def test_charge_shows_its_progress(simulator: Simulator, tmp_path: Path) -> None:
    """The same progress line as enrol's: rows done of all, by outcome.  The same bill
    charged again: the rows the first run finished are not sent, and the bar still
    counts them, by their outcome (3/3, ok 1), as enrol's does."""
    import io

    from sogen_soap import WalletClient
    from sogen_soap.cli.charge import CHARGE_COLUMNS, ChargeJournal, charge
    from sogen_soap.cli.inputs import check_file
    from sogen_soap.cli.progress import Progress

    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,1000\nw,1,1005\nw,1,oops\n")
    shown = [io.StringIO(), io.StringIO()]
    bars = [Progress(3, stream=stream, enabled=True) for stream in shown]
    summaries, sent = [], []
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment=simulator.url) as client:  # fmt: skip
        client.add_card("w", TEST_PAN, "203012")
        for run, progress in enumerate(bars):
            before = simulator.app.requests_seen
            journal = ChargeJournal(tmp_path / "bill.charges.sqlite3")
            try:
                summaries.append(charge(client, bill, check_file(bill, CHARGE_COLUMNS), journal,
                                        tmp_path / f"out{run}.csv", progress=progress))  # fmt: skip
            finally:
                journal.close()
            progress.close()
            sent.append(simulator.app.requests_seen - before)
    assert summaries[0].counts == {"ok": 1, "refused": 1, "invalid": 1}
    assert "3/3  ok 1" in shown[0].getvalue().splitlines()[-1]
    assert sent[1] == 0  # the second run sent nothing
    assert (bars[1].skipped, dict(bars[1].counts)) == (2, {"ok": 1, "refused": 1, "invalid": 1})
    assert "3/3  ok 1" in shown[1].getvalue().splitlines()[-1]


def test_charge_sends_four_rows_at_a_time_by_default_as_its_help_says() -> None:
    from sogen_soap.cli.main import build_parser

    assert build_parser().parse_args(["charge", "bill.csv"]).concurrency == 4


def test_a_charge_keeps_one_connection_per_concurrent_row(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool holds --concurrency connections (4 by default): no row's connection is
    # opened and dropped for want of room in it.
    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\n" + "w,1,1000\n" * 32)
    with Relay(simulator.url) as relay:
        done = run_in_process(
            "charge", str(bill), "--json", monkeypatch=monkeypatch,
            env=merchant_env(tmp_path, relay.url),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"] == {"ok": 32}
    assert len(simulator.store.payments()) == 32
    assert 1 <= relay.connections <= 4


def _enrolled(simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    done = run_in_process("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                          env=merchant_env(tmp_path, simulator.url), monkeypatch=monkeypatch,
                          stdin=TEST_PAN + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_rows_a_stopped_charge_never_sent_say_to_run_it_again(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped by wrong credentials after two rows: the rows after them were never
    sent, and their results say so (unknown, "run the batch again"), not failed."""
    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\n" + "".join(f"w,1,{1000 + n}\n" for n in range(6)))
    env = {**merchant_env(tmp_path, simulator.url), "SOGEN_SECRET_KEY": "a-wrong-key"}
    before = simulator.app.requests_seen
    done = run_in_process("charge", str(bill), "--concurrency", "1", "--credential-failures", "2",
                          env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 7, done.stderr
    rows = (tmp_path / "bill.results.csv").read_text().splitlines()[1:]
    outcomes = [row.split(",")[6] for row in rows]
    sent = outcomes.count("failed")  # the two, and those already queued behind them
    assert 2 <= sent <= 4 and outcomes == ["failed"] * sent + ["unknown"] * (6 - sent)
    assert all(row.endswith(",not sent yet: run the batch again") for row in rows[sent:])
    assert simulator.app.requests_seen - before == sent
    assert simulator.store.payments() == []


def test_a_row_left_in_flight_is_resumed_with_its_reference_and_settled_by_lookup(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed with a charge in flight leaves its row "sending" with the
    reference it went with.  The next run sends that very reference again as a
    lost answer's retry: the service holds it, so it is looked up and reported
    as the charge made (recovered), never charged a second time under a new
    reference nor reported as a duplicate."""
    from sogen_soap.cli.charge import Charge, ChargeJournal, read_charges
    from sogen_soap.cli.inputs import check_file

    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,700\n")
    (row,) = read_charges(bill, check_file(bill, CHARGE_COLUMNS))
    assert isinstance(row, Charge)
    journal = ChargeJournal(tmp_path / "bill.charges.sqlite3")
    journal.claim(row.key, "inflight1")  # the killed run's record, before it sent
    journal.close()
    env = merchant_env(tmp_path, simulator.url)
    with WalletClient.from_env(env) as client:  # what reached the service before the kill
        assert client.wallet_order("w", 1, 700, transaction_reference="inflight1").ok
    done = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["counts"], summary["sent"], summary["recovered"]) == ({"ok": 1}, 1, 1)
    assert 0 <= summary["seconds"] < 60
    with (tmp_path / "bill.results.csv").open(newline="") as handle:
        (result,) = list(csv.DictReader(handle))
    assert (result["reference"], result["outcome"], result["code"]) == ("inflight1", "ok", "00")
    assert [p["reference"] for p in simulator.store.payments()] == ["inflight1"]


def test_a_charge_never_answered_is_unknown_and_says_it_is_looked_up_first(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _enrolled(simulator, tmp_path, monkeypatch)
    (tmp_path / "bill.csv").write_text("wallet,id,amount,reference\nw,1,1000,lost1\n"
                                       "w,1,1001,lost2\n")  # fmt: skip
    simulator.app.faults.fail_next("walletOrder", "drop", 100)
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("charge", str(tmp_path / "bill.csv"), "--json", "--timeout", "5",
                          env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 5, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["counts"], summary["sent"]) == ({"unknown": 2}, 2)  # each counted sent
    row, _ = (tmp_path / "bill.results.csv").read_text().splitlines()[1:]
    assert row.startswith("2,w,1,1000,978,lost1,unknown,")
    assert "run the batch again: it looks the reference up first, never charging twice" in row
    assert "outcome unknown (walletOrder: " in row  # why, from the call, not "stopped in flight"
    assert simulator.store.payments() == []


def test_rows_after_a_repeated_reference_or_a_row_already_done_are_still_charged(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeat of a reference, or a row a previous run finished, is passed over:
    the rows after it are charged all the same, and each repeat is counted."""
    _enrolled(simulator, tmp_path, monkeypatch)
    env = merchant_env(tmp_path, simulator.url)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,reference\nw,1,100,same1\nw,1,100,same1\n"
                    "w,1,100,same1\nw,1,200,\n")  # fmt: skip
    first = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert first.returncode == 3, first.stderr  # the repeats: exit 3, as a refusal
    summary = json.loads(first.stdout)
    assert (summary["counts"], summary["sent"]) == ({"ok": 2, "duplicate": 2}, 2)
    bill.write_text("wallet,id,amount,reference\nw,1,100,same1\nw,1,300,\n")  # a row added
    again = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["counts"], summary["sent"], summary["skipped"]) == ({"ok": 2}, 1, 1)
    assert sorted(p["origin_amount"] for p in simulator.store.payments()) == [100, 200, 300]


def test_rows_whose_fields_join_to_the_same_text_are_two_charges(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wallet ``w1`` with card 1 and wallet ``w`` with card 11, same amount: written
    one after the other their fields read alike, yet they are two rows, each sent
    and journaled on its own (a key that ran its fields together would send one
    and take the other for it)."""
    env = merchant_env(tmp_path, simulator.url)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw1,1,100\nw,11,100\n")
    done = run_in_process("charge", str(bill), "--json", "--concurrency", "1", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 3, done.stderr  # neither wallet exists: two refusals
    summary = json.loads(done.stdout)
    assert (summary["counts"], summary["sent"]) == ({"refused": 2}, 2)
    import sqlite3

    with sqlite3.connect(tmp_path / "bill.charges.sqlite3") as db:
        held = db.execute("SELECT reference FROM charge").fetchall()
    assert len(set(held)) == 2


def test_a_charge_row_whose_reference_was_used_before_is_a_duplicate_not_a_refusal(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's 94 (that reference is another payment's): the row's outcome is
    ``duplicate``, nothing new charged, and the batch exits 3 as for any refusal."""
    _enrolled(simulator, tmp_path, monkeypatch)
    env = merchant_env(tmp_path, simulator.url)
    paid = run_in_process("pay", "--wallet", "w", "--id", "1", "--amount", "900",
                          "--reference", "used1", env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert paid.returncode == 0, paid.stderr
    (tmp_path / "bill.csv").write_text("wallet,id,amount,reference\nw,1,1000,used1\n")
    done = run_in_process("charge", str(tmp_path / "bill.csv"), "--json", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["counts"] == {"duplicate": 1}
    (row,) = (tmp_path / "bill.results.csv").read_text().splitlines()[1:]
    assert row.startswith("2,w,1,1000,978,used1,duplicate,94,")
    assert [p["origin_amount"] for p in simulator.store.payments()] == [900]


def test_the_same_charge_in_two_currencies_is_two_charges(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row is known by all its fields: 10.00 in euros and 10.00 in dollars are two
    rows of the journal, each charged once, and a second run charges neither again."""
    _enrolled(simulator, tmp_path, monkeypatch)
    env = merchant_env(tmp_path, simulator.url)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,currency\nw,1,1000,978\nw,1,1000,840\n")
    for run_number, sent in ((1, 2), (2, 0)):
        done = run_in_process("charge", str(bill), "--json", "--concurrency", "1", env=env,
                              monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 0, (run_number, done.stderr)
        summary = json.loads(done.stdout)
        assert (summary["counts"], summary["sent"]) == ({"ok": 2}, sent), run_number
    charged = sorted((p["currency"], p["origin_amount"]) for p in simulator.store.payments())
    assert charged == [("840", 1000), ("978", 1000)]
    rows = (tmp_path / "bill.results.csv").read_text().splitlines()[1:]
    assert [row.split(",")[4] for row in rows] == ["978", "840"]
    import sqlite3

    with sqlite3.connect(tmp_path / "bill.charges.sqlite3") as db:  # one journal row each
        held = db.execute("SELECT reference, state FROM charge").fetchall()
    assert len(held) == 2 and {state for _, state in held} == {"ok"}
    assert len({reference for reference, _ in held}) == 2


def test_a_card_number_in_a_bad_charge_row_is_masked_everywhere(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A card number typed in the wallet column of a row that is refused: the
    results file and the terminal show it masked, never whole."""
    bill = tmp_path / "bill.csv"
    bill.write_text(f"wallet,id,amount\n{TEST_PAN},1,oops\n")
    done = run_in_process("charge", str(bill), env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2, done.stderr
    results = (tmp_path / "bill.results.csv").read_text()
    (row,) = results.splitlines()[1:]
    assert row.startswith("2,4100##########00,,,,,invalid,"), row
    assert TEST_PAN not in results + done.stdout + done.stderr


def test_a_database_of_something_else_is_never_taken_for_a_charge_journal(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    other = tmp_path / "app.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE charge (key TEXT PRIMARY KEY)")
        db.execute("CREATE TABLE orders (id INTEGER)")
    before = other.read_bytes()
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,1000\n")
    sent = simulator.app.requests_seen
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("charge", str(bill), "--journal", str(other), env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"{other} is not a sogen-soap charge journal (it holds tables charge, orders)" in (
        done.stderr
    )
    assert other.read_bytes() == before and simulator.app.requests_seen == sent


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json"])
def test_json_lines_in_any_of_its_names_give_json_lines_results(
    suffix: str, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every name the reader takes as JSON Lines gets its results as JSON Lines, for
    ``enrol`` and ``charge`` alike (a ``.json`` input once got CSV results)."""
    env = merchant_env(tmp_path, simulator.url)
    cards = tmp_path / f"cards{suffix}"
    cards.write_text(json.dumps({"wallet": "w1", "card": TEST_PAN, "expiry": "203012"}) + "\n")
    enrolled = run_in_process("enrol", str(cards), "--quiet", env=env, monkeypatch=monkeypatch)
    assert enrolled.returncode == 0, enrolled.stderr
    results = tmp_path / "cards.results.jsonl"
    assert json.loads(results.read_text().splitlines()[0])["outcome"] == "ok"
    bill = tmp_path / f"bill{suffix}"
    bill.write_text(json.dumps({"wallet": "w1", "id": "1", "amount": "1000"}) + "\n")
    charged = run_in_process("charge", str(bill), "--quiet", env=env, monkeypatch=monkeypatch)
    assert charged.returncode == 0, charged.stderr
    lines = (tmp_path / "bill.results.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["outcome"] == "ok"
    assert not list(tmp_path.glob("*.results.csv"))


def test_charge_names_a_bad_wallet_id_or_reference_by_its_column(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value is reported under the file's column (wallet, id, reference), not
    the service's field name: the operator fixes the file, not the wire."""
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,reference\n" + "w" * 30 + ",1,100,\nw,x!,100,\n"
                    "w,1,100,a b\n")  # fmt: skip
    done = run_in_process("charge", str(bill), "--quiet", env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "line 2: wallet: must be at most 21 characters (got 30)",
        "line 3: id: must be 1 to 6 digits (got 'x!')",
        "line 4: reference: must be 1 to 35 letters or digits, unique per merchant (got 'a b')",
    ]
    assert simulator.requests_seen == 0


def test_charge_names_each_bad_row_by_its_column_and_keeps_the_answer_of_a_good_one(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import csv

    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,currency\n,1,100,\nw,1,12.50,\nw,1,100,EURO\n"
                    "w,1,0,\nw,1,1000,\n")  # fmt: skip
    done = run_in_process("charge", str(bill), "--quiet", env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "line 2: wallet: missing",
        "line 3: amount: a whole number of cents (1050 for 10.50 EUR), not '12.50'",
        "line 4: currency: must be the 3-digit ISO 4217 code (978 for euros) (got 'EURO')",
        "line 5: amount: must be 1 or more (got 0)",
    ]
    assert done.stdout.splitlines()[0].startswith(
        "5 rows: 1 ok, 4 invalid; sent 1, skipped 0 already done, recovered 0 in "
    )
    with (tmp_path / "bill.results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    good = rows[-1]
    held = simulator.store.payment(MERCHANT.merchant_id, good["reference"])
    assert held is not None
    assert (good["outcome"], good["code"], good["acquirer_code"], good["message"]) == (
        "ok", "00", "00", "Accepted",
    )  # fmt: skip
    assert good["authorisation_id"] and good["authorisation_id"] == held.get("authorisation_id")


def test_a_refused_charge_keeps_the_acquirer_s_own_code_beside_the_service_s(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A charge refused for fraud: the service says 63, the acquirer 59; the results
    file keeps each in its column (the acquirer's code is what a bank is asked about)."""
    import csv

    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,1059\n")  # ..59: the simulator's fraud refusal
    done = run_in_process("charge", str(bill), "--quiet", env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 3, done.stderr
    with (tmp_path / "bill.results.csv").open(newline="") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["outcome"], row["code"], row["acquirer_code"]) == ("refused", "63", "59")


def test_a_row_with_its_own_reference_is_known_whatever_identical_rows_come_before_it(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only rows without a reference are told apart by occurrence: a row naming its
    reference stays the row done before when an identical row without one is added
    above it (skipped, not sent again to be answered 94)."""
    _enrolled(simulator, tmp_path, monkeypatch)
    env = merchant_env(tmp_path, simulator.url)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,reference\nw,1,1000,own1\n")
    first = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert first.returncode == 0, first.stderr
    bill.write_text("wallet,id,amount,reference\nw,1,1000,\nw,1,1000,own1\n")
    again = run_in_process("charge", str(bill), "--json", env=env, monkeypatch=monkeypatch)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["counts"], summary["sent"], summary["skipped"]) == ({"ok": 2}, 1, 1)
    rows = (tmp_path / "bill.results.csv").read_text().splitlines()[1:]
    assert rows[1].startswith("3,w,1,1000,978,own1,ok,00,")
    assert len(simulator.store.payments()) == 2


def test_a_row_left_in_flight_by_a_killed_run_says_unknown_while_unsent(
    simulator: Simulator, client: WalletClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run leaves its row ``sending`` in the journal; a run stopped before
    sending it again reports it as unknown (looked up first next time), never as
    the journal's inner word."""
    import signal

    from sogen_soap.cli.charge import CHARGE_COLUMNS, ChargeJournal, charge, read_charges
    from sogen_soap.cli.enrol import Stop
    from sogen_soap.cli.inputs import check_file

    _enrolled(simulator, tmp_path, monkeypatch)
    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount,reference\nw,1,1000,flight1\n")
    form = check_file(bill, CHARGE_COLUMNS)
    (row,) = read_charges(bill, form)
    journal = ChargeJournal(tmp_path / "bill.charges.sqlite3")
    journal.claim(row.key, "flight1")  # what a run killed mid-call leaves
    stop = Stop()
    stop.request(signal.SIGTERM)  # the next run is stopped before it sends anything
    summary = charge(client, bill, form, journal, tmp_path / "out.csv", stop=stop)
    journal.close()
    assert (dict(summary.counts), summary.sent) == ({"unknown": 1}, 0)
    (line,) = (tmp_path / "out.csv").read_text().splitlines()[1:]
    assert line.startswith("2,w,1,1000,978,flight1,unknown,")
    assert "outcome unknown (stopped in flight); run the batch again" in line
    assert simulator.store.payments() == []


def test_a_charge_file_s_cells_are_read_as_people_type_them(tmp_path: Path) -> None:
    """As enrol reads its file: spaces around a cell are not part of it (a card's id
    typed " 1 " is card 1), and a required cell holding spaces only is "missing" under
    its column's name, as an empty one is (not a field rule's words about digits)."""
    from sogen_soap.cli.charge import CHARGE_COLUMNS, BadCharge, Charge, read_charges
    from sogen_soap.cli.inputs import check_file

    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\n w , 1 , 1000 \nw,   ,500\nw,,500\n   ,2,500\n")
    rows = list(read_charges(bill, check_file(bill, CHARGE_COLUMNS)))
    first, *bad = rows
    assert isinstance(first, Charge)
    assert (first.wallet, first.mean, first.amount) == ("w", "1", 1000)
    assert all(isinstance(row, BadCharge) for row in bad)
    assert [(row.line, row.message) for row in bad] == [  # type: ignore[union-attr]
        (3, "id: missing"), (4, "id: missing"), (5, "wallet: missing"),
    ]  # fmt: skip


def test_a_journal_that_fails_mid_batch_stops_the_charges_at_once(
    kit: SimulatedWallet, tmp_path: Path
) -> None:
    """A charge's outcome that cannot be written (here a trigger refuses it, as a full disk
    would) stops the run loudly as soon as it is seen: no more cards are charged while
    their outcomes could not be kept, beyond the few already handed to the senders."""
    import sqlite3

    from sogen_soap.cli.charge import ChargeJournal, charge
    from sogen_soap.cli.inputs import check_file

    with kit.client() as client:
        means = [client.add_card(f"w{i}", test_card_number(i, 0), "203012").payment_mean_id
                 for i in range(40)]  # fmt: skip
        path = tmp_path / "charges.csv"
        path.write_text("wallet,id,amount\n" + "".join(f"w{i},{m},100\n"
                                                       for i, m in enumerate(means)))  # fmt: skip
        journal = ChargeJournal(tmp_path / "charges.sqlite3")
        other = sqlite3.connect(tmp_path / "charges.sqlite3")
        other.execute("CREATE TRIGGER refuse BEFORE UPDATE ON charge WHEN NEW.state = 'ok' "
                      "BEGIN SELECT RAISE(ABORT, 'disk full'); END")  # fmt: skip
        other.commit()
        other.close()
        with pytest.raises(sqlite3.IntegrityError, match="disk full"):
            charge(client, path, check_file(path, CHARGE_COLUMNS), journal,
                   tmp_path / "charges.results.csv", concurrency=2)  # fmt: skip
        journal.close()
    charged = len(kit.transactions())
    assert 1 <= charged <= 8, charged  # 2 at a time, 4 queued: not the 40 of the file
