"""Properties batch 13 of realistic bugs found untested: the simulator's store keeps
each wallet's cards and each merchant's transactions to themselves (sign-off, an
alias, a failed change, a reference, a lookup, a recurring chain), and the testing
kit shows transactions as they stand and only moves time ahead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import MERCHANT, OTHER_PAN, TEST_PAN

from sogen_soap import WalletClient
from sogen_soap.simulator import DEFAULT_MERCHANT, Merchant, Simulator
from sogen_soap.testing import simulated_wallet

OTHER = Merchant("011223344550001", 1, "011223344550001_KEY1_other")


@pytest.fixture
def two_merchants() -> Iterator[Simulator]:
    with Simulator(merchants=[DEFAULT_MERCHANT, OTHER]) as sim:
        yield sim


def _client(sim: Simulator, merchant: Merchant = DEFAULT_MERCHANT) -> WalletClient:
    return WalletClient(merchant.merchant_id, merchant.secret_key, merchant.key_version,
                        environment=sim.url)  # fmt: skip


def test_a_wallet_s_changes_stay_in_that_wallet(simulator: Simulator) -> None:
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment=simulator.url) as client:  # fmt: skip
        for wallet in ("w1", "w2", "w3"):
            assert client.add_card(wallet, TEST_PAN, "203012", payment_mean_alias="first").ok
        assert client.update_payment_mean("w1", "1", "renamed").ok
        assert client.sign_off("w3").ok
        (w1,) = client.get_wallet_data("w1").payment_means
        (w2,) = client.get_wallet_data("w2").payment_means
        assert (w1.payment_mean_alias, w2.payment_mean_alias) == ("renamed", "first")
        assert client.get_wallet_data("w3").response_code == "25"
    assert simulator.store.count_cards() == 2


def test_a_change_that_fails_leaves_the_wallet_s_date_alone() -> None:
    with simulated_wallet() as kit, kit.client() as client:
        assert client.add_card("w1", TEST_PAN, "203012").ok
        before = client.get_wallet_data("w1").wallet_last_action_datetime
        kit.advance(hours=2)
        assert client.update_payment_mean("w1", "9", "nobody").response_code == "25"
        assert client.delete_payment_mean("w1", "9").response_code == "25"
        assert client.get_wallet_data("w1").wallet_last_action_datetime == before
        assert client.update_payment_mean("w1", "1", "someone").ok
        after = client.get_wallet_data("w1").wallet_last_action_datetime
    assert before is not None and after is not None and (after - before).total_seconds() >= 7200


def test_each_merchant_s_transactions_are_its_own(two_merchants: Simulator) -> None:
    with _client(two_merchants) as ours, _client(two_merchants, OTHER) as theirs:
        assert ours.add_card("w", TEST_PAN, "203012").ok
        assert theirs.add_card("w", OTHER_PAN, "203012").ok
        mine = ours.wallet_order("w", "1", 1000, transaction_reference="sameref")
        other = theirs.wallet_order("w", "1", 2000, transaction_reference="sameref")
        assert mine.ok and other.ok  # one reference per merchant: not a 94
        only_ours = ours.wallet_order("w", "1", 1000, transaction_reference="oursonly")
        assert theirs.get_transaction_data("oursonly").unknown
        assert theirs.get_transaction_data("sameref").origin_amount == 2000
        chained = theirs.wallet_order(
            "w", "1", 500, payment_pattern="RECURRING_N",
            initial_scheme_transaction_identifier=str(only_ours.scheme_transaction_identifier),
        )  # fmt: skip
    assert (chained.response_code, chained.error_field_name) == (
        "12", "initialSchemeTransactionIdentifier",
    )  # fmt: skip
    assert len(two_merchants.store.payments(MERCHANT.merchant_id)) == 2
    assert len(two_merchants.store.payments(OTHER.merchant_id)) == 1  # the chain: not made


def test_the_kit_shows_every_transaction_as_it_stands_and_time_only_moves_ahead() -> None:
    with simulated_wallet() as kit, kit.client() as client:
        mean = client.add_card("w1", TEST_PAN, "203012").payment_mean_id
        assert mean is not None
        paid = client.wallet_order("w1", mean, 1000)
        assert [t.status for t in kit.transactions()] == ["TO_CAPTURE"]
        kit.advance(days=2)
        assert [t.status for t in kit.transactions()] == ["CAPTURED"]
        assert kit.transactions()[0].transaction_reference == paid.transaction_reference
        for back in ({"days": -1}, {"hours": -1}, {"days": 1, "hours": -30}):
            with pytest.raises(ValueError, match="time only moves ahead"):
                kit.advance(**back)
