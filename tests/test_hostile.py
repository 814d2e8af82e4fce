"""A hostile server cannot hold a call past its deadline or grow its memory.

Every answer shape here came from trying the client as an attacker would:
headers or a body dripped a byte at a time, answers that never end (chunked
or until close), a 42 MB answer, silence, and bytes that are not HTTP.  Each
ends in a package exception within timeout + 2 s with RSS growth under
100 MB, for the sync client, the async client, the command line and
``wsdl fetch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from cli_support import merchant_env, run
from conftest import MERCHANT, TEST_PAN
from hostile import MODES, HostileServer, peak_rss_growth

from sogen_soap import (
    AsyncWalletClient,
    ConnectionDropped,
    OutcomeUnknown,
    ResponseError,
    ResponseTimeout,
    ResponseTooLarge,
    RetryPolicy,
    SogenSoapError,
    WalletClient,
)
from sogen_soap.wsdl_cache import fetch_wsdl

TIMEOUT = 1.5
SLACK = 2.0
MAX_GROWTH = 100 * 1024 * 1024
RETRY = RetryPolicy(attempts=3, base_delay=0.01)

# What a read (retried where safe) ends in; a change always ends in OutcomeUnknown.
READ_ERRORS = {
    "drip_head": ResponseTimeout,
    "drip_body": ResponseTimeout,
    "endless_chunked": ResponseTooLarge,
    "endless_until_close": ResponseTooLarge,
    "huge_length": ResponseTooLarge,
    "silent": ResponseTimeout,
    "silent_body": ResponseTimeout,
    "garbage_status": ConnectionDropped,
}
CHANGE_REASONS = {
    "drip_head": "timeout",
    "drip_body": "timeout",
    "endless_chunked": "too_large",
    "endless_until_close": "too_large",
    "huge_length": "too_large",
    "silent": "timeout",
    "silent_body": "timeout",
    "garbage_status": "dropped",
}


def _options(url: str) -> dict[str, object]:
    return {"environment": url, "timeout": TIMEOUT, "retry": RETRY}


def _check(error: BaseException, mode: str, operation: str) -> None:
    assert isinstance(error, SogenSoapError), repr(error)
    if operation == "add_card":
        # An answer lost, late or cut at the cap: OutcomeUnknown itself, never the
        # UnreadableOutcome of an answer that came whole (caught as a ResponseError).
        assert type(error) is OutcomeUnknown, repr(error)
        assert error.reason == CHANGE_REASONS[mode]
        assert TEST_PAN not in str(error)
    else:
        assert type(error) is READ_ERRORS[mode], repr(error)
        # an answer cut at the cap is caught both as what broke and as an answer unusable
        too_large = READ_ERRORS[mode] is ResponseTooLarge
        assert isinstance(error, ResponseError) is too_large, repr(error)


@pytest.mark.parametrize("operation", ["add_card", "get_wallet_data"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("stack", ["built-in", "requests"])
def test_sync_calls_end_within_the_deadline_with_flat_memory(
    mode: str, operation: str, stack: str
) -> None:
    """The built-in sender ends within the timeout; a caller's ``requests.Session``
    (the legacy sender) within about twice it, as documented (requests has no
    whole-call timeout: each body read waits up to what was left when it went)."""
    import requests

    with HostileServer(MODES[mode]) as server, peak_rss_growth() as growth:
        with contextlib.ExitStack() as stack_:
            given = {}
            if stack == "requests":
                given["session"] = stack_.enter_context(requests.Session())
            client = stack_.enter_context(WalletClient(
                MERCHANT.merchant_id,
                MERCHANT.secret_key,
                1,
                **_options(server.url),  # type: ignore[arg-type]
                **given,
            ))  # fmt: skip
            started = time.monotonic()
            with pytest.raises(SogenSoapError) as caught:
                if operation == "add_card":
                    client.add_card("w", TEST_PAN, "203012")
                else:
                    client.get_wallet_data("w")
            elapsed = time.monotonic() - started
    _check(caught.value, mode, operation)
    limit = TIMEOUT if stack == "built-in" else 2 * TIMEOUT
    assert elapsed < limit + SLACK, f"{mode}: {elapsed:.1f} s"
    assert growth[0] < MAX_GROWTH, f"{mode}: grew {growth[0] / 1e6:.0f} MB"


@pytest.mark.parametrize("operation", ["add_card", "get_wallet_data"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("stack", ["built-in", "httpx"])
def test_async_calls_end_within_the_deadline_with_flat_memory(
    mode: str, operation: str, stack: str
) -> None:
    """The built-in async sender, and a caller's own ``httpx.AsyncClient``: the whole
    exchange under the deadline either way."""
    import httpx

    async def call(url: str) -> None:
        async with contextlib.AsyncExitStack() as stack_:
            given = {}
            if stack == "httpx":
                given["http_client"] = await stack_.enter_async_context(httpx.AsyncClient())
            client = await stack_.enter_async_context(AsyncWalletClient(
                MERCHANT.merchant_id,
                MERCHANT.secret_key,
                1,
                **_options(url),  # type: ignore[arg-type]
                **given,
            ))  # fmt: skip
            if operation == "add_card":
                await client.add_card("w", TEST_PAN, "203012")
            else:
                await client.get_wallet_data("w")

    with HostileServer(MODES[mode]) as server, peak_rss_growth() as growth:
        started = time.monotonic()
        with pytest.raises(SogenSoapError) as caught:
            asyncio.run(call(server.url))
        elapsed = time.monotonic() - started
    _check(caught.value, mode, operation)
    assert elapsed < TIMEOUT + SLACK, f"{mode}: {elapsed:.1f} s"
    assert growth[0] < MAX_GROWTH, f"{mode}: grew {growth[0] / 1e6:.0f} MB"


def test_a_lost_add_card_reconciled_against_a_dripping_server_is_bounded_per_call() -> None:
    # reconcile sends again (twice at most): three calls, each within its deadline
    with HostileServer(MODES["drip_body"]) as server:
        with WalletClient(
            MERCHANT.merchant_id,
            MERCHANT.secret_key,
            1,
            **_options(server.url),  # type: ignore[arg-type]
        ) as client:
            started = time.monotonic()
            with pytest.raises(OutcomeUnknown) as caught:
                client.add_card("w", TEST_PAN, "203012", reconcile=True)
            elapsed = time.monotonic() - started
        assert server.requests == 3
    assert caught.value.reason == "unresolved"
    assert elapsed < 3 * TIMEOUT + SLACK


@pytest.mark.parametrize("mode", ["drip_body", "endless_chunked", "silent"])
def test_the_command_line_ends_within_its_timeout(mode: str, tmp_path: Path) -> None:
    with HostileServer(MODES[mode]) as server:
        env = merchant_env(tmp_path, server.url)
        for args in (
            ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012"],
            ["wallet", "--wallet", "w"],
        ):
            started = time.monotonic()
            done = run(*args, "--timeout", str(TIMEOUT), env=env, stdin=TEST_PAN + "\n")
            elapsed = time.monotonic() - started
            assert done.returncode == 5, done.stderr
            assert "Traceback" not in done.stderr
            assert elapsed < TIMEOUT + SLACK + 3, f"{args[0]}: {elapsed:.1f} s"  # + start-up


def test_enrol_against_a_dripping_server_ends_and_leaves_rows_unknown(tmp_path: Path) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{TEST_PAN},203012\n")
    with HostileServer(MODES["drip_body"]) as server:
        started = time.monotonic()
        done = run(
            "enrol", str(cards), "--timeout", str(TIMEOUT), "--quiet",
            env=merchant_env(tmp_path, server.url),
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert done.returncode == 5, done.stderr
    assert "2 unknown" in done.stdout
    # each row: the lost call and two re-sends, each bounded; rows side by side
    assert elapsed < 3 * TIMEOUT + SLACK + 3


@pytest.mark.parametrize("mode", sorted(MODES))
def test_wsdl_fetch_ends_within_its_timeout_with_flat_memory(mode: str, tmp_path: Path) -> None:
    with HostileServer(MODES[mode]) as server, peak_rss_growth() as growth:
        started = time.monotonic()
        with pytest.raises(SogenSoapError):
            fetch_wsdl(server.url, tmp_path / "out", timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + SLACK
    assert growth[0] < MAX_GROWTH
    assert not (tmp_path / "out").exists()  # nothing written for a failed fetch
