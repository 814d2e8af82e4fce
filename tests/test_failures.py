"""Failure behaviour: what is retried, what is an unknown outcome, how it is reconciled."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import time

import pytest
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN

from sogen_soap import (
    ConnectionFailed,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseError,
    RetryPolicy,
    WalletClient,
)
from sogen_soap.retry import RetryPolicy as Policy
from sogen_soap.simulator import FaultProfile, Simulator


def _client(url: str, **options: object) -> WalletClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("timeout", (1.0, 0.5))
    return WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        1,
        environment=url,
        **options,  # type: ignore[arg-type]
    )


def _scripted(*faults: str | None, delay: float = 2.0) -> Simulator:
    # delay: longer than the clients' whole-call deadline (1 + 0.5 s)
    return Simulator(faults=FaultProfile(sequence=faults, delay=delay))


# ------------------------------------------------------------------ the retry policy


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    policy = Policy(attempts=6, base_delay=0.1, cap=0.5, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_jitter_stays_within_the_exponential_ceiling() -> None:
    policy = Policy(base_delay=0.1, cap=10)
    draws = [policy.delay(3) for _ in range(200)]
    assert all(0 <= d <= 0.4 for d in draws) and len(set(draws)) > 100
    # full jitter (RetryPolicy's docstring): anywhere from 0, not only near the ceiling,
    # so clients that failed together spread out; 200 uniform draws all above 0.1 s
    # would happen once in 10**25 runs
    assert min(draws) < 0.1 and max(draws) > 0.3


def test_no_retry_is_one_attempt_and_other_names_are_not_there() -> None:
    """``retry.NO_RETRY`` is made when first read (retry.py's module ``__getattr__``):
    one attempt; any other missing name is still an AttributeError."""
    from sogen_soap import retry

    made = retry.NO_RETRY
    assert made == Policy(attempts=1)
    with pytest.raises(AttributeError, match="has no attribute 'NO_RETRIES'"):
        retry.NO_RETRIES  # noqa: B018


def test_a_refused_connection_is_retried_then_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}/services/v2/wallet") as client:
        with pytest.raises(ConnectionFailed):
            client.add_card("w", TEST_PAN, "203012")
        assert client.retries_made == 2  # 3 attempts


def test_the_sync_client_waits_the_policy_s_delay_before_each_retry() -> None:
    # Without jitter the waits are exactly 0.25 then 0.5 s (RetryPolicy's docstring): the
    # requests, as the hook sees them leave, are at least that far apart (a lower bound: a
    # slow machine only widens the gaps; a retry sent at once would be milliseconds apart).
    sent: list[float] = []
    pause = RetryPolicy(attempts=3, base_delay=0.25, jitter=False)
    with (
        _scripted("code_99", "code_99", None) as sim,
        _client(
            sim.url,
            retry=pause,
            timeout=(1.0, 5.0),
            on_request=lambda _: sent.append(time.monotonic()),
        ) as client,
    ):
        assert client.get_wallet_data("w").response_code == "25"
        assert (client.retries_made, sim.requests_seen) == (2, 3)
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert len(gaps) == 2 and gaps[0] >= 0.25 and gaps[1] >= 0.5, gaps


@pytest.mark.parametrize("fault", ["http_503", "code_99", "drop"])
def test_a_safe_failure_then_success_succeeds_after_one_retry(fault: str) -> None:
    # drop and a gateway's 503: safe only for a read; checked on getWalletData
    with _scripted(fault) as sim, _client(sim.url) as client:
        if fault in ("drop", "http_503"):
            assert client.get_wallet_data("w").response_code == "25"
        else:
            assert client.add_card("w", TEST_PAN, "203012").ok
            assert sim.store.count_cards() == 1
        assert client.retries_made == 1
        assert sim.requests_seen == 2


def test_each_answer_and_each_retry_is_logged_with_the_card_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steady = RetryPolicy(attempts=3, base_delay=0.001, jitter=False)
    with _scripted("code_99", None, "drop") as sim, _client(sim.url, retry=steady) as client:
        caplog.set_level(logging.DEBUG, logger="sogen_soap")
        assert client.add_card("w", TEST_PAN, "203012").ok
        assert client.get_wallet_data("w").ok
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "sogen_soap"]
    assert lines == [
        ("INFO", "addCard: code 99, retry 1 in 0.00 s"),
        ("DEBUG", f"addCard {sim.url} -> 00 (wallet w, card 4100##########00)"),
        ("INFO", "getWalletData: ConnectionDropped, retry 1 in 0.00 s"),
        ("DEBUG", f"getWalletData {sim.url} -> 00 (wallet w)"),
    ]


def test_a_code_99_is_returned_when_the_wait_before_a_retry_would_pass_the_deadline() -> None:
    slow = RetryPolicy(attempts=3, base_delay=5, jitter=False)  # the call has 1.5 s in all
    with _scripted("code_99") as sim, _client(sim.url, retry=slow) as client:
        assert client.add_card("w", TEST_PAN, "203012").response_code == "99"
        assert client.retries_made == 0 and sim.requests_seen == 1


def test_gateway_errors_are_retried_at_most_the_policy_attempts() -> None:
    with (
        Simulator(faults=FaultProfile({"http_503": 1.0})) as sim,
        _client(sim.url, retry=RetryPolicy(attempts=4, base_delay=0.001)) as client,
    ):
        with pytest.raises(HTTPStatusError):
            client.get_wallet_data("w")
        assert sim.requests_seen == 4


@pytest.mark.parametrize("fault", ["soap_fault", "garbage", "wrong_seal", "code_77"])
def test_what_is_not_known_to_be_safe_is_not_retried(fault: str) -> None:
    with _scripted(fault) as sim, _client(sim.url) as client:
        with contextlib.suppress(ResponseError, OutcomeUnknown):  # all but code_77 raise
            client.add_card("w", TEST_PAN, "203012")
        assert client.retries_made == 0
        assert sim.requests_seen == 1


def test_retries_can_be_switched_off() -> None:
    with _scripted("code_99") as sim, _client(sim.url, retry=RetryPolicy(attempts=1)) as client:
        assert client.add_card("w", TEST_PAN, "203012").response_code == "99"


# ------------------------------------------------------------------ unknown outcomes


@pytest.mark.parametrize(
    ("fault", "reason", "stored"),
    [("drop", "dropped", 0), ("commit_drop", "dropped", 1), ("delay", "timeout", 1)],
)
def test_a_lost_answer_to_a_change_is_an_unknown_outcome_never_retried(
    fault: str, reason: str, stored: int
) -> None:
    with _scripted(fault) as sim, _client(sim.url) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.add_card("w", TEST_PAN, "203012")
        assert caught.value.reason == reason
        assert (caught.value.operation, caught.value.endpoint) == ("addCard", sim.url)
        assert caught.value.attempted["maskedPan"] == "4100##########00"
        assert TEST_PAN not in str(caught.value) + repr(caught.value.attempted)
        assert sim.requests_seen == 1 and client.retries_made == 0
        assert sim.store.count_cards() == stored


@pytest.mark.parametrize("operation", ["update", "delete", "sign_off"])
def test_every_change_reports_a_lost_answer_as_unknown(operation: str) -> None:
    with Simulator() as sim, _client(sim.url) as client:
        client.add_card("w", TEST_PAN, "203012")
        sim.app.faults = FaultProfile(sequence=["commit_drop"])
        call = {
            "update": lambda: client.update_payment_mean("w", 1, "x"),
            "delete": lambda: client.delete_payment_mean("w", 1),
            "sign_off": lambda: client.sign_off("w"),
        }[operation]
        with pytest.raises(OutcomeUnknown):
            call()


@pytest.mark.parametrize("fault", ["commit_drop", "delay"])
def test_reconcile_recovers_a_card_stored_before_the_answer_was_lost(fault: str) -> None:
    with _scripted(fault) as sim, _client(sim.url) as client:
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered
        assert result.payment_mean_id == "1" and result.masked_pan == "4100##########00"
        assert "recovered" in result.message
        assert sim.store.count_cards() == 1


def test_reconcile_sends_again_when_the_card_did_not_arrive() -> None:
    with _scripted("drop") as sim, _client(sim.url) as client:
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered and result.response_code == "00"
        assert result.payment_mean_id == "1"
        assert sim.store.count_cards() == 1
        assert sim.requests_seen == 2  # the lost one, then the re-send; no read-back


def test_reconcile_treats_a_sealed_94_to_the_second_send_as_recovered_with_its_id() -> None:
    # lost answer (card stored), the re-send answers 94, the wallet gives its id
    with _scripted("commit_drop", None) as sim, _client(sim.url) as client:
        result = client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.recovered and result.ok and result.response_code == "94"
        assert result.payment_mean_id == "1" and result.masked_pan == "4100##########00"
        assert sim.store.count_cards() == 1


def test_reconcile_gives_up_with_an_unknown_outcome_when_answers_keep_getting_lost() -> None:
    with _scripted("drop", "drop", "drop") as sim, _client(sim.url) as client:
        with pytest.raises(OutcomeUnknown, match="sending again failed") as caught:
            client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert caught.value.reason == "unresolved"
        assert sim.store.count_cards() == 0
        assert sim.requests_seen == 3


def test_a_known_card_is_not_enrolled_twice_by_reconciliation() -> None:
    with Simulator() as sim, _client(sim.url) as client:
        client.add_card("w", OTHER_PAN, "203012")
        sim.app.faults = FaultProfile(sequence=["commit_drop"])
        assert client.add_card("w", TEST_PAN, "203012", reconcile=True).recovered
        assert client.add_card("w", TEST_PAN, "203012").duplicate
        assert sim.store.count_cards() == 2


# ------------------------------------------------------------------ hostile XML


@pytest.mark.parametrize("fault", ["xxe", "billion_laughs", "doctype"])
def test_answers_with_a_dtd_or_entities_are_refused(fault: str) -> None:
    with (
        _scripted(fault) as sim,
        _client(sim.url) as client,
        pytest.raises(ResponseError, match="XXE or entity expansion") as caught,
    ):
        client.add_card("w", TEST_PAN, "203012")
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd came back


def test_an_unknown_outcome_keeps_its_own_copy_of_what_was_attempted() -> None:
    # The exception is raised far from where its mapping was built, and a batch keeps it:
    # what it says was attempted must not change when the caller's dict does.
    asked = {"merchantWalletId": "w1", "maskedPan": "4100##########00"}
    error = OutcomeUnknown("lost", reason="timeout", attempted=asked, operation="addCard")
    asked["merchantWalletId"] = "w2"
    assert error.attempted == {"merchantWalletId": "w1", "maskedPan": "4100##########00"}
    assert (error.reason, error.operation, error.endpoint) == ("timeout", "addCard", "")
