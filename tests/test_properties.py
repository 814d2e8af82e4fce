"""Properties the documentation promises, each held by a test that fails without it.

An independent campaign of hand-written realistic bugs (a deadline restarted per
attempt, a default changed, a check dropped) found these untested; each test
names where the property is documented.  Where the property is about the
network, it goes through real sockets.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import (
    AsyncWalletClient,
    ConnectionFailed,
    ResponseTimeout,
    RetryPolicy,
    SogenSoapError,
    WalletClient,
)
from sogen_soap.simulator import Simulator


def _slow_503(seconds: float) -> HostileServer:
    """Each request answered 503 (a read retries it) after ``seconds``."""

    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        stop.wait(seconds)
        conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    return HostileServer(answer)


# ------------------------------------------------------------ deadlines (docs/failures.md)


def _failed_read(asynchronous: bool, url: str, attempts: int) -> SogenSoapError:
    """What a getWalletData with timeout=1.0 and ``attempts`` at once (no backoff)
    ends in, from the sync or the async client."""
    import asyncio

    policy = RetryPolicy(attempts=attempts, base_delay=0, jitter=False)
    options = {"environment": url, "timeout": 1.0, "retry": policy}
    if asynchronous:

        async def call() -> None:
            async with AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                                         **options) as client:  # type: ignore[arg-type]  # fmt: skip
                await client.get_wallet_data("w")

        with pytest.raises(SogenSoapError) as caught:
            asyncio.run(call())
    else:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, **options) as client:  # type: ignore[arg-type]
            with pytest.raises(SogenSoapError) as caught:
                client.get_wallet_data("w")
    return caught.value


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_the_deadline_is_for_the_whole_call_across_its_retries(asynchronous: bool) -> None:
    """timeout=1.0 and ten attempts allowed, each answer taking 0.4 s: at most three
    attempts fit in the call's one second (a deadline restarted per attempt lets all
    ten go).  The call ends in a 503 or the deadline: either way, bounded."""
    with _slow_503(0.4) as server:
        _failed_read(asynchronous, server.url, attempts=10)
        assert 1 <= server.requests <= 3


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_retry_gets_only_what_the_deadline_leaves(asynchronous: bool) -> None:
    """timeout=1.0, each answer taking 0.7 s: the retry leaves at 0.7 s with 0.3 s of
    the call left, so it ends in a timeout; an attempt given a deadline of its own
    would wait for its 503, which comes at 1.4 s (docs/failures.md: one deadline
    per call, retries included)."""
    with _slow_503(0.7) as server:
        error = _failed_read(asynchronous, server.url, attempts=2)
        assert server.requests == 2
    assert type(error) is ResponseTimeout, repr(error)


def test_a_connect_read_pair_gives_the_call_their_sum() -> None:
    """(connect, answer) = (0.3, 0.5): the call has 0.8 s, so two 0.4 s attempts at most."""
    policy = RetryPolicy(attempts=10, base_delay=0, jitter=False)
    with _slow_503(0.4) as server:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=server.url,
                          timeout=(0.3, 0.5), retry=policy) as client:  # fmt: skip
            with pytest.raises(SogenSoapError):
                client.get_wallet_data("w")
        assert 1 <= server.requests <= 2


def test_a_connect_attempt_is_cut_at_what_the_deadline_leaves() -> None:
    """A listener that never accepts (its queue full), timeout (1.0, 0.3): the first
    connect waits its 1.0 s, and the retry (a connect that failed is safe to retry)
    only the 0.3 s the call has left; 2 s if each attempt had its own connect time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue; later connects hang unanswered
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/services/v2/wallet"
        started = time.monotonic()
        policy = RetryPolicy(attempts=5, base_delay=0)
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                          timeout=(1.0, 0.3), retry=policy) as client:  # fmt: skip
            with pytest.raises(ConnectionFailed):
                client.get_wallet_data("w")
        took = time.monotonic() - started
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert 0.9 < took < 1.75, took


# ------------------------------------------------------------ documented defaults


def test_the_documented_defaults() -> None:
    """docs/api.md, docs/failures.md, docs/batch.md: "timeout ... (5, 30) by default",
    "attempts=3, base_delay=0.2, cap=5.0",
    "max_response_bytes (4 MiB by default)", "--concurrency ... default 32",
    "max_connections ... 8 measured best", a batch stops after 5 credential refusals,
    expiries at most 20 years ahead."""
    from sogen_soap.adapter import DEFAULT_TIMEOUT
    from sogen_soap.cli.enrol import DEFAULT_CREDENTIAL_FAILURES
    from sogen_soap.cli.inputs import EXPIRY_YEARS_AHEAD
    from sogen_soap.cli.main import DEFAULT_CONCURRENCY
    from sogen_soap.cli.main import DEFAULT_CREDENTIAL_FAILURES as CLI_FAILURES
    from sogen_soap.transport import DEFAULT_MAX_RESPONSE_BYTES

    assert DEFAULT_TIMEOUT == (5.0, 30.0)
    policy = RetryPolicy()
    assert (policy.attempts, policy.base_delay, policy.cap, policy.jitter) == (3, 0.2, 5.0, True)
    assert DEFAULT_MAX_RESPONSE_BYTES == 4 * 1024 * 1024
    assert DEFAULT_CONCURRENCY == 32
    assert inspect.signature(AsyncWalletClient).parameters["max_connections"].default == 8
    assert inspect.signature(WalletClient).parameters["pool_size"].default == 16
    assert DEFAULT_CREDENTIAL_FAILURES == CLI_FAILURES == 5
    assert EXPIRY_YEARS_AHEAD == 20


def test_the_exit_statuses_are_the_documented_ones() -> None:
    """docs/cli.md, "Exit status": each status the command returns, in its words."""
    from sogen_soap.cli import output

    documented = " ".join((Path(__file__).parents[1] / "docs" / "cli.md").read_text().split())
    for status, words in (
        (output.EXIT_OK, "success (00)"),
        (output.EXIT_BAD_INPUT, "bad input, file or configuration"),
        (output.EXIT_REFUSED, "the service refused"),
        (output.EXIT_FAULT, "SOAP fault"),
        (output.EXIT_TRANSPORT, "transport failure"),
        (output.EXIT_UNTRUSTED, "an answer that cannot be trusted"),
        (output.EXIT_INTERRUPTED, "interrupted (Ctrl-C, SIGINT)"),
        (output.EXIT_TERMINATED, "stopped by SIGTERM"),
        (output.EXIT_CREDENTIALS, "a batch stopped because answers in a row"),
        (output.EXIT_INTERNAL, "an internal error"),
    ):
        assert f"{status} {words}" in documented, (status, words)


def test_the_simulator_s_limits_are_the_documented_ones() -> None:
    """docs/failures.md: the simulator closes idle keep-alive connections after 30 s
    and requests slower than 10 s to arrive, answers with 32 workers, and keeps at
    most 4096 connections open."""
    given = inspect.signature(Simulator).parameters
    names = ("idle_timeout", "request_timeout", "workers", "max_connections")
    assert tuple(given[name].default for name in names) == (30.0, 10.0, 32, 4096)


def test_the_simulator_s_wsgi_application_alone_has_the_simulator_s_defaults() -> None:
    """``SimulatorApp`` hosted by another WSGI server answers as ``Simulator`` does
    when neither is told otherwise: every option they share has the same default
    (the list shape, no newer fields, no latency, no recording)."""
    from sogen_soap.simulator.app import SimulatorApp

    app = inspect.signature(SimulatorApp).parameters
    server = inspect.signature(Simulator).parameters
    shared = sorted(set(app) & set(server) - {"merchants"})
    assert {"shape", "newer_fields", "latency", "record", "faults", "clock"} <= set(shared)
    assert {n: app[n].default for n in shared} == {n: server[n].default for n in shared}


# ------------------------------------------------------------ files the batch writes


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_spreadsheet_formula_start_is_neutralised(start: str) -> None:
    """docs/batch.md: a cell starting with =, +, -, @, a tab or a carriage return gets a '."""
    from sogen_soap.cli.enrol import spreadsheet_safe

    assert spreadsheet_safe(f"{start}1+1") == f"'{start}1+1"
    assert spreadsheet_safe(f"a{start}") == f"a{start}"


def _durability(db: sqlite3.Connection) -> tuple[object, object]:
    """An open database's journal mode and synchronous level (1 is NORMAL)."""
    return (db.execute("PRAGMA journal_mode").fetchone()[0],
            db.execute("PRAGMA synchronous").fetchone()[0])  # fmt: skip


def test_the_journal_survives_a_killed_process_by_its_durability_setting(tmp_path: Path) -> None:
    """journal.py: WAL with synchronous=NORMAL (every commit in the WAL: a killed
    process loses nothing; only a power cut may lose the last commits)."""
    from sogen_soap.cli.journal import Journal

    journal = Journal(tmp_path / "j.sqlite3", "secret")
    try:
        assert _durability(journal._db) == ("wal", 1)
    finally:
        journal.close()
    with sqlite3.connect(tmp_path / "j.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # kept in the file


def test_the_simulator_s_store_on_disk_has_the_journal_s_durability(tmp_path: Path) -> None:
    """simulator/store.py: a store on disk is in WAL with synchronous=NORMAL too (a
    killed simulator keeps every commit; FULL would make the simulator, not the
    client, what a benchmark measures)."""
    from sogen_soap.simulator.store import WalletStore

    store = WalletStore(str(tmp_path / "s.sqlite3"))
    try:
        assert _durability(store._db) == ("wal", 1)
    finally:
        store.close()


# ------------------------------------------------------------ framing, WSDLs, seals


def test_transfer_encoding_is_framed_by_its_last_coding_only() -> None:
    """RFC 9112: "chunked, gzip" is not chunked (the body runs to the close)."""
    from sogen_soap.http11 import ResponseParser

    parser = ResponseParser(1024)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
    parser.feed(head + b"5\r\nabcde\r\n0\r\n\r\n")
    assert not parser.done
    parser.feed_eof()
    assert parser.done and parser.body == b"5\r\nabcde\r\n0\r\n\r\n"


def test_wsdl_diff_exits_1_on_a_change_as_well_as_on_a_break(tmp_path: Path) -> None:
    """docs/api.md (wsdl diff): exit 1 when a difference would break *or change* a call."""
    from cli_support import clean_env, run
    from test_wsdl_diff import _variant

    folder = _variant(tmp_path, xsd_edit=(
        '<xs:element name="paymentMeanAlias" type="tns:paymentMeanAliasType" minOccurs="0"/>', ""
    ))  # fmt: skip
    done = run("wsdl", "diff", str(folder), env=clean_env(tmp_path))
    assert "[changes] addCard: request field paymentMeanAlias is not in this WSDL" in done.stdout
    assert "[breaks]" not in done.stdout
    assert done.returncode == 1


def test_the_secret_key_is_used_as_utf8_text_in_the_seal() -> None:
    """NOTES.md: the key's UTF-8 bytes, not decoded; computed here by hand."""
    from sogen_soap.seal import compute_seal

    key = "clé-ключ-鍵"
    expected = hmac.new(key.encode("utf-8"), b"00", hashlib.sha256).hexdigest()
    assert compute_seal({"walletResponseCode": "00"}, key) == expected
    assert (
        compute_seal({"walletResponseCode": "00"}, key)
        != hmac.new(key.encode("latin-1", "replace"), b"00", hashlib.sha256).hexdigest()
    )


def test_the_simulator_refuses_a_key_version_it_does_not_know() -> None:
    """docs/simulator.md: it checks merchant (03), key version and seal (34)."""
    with Simulator() as sim:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 2,
                          environment=sim.url) as client:  # fmt: skip
            assert client.get_wallet_data("w").response_code == "34"
            assert client.add_card("w", TEST_PAN, "203012").response_code == "34"
        assert sim.store.count_cards() == 0


def test_the_testing_kit_s_reset_clears_scripted_faults() -> None:
    """testing.py: reset() gives "a fresh, empty service: ... no scripted faults"."""
    from sogen_soap.testing import simulated_wallet

    with simulated_wallet() as wallet:
        wallet.fail_next("getWalletData", "code_99", times=5)
        wallet.reset()
        with wallet.client() as client:
            assert client.get_wallet_data("w").response_code == "25"  # not 99
