"""The testing kit, used the way a merchant would: a test file in a fresh
folder, no conftest, run by pytest in its own process."""

from __future__ import annotations

import textwrap

import pytest

from sogen_soap.testing import simulated_wallet

MERCHANT_TESTS = """
import asyncio

import pytest

from sogen_soap import OutcomeUnknown, RetryPolicy

PAN = "4100000000000000"


def test_enrol_then_inspect(wallet_client, wallet_simulator):
    result = wallet_client.add_card("cust-1", PAN, "203012", payment_mean_alias="visa")
    assert result.ok
    stored = wallet_simulator.wallet("cust-1")
    assert [(m.masked_pan, m.expiry, m.alias, m.payment_mean_id) for m in stored] == [
        ("4100##########00", "203012", "visa", "1")
    ]
    assert [(r.operation, r.merchant_wallet_id, r.response_code)
            for r in wallet_simulator.requests] == [("addCard", "cust-1", "00")]
    seen = repr(wallet_simulator.requests) + repr(stored) + repr(wallet_simulator)
    assert PAN not in seen and "4100##########00" in seen


def test_isolation_a(wallet_client, wallet_simulator):
    assert wallet_client.add_card("iso", PAN, "203012").ok


def test_isolation_b(wallet_client, wallet_simulator):
    assert wallet_simulator.wallet("iso") == ()
    assert wallet_simulator.requests == []
    assert wallet_client.add_card("iso", PAN, "203012").ok  # not a 94: a fresh store


def test_a_lost_answer_is_reconciled(wallet_client, wallet_simulator):
    wallet_simulator.fail_next("addCard", "commit_drop")
    result = wallet_client.add_card("w", PAN, "203012", reconcile=True)
    assert result.ok and result.recovered and result.payment_mean_id == "1"
    assert len(wallet_simulator.wallet("w")) == 1
    assert [r.response_code for r in wallet_simulator.requests] == ["00", "94", "00"]


def test_a_lost_answer_without_reconcile_raises(wallet_client, wallet_simulator):
    wallet_simulator.fail_next("addCard", "drop")
    with pytest.raises(OutcomeUnknown):
        wallet_client.add_card("w", PAN, "203012")
    assert wallet_simulator.wallet("w") == ()
    assert [(r.operation, r.fault) for r in wallet_simulator.requests] == [("addCard", "drop")]


def test_fail_next_times(wallet_simulator):
    wallet_simulator.fail_next("getWalletData", "code_99", times=2)
    with wallet_simulator.client(retry=RetryPolicy(attempts=1)) as client:
        codes = [client.get_wallet_data("w").response_code for _ in range(3)]
    assert codes == ["99", "99", "25"]


def test_faults_target_one_operation_only(wallet_client, wallet_simulator):
    wallet_simulator.fail_next("signOff", "code_99")
    assert wallet_client.add_card("w", PAN, "203012").ok


def test_the_async_client(wallet_simulator):
    async def enrol():
        async with wallet_simulator.async_client() as client:
            return await client.add_card("a", PAN, "203012")

    assert asyncio.run(enrol()).ok
    assert len(wallet_simulator.wallet("a")) == 1


def test_an_unknown_fault_kind_is_refused(wallet_simulator):
    with pytest.raises(ValueError, match="unknown fault kind"):
        wallet_simulator.fail_next("addCard", "gremlins")
"""


def test_the_plugin_works_in_a_merchant_project_without_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checkout=MERCHANT_TESTS)
    assert not list(pytester.path.glob("conftest.py"))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9)


def test_unittest_users_get_the_same_from_plain_python() -> None:
    with simulated_wallet() as sim:
        with sim.client() as client:
            assert client.add_card("u", "4100000000000000", "203012").ok
        assert sim.wallet("u")[0].masked_pan == "4100##########00"
        assert sim.requests[0].fields["cardNumber"] == "4100##########00"
        assert "seal" not in sim.requests[0].fields


def test_the_documented_example_test_file_passes(pytester: pytest.Pytester) -> None:
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parent.parent / "docs" / "testing.md"
    match = re.search(r"```python\n# test_checkout\.py\n(.*?)```", page.read_text("utf-8"), re.S)
    assert match, "docs/testing.md lost its testing example"
    pytester.makepyfile(test_checkout=textwrap.dedent(match.group(1)))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 3 and "failed" not in outcomes


def test_a_stored_payment_mean_also_answers_to_the_names_results_use() -> None:
    from sogen_soap.testing import simulated_wallet

    with simulated_wallet() as wallet, wallet.client() as client:
        client.add_card("w", "4100000000000000", "203012", payment_mean_alias="home")
        [stored] = wallet.wallet("w")
        [listed] = client.get_wallet_data("w").payment_means
    assert (
        (stored.pan_expiry_date, stored.payment_mean_alias, stored.payment_mean_brand)
        == (listed.pan_expiry_date, listed.payment_mean_alias, listed.payment_mean_brand)
        == ("203012", "home", "VISA")
    )


def test_requests_is_what_came_so_far_and_stays_so() -> None:
    """``requests`` is a list of what was received when it was read: a test can keep
    it to compare with a later reading (and changing it changes nothing else)."""
    with simulated_wallet() as wallet, wallet.client() as client:
        client.add_card("snap", "4100000000000000", "203012")
        before = wallet.requests
        client.get_wallet_data("snap")
        assert [r.operation for r in before] == ["addCard"]
        before.clear()
        assert [r.operation for r in wallet.requests] == ["addCard", "getWalletData"]


def test_a_card_enrolled_without_an_alias_has_none() -> None:
    """No ``payment_mean_alias`` given: the stored card has no alias, ``None`` as
    ``StoredPaymentMean.alias`` is typed (``str | None``), not an empty text."""
    with simulated_wallet() as wallet, wallet.client() as client:
        client.add_card("w", "4100000000000000", "203012")
        [stored] = wallet.wallet("w")
        [listed] = client.get_wallet_data("w").payment_means
    assert stored.alias is None and stored.payment_mean_alias is None
    assert listed.payment_mean_alias is None


def test_a_fault_for_an_operation_no_service_has_is_refused_not_kept_silently() -> None:
    """A misspelt operation would script a fault no call ever meets, and the test
    using it would pass for the wrong reason: it is refused, naming the operations."""
    with simulated_wallet() as wallet:
        with pytest.raises(ValueError, match="unknown operation 'addcard'") as refused:
            wallet.fail_next("addcard", "drop")
        assert str(refused.value).startswith("unknown operation 'addcard'; one of addCard, ")
        assert "walletOrder" in str(refused.value)
        with wallet.client() as client:
            assert client.add_card("w", "4100000000000000", "203012").ok  # nothing was kept


def test_the_kit_s_clients_wait_milliseconds_between_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The kit's promise (``SimulatedWallet.client``: "retries wait milliseconds, not the
    production backoff"): every planned wait, as the client logs it, is at most 0.01 s.
    Under the production policy (up to 0.2 s, then 0.4 s) six waits that short would come
    about twice in a billion runs."""
    import asyncio
    import logging
    import re

    with simulated_wallet() as kit, caplog.at_level(logging.INFO, logger="sogen_soap"):
        with kit.client() as client:
            for _ in range(2):
                kit.fail_next("getWalletData", "code_99", times=2)
                assert client.get_wallet_data("w").response_code == "25"

        async def one() -> None:
            async with kit.async_client() as client:
                kit.fail_next("getWalletData", "code_99", times=2)
                assert (await client.get_wallet_data("w")).response_code == "25"

        asyncio.run(one())
    waits = [float(w) for w in re.findall(r"retry \d in ([0-9.]+) s", caplog.text)]
    assert len(waits) == 6
    assert max(waits) <= 0.01


def test_advance_by_hours_alone_moves_the_clock_by_those_hours() -> None:
    """``advance(hours=3)`` moves the simulated time three hours, not a day and three:
    the days left out count as none (testing.py's ``advance``)."""
    from datetime import datetime, timedelta, timezone

    with simulated_wallet() as wallet, wallet.client() as client:
        mean = client.add_card("w", "4100000000000000", "203012").payment_mean_id
        assert mean is not None
        wallet.advance(hours=3)
        paid = client.wallet_order("w", mean, 1000)
    assert paid.ok and paid.transaction_datetime is not None
    ahead = paid.transaction_datetime - datetime.now(timezone.utc)
    assert timedelta(hours=3) - timedelta(minutes=1) < ahead <= timedelta(hours=3)
