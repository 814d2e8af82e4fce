"""Small rules of the simulator and the WSDL tools, pinned where they are written
down: the brand a card number gets, scripted faults counted from one, the
documented limits of a WSDL download (docs/api.md: "at most 32 documents of 4 MiB")."""

from __future__ import annotations

import pytest

from sogen_soap.simulator.faults import FaultProfile
from sogen_soap.simulator.store import brand_of
from sogen_soap.wsdl_cache import MAX_DOCUMENT_BYTES, MAX_DOCUMENTS


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4000000000000000", "VISA"),
        ("5100000000000000", "MASTERCARD"),
        ("5500000000000000", "MASTERCARD"),
        ("5600000000000000", "CB"),
        ("2221000000000000", "MASTERCARD"),  # the 2-series, both ends included
        ("2720000000000000", "MASTERCARD"),
        ("2220000000000000", "CB"),
        ("2721000000000000", "CB"),
        ("340000000000000", "AMEX"),
        ("370000000000000", "AMEX"),
        ("36000000000000", "DINERS"),
        ("38000000000000", "DINERS"),
        ("30000000000000", "DINERS"),  # 300 to 305, both ends included
        ("30500000000000", "DINERS"),
        ("30600000000000", "CB"),
        ("3500000000000000", "JCB"),
        ("tok_abc", "UNKNOWN"),
    ],
)
def test_the_brand_a_card_number_gets(number: str, brand: str) -> None:
    assert brand_of(number) == brand


def test_scripted_faults_count_from_one() -> None:
    faults = FaultProfile()
    for times in (0, -1):
        with pytest.raises(ValueError, match="times must be at least 1"):
            faults.fail_next("addCard", "drop", times)
    faults.fail_next("addCard", "drop", 2)
    assert [faults.draw("addCard") for _ in range(3)] == ["drop", "drop", None]


def test_an_operation_s_scripted_faults_come_first_in_order_and_clear_drops_every_script() -> None:
    faults = FaultProfile(sequence=["drop", "garbage", "http_503"])
    faults.fail_next("addCard", "code_99")
    faults.fail_next("addCard", "no_seal")
    # the operation's own script first, in the order given; then the sequence
    assert [faults.draw("addCard") for _ in range(3)] == ["code_99", "no_seal", "drop"]
    faults.fail_next("addCard", "wrong_seal")
    faults.clear()  # both scripts go: what is left of the sequence too
    assert [faults.draw("addCard") for _ in range(2)] == [None, None]
    assert faults.injected == {"code_99": 1, "no_seal": 1, "drop": 1}


def test_the_documented_limits_of_a_wsdl_download() -> None:
    assert (MAX_DOCUMENTS, MAX_DOCUMENT_BYTES) == (32, 4 * 1024 * 1024)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("4100000000000000", "4100##########00"),
        ("1234567890", "1234####90"),  # the shortest shown in part
        ("123456789", "#########"),  # shorter: nothing shown
        ("4111111111111111111", "4111#############11"),
    ],
)
def test_the_simulator_masks_as_the_vendor_does(number: str, masked: str) -> None:
    from sogen_soap.simulator.store import mask_card

    assert mask_card(number) == masked


@pytest.mark.parametrize(
    ("specs", "said"),
    [
        (["drop"], "fault 'drop': expected KIND=RATE"),
        (["drop=often"], "fault 'drop=often': expected KIND=RATE"),
        (["melt=0.5", "boil=0.1"], "unknown fault kind boil, melt; known: ['billion_laughs'"),
        (
            ["drop=0.6", "garbage=0.5"],
            "fault rates must be between 0 and 1 and add up to at most 1",
        ),
        (["drop=-0.1"], "fault rates must be between 0 and 1"),
    ],
)
def test_a_fault_rate_is_written_kind_equals_rate(specs: list[str], said: str) -> None:
    with pytest.raises(ValueError, match="fault") as caught:
        FaultProfile.parse(specs)
    assert str(caught.value).startswith(said)
    parsed = FaultProfile.parse(["drop=0.25", "garbage=0.75"])
    assert parsed.rates == {"drop": 0.25, "garbage": 0.75}  # adding up to 1 exactly is allowed


def test_a_scripted_fault_of_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    from sogen_soap.simulator.faults import FAULT_KINDS

    with pytest.raises(ValueError, match="unknown fault kind") as caught:
        FaultProfile().fail_next("addCard", "melt")
    assert str(caught.value) == f"unknown fault kind 'melt'; known: {sorted(FAULT_KINDS)}"


def test_a_store_key_file_of_another_length_is_refused(tmp_path: object) -> None:
    from pathlib import Path

    from sogen_soap.simulator.store import StoreError, WalletStore

    db = Path(str(tmp_path)) / "wallets.sqlite3"
    Path(f"{db}.key").write_bytes(b"x" * 31)
    with pytest.raises(StoreError) as caught:
        WalletStore(str(db))
    assert str(caught.value) == f"{db}.key is not a sogen-soap simulator key"


def test_a_store_write_that_fails_half_way_leaves_nothing_and_the_store_usable() -> None:
    """A write that fails after its first statement (here a value sqlite cannot bind, at
    the card's INSERT, after the wallet's) is rolled back: no half-made wallet, and the
    next write starts its own transaction instead of failing inside the broken one."""
    import sqlite3

    from sogen_soap.simulator.store import WalletStore

    store = WalletStore()
    card = ("m", "w", "4100000000000000", "203012")
    with pytest.raises(sqlite3.Error):
        store.add_card(*card, object(), None, "2026-12-06T00:00:00")  # type: ignore[arg-type]
    assert store.wallet("m", "w") is None
    mean = store.add_card(*card, "mine", None, "2026-12-06T00:00:00")
    assert mean is not None and mean.payment_mean_id == "1"
    assert store.count_cards() == 1
    store.close()


def test_a_changed_transaction_is_answered_as_it_now_stands() -> None:
    """``change_payment`` hands back the transaction as written (its docstring's promise),
    the stored one unchanged when the change declines, and None for an unknown reference."""
    from sogen_soap.simulator.store import WalletStore

    store = WalletStore()
    assert store.add_payment("m", "ref1", {"current_amount": 1000, "status": "CAPTURED"})
    changed = store.change_payment("m", "ref1", lambda d: {**d, "current_amount": 700})
    assert changed == {"current_amount": 700, "status": "CAPTURED"}
    assert store.payment("m", "ref1") == changed
    assert store.change_payment("m", "ref1", lambda d: None) == changed
    assert store.change_payment("m", "nope", lambda d: {**d, "x": 1}) is None
    assert store.change_payment("other", "ref1", lambda d: {**d, "x": 1}) is None
    assert store.payment("m", "ref1") == changed
    store.close()


def test_a_wallet_lists_its_cards_in_the_order_they_were_enrolled() -> None:
    """Payment mean ids are given in enrolment order and the wallet is listed by them,
    not by card number (a Mastercard enrolled before a Visa comes first)."""
    from conftest import OTHER_PAN, TEST_PAN

    from sogen_soap.testing import simulated_wallet

    with simulated_wallet() as kit, kit.client() as client:
        assert client.add_card("w", OTHER_PAN, "203012").payment_mean_id == "1"
        assert client.add_card("w", TEST_PAN, "203012").payment_mean_id == "2"
        listed = client.get_wallet_data("w").payment_means
        assert [(m.payment_mean_id, m.masked_pan) for m in listed] == [
            ("1", "5100##########00"), ("2", "4100##########00"),
        ]  # fmt: skip
        assert [m.payment_mean_id for m in kit.wallet("w")] == ["1", "2"]


def test_a_recurring_chain_starts_only_from_the_merchant_s_own_payment() -> None:
    """RECURRING_N names the scheme id of the chain's first payment: another merchant's
    id is unknown to this merchant (12, naming the field), its own is taken."""
    from conftest import TEST_PAN

    from sogen_soap import WalletClient
    from sogen_soap.simulator import DEFAULT_MERCHANT, Merchant, Simulator

    other = Merchant("002001000000002", 1, "002001000000002_KEY1")
    with Simulator(merchants=[DEFAULT_MERCHANT, other]) as sim:
        with WalletClient(DEFAULT_MERCHANT.merchant_id, DEFAULT_MERCHANT.secret_key, 1,
                          environment=sim.url) as first, WalletClient(
            other.merchant_id, other.secret_key, 1, environment=sim.url
        ) as second:  # fmt: skip
            firsts = []
            for client in (first, second):
                assert client.add_card("w", TEST_PAN, "203012").ok
                paid = client.wallet_order("w", "1", 1000, payment_pattern="RECURRING_1")
                assert paid.scheme_transaction_identifier
                firsts.append(paid.scheme_transaction_identifier)
            foreign, own = (
                second.wallet_order(
                    "w",
                    "1",
                    1000,
                    payment_pattern="RECURRING_N",
                    initial_scheme_transaction_identifier=initial,
                )
                for initial in firsts
            )
    assert (foreign.response_code, foreign.error_field_name) == (
        "12", "initialSchemeTransactionIdentifier",
    )  # fmt: skip
    assert own.ok
