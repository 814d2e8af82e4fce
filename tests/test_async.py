"""AsyncWalletClient: the same wallet API for asyncio, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN
from hostile import nothing_left_unclosed

from sogen_soap import (
    AsyncWalletClient,
    ConnectionFailed,
    InvalidFieldError,
    OutcomeUnknown,
    ResponseError,
    SealVerificationError,
    TLSError,
)
from sogen_soap.retry import RetryPolicy
from sogen_soap.simulator import FaultProfile, Simulator, make_test_pki

pytestmark = pytest.mark.asyncio


def _client(url: str, **options: object) -> AsyncWalletClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("timeout", (1.0, 0.5))
    return AsyncWalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        1,
        environment=url,
        **options,  # type: ignore[arg-type]
    )


@pytest_asyncio.fixture
async def aclient(simulator: Simulator) -> AsyncIterator[AsyncWalletClient]:
    async with _client(simulator.url) as client:
        yield client


async def test_a_wallet_lives_its_whole_life(aclient: AsyncWalletClient) -> None:
    first = await aclient.add_card("a1", TEST_PAN, "203012", payment_mean_alias="perso")
    assert first.ok and first.seal_verified and first.masked_pan == "4100##########00"
    assert (await aclient.add_card("a1", OTHER_PAN, "203101")).payment_mean_id == "2"
    assert (await aclient.add_card("a1", TEST_PAN, "203012")).duplicate
    wallet = await aclient.get_wallet_data("a1")
    assert [m.payment_mean_id for m in wallet.payment_means] == ["1", "2"]
    assert (await aclient.get_payment_mean_data("a1", 1)).payment_mean.payment_mean_alias == "perso"  # type: ignore[union-attr]
    assert (await aclient.update_payment_mean("a1", 2, "pro")).ok
    assert (await aclient.delete_payment_mean("a1", 1)).ok
    assert [m.payment_mean_alias for m in (await aclient.get_wallet_data("a1")).payment_means] == [
        "pro"
    ]
    assert (await aclient.sign_off("a1")).ok
    assert (await aclient.get_wallet_data("a1")).response_code == "25"


async def test_a_hundred_concurrent_enrolments_give_one_card_each(
    simulator: Simulator, aclient: AsyncWalletClient
) -> None:
    results = await asyncio.gather(
        *(aclient.add_card(f"g{i}", TEST_PAN, "203012") for i in range(100))
    )
    assert all(r.ok and r.payment_mean_id == "1" for r in results)
    assert simulator.store.count_cards() == 100
    assert all(
        simulator.store.has_card(MERCHANT.merchant_id, f"g{i}", TEST_PAN) for i in range(100)
    )


async def test_cancelling_a_slow_call_leaves_no_unclosed_connection() -> None:
    with Simulator(faults=FaultProfile(sequence=["delay"], delay=2.0)) as sim:
        with nothing_left_unclosed():
            async with _client(sim.url, timeout=(1.0, 5.0)) as client:
                task = asyncio.create_task(client.add_card("slow", TEST_PAN, "203012"))
                await asyncio.sleep(0.3)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert (await client.get_wallet_data("slow")).ok  # the client still works
            assert client._sender._idle == []  # type: ignore[union-attr]
            del client, task


async def test_async_with_closes_the_kept_alive_connections(simulator: Simulator) -> None:
    async with _client(simulator.url) as client:
        await client.get_wallet_data("w")
        assert len(client._sender._idle) == 1  # type: ignore[union-attr]
        writer = client._sender._idle[0][1]  # type: ignore[union-attr]
    assert client._sender._idle == []  # type: ignore[union-attr]
    assert writer.is_closing()


async def test_a_caller_http_client_is_used_and_left_open(simulator: Simulator) -> None:
    async with httpx.AsyncClient(timeout=5) as mine:
        async with _client(simulator.url, http_client=mine) as client:
            assert (await client.add_card("w", TEST_PAN, "203012")).ok
        assert not mine.is_closed


async def test_building_a_client_in_a_running_loop_touches_no_file_or_network(
    simulator: Simulator,
) -> None:
    async with _client(simulator.url):  # the first: parses the WSDL, loads the CA
        pass
    events: list[str] = []
    watching = True

    def audit(event: str, args: tuple[object, ...]) -> None:
        if watching and event in ("open", "socket.connect", "socket.getaddrinfo"):
            events.append(f"{event} {args[:1]}")

    sys.addaudithook(audit)
    try:
        client = _client(simulator.url)
    finally:
        watching = False
    await client.aclose()
    assert events == []


# ------------------------------------------------------------------ failure modes


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("http_503", OutcomeUnknown),
        ("garbage", ResponseError),
        ("wrong_seal", SealVerificationError),
        ("xxe", ResponseError),
        ("drop", OutcomeUnknown),
        ("commit_drop", OutcomeUnknown),
        ("delay", OutcomeUnknown),
    ],
)
async def test_failure_modes_raise_the_same_errors_as_the_sync_client(
    fault: str, error: type[Exception]
) -> None:
    with Simulator(faults=FaultProfile({fault: 1.0}, delay=2.0)) as sim:
        async with _client(sim.url) as client:
            with pytest.raises(error) as caught:
                await client.add_card("w", TEST_PAN, "203012")
    assert not isinstance(caught.value, httpx.HTTPError)
    assert TEST_PAN not in str(caught.value)


async def test_a_soap_fault_is_a_result_but_to_add_card_an_unknown_outcome() -> None:
    with Simulator(faults=FaultProfile({"soap_fault": 1.0})) as sim:
        async with _client(sim.url) as client:
            result = await client.sign_off("w")
            with pytest.raises(OutcomeUnknown) as caught:
                await client.add_card("w", TEST_PAN, "203012")
    assert result.fault is not None and not result.ok
    assert caught.value.reason == "fault"


async def test_a_temporary_problem_is_retried() -> None:
    with Simulator(faults=FaultProfile(sequence=["code_99"])) as sim:
        async with _client(sim.url) as client:
            assert (await client.add_card("w", TEST_PAN, "203012")).ok
            assert client.retries_made == 1


@pytest.mark.parametrize("fault", ["commit_drop", "delay"])
async def test_reconcile_recovers_a_lost_answer(fault: str) -> None:
    with Simulator(faults=FaultProfile(sequence=[fault], delay=2.0)) as sim:
        async with _client(sim.url) as client:
            result = await client.add_card("w", TEST_PAN, "203012", reconcile=True)
        assert result.recovered and result.ok
        assert sim.store.count_cards() == 1


async def test_a_refused_connection_raises_connection_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}/services/v2/wallet") as client:
        with pytest.raises(ConnectionFailed):
            await client.add_card("w", TEST_PAN, "203012")
        assert client.retries_made == 2


async def test_bad_input_is_refused_before_anything_is_sent(
    simulator: Simulator, aclient: AsyncWalletClient
) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        await aclient.add_card("w", TEST_PAN, "203013")
    assert caught.value.field == "cardExpiryDate"
    assert simulator.requests_seen == 0


async def test_tls_is_verified_and_mutual_tls_works(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        async with _client(sim.url) as client:
            with pytest.raises(TLSError):
                await client.get_wallet_data("w")
        pair = (str(pki.client_cert), str(pki.client_key))
        async with _client(sim.url, ca_bundle=pki.ca_cert, client_cert=pair) as client:
            assert (await client.add_card("w", TEST_PAN, "203012")).ok


async def test_the_repr_shows_no_secret(aclient: AsyncWalletClient) -> None:
    assert MERCHANT.secret_key not in repr(aclient)
    assert repr(aclient).startswith("AsyncWalletClient(")


async def test_the_pause_before_a_retry_leaves_the_loop_free() -> None:
    # While a call waits to try again, the event loop runs everything else: a ticker
    # every 10 ms ticks dozens of times between the 99 and the second request (a
    # blocking pause would let it tick once at most, while the first answer is made).
    pause = RetryPolicy(attempts=2, base_delay=1.0, jitter=False)
    with Simulator(faults=FaultProfile(sequence=["code_99", None])) as sim:
        async with _client(sim.url, retry=pause) as client:
            between = 0

            async def tick() -> None:
                nonlocal between
                while True:
                    between += sim.app.requests_seen == 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            try:
                result = await client.get_wallet_data("w")
            finally:
                ticker.cancel()
        assert (result.response_code, client.retries_made, sim.app.requests_seen) == ("25", 1, 2)
    assert between >= 10
