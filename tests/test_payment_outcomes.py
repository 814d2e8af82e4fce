"""What a payment result holds, field by field, answered or recovered after a lost
answer, and what an unsettled one says: the mutation run over ``payments.py``
found these fields unheld (a recovered validation read as a refund's arithmetic,
a recovered result's fields, the unknown outcome's words and its endpoint)."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import KeyRing, OutcomeUnknown
from sogen_soap.testing import SimulatedWallet


def _mean(kit: SimulatedWallet) -> str:
    with kit.client() as client:
        mean = client.add_card("w1", TEST_PAN, "203012").payment_mean_id
    assert mean is not None
    return mean


def _operations(kit: SimulatedWallet, since: int) -> list[str]:
    return [r.operation for r in kit.requests[since:]]


@pytest.mark.parametrize(
    ("amount", "code", "status"),
    [(1002, "02", "PENDING_REFERRAL"), (1005, "05", "REFUSED"), (1059, "63", "REFUSED"),
     (1060, "60", "PENDING")],
)  # fmt: skip
def test_a_charge_not_accepted_carries_no_authorisation_id(
    kit: SimulatedWallet, amount: int, code: str, status: str
) -> None:
    """docs/payments.md: authorisation goes by the amount's last two digits.  Only an
    accepted charge is authorised: a referral, a refusal, fraud or a pending one has no
    authorisation id (a back office reading one would think the charge went through)."""
    mean = _mean(kit)
    with kit.client() as client:
        accepted = client.wallet_order("w1", mean, 1000, transaction_reference="yes1")
        other = client.wallet_order("w1", mean, amount, transaction_reference="no1")
        held = client.get_transaction_data("no1")
    assert accepted.ok and len(accepted.authorisation_id or "") == 6
    assert accepted.authorisation_id.isdigit()  # type: ignore[union-attr]
    assert (other.response_code, other.authorisation_id) == (code, None)
    assert (held.status, held.authorisation_id) == (status, None)


def test_a_recovered_charge_holds_the_transaction_s_fields(kit: SimulatedWallet) -> None:
    mean = _mean(kit)
    kit.fail_next("walletOrder", "commit_drop")
    with kit.client() as client:
        paid = client.wallet_order("w1", mean, 1000, transaction_reference="lost1")
        held = client.get_transaction_data("lost1")
    assert (paid.ok, paid.recovered, paid.response_code) == (True, True, "00")
    assert (paid.amount, paid.currency_code, paid.transaction_reference) == (1000, "978", "lost1")
    assert paid.seal_verified and paid.key_version == 1
    shown = (
        "acquirer_response_code", "authorisation_id", "masked_pan", "payment_mean_brand",
        "capture_limit_date", "scheme_transaction_identifier", "transaction_datetime",
    )  # fmt: skip
    for name in shown:
        assert getattr(paid, name) == getattr(held, name) is not None, name
    assert paid.masked_pan == "4100##########00" and paid.payment_mean_brand == "VISA"
    assert paid.message == "Accepted (recovered after a lost answer)"
    assert paid.seal_order == held.seal_order is not None  # the lookup's seal vouches


def test_an_answered_cash_operation_holds_every_field(kit: SimulatedWallet) -> None:
    mean = _mean(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.advance(days=2)
        refunded = client.refund(reference, 300)
        held = client.get_transaction_data(reference)
    assert (refunded.ok, refunded.recovered, refunded.transaction_reference) == (
        True, False, reference,
    )  # fmt: skip
    assert (refunded.operation_amount, refunded.new_amount, refunded.new_status) == (
        300, 700, "CAPTURED",
    )  # fmt: skip
    assert refunded.acquirer_response_code == "00"
    assert refunded.authorisation_id == held.authorisation_id is not None
    assert refunded.capture_limit_date == held.capture_limit_date is not None
    assert isinstance(refunded.operation_datetime, datetime)
    assert refunded.operation_datetime.tzinfo is not None
    assert dict(refunded.extra) == {}


@pytest.mark.parametrize(
    ("operation", "mode", "captured", "amount", "new_amount", "new_status"),
    [
        ("refund", None, True, 300, 700, "CAPTURED"),
        ("refund", None, True, 1000, 0, "REFUNDED"),
        ("cancel", None, False, 400, 600, "TO_CAPTURE"),
        ("cancel", None, False, 1000, 0, "CANCELLED"),
        ("validate", "VALIDATION", False, 600, 600, "TO_CAPTURE"),
        ("validate", "VALIDATION", False, 1000, 1000, "TO_CAPTURE"),
    ],
)  # fmt: skip
def test_a_lost_cash_operation_is_settled_from_the_transaction_once(
    kit: SimulatedWallet, operation: str, mode: str | None, captured: bool, amount: int,
    new_amount: int, new_status: str,
) -> None:  # fmt: skip
    mean = _mean(kit)
    with kit.client() as client:
        options = {"capture_mode": mode} if mode else {}
        reference = str(client.wallet_order("w1", mean, 1000, **options).transaction_reference)
        if captured:
            kit.advance(days=2)
        kit.fail_next(operation, "commit_drop")
        since = len(kit.requests)
        result = getattr(client, operation)(reference, amount)
    assert _operations(kit, since) == ["getTransactionData", operation, "getTransactionData"]
    assert (result.ok, result.recovered, result.response_code) == (True, True, "00")
    assert (result.operation_amount, result.new_amount, result.new_status) == (
        amount, new_amount, new_status,
    )  # fmt: skip
    assert result.transaction_reference == reference and result.seal_verified
    stored = kit.transaction(reference)
    assert stored is not None
    assert (stored.current_amount, stored.status) == (new_amount, new_status)
    assert "recovered after a lost answer" in result.message


def test_an_unsettled_charge_says_what_was_attempted_and_where(kit: SimulatedWallet) -> None:
    mean = _mean(kit)
    kit.fail_next("walletOrder", "commit_drop")
    kit.fail_next("getTransactionData", "wrong_seal", 3)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.wallet_order("w1", mean, 1000, transaction_reference="ref9")
    assert str(caught.value) == (
        "walletOrder: the answer was lost and the transaction could not be read (sealed); "
        "whether transaction ref9 was made is unknown. Look it up before anything else: "
        "sogen-soap transaction ref9"
    )
    assert caught.value.reason == "unresolved"
    assert caught.value.attempted == {
        "transactionReference": "ref9", "amount": "1000", "currencyCode": "978",
        "merchantWalletId": "w1", "paymentMeanId": mean,
    }  # fmt: skip
    assert caught.value.operation == "walletOrder"
    assert caught.value.endpoint == kit.url.replace("/services/v2/wallet", "/services/v2/checkout")


def test_an_unsettled_refund_says_changed_and_names_the_cash_service(
    kit: SimulatedWallet,
) -> None:
    mean = _mean(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.advance(days=2)
        kit.fail_next("getTransactionData", "wrong_seal", 3)  # the read before it
        kit.fail_next("refund", "commit_drop")
        with pytest.raises(OutcomeUnknown) as caught:
            client.refund(reference, 250)
    assert str(caught.value) == (
        "refund: the answer was lost and the transaction could not be read before it; "
        f"whether transaction {reference} was changed is unknown. Look it up before "
        f"anything else: sogen-soap transaction {reference}"
    )
    assert caught.value.attempted == {
        "transactionReference": reference, "operationAmount": "250", "currencyCode": "978",
    }  # fmt: skip
    assert caught.value.endpoint.endswith("/services/v2/cashManagement")
    stored = kit.transaction(reference)
    assert stored is not None and stored.current_amount == 750  # applied once: nothing re-sent


def test_a_cash_operation_s_http_error_names_its_own_service(kit: SimulatedWallet) -> None:
    from sogen_soap import HTTPStatusError, RetryPolicy

    mean = _mean(kit)
    with kit.client(retry=RetryPolicy(attempts=1), transport="json") as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
        kit.fail_next("getTransactionData", "http_503")
        with pytest.raises(HTTPStatusError) as caught:
            client.get_transaction_data(reference)
    called = kit.url.replace("/services/v2/wallet", "/rs-services/v2/diagnostic/getTransactionData")
    assert caught.value.endpoint == called
    assert f"HTTP 503 Service Unavailable from {called} without a JSON answer" in str(caught.value)


def _unknown_charge(kit: SimulatedWallet, reference: str, **options: object) -> OutcomeUnknown:
    mean = _mean(kit)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.wallet_order("w1", mean, 1000, transaction_reference=reference, **options)
    assert caught.value.operation == "walletOrder"
    assert caught.value.attempted == {
        "transactionReference": reference, "amount": "1000", "currencyCode": "978",
        "merchantWalletId": "w1", "paymentMeanId": mean,
    }  # fmt: skip
    assert caught.value.endpoint.endswith("/services/v2/checkout")
    return caught.value


def test_a_lookup_answering_another_code_leaves_the_charge_unknown(kit: SimulatedWallet) -> None:
    kit.fail_next("walletOrder", "commit_drop")
    kit.fail_next("getTransactionData", "code_77")
    unknown = _unknown_charge(kit, "r77")
    assert (str(unknown), unknown.reason) == (
        "walletOrder: the answer was lost and looking it up answered 'Unknown response code "
        "77'; whether transaction r77 was made is unknown. Look it up before anything else: "
        "sogen-soap transaction r77",
        "unresolved",
    )


def test_a_fault_to_a_charge_not_reconciled_is_an_unknown_outcome(kit: SimulatedWallet) -> None:
    kit.fail_next("walletOrder", "soap_fault")
    unknown = _unknown_charge(kit, "rf", reconcile=False)
    assert (str(unknown), unknown.reason) == (
        "walletOrder: the service answered 'SOAP fault soap:Server: Fault injected by the "
        "simulator', which it may send after the work was done: whether transaction rf was "
        "made is unknown. Send it again with reconcile=True, or look: sogen-soap transaction rf",
        "fault",
    )
    assert [r.operation for r in kit.requests].count("walletOrder") == 1


def test_a_charge_never_answered_is_unknown_after_its_sends(kit: SimulatedWallet) -> None:
    kit.fail_next("walletOrder", "drop", 6)
    unknown = _unknown_charge(kit, "rd")
    assert str(unknown) == (
        "walletOrder: the answer was lost and it was sent 3 times without a sealed answer; "
        "whether transaction rd was made is unknown. Look it up before anything else: "
        "sogen-soap transaction rd"
    )
    assert [r.operation for r in kit.requests].count("walletOrder") == 3
    assert kit.transaction("rd") is None


def test_settling_is_logged_without_a_card(
    kit: SimulatedWallet, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    mean = _mean(kit)
    caplog.set_level(logging.INFO, logger="sogen_soap")
    with kit.client() as client:
        assert client.wallet_order("w1", mean, 2000, transaction_reference="theirs").ok
        kit.fail_next("walletOrder", "commit_drop")
        assert client.wallet_order("w1", mean, 1000, transaction_reference="mine").recovered
        kit.fail_next("walletOrder", "drop")  # lost; the lookup finds the other payment
        other = client.wallet_order("w1", mean, 1000, transaction_reference="theirs")
        kit.advance(days=2)
        kit.fail_next("refund", "commit_drop")
        assert client.refund("mine", 300).recovered
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "sogen_soap"]
    assert ("INFO", "walletOrder mine: lost answer settled by looking the transaction up "
            "(00, status TO_CAPTURE)") in said  # fmt: skip
    assert ("WARNING", "walletOrder theirs: the reference belongs to another payment "
            "(2000 978); not charged") in said  # fmt: skip
    assert ("INFO", "refund mine: lost answer settled by reading the transaction "
            "(1000 -> 700)") in said  # fmt: skip
    assert (other.response_code, other.duplicate, other.recovered) == ("94", True, False)
    assert (other.acquirer_response_code, other.authorisation_id) == (None, None)
    assert other.scheme_transaction_identifier is None
    assert "4100000000000000" not in caplog.text


def test_a_cash_operation_s_origin_is_sent_and_checked(kit: SimulatedWallet) -> None:
    from sogen_soap import InvalidFieldError

    reference = _captured(kit)
    with kit.client() as client:
        assert client.refund(reference, 100, operation_origin="BATCH").ok
        assert kit.requests[-1].fields["operationOrigin"] == "BATCH"
        sent = len(kit.requests)
        with pytest.raises(InvalidFieldError) as long:
            client.cancel(reference, 100, operation_origin="x" * 21)
        with pytest.raises(InvalidFieldError) as zero:
            client.validate(reference, 0)
    assert (long.value.field, long.value.parameter) == ("operationOrigin", "operation_origin")
    assert (zero.value.field, zero.value.parameter) == ("operationAmount", "amount")
    assert str(zero.value) == "amount (operationAmount): must be 1 or more (got 0)"
    assert len(kit.requests) == sent  # nothing sent


def _captured(kit: SimulatedWallet) -> str:
    mean = _mean(kit)
    with kit.client() as client:
        reference = str(client.wallet_order("w1", mean, 1000).transaction_reference)
    kit.advance(days=2)
    return reference


def _unknown_refund(kit: SimulatedWallet, **options: object) -> tuple[str, OutcomeUnknown]:
    reference = _captured(kit)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.refund(reference, 250, **options)
    assert (caught.value.operation, caught.value.reason) == ("refund", "unresolved")
    stored = kit.transaction(reference)
    assert stored is not None and stored.current_amount == 1000  # nothing refunded
    return reference, caught.value


def test_a_fault_to_a_refund_not_reconciled_is_an_unknown_outcome(kit: SimulatedWallet) -> None:
    kit.fail_next("refund", "soap_fault")
    reference, unknown = _unknown_refund(kit, reconcile=False)
    assert str(unknown) == (
        "refund: the answer was lost and the service answered 'SOAP fault soap:Server: Fault "
        f"injected by the simulator'; whether transaction {reference} was changed is unknown. "
        f"Look it up before anything else: sogen-soap transaction {reference}"
    )
    assert [r.operation for r in kit.requests].count("getTransactionData") == 0


def test_a_lost_refund_not_reconciled_is_the_transport_s_unknown_after_one_send(
    kit: SimulatedWallet,
) -> None:
    """``reconcile=False``: the answer lost, the call raises what the transport said,
    having sent the refund once and read nothing."""
    reference = _captured(kit)
    kit.fail_next("refund", "drop", 3)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.refund(reference, 250, reconcile=False)
    assert (caught.value.operation, caught.value.reason) == ("refund", "dropped")
    operations = [r.operation for r in kit.requests if r.operation != "addCard"]
    assert operations == ["walletOrder", "refund"]


def test_a_refund_never_answered_is_unknown_after_its_sends(kit: SimulatedWallet) -> None:
    kit.fail_next("refund", "drop", 6)
    reference, unknown = _unknown_refund(kit)
    assert str(unknown) == (
        "refund: the answer was lost and it was sent 3 times without a sealed answer; whether "
        f"transaction {reference} was changed is unknown. Look it up before anything else: "
        f"sogen-soap transaction {reference}"
    )
    operations = [r.operation for r in kit.requests if r.operation != "addCard"]
    after_charge = ["refund", "getTransactionData"] * 3  # each loss read, then sent again
    assert operations == ["walletOrder", "getTransactionData", *after_charge]


def test_a_validation_s_origin_is_sent(kit: SimulatedWallet) -> None:
    mean = _mean(kit)
    with kit.client() as client:
        held = client.wallet_order("w1", mean, 1000, capture_mode="VALIDATION")
        done = client.validate(str(held.transaction_reference), 1000, operation_origin="BO")
    assert done.ok and kit.requests[-1].fields["operationOrigin"] == "BO"


def test_a_charge_s_mistakes_are_named_before_anything_is_sent(kit: SimulatedWallet) -> None:
    from sogen_soap import InvalidFieldError

    with kit.client() as client:
        with pytest.raises(TypeError) as unknown:
            client.wallet_order("w1", "1", 100, colour="red", size=2)  # type: ignore[call-arg]
        with pytest.raises(TypeError) as credit:
            client.wallet_credit_holder("w1", "1", 100, capture_day=2)  # type: ignore[call-arg]
        with pytest.raises(InvalidFieldError) as chain:
            client.wallet_order("w1", "1", 100, payment_pattern="RECURRING_N")
    assert str(unknown.value) == "wallet_order() got unexpected keyword colour, size"
    assert str(credit.value) == "wallet_credit_holder() got unexpected keyword capture_day"
    assert str(chain.value) == (
        "initial_scheme_transaction_identifier (initialSchemeTransactionIdentifier): is "
        "needed with payment_pattern RECURRING_N: the scheme transaction identifier of the "
        "chain's first payment"
    )
    assert kit.requests == []


def test_a_charge_refused_for_its_key_takes_the_unsealed_34_as_its_answer(
    kit: SimulatedWallet,
) -> None:
    """A service cannot seal with a key it does not hold: a 34 (and a 03) comes
    unsealed and is the answer (no money moved), not a lost one to look up."""
    mean = _mean(kit)
    since = len(kit.requests)
    with kit.client(keys=KeyRing.single("not-the-key", 1)) as client:
        refused = client.wallet_order("w1", mean, 1000, transaction_reference="wrongkey1")
    assert (refused.ok, refused.response_code, refused.seal_verified) == (False, "34", False)
    assert not refused.recovered
    assert _operations(kit, since) == ["walletOrder"]  # nothing looked up, nothing re-sent
    assert kit.transactions() == ()


def test_a_charge_not_reconciled_raises_its_lost_answer_without_looking(
    kit: SimulatedWallet,
) -> None:
    mean = _mean(kit)
    kit.fail_next("walletOrder", "drop")
    since = len(kit.requests)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        client.wallet_order("w1", mean, 1000, transaction_reference="nr1", reconcile=False)
    assert caught.value.operation == "walletOrder"
    assert _operations(kit, since) == ["walletOrder"]  # neither looked up nor sent again


@pytest.mark.parametrize("operation", ["walletOrder", "refund"])
def test_a_99_not_reconciled_is_returned_as_answered(kit: SimulatedWallet, operation: str) -> None:
    """A 99 is a sealed "try later": without reconciling it is the caller's to act on,
    and nothing is looked up or sent again."""
    reference = _captured(kit)
    kit.fail_next(operation, "code_99")
    since = len(kit.requests)
    with kit.client() as client:
        if operation == "walletOrder":
            mean = kit.wallet("w1")[0].payment_mean_id
            result = client.wallet_order("w1", mean, 700, transaction_reference="t99",
                                         reconcile=False)  # fmt: skip
        else:
            result = client.refund(reference, 250, reconcile=False)
    assert (result.response_code, result.temporary, result.ok) == ("99", True, False)
    assert not result.recovered
    assert _operations(kit, since) == [operation]
    assert kit.transaction(reference).current_amount == 1000  # nothing refunded
    assert kit.transaction("t99") is None  # nothing charged


def test_a_validation_that_never_arrived_is_sent_again_after_reading(
    kit: SimulatedWallet,
) -> None:
    """The transaction unchanged after a lost validation: it never arrived, so it is
    sent once more (and is not "recovered": this answer is the service's own)."""
    mean = _mean(kit)
    with kit.client() as client:
        held = client.wallet_order("w1", mean, 1000, capture_mode="VALIDATION")
        reference = str(held.transaction_reference)
        kit.fail_next("validate", "drop")
        since = len(kit.requests)
        result = client.validate(reference, 1000)
    assert _operations(kit, since) == [
        "getTransactionData", "validate", "getTransactionData", "validate",
    ]  # fmt: skip
    assert (result.ok, result.recovered, result.new_status) == (True, False, "TO_CAPTURE")
    assert kit.transaction(reference).status == "TO_CAPTURE"


def _held_charges(kit: SimulatedWallet) -> str:
    """A card in w1, a charge "held" waiting for validation and a charge "later"
    not captured yet; returns the card's id."""
    mean = _mean(kit)
    with kit.client() as client:
        assert client.wallet_order("w1", mean, 800, transaction_reference="held",
                                   capture_mode="VALIDATION", capture_day=5).ok  # fmt: skip
        assert client.wallet_order("w1", mean, 1000, transaction_reference="later",
                                   capture_day=5).ok  # fmt: skip
    return mean


@pytest.mark.parametrize("operation", ["walletCreditHolder", "cancel", "validate"])
def test_each_payment_function_passes_reconcile_false_on(
    kit: SimulatedWallet, operation: str
) -> None:
    """``reconcile=False`` reaches the plan of every function, not only the charge's
    and the refund's: the lost answer is raised, nothing read before or after."""
    mean = _held_charges(kit)
    kit.fail_next(operation, "drop")
    since = len(kit.requests)
    with kit.client() as client, pytest.raises(OutcomeUnknown) as caught:
        if operation == "walletCreditHolder":
            client.wallet_credit_holder("w1", mean, 500, transaction_reference="c1",
                                        reconcile=False)  # fmt: skip
        elif operation == "cancel":
            client.cancel("later", 400, reconcile=False)
        else:
            client.validate("held", 800, reconcile=False)
    assert caught.value.operation == operation
    assert _operations(kit, since) == [operation]


def test_a_credit_after_a_lost_answer_looks_its_reference_up_first(kit: SimulatedWallet) -> None:
    mean = _mean(kit)
    with kit.client() as client:
        first = client.wallet_credit_holder("w1", mean, 500, transaction_reference="c1")
        assert first.ok
        since = len(kit.requests)
        again = client.wallet_credit_holder("w1", mean, 500, transaction_reference="c1",
                                            after_lost_answer=True)  # fmt: skip
    assert _operations(kit, since) == ["getTransactionData"]  # found: not sent again
    assert (again.ok, again.recovered, again.duplicate) == (True, True, False)


def test_a_lookup_that_fails_is_tried_again_before_giving_up(kit: SimulatedWallet) -> None:
    """Reading a transaction is safe to repeat: a lookup cut once is made again, and
    the lost charge is still settled by it."""
    from sogen_soap import RetryPolicy

    mean = _mean(kit)
    kit.fail_next("walletOrder", "commit_drop")
    kit.fail_next("getTransactionData", "drop")
    since = len(kit.requests)
    with kit.client(retry=RetryPolicy(attempts=1)) as client:
        paid = client.wallet_order("w1", mean, 1000, transaction_reference="cut1")
    assert (paid.ok, paid.recovered) == (True, True)
    assert _operations(kit, since) == ["walletOrder", "getTransactionData", "getTransactionData"]


def test_a_refund_whose_transaction_cannot_be_read_after_it_is_unknown(
    kit: SimulatedWallet,
) -> None:
    """The refund's answer is lost and every read after it fails: nothing can tell
    whether it was made, so the outcome is unknown (never "not made", never sent again)."""
    from sogen_soap import RetryPolicy
    from sogen_soap.observe import Exchange

    reference = _captured(kit)

    def cut_the_reads_after(exchange: Exchange) -> None:
        if exchange.operation == "refund":
            kit.fail_next("refund", "commit_drop")  # this very request: stored, answer lost
            kit.fail_next("getTransactionData", "drop", times=3)

    since = len(kit.requests)
    with kit.client(retry=RetryPolicy(attempts=1), on_request=cut_the_reads_after) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.refund(reference, 250)
    assert (caught.value.operation, caught.value.reason) == ("refund", "unresolved")
    assert "the answer was lost and the transaction could not be read after it" in str(
        caught.value
    )
    assert _operations(kit, since) == ["getTransactionData", "refund"] + ["getTransactionData"] * 3
    assert kit.transaction(reference).current_amount == 750  # it was made, once


def test_a_validation_lost_while_part_is_cancelled_elsewhere_is_unknown(
    kit: SimulatedWallet,
) -> None:
    """The validation's request is lost, and meanwhile another back office cancels
    part of the transaction: still waiting for validation, at a lower amount.  That
    is neither "validated" nor "untouched", so nothing can be concluded: unknown,
    never sent again (a validation sent for the old amount would now be refused, or
    worse, taken)."""
    from sogen_soap import RetryPolicy
    from sogen_soap.observe import Exchange

    _held_charges(kit)

    def cancel_part_meanwhile(exchange: Exchange) -> None:
        if exchange.operation == "validate":
            kit.fail_next("validate", "drop")  # this very request never arrives
            with kit.client() as other:
                assert other.cancel("held", 300).ok

    since = len(kit.requests)
    with kit.client(retry=RetryPolicy(attempts=1), on_request=cancel_part_meanwhile) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.validate("held", 800)
    assert (
        "the transaction changed otherwise (amount 800 -> 500, status TO_VALIDATE -> TO_VALIDATE)"
        in str(caught.value)
    )
    assert _operations(kit, since) == [
        "getTransactionData",  # before the validation
        "getTransactionData", "cancel",  # the other back office's, while it leaves
        "validate",  # lost
        "getTransactionData",  # after: changed otherwise, so not sent again
    ]  # fmt: skip
    stored = kit.transaction("held")
    assert (stored.status, stored.current_amount) == ("TO_VALIDATE", 500)


def test_a_lost_refund_over_a_transaction_without_amounts_is_unknown() -> None:
    """A sealed lookup may leave ``currentAmount`` out.  Without it before and after,
    nothing says whether the lost refund was made: unknown, never "unchanged, so
    send it again" (two missing amounts are not two equal ones).  The refund's steps
    driven by hand, as the senders drive them: no network needed to hold the rule."""
    from sogen_soap import WalletClient
    from sogen_soap.payment_results import TransactionData

    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment="http://127.0.0.1:9/services/v2/wallet") as offline:  # fmt: skip
        plan = offline.plan_refund("ref1", 250)
        steps = offline.cash_steps(plan)
        read = TransactionData(response_code="00", seal_verified=True, status="CAPTURED")
        assert next(steps).operation == "getTransactionData"  # read before
        assert steps.send(read) is plan
        lost = OutcomeUnknown("refund: lost", reason="dropped", attempted={})
        assert steps.throw(lost).operation == "getTransactionData"  # read after
        with pytest.raises(OutcomeUnknown) as caught:
            steps.send(read)
    assert "changed otherwise (amount None -> None" in str(caught.value)
