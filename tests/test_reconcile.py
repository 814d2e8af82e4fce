"""Reconciliation trusts only the service's full-PAN duplicate check, and only sealed.

Each test is one defect found by trying the client on purpose: a masked-PAN
collision that lost a card, unsealed answers that turned a lost call into a
success, a gateway's 504 after forwarding that was retried blindly and came
back as "duplicate", and a refused re-send reported as "safe to retry".
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
from pathlib import Path

import pytest
from cli_support import left_mid_send, merchant_env, run_in_process
from conftest import FAST_RETRY, MERCHANT, TEST_PAN, record_answers
from hostile import HostileServer, forwarding_gateway

from sogen_soap import (
    AsyncWalletClient,
    ConnectionFailed,
    OutcomeUnknown,
    RetryPolicy,
    WalletClient,
)
from sogen_soap.cli.journal import Journal
from sogen_soap.redact import mask_pan
from sogen_soap.simulator import FaultProfile, Simulator
from sogen_soap.testing import SimulatedWallet

NEIGHBOUR = "4100000000001100"  # same first 4, last 2 as TEST_PAN: masks alike
assert mask_pan(NEIGHBOUR) == mask_pan(TEST_PAN) and NEIGHBOUR != TEST_PAN


def _client(url: str, **options: object) -> WalletClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("timeout", 1.5)
    return WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        1,
        environment=url,
        **options,  # type: ignore[arg-type]
    )


def _stored(sim: Simulator, wallet: str, card: str) -> bool:
    return sim.store.has_card(MERCHANT.merchant_id, wallet, card)


# ------------------------------------------------------------ masked-PAN collision


def test_a_masked_pan_collision_with_a_lost_answer_enrols_both_cards() -> None:
    with Simulator() as sim, _client(sim.url) as client:
        held = client.add_card("w", NEIGHBOUR, "203012")
        assert held.ok and held.payment_mean_id == "1"
        sim.app.faults = FaultProfile(sequence=["drop"])  # lost before it was stored
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered and result.response_code == "00"
        assert result.payment_mean_id == "2"  # not the neighbour's id
        assert _stored(sim, "w", TEST_PAN) and _stored(sim, "w", NEIGHBOUR)
        assert sim.store.count_cards() == 2


def test_the_async_client_follows_the_same_rule() -> None:
    async def enrol(url: str) -> tuple[bool, str | None]:
        async with AsyncWalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url, retry=FAST_RETRY
        ) as client:
            await client.add_card("w", NEIGHBOUR, "203012")
            sim.app.faults = FaultProfile(sequence=["drop"])
            result = await client.add_card("w", TEST_PAN, "203012", reconcile=True)
            return result.ok, result.payment_mean_id

    with Simulator() as sim:
        assert asyncio.run(enrol(sim.url)) == (True, "2")
        assert sim.store.count_cards() == 2


def test_a_94_with_two_lookalike_cards_recovers_without_guessing_an_id() -> None:
    with Simulator() as sim, _client(sim.url) as client:
        client.add_card("w", NEIGHBOUR, "203012")
        sim.app.faults = FaultProfile(sequence=["commit_drop"])  # stored, answer lost
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered and result.response_code == "94"
        assert result.raise_for_code() is result  # ok is what raise_for_code asks, not the code
        assert result.payment_mean_id is None  # two cards show 4100##########00 / 203012
        assert sim.store.count_cards() == 2


def test_enrol_resumed_after_a_crash_mid_send_enrols_the_lookalike_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw,{NEIGHBOUR},203012\nw,{TEST_PAN},203012\n")
    journal_path = tmp_path / "cards.journal.sqlite3"
    with Simulator() as sim:
        with _client(sim.url) as client:
            assert client.add_card("w", NEIGHBOUR, "203012").ok
        # the state a SIGKILL leaves: row 1 done, row 2 marked sending, never arrived
        journal = Journal(journal_path, MERCHANT.secret_key)
        done_before = journal.identity("w", NEIGHBOUR, "203012", None, None, None).key
        journal.claim(done_before, 2, "w", mask_pan(NEIGHBOUR))
        journal.finish(done_before, "ok", "00", "1", "Successful operation")
        left_mid_send(journal, 3, "w", TEST_PAN)
        journal.close()
        done = run_in_process(
            "enrol", str(cards), "--quiet", env=merchant_env(tmp_path, sim.url),
            monkeypatch=monkeypatch,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        assert _stored(sim, "w", TEST_PAN) and sim.store.count_cards() == 2
    with (tmp_path / "cards.results.csv").open() as handle:
        rows = {r["line"]: r for r in csv.DictReader(handle)}
    assert rows["3"]["outcome"] == "ok" and rows["3"]["payment_mean_id"] == "2"


# ------------------------------------------------------------ only sealed answers settle


@pytest.mark.parametrize(
    "faults",
    [
        ("drop", "no_seal", "no_seal"),  # lost; the re-send's 00, then 94, come unsealed
        ("commit_drop", "no_seal", "no_seal"),  # stored; the re-sends' 94s come unsealed
        ("commit_drop", "wrong_seal", "wrong_seal"),
        ("drop", "tampered", "wrong_seal"),  # (a 94 has no data field to tamper with)
    ],
)
def test_an_unsealed_answer_never_turns_a_lost_call_into_a_success(faults: tuple[str, ...]) -> None:
    with Simulator(faults=FaultProfile(sequence=faults)) as sim, _client(sim.url) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.add_card("w", TEST_PAN, "203012", reconcile=True)
    assert caught.value.reason == "unresolved"
    assert (caught.value.operation, caught.value.endpoint) == ("addCard", sim.url)
    assert TEST_PAN not in str(caught.value)


@pytest.mark.parametrize("unsealed", ["no_seal", "wrong_seal", "tampered"])
def test_an_unsealed_answer_to_the_re_send_is_lost_too_and_the_next_sealed_94_settles_it(
    unsealed: str,
) -> None:
    with Simulator(faults=FaultProfile(sequence=("drop", unsealed))) as sim:
        with _client(sim.url) as client:
            result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert sim.store.count_cards() == 1 and sim.requests_seen == 4  # 3 sends, 1 read
    assert result.ok and result.recovered and result.seal_verified
    assert (result.response_code, result.payment_mean_id) == ("94", "1")


def test_an_unsealed_94_to_a_plain_call_is_returned_marked_unverified() -> None:
    # not a recovery: a plain duplicate answer, shown for what it is
    with Simulator() as sim, _client(sim.url) as client:
        client.add_card("w", TEST_PAN, "203012")
        sim.app.faults = FaultProfile(sequence=["no_seal"])
        result = client.add_card("w", TEST_PAN, "203012")
    assert result.duplicate and not result.seal_verified and not result.ok


# ------------------------------------------------------------ gateway errors after forwarding


@pytest.mark.parametrize("status", [b"502 Bad Gateway", b"504 Gateway Timeout"])
def test_a_gateway_error_after_forwarding_is_an_unknown_outcome_not_a_duplicate(
    status: bytes,
) -> None:
    with Simulator() as sim:
        upstream = ("127.0.0.1", int(sim.url.split(":")[2].split("/")[0]))
        with HostileServer(forwarding_gateway(upstream, 1, status)) as gateway:
            with _client(gateway.url) as client, pytest.raises(OutcomeUnknown) as caught:
                client.add_card("w", TEST_PAN, "203012")
            assert caught.value.reason == "http_status"
            assert gateway.requests == 1  # never re-sent blindly
            assert _stored(sim, "w", TEST_PAN)


def test_reconcile_after_a_gateway_error_reports_the_card_enrolled_with_its_id() -> None:
    with Simulator() as sim:
        upstream = ("127.0.0.1", int(sim.url.split(":")[2].split("/")[0]))
        with HostileServer(forwarding_gateway(upstream, 1, b"504 Gateway Timeout")) as gateway:
            with _client(gateway.url) as client:
                result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert sim.store.count_cards() == 1
    assert result.ok and result.recovered  # not "already there": it is this call's card
    assert result.response_code == "94" and result.payment_mean_id == "1"


def test_a_read_after_a_gateway_error_is_retried_safely() -> None:
    with Simulator() as sim:
        upstream = ("127.0.0.1", int(sim.url.split(":")[2].split("/")[0]))
        with HostileServer(forwarding_gateway(upstream, 1, b"503 Service Unavailable")) as gw:
            with _client(gw.url) as client:
                assert client.get_wallet_data("w").response_code == "25"
                assert client.retries_made == 1


# ------------------------------------------------------------ a refused re-send


def test_a_refused_re_send_keeps_the_outcome_unknown_not_safe_to_retry() -> None:
    def drop_then_close(conn: object, request: bytes, stop: object) -> None:
        server.listener.close()  # from now on every connect is refused

    server = HostileServer(drop_then_close)  # type: ignore[arg-type]
    with server, _client(server.url) as client, pytest.raises(OutcomeUnknown) as caught:
        client.add_card("w", TEST_PAN, "203012", reconcile=True)
    assert not isinstance(caught.value, ConnectionFailed)
    assert caught.value.reason == "unresolved"
    assert "ConnectionFailed" in str(caught.value)


# ------------------------------------------------------------ the seal of what was settled


def test_a_recovered_result_rests_on_an_answer_sealed_with_the_merchant_key() -> None:
    """The re-send's answer is checked against a digest built here by hand."""
    with Simulator(faults=FaultProfile(sequence=["commit_drop", None])) as sim:
        bodies = record_answers(sim)
        with _client(sim.url) as client:
            result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
    assert result.recovered and result.response_code == "94"
    answer = bodies[1].decode()
    assert "<ns:walletResponseCode>94</ns:walletResponseCode>" in answer
    # the seal over a 94: walletResponseCode is the only field; HMAC-SHA-256, by hand
    expected = hmac.new(MERCHANT.secret_key.encode(), b"94", hashlib.sha256).hexdigest()
    assert f"<ns:seal>{expected}</ns:seal>" in answer


def test_a_recovered_card_whose_id_cannot_be_told_apart_is_settled_in_wallet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sealed 94 proves the card is in, but two cards of the wallet look alike
    (same mask): the row is settled on this run, ``in-wallet``, without an id and
    with the reason, never ``unknown`` on every later run."""
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw,{TEST_PAN},203012\n")
    with Simulator() as sim:
        with _client(sim.url) as client:
            assert client.add_card("w", NEIGHBOUR, "203012").ok
            assert client.add_card("w", TEST_PAN, "203012").ok  # it arrived, then the crash
        journal = Journal(tmp_path / "cards.journal.sqlite3", MERCHANT.secret_key)
        left_mid_send(journal, 2, "w", TEST_PAN)
        journal.close()
        env = merchant_env(tmp_path, sim.url)
        done = run_in_process("enrol", str(cards), "--quiet", env=env, monkeypatch=monkeypatch)
        seen = sim.requests_seen
        again = run_in_process("enrol", str(cards), "--quiet", env=env, monkeypatch=monkeypatch)
        assert sim.store.count_cards() == 2 and sim.requests_seen == seen  # settled
    assert (done.returncode, again.returncode) == (0, 0), done.stderr
    assert done.stdout.startswith(
        "1 rows: 1 in-wallet; sent 1, skipped 0 already done, recovered 1"
    )
    with (tmp_path / "cards.results.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["outcome"], row["code"], row["payment_mean_id"]) == ("in-wallet", "94", "")
    assert row["message"] == (
        "Duplicated wallet / payment mean (recovered after a lost answer; its payment mean id "
        "cannot be told: 2 payment means of the wallet show 4100##########00)"
    )


# ------------------------------------------------------------ what an unresolved re-send says

TAIL = (
    "; whether card 4100##########00 is in wallet w is unknown. Run the same add-card again "
    "(a 94 means it is there) or look: sogen-soap wallet --wallet w"
)


@pytest.mark.parametrize(
    ("faults", "why"),
    [
        (("commit_drop", "code_77"), "sending again answered 'Unknown response code 77'"),
        (("commit_drop", "code_99", "code_99"), "sending again kept being answered 99"),
        # the last answer says why, not an earlier one: a fault, then a 99
        (("commit_drop", "soap_fault", "code_99"), "sending again kept being answered 99"),
        (("commit_drop", "drop", "drop"),
         "sending again failed (OutcomeUnknown: addCard: the connection closed without an answer"),
    ],
)  # fmt: skip
def test_an_unresolved_re_send_says_why_and_what_to_do(faults: tuple[str, ...], why: str) -> None:
    with Simulator(faults=FaultProfile(sequence=faults)) as sim:
        with _client(sim.url, retry=RetryPolicy(attempts=1)) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                client.add_card("w", TEST_PAN, "203012", reconcile=True)
    text = str(caught.value)
    assert text.startswith(f"addCard: the answer was lost and {why}")
    assert text.endswith(TAIL)
    assert caught.value.reason == "unresolved" and caught.value.operation == "addCard"
    assert caught.value.attempted["maskedPan"] == "4100##########00"


def test_a_99_to_the_re_send_is_followed_by_one_more_re_send() -> None:
    """Lost, then "try later": the second re-send settles it (the card went in with it)."""
    with Simulator(faults=FaultProfile(sequence=("drop", "code_99"))) as sim:
        with _client(sim.url, retry=RetryPolicy(attempts=1)) as client:
            result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered and result.seal_verified
        assert sim.requests_seen == 3 and sim.store.count_cards() == 1


OTHER_MASK = "5100000000000000"  # in the wallet too, but nothing like TEST_PAN's mask


@pytest.mark.parametrize(
    ("neighbour", "neighbour_expiry", "neighbour_alias", "alias"),
    [
        (NEIGHBOUR, "203012", "b", "a"),  # another alias: still a card with the same mask
        (NEIGHBOUR, "203112", None, None),  # another expiry: likewise
        (NEIGHBOUR, "203012", None, None),
        (NEIGHBOUR, "203012", "b", None),
        (OTHER_MASK, "203012", None, None),  # the only card with this mask: this card
        (OTHER_MASK, "203012", "a", "a"),
    ],
)
def test_after_a_94_the_id_is_given_only_for_the_one_payment_mean_with_the_card_s_mask(
    neighbour: str, neighbour_expiry: str, neighbour_alias: str | None, alias: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level("INFO", logger="sogen_soap")
    found = neighbour == OTHER_MASK
    with Simulator() as sim:
        with _client(sim.url) as client:
            assert client.add_card("w", neighbour, neighbour_expiry,
                                   payment_mean_alias=neighbour_alias).ok  # fmt: skip
            mine = client.add_card("w", TEST_PAN, "203012", payment_mean_alias=alias)
            result = client.add_card(
                "w", TEST_PAN, "203012", payment_mean_alias=alias, reconcile=True,
                after_lost_answer=True,
            )  # fmt: skip
    assert result.recovered and result.duplicate and result.ok
    assert result.payment_mean_id == (mine.payment_mean_id if found else None)
    told = [r.getMessage() for r in caplog.records if "settled by sending again" in r.getMessage()]
    if found:
        assert told == [
            "addCard w: lost answer settled by sending again (94: card 4100##########00 is in "
            f"the wallet, payment mean {mine.payment_mean_id})"
        ]
        assert result.message == "Duplicated wallet / payment mean (recovered after a lost answer)"
    else:
        why = (
            "its payment mean id cannot be told: 2 payment means of the wallet show "
            "4100##########00"
        )
        assert told == [
            "addCard w: lost answer settled by sending again (94: card 4100##########00 is in "
            f"the wallet); {why}"
        ]
        assert result.message == (
            f"Duplicated wallet / payment mean (recovered after a lost answer; {why})"
        )


def test_a_card_stored_with_another_expiry_is_never_given_a_lookalike_s_id() -> None:
    """The wallet holds card A (203012, id 1) and card B with A's mask (203101, id 2).
    A row for A with B's expiry loses its answer: it is never reported with id 2."""
    with Simulator() as sim:
        with _client(sim.url) as client:
            assert client.add_card("w", TEST_PAN, "203012").payment_mean_id == "1"
            assert client.add_card("w", NEIGHBOUR, "203101").payment_mean_id == "2"
            sim.app.faults = FaultProfile(sequence=["commit_drop"])  # sent, answer lost
            result = client.add_card("w", TEST_PAN, "203101", reconcile=True)
    assert result.response_code == "94" and result.payment_mean_id is None
    assert result.recovered and "2 payment means of the wallet show" in result.message


@pytest.mark.parametrize(("stored_alias", "alias"), [(None, None), ("old", "new")])
def test_the_only_lookalike_stored_otherwise_was_there_before_a_duplicate_with_its_id(
    stored_alias: str | None, alias: str | None
) -> None:
    with Simulator() as sim:
        with _client(sim.url) as client:
            stored_expiry = "203012" if alias else "203101"
            assert client.add_card("w", TEST_PAN, stored_expiry,
                                   payment_mean_alias=stored_alias).ok  # fmt: skip
            result = client.add_card("w", TEST_PAN, "203012", payment_mean_alias=alias,
                                     reconcile=True, after_lost_answer=True)  # fmt: skip
    assert result.duplicate and not result.recovered and not result.ok
    assert result.payment_mean_id == "1" and result.seal_verified
    assert result.message == (
        "Duplicated wallet / payment mean (the card was in the wallet before this request, "
        f"stored with expiry {stored_expiry} as payment mean 1)"
    )


def test_a_94_whose_wallet_cannot_be_read_is_recovered_without_an_id() -> None:
    with Simulator() as sim:
        with _client(sim.url, retry=RetryPolicy(attempts=1)) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok
            # the re-send, then three reads of the wallet, all lost
            sim.app.faults = FaultProfile(sequence=[None, "drop", "drop", "drop"])
            result = client.add_card("w", TEST_PAN, "203012", reconcile=True,
                                     after_lost_answer=True)  # fmt: skip
            assert sim.requests_seen == 1 + 4
    assert result.recovered and result.payment_mean_id is None
    assert result.masked_pan == "4100##########00"
    assert result.message == (
        "Duplicated wallet / payment mean (recovered after a lost answer; the wallet could not "
        "be read to learn its payment mean id)"
    )


def test_the_async_client_recovers_a_94_without_an_id_the_same_way() -> None:
    """The async twin: three lost reads end the steps with the 94 settled, id unknown
    (the generator returns straight from a thrown error)."""

    async def enrol(sim: Simulator) -> object:
        async with AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                                     environment=sim.url, retry=RetryPolicy(attempts=1),
                                     timeout=1.5) as client:  # fmt: skip
            assert (await client.add_card("w", TEST_PAN, "203012")).ok
            sim.app.faults = FaultProfile(sequence=[None, "drop", "drop", "drop"])
            return await client.add_card("w", TEST_PAN, "203012", reconcile=True,
                                         after_lost_answer=True)  # fmt: skip

    with Simulator() as sim:
        result = asyncio.run(enrol(sim))
        assert sim.requests_seen == 1 + 4
    assert result.recovered and result.payment_mean_id is None  # type: ignore[attr-defined]
    assert result.response_code == "94"  # type: ignore[attr-defined]


def test_a_94_whose_wallet_read_is_lost_once_is_read_again_for_the_id() -> None:
    with Simulator() as sim:
        with _client(sim.url, retry=RetryPolicy(attempts=1)) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok
            sim.app.faults = FaultProfile(sequence=[None, "drop", "wrong_seal"])
            result = client.add_card("w", TEST_PAN, "203012", reconcile=True,
                                     after_lost_answer=True)  # fmt: skip
    assert result.recovered and result.payment_mean_id == "1"


def test_a_recovered_enrolment_is_ok_in_its_dict_too(kit: SimulatedWallet) -> None:
    """``as_dict()`` (what ``--json`` prints) says what ``ok`` says: a lost answer
    settled by the service's sealed word is ok, not a failure."""
    with kit.client() as client:
        kit.fail_next("addCard", "commit_drop")  # stored, answer lost
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
    assert result.recovered and result.ok
    view = result.as_dict()
    assert view["ok"] is True and view["recovered"] is True
    assert view["message"].endswith("(recovered after a lost answer)")


def test_a_fault_to_add_card_not_reconciled_says_how_to_settle_it(kit: SimulatedWallet) -> None:
    """Without reconciling, a fault (which may come after the card was stored) is an
    unknown outcome that names the call, its endpoint and the two ways to settle it."""
    kit.fail_next("addCard", "soap_fault")
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.add_card("w", TEST_PAN, "203012", reconcile=False)
    unknown = caught.value
    assert (unknown.reason, unknown.operation, unknown.endpoint) == (
        "fault", "addCard", client.endpoint,
    )  # fmt: skip
    assert str(unknown) == (
        "addCard: the service answered 'SOAP fault soap:Server: Fault injected by the "
        "simulator', which it may send after storing the card: whether card 4100##########00 "
        "is in wallet w is unknown. Send it again with reconcile=True (a 94 means it is "
        "there), or run sogen-soap wallet --wallet w"
    )
    assert [r.operation for r in kit.requests] == ["addCard"]  # sent once, nothing read
