"""Every answer field of the payment services lands in its typed attribute, the
rest in ``extra``: the converters as pure functions (answers carrying every field
the data dictionary names, some the simulator never sends), and a transaction
read over both transports, field by field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import AddCardResult, WalletClient, WalletOrderResult
from sogen_soap.adapter import Answer
from sogen_soap.observe import Exchange
from sogen_soap.payments import transaction_data
from sogen_soap.testing import SimulatedWallet

PARIS = timezone(timedelta(hours=1))


@pytest.fixture(scope="module")
def offline() -> Iterator[WalletClient]:
    """A client for its plans only: nothing is sent."""
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment="http://127.0.0.1:9/services/v2/wallet") as client:  # fmt: skip
        yield client


def _answer(output: dict[str, object], code_field: str = "responseCode") -> Answer:
    return Answer(output=output, fault=None, seal_verified=True, seal_order="received",
                  key_version=2, code_field=code_field)  # fmt: skip


def test_a_charge_answer_field_by_field(offline: WalletClient) -> None:
    plan = offline.plan_wallet_order("w1", "3", 1250, "840", "ref1")
    result = plan.convert(_answer({
        "responseCode": "00", "acquirerResponseCode": "01", "acquirerResponseMessage": "OK!",
        "authorisationId": "A12345", "complementaryCode": "07", "maskedPan": "4100##########00",
        "paymentMeanBrand": "VISA", "transactionDateTime": "2026-12-05T10:20:30+01:00",
        "captureDay": "3", "captureMode": "VALIDATION", "captureLimitDate": "20261208",
        "schemeTransactionIdentifier": "SCHEME9", "errorFieldName": "none", "loyalty": "x",
    }))  # fmt: skip
    assert (result.response_code, result.key_version, result.seal_order) == ("00", 2, "received")
    assert (result.transaction_reference, result.amount, result.currency_code) == (
        "ref1", 1250, "840",
    )  # fmt: skip
    assert (result.acquirer_response_code, result.acquirer_response_message) == ("01", "OK!")
    assert (result.authorisation_id, result.complementary_code) == ("A12345", "07")
    assert (result.masked_pan, result.payment_mean_brand) == ("4100##########00", "VISA")
    assert result.transaction_datetime == datetime(2026, 12, 5, 10, 20, 30, tzinfo=PARIS)
    assert (result.capture_day, result.capture_mode, result.capture_limit_date) == (
        3, "VALIDATION", "20261208",
    )  # fmt: skip
    assert result.scheme_transaction_identifier == "SCHEME9"
    assert result.error_field_name == "none"
    assert dict(result.extra) == {"loyalty": "x"}
    answered_ref = plan.convert(_answer({"responseCode": "00", "transactionReference": "theirs"}))
    assert answered_ref.transaction_reference == "theirs"  # the service's word first
    bare = plan.convert(_answer({"responseCode": "05"}))
    assert (bare.transaction_reference, bare.capture_day, bare.declined) == ("ref1", None, True)
    assert dict(bare.extra) == {}


def test_declined_is_exactly_the_refusals_docs_payments_lists() -> None:
    """docs/payments.md: 02, 05, 11, 14, 51, 54 and 63 are declined (the issuer, the
    acquirer or the fraud rules said no); every other code of the dictionary is not."""
    from sogen_soap.payment_results import PAYMENT_CODES

    declined = {"02", "05", "11", "14", "51", "54", "63"}
    assert declined <= set(PAYMENT_CODES)
    for code in PAYMENT_CODES:
        assert WalletOrderResult(response_code=code).declined is (code in declined), code


def test_every_plan_without_a_currency_is_in_euros(offline: WalletClient) -> None:
    """The plans are public (sans-I/O callers build them without a client method):
    each one's own default is 978, not only the client methods' default."""
    plans = (
        offline.plan_wallet_order("w1", "3", 1250),
        offline.plan_wallet_credit_holder("w1", "3", 1250),
        offline.plan_refund("ref1", 300),
        offline.plan_cancel("ref1", 300),
        offline.plan_validate("ref1", 300),
    )
    assert [(p.operation, p.fields["currencyCode"]) for p in plans] == [
        ("walletOrder", "978"), ("walletCreditHolder", "978"), ("refund", "978"),
        ("cancel", "978"), ("validate", "978"),
    ]  # fmt: skip


def test_a_cash_answer_field_by_field(offline: WalletClient) -> None:
    for plan in (offline.plan_refund("ref1", 300, "978"), offline.plan_cancel("ref1", 300),
                 offline.plan_validate("ref1", 300)):  # fmt: skip
        result = plan.convert(_answer({
            "responseCode": "00", "acquirerResponseCode": "00", "authorisationId": "A1",
            "newAmount": "700", "newStatus": "CAPTURED",
            "operationDateTime": "2026-12-05T10:20:30+01:00", "captureLimitDate": "20261207",
            "extraThing": "y",
        }))  # fmt: skip
        assert result.operation == plan.operation
        assert (result.transaction_reference, result.operation_amount) == ("ref1", 300)
        assert (result.acquirer_response_code, result.authorisation_id) == ("00", "A1")
        assert (result.new_amount, result.new_status) == (700, "CAPTURED")
        assert result.operation_datetime == datetime(2026, 12, 5, 10, 20, 30, tzinfo=PARIS)
        assert result.capture_limit_date == "20261207"
        assert dict(result.extra) == {"extraThing": "y"}
        assert not result.recovered


def test_a_transaction_answer_field_by_field() -> None:
    data = transaction_data(_answer({
        "getTransDataResponseCode": "00", "transactionReference": "ref1",
        "transactionStatus": "TO_CONFIRM_AUTHOR", "originAmount": "1000", "currentAmount": "400",
        "currencyCode": "978", "transactionDateTime": "2026-12-05T10:20:30+01:00",
        "captureLimitDate": "20261206", "lastOperationName": "REFUND",
        "lastOperationDateTime": "2026-12-06T08:00:00+01:00", "responseCode": "60",
        "acquirerResponseCode": "60", "authorisationId": "A9", "maskedPan": "5100##########00",
        "paymentMeanBrand": "MASTERCARD", "paymentPattern": "RECURRING_N",
        "orderChannel": "MOTO", "orderId": "o-1", "customerId": "c-1",
        "schemeTransactionIdentifier": "S1", "fromTransactionReference": "ref0", "new": "z",
    }, code_field="getTransDataResponseCode"))  # fmt: skip
    assert (data.response_code, data.ok, data.unknown, data.pending) == ("00", True, False, True)
    assert (data.transaction_reference, data.status) == ("ref1", "TO_CONFIRM_AUTHOR")
    assert (data.origin_amount, data.current_amount, data.currency_code) == (1000, 400, "978")
    assert data.transaction_datetime == datetime(2026, 12, 5, 10, 20, 30, tzinfo=PARIS)
    assert data.last_operation_datetime == datetime(2026, 12, 6, 8, 0, tzinfo=PARIS)
    assert (data.capture_limit_date, data.last_operation_name) == ("20261206", "REFUND")
    assert (data.authorisation_response_code, data.acquirer_response_code) == ("60", "60")
    assert (data.authorisation_id, data.masked_pan, data.payment_mean_brand) == (
        "A9", "5100##########00", "MASTERCARD",
    )  # fmt: skip
    assert (data.payment_pattern, data.order_channel) == ("RECURRING_N", "MOTO")
    assert (data.order_id, data.customer_id) == ("o-1", "c-1")
    assert (data.scheme_transaction_identifier, data.from_transaction_reference) == (
        "S1", "ref0",
    )  # fmt: skip
    assert dict(data.extra) == {"new": "z"}
    unknown = transaction_data(_answer({"getTransDataResponseCode": "25"},
                                       code_field="getTransDataResponseCode"))  # fmt: skip
    assert (unknown.unknown, unknown.ok, unknown.status, unknown.origin_amount) == (
        True, False, None, None,
    )  # fmt: skip


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_a_transaction_read_over_the_wire_field_by_field(
    kit: SimulatedWallet, transport: str
) -> None:
    answers: list[Exchange] = []
    with kit.client(transport=transport, on_response=answers.append) as client:
        mean = client.add_card("w1", TEST_PAN, "203012").payment_mean_id
        assert mean is not None
        first = client.wallet_order("w1", mean, 1000, payment_pattern="RECURRING_1",
                                    order_id="o-7", customer_id="c-9", capture_day=2)  # fmt: skip
        reference = str(first.transaction_reference)
        data = client.get_transaction_data(reference)
        # ..05 would refuse a charge (docs/simulator.md); a credit is not authorised
        credit = client.wallet_credit_holder("w1", mean, 305)
    # the service names the transaction and the brand in its own answer (the result
    # falls back on the request's reference only when an answer leaves it out)
    charged = next(e.response for e in answers if e.operation == "walletOrder")
    assert charged is not None
    assert (charged["transactionReference"], charged["paymentMeanBrand"]) == (reference, "VISA")
    assert (first.payment_mean_brand, first.acquirer_response_code) == ("VISA", "00")
    assert (credit.ok, credit.acquirer_response_code, credit.payment_mean_brand) == (
        True, "00", "VISA",
    )  # fmt: skip
    stored = kit.transaction(reference)
    assert stored is not None
    assert (data.ok, data.transaction_reference, data.status) == (True, reference, "TO_CAPTURE")
    assert (data.origin_amount, data.current_amount, data.currency_code) == (1000, 1000, "978")
    assert data.transaction_datetime == first.transaction_datetime is not None
    assert data.capture_limit_date == first.capture_limit_date is not None
    assert (data.last_operation_name, data.authorisation_response_code) == ("AUTHOR", "00")
    assert data.last_operation_datetime == first.transaction_datetime
    assert (data.acquirer_response_code, data.authorisation_id) == ("00", first.authorisation_id)
    assert (data.masked_pan, data.payment_mean_brand) == ("4100##########00", "VISA")
    assert (data.payment_pattern, data.order_id, data.customer_id) == ("RECURRING_1", "o-7", "c-9")
    assert data.order_channel == "INTERNET"
    assert data.scheme_transaction_identifier == stored.scheme_transaction_identifier is not None
    assert (first.capture_day, first.capture_mode) == (2, "AUTHOR_CAPTURE")
    assert dict(data.extra) == {}


def test_a_charge_s_options_are_sent_as_given_a_zero_too(kit: SimulatedWallet) -> None:
    # capture_day=0 (captured the same day) is a value, not an absence; the caller's
    # channel replaces the default INTERNET, never the other way round
    with kit.client() as client:
        mean = client.add_card("w1", TEST_PAN, "203012").payment_mean_id
        assert mean is not None
        paid = client.wallet_order("w1", mean, 1000, capture_day=0, order_channel="MOTO")
        data = client.get_transaction_data(str(paid.transaction_reference))
    sent = next(r for r in kit.requests if r.operation == "walletOrder").fields
    assert (sent["captureDay"], sent["orderChannel"]) == ("0", "MOTO")
    assert (paid.ok, paid.capture_day, data.order_channel) == (True, 0, "MOTO")


def test_a_result_s_reconciliation_replaces_the_word_recovered() -> None:
    # Payment results say a lost answer the way addCard's do: the reconciliation's own
    # words when there are some, "recovered" only when there are none.
    kinds = ((WalletOrderResult, "Accepted"), (AddCardResult, "Successful operation"))
    for kind, accepted in kinds:
        both = kind(response_code="00", recovered=True, reconciliation="settled by a lookup")
        assert both.message == f"{accepted} (settled by a lookup)"
        alone = kind(response_code="00", recovered=True)
        assert alone.message == f"{accepted} (recovered after a lost answer)"
