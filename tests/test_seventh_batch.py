"""Properties batch 12 of realistic bugs found untested: ``after_lost_answer`` on its
own settles a lost enrolment (both clients), a credit is reconciled by default, a
cash operation told not to reconcile is not, the charge batch's counts, lock and
durability and its "in a row" rule for wrong credentials, the payment commands'
optional flags, the simulator command's defaults and Ctrl-C, the throw-away keys'
mode, and where a payment service's WSDL is fetched to."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import MERCHANT, TEST_PAN

from sogen_soap import OutcomeUnknown, WalletClient
from sogen_soap.cli.charge import ChargeJournal
from sogen_soap.cli.journal import JournalError
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.tls import make_test_pki
from sogen_soap.testing import SimulatedWallet
from sogen_soap.wsdl_cache import fetch_wsdl


def _enrolled(kit: SimulatedWallet, wallet: str = "w1") -> str:
    with kit.client() as client:
        mean = client.add_card(wallet, TEST_PAN, "203012").payment_mean_id
    assert mean is not None
    return mean


# ------------------------------------------------------------------ the clients


def test_after_lost_answer_alone_settles_a_lost_enrolment(kit: SimulatedWallet) -> None:
    """The docstring: ``after_lost_answer`` sends "under the same rule" as
    ``reconcile``, so a second lost answer is settled too, not raised."""
    kit.fail_next("addCard", "commit_drop")
    with kit.client() as client:
        result = client.add_card("w1", TEST_PAN, "203012", after_lost_answer=True)
    assert result.ok and result.recovered and result.payment_mean_id is not None
    assert len(kit.wallet("w1")) == 1


def test_after_lost_answer_alone_settles_a_lost_enrolment_in_the_async_client(
    kit: SimulatedWallet,
) -> None:
    kit.fail_next("addCard", "commit_drop")

    async def enrol() -> object:
        async with kit.async_client() as client:
            return await client.add_card("w1", TEST_PAN, "203012", after_lost_answer=True)

    result = asyncio.run(enrol())
    assert getattr(result, "ok", False) and getattr(result, "recovered", False)
    assert len(kit.wallet("w1")) == 1


def test_a_lost_credit_is_settled_by_default(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    kit.fail_next("walletCreditHolder", "commit_drop")
    with kit.client() as client:
        credited = client.wallet_credit_holder("w1", mean, 500)
    assert credited.ok and credited.recovered
    stored = [t for t in kit.transactions() if t.kind != "order"]
    assert [t.transaction_reference for t in stored] == [credited.transaction_reference]


def _captured(kit: SimulatedWallet) -> str:
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
    kit.advance(days=2)
    stored = kit.transaction(reference)
    assert stored is not None and stored.status == "CAPTURED"
    return reference


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_refund_told_not_to_reconcile_raises_on_a_lost_answer(
    kit: SimulatedWallet, asynchronous: bool
) -> None:
    reference = _captured(kit)
    kit.fail_next("refund", "commit_drop")
    before = len(kit.requests)
    with pytest.raises(OutcomeUnknown):
        if asynchronous:

            async def refund() -> None:
                async with kit.async_client() as client:
                    await client.refund(reference, 100, reconcile=False)

            asyncio.run(refund())
        else:
            with kit.client() as client:
                client.refund(reference, 100, reconcile=False)
    assert [r.operation for r in kit.requests[before:]] == ["refund"]  # no read, no re-send
    stored = kit.transaction(reference)
    assert stored is not None and stored.current_amount == 900  # applied once, as it was


# ------------------------------------------------------------------ charge


def test_a_recovered_charge_is_counted(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                      environment=simulator.url) as client:  # fmt: skip
        assert client.add_card("w", TEST_PAN, "203012").ok
    (tmp_path / "bill.csv").write_text("wallet,id,amount\nw,1,1000\nw,1,1200\n")
    simulator.app.faults.fail_next("walletOrder", "commit_drop", 1)
    done = run_in_process("charge", str(tmp_path / "bill.csv"), "--json", "--concurrency", "1",
                          env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["counts"], summary["sent"], summary["recovered"]) == ({"ok": 2}, 2, 1)
    plain = run_in_process("charge", str(tmp_path / "bill.csv"), env=env, monkeypatch=monkeypatch)
    assert "sent 0, skipped 2 already done, recovered 0 in " in plain.stdout
    assert len(simulator.store.payments()) == 2


def test_a_second_charge_run_on_one_journal_is_refused_by_name(tmp_path: Path) -> None:
    first = ChargeJournal(tmp_path / "bill.charges.sqlite3")
    try:
        with pytest.raises(JournalError) as refused:
            ChargeJournal(tmp_path / "bill.charges.sqlite3")
    finally:
        first.close()
    assert str(refused.value).startswith(
        f"another sogen-soap charge is running with the journal {tmp_path / 'bill.charges.sqlite3'}"
    )
    ChargeJournal(tmp_path / "bill.charges.sqlite3").close()  # free once the first is closed


def test_the_charge_journal_survives_a_killed_process(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL (1): a commit survives the process being killed
    (the durability the module's docstring and CONTRIBUTING's journal notes rely on)."""
    journal = ChargeJournal(tmp_path / "j.sqlite3")
    try:
        (synchronous,) = journal._db.execute("PRAGMA synchronous").fetchone()
    finally:
        journal.close()
    assert synchronous == 1
    with sqlite3.connect(tmp_path / "j.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert (tmp_path / "j.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_charge_journal_counts_each_send_and_holds_no_card_number(tmp_path: Path) -> None:
    """cli/charge.py: "It holds no card data", and each claim is one more send of the
    same charge (a run resumed after a kill sends it again under its reference).  A
    message quoting a card number (an error's text) is masked before it is stored."""
    path = tmp_path / "j.sqlite3"
    journal = ChargeJournal(path)
    try:
        journal.claim("k1", "ref1")
        journal.claim("k1", "ref1")
        journal.finish("k1", "failed", message="wallet of 4111 1111 1111 1111 refused")
        entry = journal.entry("k1")
    finally:
        journal.close()
    assert entry is not None
    assert (entry.reference, entry.state, entry.attempts) == ("ref1", "failed", 2)
    assert entry.message == "wallet of 4111##########11 refused"
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("j.sqlite3*"))
    assert b"4111 1111 1111 1111" not in stored and b"4111111111111111" not in stored


class _Mischief(http.server.BaseHTTPRequestHandler):
    """Forwards to the simulator, giving requests for wallet ``bad`` an unknown
    merchant id: their answer is 03, as with wrong credentials."""

    upstream = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if b">bad<" in body or b'"bad"' in body:
            body = body.replace(MERCHANT.merchant_id.encode(), b"011223344550000")
        request = urllib.request.Request(  # noqa: S310 - the simulator on loopback
            self.upstream + self.path, data=body, method="POST"
        )
        for name in ("Content-Type", "SOAPAction"):
            if self.headers[name]:
                request.add_header(name, self.headers[name])
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            data = answer.read()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.headers["Content-Type"])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _mischief(upstream: str) -> Iterator[str]:
    origin = "/".join(upstream.split("/")[:3])  # the simulator's scheme and host, no path
    handler = type("Handler", (_Mischief,), {"upstream": origin})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_charge_stops_only_for_wrong_credentials_in_a_row(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                      environment=simulator.url) as client:  # fmt: skip
        assert client.add_card("w", TEST_PAN, "203012").ok
    rows = ["w,1,1000", "bad,1,1001", "bad,1,1002", "w,1,1003", "bad,1,1004", "bad,1,1005",
            "w,1,1006", "bad,1,1007", "w,1,1008"]  # fmt: skip
    (tmp_path / "bill.csv").write_text("wallet,id,amount\n" + "\n".join(rows) + "\n")
    with _mischief(simulator.url) as url:
        done = run_in_process("charge", str(tmp_path / "bill.csv"), "--json", "--concurrency",
                              "1", "--credential-failures", "3",
                              env=merchant_env(tmp_path, url), monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 5, done.stderr  # failed rows: run again, not stopped (7)
        assert json.loads(done.stdout)["counts"] == {"ok": 4, "failed": 5}
        rows.insert(5, "bad,1,1009")  # now three in a row
        (tmp_path / "bill.csv").write_text("wallet,id,amount\n" + "\n".join(rows) + "\n")
        again = merchant_env(tmp_path, url)
        stopped = run_in_process("charge", str(tmp_path / "bill.csv"), "--concurrency", "1",
                                 "--credential-failures", "3", env=again,
                                 monkeypatch=monkeypatch)  # fmt: skip
    assert stopped.returncode == 7, stopped.stderr
    assert "stopped after 3 answers in a row saying the credentials are wrong" in stopped.stderr


class _MischiefAndLoss(_Mischief):
    """As ``_Mischief``, and requests for wallet ``lost`` get no answer at all."""

    def do_POST(self) -> None:
        if b">lost<" in self.rfile.peek(65536):  # type: ignore[attr-defined]
            self.rfile.read(int(self.headers["Content-Length"]))
            self.close_connection = True  # closed without a word: a lost answer
            return
        super().do_POST()


def test_enrol_s_wrong_credentials_in_a_row_are_not_broken_by_a_lost_answer(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost answer says nothing about the credentials: 03, 03, lost, 03 is three
    wrong-credential answers in a row, and the batch stops before the next row."""
    from sogen_soap.simulator.cards import test_card_number

    wallets = ["bad", "bad", "lost", "bad", "w"]
    rows = [f"{w},{test_card_number(7, k)},203012" for k, w in enumerate(wallets)]
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + "\n".join(rows) + "\n")
    origin = "/".join(simulator.url.split("/")[:3])
    handler = type("Handler", (_MischiefAndLoss,), {"upstream": origin})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/services/v2/wallet"
        done = run_in_process("enrol", str(tmp_path / "in.csv"), "--concurrency", "1",
                              "--credential-failures", "3", "--timeout", "5",
                              env=merchant_env(tmp_path, url), monkeypatch=monkeypatch)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 7, done.stderr
    assert "stopped after 3 answers in a row saying the credentials are wrong" in done.stderr
    assert simulator.store.count_cards() == 0  # the last row, wallet w, never sent


# ------------------------------------------------------------------ the payment commands


def test_pay_sends_its_order_and_customer_ids_and_credit_its_currency(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)

    def sogen(*args: str) -> str:
        done = run_in_process(*args, "--json", env=env, monkeypatch=monkeypatch)
        assert done.returncode == 0, done.stderr
        return done.stdout

    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                      environment=simulator.url) as client:  # fmt: skip
        assert client.add_card("w", TEST_PAN, "203012").ok
        sogen("pay", "--wallet", "w", "--id", "1", "--amount", "1000", "--reference", "p1",
              "--order-id", "order-7", "--customer-id", "cust-9")  # fmt: skip
        sogen("credit", "--wallet", "w", "--id", "1", "--amount", "300", "--reference", "c1",
              "--currency", "840")  # fmt: skip
        paid = client.get_transaction_data("p1")
        credited = client.get_transaction_data("c1")
    assert (paid.order_id, paid.customer_id) == ("order-7", "cust-9")
    assert (credited.currency_code, credited.origin_amount) == ("840", 300)


def test_a_refused_operation_amount_is_named_by_its_flag(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = merchant_env(tmp_path, simulator.url)
    done = run_in_process("refund", "--reference", "p1", "--amount", "0", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "sogen-soap: --amount: must be 1 or more (got 0)"
    assert simulator.requests_seen == 0


# ------------------------------------------------------------------ the simulator command


def test_the_simulator_command_holds_a_delayed_answer_2_seconds_by_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--fault-delay``'s documented default (its help, docs/simulator.md): 2 s."""
    from sogen_soap.simulator.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    said = " ".join(capsys.readouterr().out.split())  # as argparse wraps it, any width
    assert "seconds the delay fault holds an answer (default 2)" in said
    from test_simulator_options import serving

    with serving("--fault", "delay=0", capsys=capsys) as (sim, _):
        assert sim.app.faults.delay == 2.0


def test_the_simulator_command_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOGEN_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sogen_soap.simulator", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("http://127.0.0.1:")
        assert "SIGTERM to stop" in process.stderr.readline()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_throw_away_keys_are_private(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path / "pki")
    for key in (pki.server_key, pki.client_key):
        assert key.stat().st_mode & 0o777 == 0o600, key


# ------------------------------------------------------------------ wsdl fetch


def test_each_service_s_wsdl_is_fetched_to_its_own_cache_folder(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    wallet = fetch_wsdl(simulator.url)
    checkout = fetch_wsdl(simulator.url, service="checkout")
    assert checkout.parent == wallet.parent / "checkout"
    assert str(checkout.parent).startswith(str(tmp_path / "cache"))
    assert wallet.is_file() and b"wallet" in wallet.read_bytes()
    assert b"walletOrder" in checkout.read_bytes() and b"walletOrder" not in wallet.read_bytes()
