"""Paying with the wallet, against the simulator over real sockets: the whole life of
a payment over both transports, and no double charge whatever answer is lost.

Every figure is checked against the simulator's own store (``kit.transactions()``),
never against what the client says it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest
from conftest import OTHER_PAN, TEST_PAN

from sogen_soap import (
    InvalidFieldError,
    OutcomeUnknown,
    WalletOrderResult,
    new_transaction_reference,
)
from sogen_soap.errors import ConfigurationError
from sogen_soap.observe import Exchange
from sogen_soap.simulator.faults import FAULT_KINDS
from sogen_soap.testing import SimulatedWallet


def _enrolled(kit: SimulatedWallet, wallet: str = "w1", card: str = TEST_PAN) -> str:
    with kit.client() as client:
        mean = client.add_card(wallet, card, "203012").payment_mean_id
    assert mean is not None
    return mean


def _stored(kit: SimulatedWallet, reference: str) -> list[object]:
    return [t for t in kit.transactions() if t.transaction_reference == reference]


def test_the_kit_lists_transactions_in_the_order_they_were_made(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        for reference in ("charge3", "charge1", "charge2"):  # neither sorted nor reversed
            assert client.wallet_order("w1", mean, 1000, transaction_reference=reference).ok
    assert [t.transaction_reference for t in kit.transactions()] == [
        "charge3", "charge1", "charge2",
    ]  # fmt: skip


def test_the_kit_names_each_transaction_s_last_operation(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        assert client.wallet_order("w1", mean, 1000, transaction_reference="paid").ok
        assert client.wallet_credit_holder("w1", mean, 300, transaction_reference="given").ok
        assert kit.transaction("paid").last_operation_name == "AUTHOR"
        assert kit.transaction("given").last_operation_name == "CREDIT"
        assert client.cancel("paid", 200).ok
        assert kit.transaction("paid").last_operation_name == "CANCEL"
        assert kit.transaction("paid").kind == "order"
        assert client.wallet_order("w1", mean, 500, transaction_reference="due",
                                   capture_day=1).ok  # fmt: skip
        kit.advance(days=2)  # its capture day is over: captured by the service itself
        read = client.get_transaction_data("due")
        assert (read.status, read.last_operation_name) == ("CAPTURED", "CAPTURE")
        assert kit.transaction("due").last_operation_name == "CAPTURE"


@pytest.mark.parametrize("wire", ["soap", "json"])
def test_a_whole_life_of_payments(kit: SimulatedWallet, wire: str) -> None:
    mean = _enrolled(kit)
    with kit.client(transport=wire) as client:
        # a charge, captured once its capture day is over
        paid = client.wallet_order("w1", mean, 2500, "978", capture_day=1)
        assert paid.ok and paid.response_code == "00" and not paid.recovered
        assert paid.masked_pan == "4100##########00" and paid.authorisation_id
        reference = paid.transaction_reference
        assert reference is not None
        (stored,) = kit.transactions()
        assert (stored.status, stored.origin_amount, stored.current_amount) == (
            "TO_CAPTURE",
            2500,
            2500,
        )
        early = client.refund(reference, 500)
        assert early.response_code == "12"  # not captured yet: nothing to refund
        kit.advance(days=1)
        assert kit.transaction(reference).status == "TO_CAPTURE"  # its capture day
        kit.advance(days=1)
        assert client.get_transaction_data(reference).status == "CAPTURED"
        # a partial refund, then one beyond what remains, refused naming the field
        part = client.refund(reference, 1000)
        assert part.ok and (part.new_amount, part.new_status) == (1500, "CAPTURED")
        beyond = client.refund(reference, 1501)
        assert (beyond.response_code, beyond.error_field_name) == ("12", "operationAmount")
        assert beyond.message == "Invalid transaction, verify the request (field operationAmount)"
        assert kit.transaction(reference).current_amount == 1500
        rest = client.refund(reference, 1500)
        assert rest.ok and rest.new_status == "REFUNDED"
        assert client.cancel(reference, 1).response_code == "12"  # captured: no cancel

        # a cancellation before capture, in part then in whole
        other = client.wallet_order("w1", mean, 4000)
        assert other.ok and other.transaction_reference != reference
        assert client.cancel(str(other.transaction_reference), 1000).new_amount == 3000
        whole = client.cancel(str(other.transaction_reference), 3000)
        assert whole.ok and whole.new_status == "CANCELLED"
        kit.advance(days=3)
        assert kit.transaction(str(other.transaction_reference)).status == "CANCELLED"

        # a recurring chain: the first payment's scheme id carried by the next ones
        first = client.wallet_order("w1", mean, 990, payment_pattern="RECURRING_1")
        chain = first.scheme_transaction_identifier
        assert first.ok and chain
        later = client.wallet_order(
            "w1",
            mean,
            990,
            payment_pattern="RECURRING_N",
            initial_scheme_transaction_identifier=chain,
        )
        assert later.ok and later.scheme_transaction_identifier not in (None, chain)
        stranger = client.wallet_order(
            "w1",
            mean,
            990,
            payment_pattern="RECURRING_N",
            initial_scheme_transaction_identifier="NOTACHAINID00000",
        )
        assert (stranger.response_code, stranger.error_field_name) == (
            "12",
            "initialSchemeTransactionIdentifier",
        )
        stored_later = kit.transaction(str(later.transaction_reference))
        assert stored_later.initial_scheme_transaction_identifier == chain

        # validation mode: nothing captured until validated
        held = client.wallet_order("w1", mean, 5000, capture_mode="VALIDATION")
        assert kit.transaction(str(held.transaction_reference)).status == "TO_VALIDATE"
        valid = client.validate(str(held.transaction_reference), 4500)
        assert valid.ok and (valid.new_amount, valid.new_status) == (4500, "TO_CAPTURE")

        # immediate capture: captured at once, refundable the same day
        now = client.wallet_order("w1", mean, 1200, capture_mode="IMMEDIATE")
        assert kit.transaction(str(now.transaction_reference)).status == "CAPTURED"
        assert client.refund(str(now.transaction_reference), 200).new_status == "CAPTURED"

        # a credit to the card holder
        credit = client.wallet_credit_holder("w1", mean, 700)
        assert credit.ok
        assert kit.transaction(str(credit.transaction_reference)).kind == "credit"

        # a reference the service does not know
        unknown = client.get_transaction_data("nosuchreference")
        assert unknown.unknown and not unknown.ok
        # 25 is the transaction's "unknown" here, never the wallet's (results.py's
        # unknown_wallet reads 01 and 25 on wallet answers only)
        assert unknown.response_code == "25" and unknown.unknown_wallet is False


@pytest.mark.parametrize(
    ("amount", "code", "acquirer", "status"),
    [
        (1000, "00", "00", "TO_CAPTURE"),
        (1005, "05", "05", "REFUSED"),
        (1002, "02", "02", "PENDING_REFERRAL"),
        (1059, "63", "59", "REFUSED"),
        (1060, "60", "60", "PENDING"),
        (5, "05", "05", "REFUSED"),  # the last two digits of 5 cents are 05
        (2, "02", "02", "PENDING_REFERRAL"),
    ],
)
def test_authorisation_by_amount_is_a_result(
    kit: SimulatedWallet, amount: int, code: str, acquirer: str, status: str
) -> None:
    """Declined, referral, fraud and pending are answers, not exceptions."""
    mean = _enrolled(kit)
    with kit.client() as client:
        result = client.wallet_order("w1", mean, amount)
    assert (result.response_code, result.acquirer_response_code) == (code, acquirer)
    assert result.ok is (code == "00")
    assert result.pending is (code == "60")
    assert result.declined is (code in ("02", "05", "63"))
    (stored,) = kit.transactions()
    assert stored.status == status and stored.response_code == code
    # only an accepted charge has a scheme transaction id, the start of a recurring chain
    assert (result.scheme_transaction_identifier is not None) is (code == "00")
    assert (stored.scheme_transaction_identifier is not None) is (code == "00")


def test_a_reference_used_before_is_never_a_new_payment(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    with kit.client() as client:
        assert client.wallet_order("w1", mean, 1000, transaction_reference=reference).ok
        again = client.wallet_order("w1", mean, 1000, transaction_reference=reference)
    assert again.duplicate and not again.ok and not again.recovered
    assert again.authorisation_id is None
    (stored,) = kit.transactions()
    assert stored.current_amount == 1000


@pytest.mark.parametrize("kind", sorted(FAULT_KINDS))
def test_no_double_charge_and_none_lost_whatever_the_fault(kit: SimulatedWallet, kind: str) -> None:
    """Every fault kind on the charge: at most one transaction for the reference; a
    success means exactly one accepted transaction; never another's, never a 94."""
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    kit.fail_next("walletOrder", kind)
    with kit.client() as client:
        result = client.wallet_order("w1", mean, 1200, transaction_reference=reference)
    stored = _stored(kit, reference)
    assert len(stored) <= 1
    assert not result.duplicate
    if result.ok:
        (one,) = stored
        assert one.response_code == "00" and one.origin_amount == 1200  # type: ignore[attr-defined]
        assert result.seal_verified
    else:  # only an answer the client cannot take as lost: an unknown code, as sent
        assert kind == "code_77" and result.response_code == "77" and not stored
    operations = [r.operation for r in kit.requests]
    assert operations.count("walletOrder") <= 2


@pytest.mark.parametrize(
    ("kind", "operations", "recovered"),
    [
        ("commit_drop", ["walletOrder", "getTransactionData"], True),
        ("drop", ["walletOrder", "getTransactionData", "walletOrder"], False),
        ("code_99", ["walletOrder", "getTransactionData", "walletOrder"], False),
    ],
)
def test_a_lost_charge_is_looked_up_before_anything_is_sent_again(
    kit: SimulatedWallet, kind: str, operations: list[str], recovered: bool
) -> None:
    mean = _enrolled(kit)
    kit.fail_next("walletOrder", kind)
    with kit.client() as client:
        before = len(kit.requests)
        result = client.wallet_order("w1", mean, 1300)
    assert [r.operation for r in kit.requests[before:]] == operations
    assert result.ok and result.recovered is recovered
    assert result.authorisation_id and result.scheme_transaction_identifier
    assert len(kit.transactions()) == 1


def test_a_lost_answer_for_another_payments_reference_is_its_94(kit: SimulatedWallet) -> None:
    """The reference was another payment's (another amount): the lost request was
    refused as a duplicate, and is reported so, not as that payment."""
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    with kit.client() as client:
        client.wallet_order("w1", mean, 1000, transaction_reference=reference)
        kit.fail_next("walletOrder", "commit_drop")
        result = client.wallet_order("w1", mean, 2000, transaction_reference=reference)
    assert result.duplicate and not result.ok and not result.recovered
    assert result.authorisation_id is None
    assert result.reconciliation is not None and "another payment" in result.reconciliation
    (stored,) = kit.transactions()
    assert stored.origin_amount == 1000


def test_without_reconciling_a_lost_charge_raises_with_its_reference(
    kit: SimulatedWallet,
) -> None:
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    kit.fail_next("walletOrder", "commit_drop")
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.wallet_order("w1", mean, 1000, transaction_reference=reference, reconcile=False)
    assert caught.value.attempted["transactionReference"] == reference
    assert caught.value.attempted["amount"] == "1000"
    # and settled later, after a restart, by saying the answer was lost
    with kit.client() as client:
        settled = client.wallet_order(
            "w1", mean, 1000, transaction_reference=reference, after_lost_answer=True
        )
    assert settled.ok and settled.recovered
    assert len(kit.transactions()) == 1


def test_after_a_lost_answer_a_second_loss_is_settled_even_with_reconcile_off(
    kit: SimulatedWallet,
) -> None:
    """``after_lost_answer`` is the caller saying an answer was lost: the rule that
    settles it holds for the whole call, ``reconcile=False`` or not.  The first charge
    never arrived (``drop``); the restart looks it up (unknown), sends it, loses that
    answer too (``commit_drop``: made), and settles it by looking again: one payment,
    reported recovered, never ``OutcomeUnknown``."""
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    kit.fail_next("walletOrder", "drop")
    with kit.client() as client, pytest.raises(OutcomeUnknown):
        client.wallet_order("w1", mean, 1000, transaction_reference=reference, reconcile=False)
    assert not kit.transactions()
    kit.fail_next("walletOrder", "commit_drop")
    with kit.client() as client:
        settled = client.wallet_order(
            "w1", mean, 1000, transaction_reference=reference, reconcile=False,
            after_lost_answer=True,
        )  # fmt: skip
    assert settled.ok and settled.recovered
    assert len(kit.transactions()) == 1
    sent = [r.operation for r in kit.requests if r.operation == "walletOrder"]
    assert len(sent) == 2


@pytest.mark.parametrize("kind", ["commit_drop", "drop", "delay", "wrong_seal", "soap_fault"])
def test_a_refund_is_never_made_twice(kit: SimulatedWallet, kind: str) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 3000).transaction_reference)
        kit.advance(days=1)
        kit.fail_next("refund", kind)
        result = client.refund(reference, 1000)
    assert result.ok and result.new_amount == 2000
    assert kit.transaction(reference).current_amount == 2000
    refunds = [r.operation for r in kit.requests].count("refund")
    assert refunds == (2 if kind in ("drop", "soap_fault") else 1)


def test_a_cancel_whose_answer_is_lost_is_settled_by_reading(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 3000).transaction_reference)
        kit.fail_next("cancel", "commit_drop")
        result = client.cancel(reference, 3000)
    assert result.ok and result.recovered and result.new_status == "CANCELLED"
    assert kit.transaction(reference).current_amount == 0


def test_a_refund_with_the_transaction_changed_meanwhile_is_left_unknown(
    kit: SimulatedWallet,
) -> None:
    """Another refund lands between the read and the lost answer: nothing can be
    concluded, and nothing is sent again."""
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 3000).transaction_reference)
        kit.advance(days=1)
        steps = client.cash_steps(client.plan_refund(reference, 1000))
        read = client._run(next(steps))  # the read before
        client.refund(reference, 500)  # someone else's refund
        kit.fail_next("refund", "commit_drop")
        plan = steps.send(read)
        with pytest.raises(OutcomeUnknown) as lost:
            client._run(plan)
        after = steps.throw(lost.value)
        with pytest.raises(OutcomeUnknown, match="changed otherwise"):
            steps.send(client._run(after))
    assert kit.transaction(reference).current_amount == 1500
    assert [r.operation for r in kit.requests].count("refund") == 2


def test_an_async_life_of_payments(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)

    async def life() -> None:
        async with kit.async_client(transport="json") as client:
            kit.fail_next("walletOrder", "commit_drop")
            paid = await client.wallet_order("w1", mean, 1800)
            assert paid.ok and paid.recovered
            kit.advance(days=1)
            kit.fail_next("refund", "commit_drop")  # settled by reading, by default
            refunded = await client.refund(str(paid.transaction_reference), 800)
            assert refunded.ok and refunded.recovered and refunded.new_amount == 1000
            data = await client.get_transaction_data(str(paid.transaction_reference))
            assert (data.status, data.current_amount) == ("CAPTURED", 1000)

    asyncio.run(life())
    assert len(kit.transactions()) == 1


@pytest.mark.parametrize(
    ("call", "field", "rule"),
    [
        (lambda c: c.wallet_order("w1", "1", 10.5), "amount", "not float"),
        (lambda c: c.wallet_order("w1", "1", "1050"), "amount", "not str"),
        (lambda c: c.wallet_order("w1", "1", 0), "amount", "1 or more"),
        (lambda c: c.wallet_order("w1", "1", 100, "EUR"), "currencyCode", "978"),
        (
            lambda c: c.wallet_order("w1", "1", 100, transaction_reference="ref-1"),
            "transactionReference",
            "letters or digits",
        ),
        (
            lambda c: c.wallet_order("w1", "1", 100, payment_pattern="RECURRING_N"),
            "initialSchemeTransactionIdentifier",
            "RECURRING_N",
        ),
        (lambda c: c.wallet_order("w1", "1", 100, capture_mode="LATER"), "captureMode", "one of"),
        (
            lambda c: c.wallet_order("w1", "1", 100, order_id="o4111111111111111"),
            "orderId",
            "card number",
        ),
        (  # each free-text field a merchant fills from its own data (validation.py)
            lambda c: c.wallet_order("w1", "1", 100, customer_id="4111111111111111"),
            "customerId",
            "card number",
        ),
        (
            lambda c: c.wallet_order("w1", "1", 100, transaction_reference="4111111111111111"),
            "transactionReference",
            "card number",
        ),
        (lambda c: c.refund("ref1", -5), "operationAmount", "1 or more"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    kit: SimulatedWallet, call: object, field: str, rule: str
) -> None:
    with kit.client() as client, pytest.raises(InvalidFieldError) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.field == field and rule in caught.value.rule
    assert TEST_PAN not in str(caught.value)
    assert kit.requests == []


def test_each_service_gets_its_own_interface_version(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client(interface_versions={"walletOrder": "IR_WS_2.40"}) as client:
        paid = client.wallet_order("w1", mean, 100)
        client.get_transaction_data(str(paid.transaction_reference))
        client.cancel(str(paid.transaction_reference), 100)
    sent = {r.operation: r.fields["interfaceVersion"] for r in kit.requests}
    assert sent == {
        "addCard": "WR_WS_2.55",
        "walletOrder": "IR_WS_2.40",
        "getTransactionData": "DR_WS_2.27",
        "cancel": "CR_WS_2.27",
    }
    with pytest.raises(ConfigurationError, match="IR_WS_"):
        kit.client(interface_versions={"walletOrder": "WR_WS_2.55"})


def test_the_charge_is_sealed_by_the_published_rule(kit: SimulatedWallet) -> None:
    """The JSON request's seal, derived by hand: every field but keyVersion and
    sealAlgorithm, sorted by name, values concatenated, HMAC-SHA-256 in hex."""
    with kit.client(transport="json") as client:
        plan = client.plan_wallet_order("w1", "2", 1050, transaction_reference="abc123")
        body, _headers, _key = client._request(plan)
    sent = json.loads(body)
    assert sent["keyVersion"] == 1
    data = "".join(str(sent[name]) for name in sorted(sent) if name not in ("keyVersion", "seal"))
    assert data == "1050978INTERFACE".replace("INTERFACE", "IR_WS_2.32") + (
        f"{kit.merchant_id}w1INTERNET2abc123"
    )
    expected = hmac.new(kit.secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    assert sent["seal"] == expected


def test_the_answers_of_a_payment_are_verified(kit: SimulatedWallet) -> None:
    """A tampered or wrongly sealed answer to a lookup is never believed."""
    mean = _enrolled(kit, card=OTHER_PAN)
    with kit.client() as client:
        paid = client.wallet_order("w1", mean, 100)
        kit.fail_next("getTransactionData", "wrong_seal", times=3)
        with pytest.raises(Exception, match="seal"):
            client.get_transaction_data(str(paid.transaction_reference))


def test_results_are_typed_and_reprs_allow_listed(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        paid = client.wallet_order("w1", mean, 1234)
    assert isinstance(paid, WalletOrderResult)
    assert isinstance(paid.amount, int) and paid.amount == 1234
    assert paid.as_dict()["operation"] == "walletOrder"
    assert "seal" not in repr(paid).replace("seal_verified", "").replace("seal_order", "")
    assert TEST_PAN not in repr(paid) and TEST_PAN not in json.dumps(paid.as_dict())
    # the results' one repr, a payment's included: what the answer holds, no empty fields
    assert repr(paid).startswith("WalletOrderResult(") and "=None" not in repr(paid)


def test_a_94_to_a_charge_sent_again_is_the_first_one_arriving_late(
    kit: SimulatedWallet,
) -> None:
    """Lost, looked up (unknown), sent again: meanwhile the first request arrived, so
    the second answers 94.  That 94 is this payment, found by looking it up again."""
    mean = _enrolled(kit)
    with kit.client() as client:
        plan = client.plan_wallet_order("w1", mean, 1400)
        steps = client.payment_steps(plan)
        assert next(steps) is plan
        lookup = steps.throw(OutcomeUnknown("lost on the way", reason="timeout", attempted={}))
        assert lookup.operation == "getTransactionData"
        again = steps.send(client._run(lookup))  # 25: unknown, so it is sent again
        assert again.operation == "walletOrder"
        client._run(plan)  # the first request, arriving late
        second_lookup = steps.send(client._run(again))  # the re-send's 94
        assert second_lookup.operation == "getTransactionData"
        with pytest.raises(StopIteration) as done:
            steps.send(client._run(second_lookup))
    result = done.value.value
    assert result.ok and result.recovered and not result.duplicate
    assert len(kit.transactions()) == 1


def test_a_new_reference_is_always_a_valid_one() -> None:
    """Made by the package, refused by its own rules would be absurd: 2,000 of them,
    each 34 letters and digits and never taken for a card number; and each in the
    form its docstring promises (``sg`` and 32 of base32's a-z and 2-7, lower case:
    what a back office stores is compared as it was given)."""
    import re

    from sogen_soap.validation import check_field, holds_card_number

    references = {new_transaction_reference() for _ in range(2000)}
    assert len(references) == 2000
    for reference in references:
        assert len(reference) == 34 and reference.isalnum()
        assert re.fullmatch("sg[a-z2-7]{32}", reference), reference
        assert check_field("transactionReference", reference) == reference
        assert not holds_card_number(reference, strict=True)


@pytest.mark.parametrize("kind", ["wrong_seal", "no_seal"])
def test_an_unsealed_refusal_of_a_charge_is_never_its_outcome(
    kit: SimulatedWallet, kind: str
) -> None:
    """An answer whose seal is wrong or missing may say anything: a refusal like that is
    looked up (sealed) before it is believed.  (The chaos test met a refusal whose
    code a meddler had changed, 12X, reported as it came.)"""
    mean = _enrolled(kit)
    kit.fail_next("walletOrder", kind)
    with kit.client() as client:
        refused = client.wallet_order("w1", "9", 1000)  # no such card: 12, naming the field
        kit.fail_next("walletOrder", kind)
        paid = client.wallet_order("w1", mean, 1000)
    assert (refused.response_code, refused.error_field_name) == ("12", "paymentMeanId")
    assert refused.seal_verified
    assert paid.ok and paid.seal_verified
    operations = [r.operation for r in kit.requests if r.operation != "addCard"]
    assert operations[:3] == ["walletOrder", "getTransactionData", "walletOrder"]


# ---- batch 7's survivors: what each property needs to be held


def test_a_lost_validation_of_another_amount_is_left_unknown(kit: SimulatedWallet) -> None:
    """Someone else validated the payment (another amount) before ours was lost: the
    transaction no longer waits, but not at our amount, so nothing is concluded."""
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(
            client.wallet_order("w1", mean, 5000, capture_mode="VALIDATION").transaction_reference
        )
        steps = client.cash_steps(client.plan_validate(reference, 4500))
        plan = steps.send(client._run(next(steps)))  # the read before: TO_VALIDATE
        assert client.validate(reference, 4000).ok  # someone else's
        kit.fail_next("validate", "commit_drop")
        with pytest.raises(OutcomeUnknown) as lost:
            client._run(plan)
        after = steps.throw(lost.value)
        with pytest.raises(OutcomeUnknown, match="changed otherwise"):
            steps.send(client._run(after))
    assert kit.transaction(reference).current_amount == 4000


def test_a_charge_sent_again_that_cannot_connect_is_an_unknown_outcome(
    kit: SimulatedWallet,
) -> None:
    """After a lost answer, 'could not connect' to the re-send does not mean the
    payment was never made: the first request may have arrived."""
    from sogen_soap import ConnectionFailed

    mean = _enrolled(kit)
    with kit.client() as client:
        steps = client.payment_steps(client.plan_wallet_order("w1", mean, 1400))
        next(steps)
        lookup = steps.throw(OutcomeUnknown("lost", reason="timeout", attempted={}))
        again = steps.send(client._run(lookup))  # 25: sent again
        assert again.operation == "walletOrder"
        refused = ConnectionFailed("refused", operation="walletOrder", endpoint=kit.url)
        with pytest.raises(OutcomeUnknown, match="could not be reached again"):
            steps.throw(refused)


def test_a_lost_answer_for_a_reference_in_another_currency_is_its_94(
    kit: SimulatedWallet,
) -> None:
    mean = _enrolled(kit)
    reference = new_transaction_reference()
    with kit.client() as client:
        client.wallet_order("w1", mean, 1000, "978", transaction_reference=reference)
        kit.fail_next("walletOrder", "commit_drop")
        result = client.wallet_order("w1", mean, 1000, "840", transaction_reference=reference)
    assert result.duplicate and not result.recovered
    assert result.reconciliation is not None and "currency 978" in result.reconciliation


def test_an_unsealed_unknown_from_the_lookup_sends_nothing_again(kit: SimulatedWallet) -> None:
    """Only a sealed 25 lets a charge be sent again: an unsealed one is read again."""
    mean = _enrolled(kit)
    kit.fail_next("walletOrder", "drop")
    kit.fail_next("getTransactionData", "no_seal")
    with kit.client() as client:
        before = len(kit.requests)
        result = client.wallet_order("w1", mean, 1000)
    assert result.ok
    assert [r.operation for r in kit.requests[before:]] == [
        "walletOrder", "getTransactionData", "getTransactionData", "walletOrder"
    ]  # fmt: skip


def test_the_largest_amount_is_twelve_digits() -> None:
    from sogen_soap.validation import check_amount

    assert check_amount(999_999_999_999) == 999_999_999_999
    with pytest.raises(InvalidFieldError, match=r"at most 12 digits \(got 13\)"):
        check_amount(1_000_000_000_000)


def test_a_lookup_answered_99_is_asked_again(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.fail_next("getTransactionData", "code_99")
        data = client.get_transaction_data(reference)
    assert data.ok and data.current_amount == 1000
    assert [r.operation for r in kit.requests].count("getTransactionData") == 2


def test_pending_is_the_service_code_or_the_acquirers() -> None:
    from sogen_soap import WalletOrderResult

    assert WalletOrderResult(response_code="60").pending
    assert WalletOrderResult(response_code="00", acquirer_response_code="60").pending
    assert not WalletOrderResult(response_code="05", acquirer_response_code="05").pending


def test_a_transaction_to_confirm_or_pending_is_pending_and_a_charge_at_60_reads_so(
    kit: SimulatedWallet,
) -> None:
    """TO_CONFIRM_* and PENDING* states are results the caller reads, not errors."""
    from sogen_soap import TransactionData

    for status in ("TO_CONFIRM_AUTHOR", "TO_CONFIRM_CAPTURE", "PENDING", "PENDING_REFERRAL"):
        assert TransactionData(response_code="00", status=status).pending, status
    for status in ("TO_CAPTURE", "CAPTURED", "REFUSED", "CANCELLED", None):
        assert not TransactionData(response_code="00", status=status).pending, status
    assert TransactionData(response_code="00", authorisation_response_code="60").pending
    mean = _enrolled(kit)
    with kit.client() as client:
        charged = client.wallet_order("w1", mean, 1060)
        data = client.get_transaction_data(str(charged.transaction_reference))
    assert charged.pending and data.ok and data.pending


def test_the_kit_moves_time_by_hours_and_reset_puts_it_back(kit: SimulatedWallet) -> None:
    from datetime import datetime, timedelta, timezone

    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.advance(hours=30)  # past midnight whatever the hour: the capture day is over
        assert kit.transaction(reference).status == "CAPTURED"
        kit.reset()
        mean = _enrolled(kit)
        paid = client.wallet_order("w1", mean, 1000)
    assert paid.transaction_datetime is not None
    drift = abs(paid.transaction_datetime - datetime.now(timezone.utc))
    assert drift < timedelta(minutes=5)  # the simulated clock is back to the real one
    with pytest.raises(ValueError, match="ahead"):
        kit.advance(days=-1)


def test_an_async_credit_and_validation(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)

    async def calls() -> tuple[str, str]:
        async with kit.async_client() as client:
            credit = await client.wallet_credit_holder("w1", mean, 700)
            held = await client.wallet_order("w1", mean, 5000, capture_mode="VALIDATION")
            kit.fail_next("validate", "commit_drop")  # lost answers settled by default
            valid = await client.validate(str(held.transaction_reference), 4500)
            assert valid.ok and valid.recovered and valid.new_amount == 4500
            kit.fail_next("cancel", "commit_drop")
            cancel = await client.cancel(str(held.transaction_reference), 500)
            assert cancel.ok and cancel.recovered and cancel.new_amount == 4000
            return str(credit.transaction_reference), str(held.transaction_reference)

    credited, held = asyncio.run(calls())
    assert kit.transaction(credited).kind == "credit"
    assert (kit.transaction(held).status, kit.transaction(held).current_amount) == (
        "TO_CAPTURE",
        4000,
    )


def test_a_cash_operation_answered_99_is_settled_not_returned(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 3000).transaction_reference)
        kit.advance(days=1)
        kit.fail_next("refund", "code_99")
        result = client.refund(reference, 1000)
    assert result.ok and result.new_amount == 2000
    assert kit.transaction(reference).current_amount == 2000


def test_the_simulated_days_settle_credits_and_let_validations_expire(
    kit: SimulatedWallet,
) -> None:
    """What a kit user's time travel shows: a credit is CREDITED the day after, and a
    charge held for validation EXPIRED once its capture day is over; a charge to a
    wallet the service does not know is refused naming that field."""
    mean = _enrolled(kit)
    with kit.client() as client:
        credit = client.wallet_credit_holder("w1", mean, 700)
        held = client.wallet_order("w1", mean, 900, capture_mode="VALIDATION", capture_day=1)
        stranger = client.wallet_order("nobody", mean, 900)
    assert credit.ok and held.ok
    assert (stranger.response_code, stranger.error_field_name) == ("12", "merchantWalletId")
    credited, validated = str(credit.transaction_reference), str(held.transaction_reference)
    assert (kit.transaction(credited).status, kit.transaction(validated).status) == (
        "TO_CREDIT", "TO_VALIDATE",
    )  # fmt: skip
    kit.advance(days=1)  # the validation's capture day itself: not over yet
    assert (kit.transaction(credited).status, kit.transaction(validated).status) == (
        "CREDITED", "TO_VALIDATE",
    )  # fmt: skip
    kit.advance(days=1)
    assert kit.transaction(validated).status == "EXPIRED"
    assert len(kit.transactions()) == 2  # the refused charge made none


def test_a_credit_answers_no_capture_and_a_lookup_dates_the_last_operation(
    kit: SimulatedWallet,
) -> None:
    mean = _enrolled(kit)
    with kit.client() as client:
        credit = client.wallet_credit_holder("w1", mean, 500)
        paid = client.wallet_order("w1", mean, 1000)
        kit.advance(days=2)
        refunded = client.refund(str(paid.transaction_reference), 300)
        held = client.get_transaction_data(str(paid.transaction_reference))
    # a credit is not captured: no capture day or mode in its answer
    assert (credit.ok, credit.capture_day, credit.capture_mode) == (True, None, None)
    # the lookup dates its last operation, the refund, not the payment
    assert held.last_operation_name == "REFUND"
    assert held.last_operation_datetime == refunded.operation_datetime is not None
    assert held.transaction_datetime == paid.transaction_datetime is not None
    assert held.last_operation_datetime != held.transaction_datetime


def test_a_captured_charge_is_refunded_never_cancelled(kit: SimulatedWallet) -> None:
    # cancel works only before the capture (the documented rule): afterwards it answers
    # 12 and changes nothing, so a merchant's script learns to refund instead
    mean = _enrolled(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.advance(days=2)
        cancelled = client.cancel(reference, 300)
        refunded = client.refund(reference, 300)
    assert (cancelled.ok, cancelled.response_code, cancelled.new_amount) == (False, "12", None)
    assert (refunded.ok, refunded.new_amount, refunded.new_status) == (True, 700, "CAPTURED")
    stored = kit.transaction(reference)
    assert stored is not None and (stored.current_amount, stored.status) == (700, "CAPTURED")


def test_every_payment_function_sends_the_version_docs_payments_md_gives(
    kit: SimulatedWallet,
) -> None:
    """docs/payments.md's table of interface versions, read from the page itself and
    compared with what reached the service for each of the six functions."""
    import re
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "payments.md").read_text(encoding="utf-8")
    documented: dict[str, str] = {}
    for functions, version in re.findall(r"^\| [a-z ]+ \| (`[^|]+) \| `([A-Z]+_WS_[\d.]+)` \|",
                                         page, re.MULTILINE):  # fmt: skip
        documented.update(dict.fromkeys(re.findall(r"`(\w+)`", functions), version))
    assert len(documented) == 6, documented
    mean = _enrolled(kit)
    with kit.client() as client:
        held = str(client.wallet_order("w1", mean, 5000, capture_mode="VALIDATION")
                   .transaction_reference)  # fmt: skip
        client.validate(held, 5000)
        later = str(client.wallet_order("w1", mean, 800).transaction_reference)
        client.cancel(later, 800)
        paid = str(client.wallet_order("w1", mean, 900).transaction_reference)
        kit.advance(days=2)
        assert client.refund(paid, 100).ok
        client.wallet_credit_holder("w1", mean, 700)
        client.get_transaction_data(paid)
    sent = {r.operation: r.fields["interfaceVersion"] for r in kit.requests}
    del sent["addCard"]
    assert sent == documented


def test_a_payment_s_hint_is_part_of_its_message() -> None:
    """Like a wallet answer's, a payment answer's hint (a 34 right after a key switch)
    is said in its message, before what a reconciliation said."""
    from sogen_soap import WalletOrderResult

    hinted = WalletOrderResult(response_code="34", hint="the new key may not be active yet")
    assert hinted.message == (
        "Suspected fraud: wrong seal or key version (the new key may not be active yet)"
    )
    both = WalletOrderResult(response_code="00", hint="h", reconciliation="looked up")
    assert both.message == "Accepted (h) (looked up)"


def test_a_validation_above_the_authorised_amount_is_refused_and_changes_nothing(
    kit: SimulatedWallet,
) -> None:
    """A validation captures at most what was authorised (``validate``'s docstring: "at
    most the authorised one"): more is refused 12 on operationAmount, nothing changed."""
    mean = _enrolled(kit)
    with kit.client() as client:
        held = str(client.wallet_order("w1", mean, 5000, capture_mode="VALIDATION")
                   .transaction_reference)  # fmt: skip
        more = client.validate(held, 5001)
        assert (more.response_code, more.error_field_name) == ("12", "operationAmount")
        assert more.new_amount is None
        stored = kit.transaction(held)
        assert stored is not None
        assert (stored.status, stored.current_amount) == ("TO_VALIDATE", 5000)
        assert client.validate(held, 5000).ok  # all of it: allowed


def test_a_part_cancelled_before_validation_cannot_be_validated_back(
    kit: SimulatedWallet,
) -> None:
    """A cancellation releases part of an authorisation waiting for validation; a
    validation then captures at most what remains, never the part given up."""
    mean = _enrolled(kit)
    with kit.client() as client:
        held = str(client.wallet_order("w1", mean, 1000, capture_mode="VALIDATION")
                   .transaction_reference)  # fmt: skip
        assert client.cancel(held, 300).new_status == "TO_VALIDATE"
        more = client.validate(held, 800)
        assert (more.response_code, more.error_field_name) == ("12", "operationAmount")
        stored = kit.transaction(held)
        assert (stored.status, stored.current_amount) == ("TO_VALIDATE", 700)
        assert client.validate(held, 700).new_amount == 700


def test_a_payment_mean_id_written_with_leading_zeros_is_the_same_id(kit: SimulatedWallet) -> None:
    """paymentMeanId is a number of 1 to 6 digits (the client's rule lets "001" through):
    the simulator reads "001" as payment mean 1, to read, rename and delete it."""
    mean = _enrolled(kit)
    assert mean == "1"
    with kit.client() as client:
        found = client.get_payment_mean_data("w1", "001")
        assert found.ok and found.payment_mean is not None
        assert found.payment_mean.payment_mean_id == "1"
        assert client.update_payment_mean("w1", "01", "renamed").ok
        assert client.delete_payment_mean("w1", "000001").ok
    assert kit.wallet("w1") == ()


@pytest.mark.parametrize("operation", ["refund", "cancel", "validate"])
def test_a_cash_operation_on_a_transaction_never_made_answers_25(
    kit: SimulatedWallet, operation: str
) -> None:
    """The service answers 25 (unknown transaction) to a refund, a cancellation or a
    validation of a reference it never saw, as it does to a lookup of it: not 12, a
    field's mistake the caller would look for in the request."""
    with kit.client() as client:
        answered = getattr(client, operation)("nosuchref1", 100, reconcile=False)
    assert (answered.response_code, answered.ok, answered.new_amount) == ("25", False, None)
    assert kit.transactions() == ()


def test_a_lost_cash_operation_on_a_reference_not_found_before_is_unknown_said_so(
    kit: SimulatedWallet,
) -> None:
    """The lookup before the operation answered 25: after the operation's answer is
    lost, nothing can be compared, and the caller is told that reading before failed,
    with no second lookup (what it would say is moot)."""
    kit.fail_next("refund", "drop")
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.refund("nosuchref2", 100)
    assert "the transaction could not be read before it" in str(caught.value)
    assert [r.operation for r in kit.requests] == ["getTransactionData", "refund"]


def test_a_lost_cash_operation_whose_lookup_after_is_refused_is_unknown_said_so(
    kit: SimulatedWallet,
) -> None:
    """Read before (found), the refund's answer lost, then the lookup after answered
    with a sealed code that is not 00 (77 here): it is not read as a transaction whose
    amount changed otherwise; the caller is told the read after failed."""
    mean = _enrolled(kit)
    with kit.client() as client:
        paid = client.wallet_order("w1", mean, 1000, capture_mode="IMMEDIATE")
    assert paid.ok

    def after_the_refund(exchange: Exchange) -> None:
        if exchange.operation == "refund":
            kit.fail_next("getTransactionData", "code_77")

    kit.fail_next("refund", "drop")
    with kit.client(on_request=after_the_refund) as client, pytest.raises(OutcomeUnknown) as caught:
        client.refund(str(paid.transaction_reference), 100)
    assert "the transaction could not be read after it" in str(caught.value)
    assert kit.transactions()[0].current_amount == 1000  # the drop came before the work
