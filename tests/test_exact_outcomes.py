"""Exact outcomes: every call and every batch row reports what really happened.

Each test is one way the outcome used to come out wrong: an answer whose
reading raised something foreign (reported "not sent" and retried), a
caller's stack whose error text decided "never connected", a client moved
to another event loop, two rows of one card racing, a journal keyed by line
number, a summary counting a row twice.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path

import pytest
import requests
from cli_support import merchant_env, read_results, run_in_process
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN
from hostile import HostileServer

from sogen_soap import (
    AsyncWalletClient,
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    OutcomeUnknown,
    ResponseError,
    RetryPolicy,
    WalletClient,
)
from sogen_soap.simulator import FaultProfile, Simulator
from sogen_soap.simulator.cards import test_card_number

ONCE = RetryPolicy(attempts=1)


def _client(url: str, **options: object) -> WalletClient:
    options.setdefault("retry", ONCE)
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=url, timeout=2.0, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _async_client(url: str, **options: object) -> AsyncWalletClient:
    options.setdefault("retry", ONCE)
    return AsyncWalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=url, timeout=2.0, **options,  # type: ignore[arg-type]
    )  # fmt: skip


# ------------------------------------------------------------ foreign exceptions


def _answering(head: bytes, body: bytes) -> HostileServer:
    """Every request answered with ``head`` (no length: added here unless given) and
    ``body``, then the connection closed (so each call opens its own)."""
    if b"content-length" not in head.lower():
        head += b"\r\nContent-Length: %d" % len(body)

    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)

    return HostileServer(answer)


DEEP = b'{"walletResponseCode":"00","x":' + b"[" * 600 + b"]" * 600 + b"}"
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json"
HOSTILE_ANSWERS = {
    # str.isdigit() says yes to a superscript two; int() does not
    "content-length-superscript": (
        "soap", b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: \xc2\xb2", b"<a/>"
    ),
    "lone-surrogate": (
        "json", JSON_HEAD, b'{"walletResponseCode":"00","seal":"ab","paymentMeanId":"\\ud800"}'
    ),
    "json-600-deep": ("json", JSON_HEAD, DEEP),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE_ANSWERS))
def test_an_answer_that_raises_while_read_is_an_unknown_outcome_never_not_sent(case: str) -> None:
    transport, head, body = HOSTILE_ANSWERS[case]
    with _answering(head, body) as server:
        with _client(server.url, transport=transport) as client:
            with pytest.raises(OutcomeUnknown) as lost:
                client.add_card("w", TEST_PAN, "203012")
            with pytest.raises(OutcomeUnknown) as unresolved:
                client.add_card("w", TEST_PAN, "203012", reconcile=True)

        async def asynchronous() -> None:
            async with _async_client(server.url, transport=transport) as client:
                await client.add_card("w", TEST_PAN, "203012")

        with pytest.raises(OutcomeUnknown) as async_lost:
            asyncio.run(asynchronous())
        # once, three times (the call and two re-sends), once: never retried blindly
        assert server.requests == 5
    assert lost.value.reason == async_lost.value.reason
    assert lost.value.reason in ("dropped", "unreadable")
    assert unresolved.value.reason == "unresolved"
    assert TEST_PAN not in str(lost.value) + str(unresolved.value)


class _BrokenAfterSending:
    """The client's own sender, with a bug of ours after the answer came: a foreign
    exception from the sending layer, raised once the request reached the service."""

    def __init__(self, sender: object) -> None:
        self._sender = sender

    def request(self, *args: object) -> object:
        self._sender.request(*args)  # type: ignore[attr-defined]
        raise RuntimeError("a bug of ours after the request left")

    def close(self) -> None:
        self._sender.close()  # type: ignore[attr-defined]


def test_a_sender_s_foreign_failure_is_a_lost_answer_never_not_sent() -> None:
    with Simulator(record=True) as sim, _client(sim.url, retry=FAST_RETRY) as client:
        client._sender = _BrokenAfterSending(client._sender)  # type: ignore[assignment]
        with pytest.raises(OutcomeUnknown) as lost:
            client.add_card("w", TEST_PAN, "203012")
        with pytest.raises(ConnectionDropped) as read:  # a read: retried, as reads are
            client.get_wallet_data("w")
        operations = [r.operation for r in sim.app.received]
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert stored  # it did reach the service: "not sent" would have been a lie
    assert operations == ["addCard"] + ["getWalletData"] * 3  # the change never re-sent
    assert lost.value.reason == "dropped"
    assert type(read.value) is ConnectionDropped
    assert "(RuntimeError) after the request may have left" in str(read.value)


class _AsyncBrokenAfterSending:
    """The async client's own sender with the same bug of ours after the answer came."""

    def __init__(self, sender: object) -> None:
        self._sender = sender

    async def request(self, *args: object) -> object:
        await self._sender.request(*args)  # type: ignore[attr-defined]
        raise RuntimeError("a bug of ours after the request left")

    async def aclose(self) -> None:
        await self._sender.aclose()  # type: ignore[attr-defined]


def test_the_async_sender_s_foreign_failure_is_a_lost_answer_too() -> None:
    async def calls(url: str) -> tuple[BaseException, BaseException]:
        async with _async_client(url, retry=FAST_RETRY) as client:
            client._sender = _AsyncBrokenAfterSending(client._sender)  # type: ignore[assignment]
            with pytest.raises(OutcomeUnknown) as lost:
                await client.add_card("w", TEST_PAN, "203012")
            with pytest.raises(ConnectionDropped) as read:
                await client.get_wallet_data("w")
        return lost.value, read.value

    with Simulator(record=True) as sim:
        lost, read = asyncio.run(calls(sim.url))
        operations = [r.operation for r in sim.app.received]
        assert sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert operations == ["addCard"] + ["getWalletData"] * 3  # the change never re-sent
    assert lost.reason == "dropped"  # type: ignore[attr-defined]
    assert type(read) is ConnectionDropped
    assert "(RuntimeError) after the request may have left" in str(read)


def test_a_read_whose_answer_raises_while_read_is_the_package_s_error() -> None:
    transport, head, body = HOSTILE_ANSWERS["lone-surrogate"]
    with _answering(head, body) as server, _client(server.url, transport=transport) as client:
        with pytest.raises(ResponseError) as caught:
            client.get_wallet_data("w")
    assert type(caught.value) is ResponseError  # the package's own, not UnicodeEncodeError
    assert str(caught.value) == "getWalletData: the answer could not be read (UnicodeEncodeError)"
    assert not isinstance(caught.value, OutcomeUnknown)  # a read changes nothing


def test_a_bug_of_ours_while_typing_a_sealed_answer_is_the_package_s_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The answer came, sealed, and typing it raised something foreign (a bug of
    ours): a read raises the package's ``ResponseError``, a change the unknown
    outcome it is (the card may be stored), never a bare ``TypeError``."""
    import sogen_soap.adapter as adapter

    def broken(answer: object) -> object:
        raise TypeError("a bug of ours while typing the answer")

    monkeypatch.setattr(adapter, "wallet_data_result", broken)
    monkeypatch.setattr(adapter, "add_card_result", broken)
    with Simulator(record=True) as sim, _client(sim.url, retry=FAST_RETRY) as client:
        with pytest.raises(ResponseError) as read:
            client.get_wallet_data("w")
        with pytest.raises(OutcomeUnknown) as change:
            client.add_card("w", TEST_PAN, "203012")
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert type(read.value) is ResponseError
    assert str(read.value) == "getWalletData: the answer could not be read (TypeError)"
    assert "could not be read (TypeError)" in str(change.value)
    assert stored  # it did reach the service: the outcome is unknown, not "refused"


def test_the_command_line_says_unknown_not_nothing_sent_and_the_batch_writes_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, head, body = HOSTILE_ANSWERS["content-length-superscript"]
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw,{TEST_PAN},203012\n")
    with _answering(head, body) as server:
        env = merchant_env(tmp_path, server.url)
        one = run_in_process(
            "add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
            env=env, monkeypatch=monkeypatch, stdin=TEST_PAN,
        )  # fmt: skip
        batch = run_in_process("enrol", "in.csv", "--quiet", env=env, monkeypatch=monkeypatch,
                               cwd=tmp_path)  # fmt: skip
    assert one.returncode == 5 and "is unknown" in one.stderr
    assert batch.returncode == 5, batch.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "unknown"


def test_a_caller_s_session_is_never_told_unsent_by_what_the_server_wrote() -> None:
    """The server's status line quotes urllib3's "could not connect" class names: the
    request did reach it, so the outcome is unknown and nothing is sent again."""

    def spoof(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 NewConnectionError NameResolutionError\r\n\r\n")

    with HostileServer(spoof) as server, requests.Session() as session:
        with _client(server.url, session=session, retry=FAST_RETRY) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                client.add_card("w", TEST_PAN, "203012")
            with pytest.raises(ConnectionDropped):
                client.get_wallet_data("w")
        assert server.requests == 1 + 3  # the change once; the read retried as reads are
    assert caught.value.reason == "dropped"


def test_a_refused_connection_through_a_caller_s_session_is_still_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/v2/wallet"
    with requests.Session() as session, _client(url, session=session) as client:
        with pytest.raises(ConnectionFailed) as caught:
            client.add_card("w", TEST_PAN, "203012")
    assert str(caught.value).endswith("Connection refused")


# ------------------------------------------------------------ event loops


def test_an_async_client_moves_to_a_new_loop_once_its_first_is_closed() -> None:
    with Simulator() as sim:
        client = _async_client(sim.url)
        assert asyncio.run(client.add_card("w", TEST_PAN, "203012")).ok
        assert asyncio.run(client.get_wallet_data("w")).ok  # the first loop is closed
        asyncio.run(client.aclose())
        assert sim.requests_seen == 2


def test_an_async_client_refuses_a_second_loop_while_its_first_is_open() -> None:
    with Simulator() as sim:
        client = _async_client(sim.url)
        first = asyncio.new_event_loop()
        try:
            assert first.run_until_complete(client.get_wallet_data("w")).response_code == "25"
            with pytest.raises(ConfigurationError) as caught:
                asyncio.run(client.add_card("w", TEST_PAN, "203012"))
            assert sim.requests_seen == 1  # nothing was sent
            assert not sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
            first.run_until_complete(client.aclose())
        finally:
            first.close()
    assert str(caught.value) == (
        "this AsyncWalletClient belongs to another event loop, still open; nothing was "
        "sent. Make one client per event loop"
    )


def test_a_caller_http_client_stays_with_its_first_loop_even_once_it_is_closed() -> None:
    """Our own connections move to a new loop once the first is closed; a caller's
    ``http_client`` cannot (its pool belongs to the loop it was used in): refused,
    nothing sent."""
    import httpx

    with Simulator() as sim:
        http = httpx.AsyncClient(timeout=5, trust_env=False)
        client = _async_client(sim.url, http_client=http)
        assert asyncio.run(client.get_wallet_data("w")).response_code == "25"
        with pytest.raises(ConfigurationError) as caught:
            asyncio.run(client.add_card("w", TEST_PAN, "203012"))
        assert sim.requests_seen == 1  # nothing was sent
        assert not sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert str(caught.value) == (
        "this AsyncWalletClient belongs to another event loop; nothing was sent. "
        "Make one client per event loop"
    )


# ------------------------------------------------------------ the batch


def _enrol(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    return run_in_process("enrol", *args, "--quiet", env=merchant_env(tmp_path, url),
                          monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip


def test_rows_of_one_card_go_in_file_order_so_the_first_row_enrols(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixty cards, each on two neighbouring rows with two expiries, 32 at a time:
    the first row of each is ``ok`` with the first expiry, the second ``duplicate``."""
    lines = ["wallet,card,expiry"]
    for i in range(60):
        lines += [f"w{i},{test_card_number(i, 0)},203012", f"w{i},{test_card_number(i, 0)},203101"]
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    with Simulator(latency=0.002) as sim:
        done = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--concurrency", "32")
        expiries = {sim.store.wallet(MERCHANT.merchant_id, f"w{i}").payment_means[0].expiry  # type: ignore[union-attr]
                    for i in range(60)}  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_results(tmp_path / "in.results.csv")
    assert [r["outcome"] for r in rows] == ["ok", "duplicate"] * 60
    assert [r["code"] for r in rows] == ["00", "94"] * 60
    assert expiries == {"203012"}


def test_rows_done_stay_done_whatever_is_deleted_inserted_or_reordered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = [test_card_number(i, 0) for i in range(6)]
    rows = [f"w{i},{card},203012" for i, card in enumerate(cards)]
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + "\n".join(rows[:4]) + "\n")
    with Simulator() as sim:
        first = _enrol(sim.url, tmp_path, monkeypatch, "in.csv")
        ids = {r["wallet"]: r["payment_mean_id"] for r in read_results(tmp_path / "in.results.csv")}
        seen = sim.requests_seen
        # rows 0 and 1 deleted (done), two new rows at the top, the rest reversed
        (tmp_path / "in.csv").write_text(
            "wallet,card,expiry\n" + "\n".join([rows[5], rows[4], rows[3], rows[2]]) + "\n"
        )
        again = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--json")
        assert sim.requests_seen == seen + 2  # only the two new rows were sent
        assert sim.store.count_cards() == 6
    assert (first.returncode, again.returncode) == (0, 0), again.stderr
    summary = json.loads(again.stdout)
    assert (summary["sent"], summary["skipped"], summary["counts"]) == (2, 2, {"ok": 4})
    results = read_results(tmp_path / "in.results.csv")
    assert [(r["line"], r["wallet"], r["outcome"]) for r in results] == [
        ("2", "w5", "ok"), ("3", "w4", "ok"), ("4", "w3", "ok"), ("5", "w2", "ok"),
        ("", "w0", "ok"), ("", "w1", "ok"),  # done earlier, no longer in the file
    ]  # fmt: skip
    for r in results:
        if r["wallet"] in ids:
            assert r["payment_mean_id"] == ids[r["wallet"]], r
    assert all(r["payment_mean_id"] for r in results)


def test_the_summary_counts_each_row_once_and_recovered_only_what_recovery_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    sequence = ["commit_drop", None, None, "commit_drop", "commit_drop", "commit_drop"]
    with Simulator(faults=FaultProfile(sequence=sequence)) as sim:
        # w1: lost, then settled by the re-send (and a read); w2: lost three times
        first = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--json", "--concurrency", "1")
    assert first.returncode == 5, first.stderr
    summary = json.loads(first.stdout)
    results = read_results(tmp_path / "in.results.csv")
    assert [r["outcome"] for r in results] == ["ok", "unknown"]
    assert summary["counts"] == {"ok": 1, "unknown": 1}
    assert summary["recovered"] == 1  # the unknown row is not "recovered"
    assert results[0]["message"] == (
        "Duplicated wallet / payment mean (recovered after a lost answer)"
    )


def test_a_card_s_later_row_waits_for_a_later_run_when_its_first_is_not_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first row's answer is lost three times (unknown): the card's next row,
    another expiry, must not go in its place; the next run settles the first."""
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw,{TEST_PAN},203012\nw,{TEST_PAN},203101\nv,{OTHER_PAN},203012\n"
    )
    with Simulator() as sim:
        sim.app.faults.fail_next("addCard", "drop", times=3)  # nothing stored, nothing answered
        first = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--concurrency", "1")
        rows = read_results(tmp_path / "in.results.csv")
        assert [r["outcome"] for r in rows] == ["unknown", "failed", "ok"]
        assert rows[1]["message"] == (
            "not sent: line 2 is the same card and is not settled yet; sent after it on the "
            "next run"
        )
        assert not sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
        again = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--concurrency", "8")
        stored = sim.store.find_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert (first.returncode, again.returncode) == (5, 0), again.stderr
    assert [r["outcome"] for r in read_results(tmp_path / "in.results.csv")] == [
        "ok",
        "duplicate",
        "ok",
    ]
    assert stored is not None and stored.expiry == "203012"  # the first row enrolled it


def test_a_card_s_row_read_after_its_first_ended_unsettled_waits_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's later row comes far down the file: with one sender, rows are read only
    4 ahead, so it is read after the first row has ended unknown.  It waits as well."""
    others = "".join(f"v{i},{OTHER_PAN},203012\n" for i in range(8))
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw,{TEST_PAN},203012\n{others}w,{TEST_PAN},203101\n"
    )
    with Simulator() as sim:
        sim.app.faults.fail_next("addCard", "drop", times=3)  # nothing stored, nothing answered
        first = _enrol(sim.url, tmp_path, monkeypatch, "in.csv", "--concurrency", "1")
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert first.returncode == 5, first.stderr
    rows = read_results(tmp_path / "in.results.csv")
    assert [r["outcome"] for r in rows] == ["unknown"] + ["ok"] * 8 + ["failed"]
    assert rows[-1]["message"] == (
        "not sent: line 2 is the same card and is not settled yet; sent after it on the next run"
    )
    assert not stored  # the later row did not enrol the card in the first row's place


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_an_answer_of_more_nodes_than_any_wallet_holds_is_refused_unparsed(transport: str) -> None:
    """Memory stays bounded by the answer's size: 140,000 tiny elements (or 70,000
    JSON objects) are refused before parsing (benchmarks/memory.py has the figures)."""
    if transport == "soap":
        body = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x>'
                + b"<a/>" * 140_000 + b"</x></s:Body></s:Envelope>")  # fmt: skip
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml"
        shown = "more than 131072 tags and attributes; refused unparsed"
    else:
        body = b'{"walletResponseCode":"00","x":[' + b"{}," * 70_000 + b"{}]}"
        head = JSON_HEAD
        shown = "more than 65536 values; refused unparsed"
    with _answering(head, body) as server, _client(server.url, transport=transport) as client:
        with pytest.raises(ResponseError, match=shown):
            client.get_wallet_data("w")
        with pytest.raises(OutcomeUnknown, match=shown) as caught:
            client.add_card("w", TEST_PAN, "203012")
    assert caught.value.reason == "unreadable"
