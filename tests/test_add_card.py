"""addCard end to end, over HTTP, against the simulator."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import requests
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN, input_fields

from sogen_soap import (
    AddCardResult,
    ConnectionFailed,
    InvalidFieldError,
    OutcomeUnknown,
    ResponseError,
    ResponseTimeout,
    RetryPolicy,
    SealVerificationError,
    WalletClient,
    WalletResponseError,
)
from sogen_soap.simulator import FaultProfile, Merchant, Simulator


def _client(sim: Simulator, **options: object) -> WalletClient:
    secret = options.pop("secret_key", MERCHANT.secret_key)
    version = options.pop("key_version", MERCHANT.key_version)
    merchant = options.pop("merchant_id", MERCHANT.merchant_id)
    options.setdefault("retry", FAST_RETRY)
    return WalletClient(merchant, secret, version, environment=sim.url, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------ outcomes


def test_a_card_is_enrolled_with_00_and_its_details() -> None:
    stamp_at = datetime(2026, 11, 29, 12, 30, tzinfo=timezone(timedelta(hours=1)))
    with Simulator(clock=lambda: stamp_at) as sim, _client(sim) as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert isinstance(result, AddCardResult)
    assert result.ok and result.response_code == "00" and not result.duplicate
    assert result.seal_verified
    assert result.payment_mean_id == "1"
    assert result.masked_pan == "4100##########00"
    assert result.message == "Successful operation"
    assert result.wallet_action_datetime == stamp_at  # the service's clock, exactly


def test_the_same_card_twice_in_a_wallet_is_a_94_result_not_an_exception(
    client: WalletClient,
) -> None:
    assert client.add_card("wallet-1", TEST_PAN, "203012").ok
    again = client.add_card("wallet-1", TEST_PAN, "203012")
    assert again.response_code == "94" and again.duplicate and not again.ok
    assert again.seal_verified
    assert again.payment_mean_id is None


def test_a_second_card_gets_the_next_payment_mean_id(client: WalletClient) -> None:
    client.add_card("wallet-1", TEST_PAN, "203012")
    second = client.add_card("wallet-1", OTHER_PAN, "203101", payment_mean_alias="pro")
    assert second.payment_mean_id == "2" and second.masked_pan == "5100##########00"


def test_the_same_card_in_another_wallet_is_not_a_duplicate(client: WalletClient) -> None:
    assert client.add_card("wallet-1", TEST_PAN, "203012").ok
    assert client.add_card("wallet-2", TEST_PAN, "203012").ok


def test_every_optional_field_is_accepted_and_sent(
    client: WalletClient, received: list[bytes]
) -> None:
    result = client.add_card(
        "wallet-1",
        TEST_PAN,
        "203012",
        pan_type="PAN",
        payment_mean_alias="my visa",
        payment_mean_brand="VISA",
        payment_mean_brand_selection_status="APPLIED_DEFAULT",
        payment_token="hosted-fields-token",
        intermediate_service_provider_id="ISP-1",
    )
    assert result.ok
    sent = input_fields(received[-1])  # what went on the wire, every one of them
    assert {k: sent[k] for k in (
        "panType", "paymentMeanAlias", "paymentMeanBrand", "paymentMeanBrandSelectionStatus",
        "paymentToken", "intermediateServiceProviderId",
    )} == {
        "panType": "PAN", "paymentMeanAlias": "my visa", "paymentMeanBrand": "VISA",
        "paymentMeanBrandSelectionStatus": "APPLIED_DEFAULT",
        "paymentToken": "hosted-fields-token", "intermediateServiceProviderId": "ISP-1",
    }  # fmt: skip


def test_a_token_is_accepted_as_an_opaque_card_number(client: WalletClient) -> None:
    result = client.add_card("wallet-1", "tok_" + "A" * 100, "203012", pan_type="TOKEN_PAN")
    assert result.ok


def test_a_card_without_expiry_date_is_sent_with_an_empty_one(client: WalletClient) -> None:
    assert client.add_card("wallet-1", TEST_PAN, "").ok


def test_an_unknown_merchant_gets_03(simulator: Simulator) -> None:
    with _client(simulator, merchant_id="011223344550000") as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert result.response_code == "03" and not result.ok
    assert not result.seal_verified  # nobody can seal for an unknown merchant


def test_a_wrong_secret_key_gets_34(simulator: Simulator) -> None:
    with _client(simulator, secret_key="not-the-key") as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert result.response_code == "34"
    assert simulator.store.count_cards() == 0


def test_a_stale_key_version_gets_34() -> None:
    rotated = Merchant(MERCHANT.merchant_id, 2, "the-new-key")
    with Simulator(merchants=[rotated]) as sim, _client(sim, key_version=1) as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert result.response_code == "34"


@pytest.mark.parametrize("algorithm", ["HMAC-SHA-256", "HMAC-SHA-512", "SHA-256"])
def test_every_seal_algorithm_works_both_ways(simulator: Simulator, algorithm: str) -> None:
    with _client(simulator, seal_algorithm=algorithm) as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert result.ok and result.seal_verified


def test_raise_for_code_raises_for_a_refusal_and_returns_a_success(client: WalletClient) -> None:
    first = client.add_card("wallet-1", TEST_PAN, "203012")
    assert first.raise_for_code() is first
    with pytest.raises(WalletResponseError) as caught:
        client.add_card("wallet-1", TEST_PAN, "203012").raise_for_code()
    assert caught.value.response_code == "94"
    assert str(caught.value) == "addCard: Duplicated wallet / payment mean"  # names the call
    assert caught.value.result.duplicate and caught.value.result.operation == "addCard"


# ------------------------------------------------------------------ what goes on the wire


def test_the_request_carries_the_injected_fields_and_a_seal_over_them(
    client: WalletClient, received: list[bytes]
) -> None:
    assert client.add_card("w", TEST_PAN, "203012").ok
    (body,) = received
    field = input_fields(body)
    assert field["interfaceVersion"] == "WR_WS_2.55"
    assert field["merchantId"] == MERCHANT.merchant_id
    assert field["keyVersion"] == "1"
    assert field["sealAlgorithm"] == "HMAC-SHA-256"
    # the seal, by hand: values sorted by name, minus keyVersion/sealAlgorithm/seal
    data = "203012" + TEST_PAN + "WR_WS_2.55" + MERCHANT.merchant_id + "w"
    by_hand = hmac.new(MERCHANT.secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    assert field["seal"] == by_hand


# ------------------------------------------------------------------ bad input: nothing sent

BAD_INPUTS = [
    pytest.param({"card_expiry_date": "2030-12"}, "cardExpiryDate", id="expiry-not-YYYYMM"),
    pytest.param({"card_expiry_date": "203013"}, "cardExpiryDate", id="expiry-month-13"),
    pytest.param({"card_expiry_date": "203000"}, "cardExpiryDate", id="expiry-month-00"),
    pytest.param({"card_number": "41000000000"}, "cardNumber", id="pan-11-digits"),
    pytest.param({"card_number": "4" * 20}, "cardNumber", id="pan-20-digits"),
    pytest.param({"card_number": "4100a00000000000"}, "cardNumber", id="pan-with-letter"),
    pytest.param(
        {"card_number": "t" * 129, "pan_type": "TOKEN_PAN"}, "cardNumber", id="token-129-chars"
    ),
    pytest.param({"pan_type": "CLEAR"}, "panType", id="unknown-pan-type"),
    pytest.param({"payment_mean_brand": "VISAA"}, "paymentMeanBrand", id="unknown-brand"),
    pytest.param({"payment_mean_brand": "UNKNOWN"}, "paymentMeanBrand", id="brand-UNKNOWN"),
    pytest.param(
        {"payment_mean_brand_selection_status": "YES"},
        "paymentMeanBrandSelectionStatus",
        id="unknown-selection-status",
    ),
    pytest.param({"merchant_wallet_id": ""}, "merchantWalletId", id="empty-wallet-id"),
    pytest.param({"merchant_wallet_id": "w" * 22}, "merchantWalletId", id="wallet-id-too-long"),
    pytest.param({"payment_mean_alias": "a" * 21}, "paymentMeanAlias", id="alias-too-long"),
    pytest.param({"payment_mean_alias": "4100000000000000"}, "paymentMeanAlias", id="alias-pan"),
    pytest.param({"payment_token": "x" * 256}, "paymentToken", id="token-too-long"),
    pytest.param(
        {"intermediate_service_provider_id": "i" * 21},
        "intermediateServiceProviderId",
        id="isp-too-long",
    ),
    pytest.param({"merchant_wallet_id": "w\x00"}, "merchantWalletId", id="control-char"),
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUTS)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_sent(
    client: WalletClient, simulator: Simulator, change: dict[str, str], field: str
) -> None:
    arguments: dict[str, str] = {
        "merchant_wallet_id": "wallet-1",
        "card_number": TEST_PAN,
        "card_expiry_date": "203012",
        **change,
    }
    seen_before = simulator.requests_seen
    with pytest.raises(InvalidFieldError) as caught:
        client.add_card(**arguments)
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)
    assert field in str(caught.value)
    assert TEST_PAN not in str(caught.value)
    assert simulator.requests_seen == seen_before


def test_spaces_people_type_in_a_card_number_are_removed(client: WalletClient) -> None:
    result = client.add_card("wallet-1", "4100 0000 0000 0000", "203012")
    assert result.masked_pan == "4100##########00"


# ------------------------------------------------------------------ the other side misbehaves


def _faulty(kind: str) -> Simulator:
    return Simulator(faults=FaultProfile({kind: 1.0}))


def test_a_soap_fault_to_add_card_is_an_unknown_outcome() -> None:
    """A service may fault after it stored the card: never read as "not stored"."""
    with _faulty("soap_fault") as sim, _client(sim) as client:
        with pytest.raises(OutcomeUnknown) as caught:
            client.add_card("wallet-1", TEST_PAN, "203012")
    assert caught.value.reason == "fault" and caught.value.operation == "addCard"
    assert str(caught.value).startswith("addCard: the service answered 'SOAP fault soap:Server: ")
    assert "whether card 4100##########00 is in wallet wallet-1 is unknown" in str(caught.value)


def test_a_soap_fault_to_another_operation_becomes_a_result() -> None:
    with _faulty("soap_fault") as sim, _client(sim) as client:
        result = client.delete_payment_mean("wallet-1", "1")
    assert not result.ok and result.response_code is None
    assert result.fault is not None
    assert result.fault.code == "soap:Server"
    assert "injected" in result.fault.message
    assert "SOAP fault" in result.message
    with pytest.raises(WalletResponseError):
        result.raise_for_code()


@pytest.mark.parametrize(
    ("kind", "error", "match", "reason"),
    [
        pytest.param("wrong_seal", SealVerificationError, "seal is wrong", "unverified",
                     id="altered-seal"),
        pytest.param("no_seal", SealVerificationError, "seal is missing", "unverified",
                     id="unsealed-success"),
        pytest.param("garbage", ResponseError, "not XML", "unreadable", id="not-xml"),
        # a gateway's 5xx page to a change: it may have forwarded the request
        pytest.param("http_503", OutcomeUnknown, "HTTP 503", "http_status", id="http-503-page"),
        pytest.param("doctype", ResponseError, "DTD", "unreadable", id="dtd-and-entities"),
    ],
)  # fmt: skip
def test_a_misbehaving_service_raises_the_package_own_error(
    kind: str, error: type[Exception], match: str, reason: str
) -> None:
    with _faulty(kind) as sim, _client(sim) as client, pytest.raises(error, match=match) as caught:
        client.add_card("wallet-1", TEST_PAN, "203012")
    assert not isinstance(caught.value, requests.RequestException)
    # an answer to a change that cannot be used: the card may be stored all the same
    assert isinstance(caught.value, OutcomeUnknown)
    assert caught.value.reason == reason


def test_a_refusal_without_a_seal_is_returned_marked_unverified() -> None:
    with _faulty("no_seal") as sim, _client(sim) as client:
        with pytest.raises(SealVerificationError):
            client.add_card("wallet-1", TEST_PAN, "203012")  # stored, answer unsealed
        refusal = client.add_card("wallet-1", TEST_PAN, "203012")
    assert refusal.response_code == "94"
    assert not refusal.seal_verified


def test_a_temporary_problem_is_a_99_result() -> None:
    with _faulty("code_99") as sim, _client(sim) as client:
        result = client.add_card("wallet-1", TEST_PAN, "203012")
    assert result.response_code == "99" and result.temporary and result.seal_verified


def test_a_refused_connection_raises_connection_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/v2/wallet"
    with (
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url) as client,
        pytest.raises(ConnectionFailed) as caught,
    ):
        client.add_card("wallet-1", TEST_PAN, "203012")
    assert caught.value.operation == "addCard"
    assert not isinstance(caught.value, requests.RequestException)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts and reads, and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                held.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/services/v2/wallet"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_lost_answer_to_add_card_is_an_unknown_outcome_with_masked_details(
    silent_server: str,
) -> None:
    with (
        WalletClient(
            MERCHANT.merchant_id,
            MERCHANT.secret_key,
            1,
            environment=silent_server,
            timeout=(1, 0.3),
        ) as client,
        pytest.raises(OutcomeUnknown, match="outcome is unknown") as caught,
    ):
        client.add_card("wallet-1", TEST_PAN, "203012")
    assert caught.value.reason == "timeout"
    assert caught.value.attempted == {
        "merchantWalletId": "wallet-1",
        "cardExpiryDate": "203012",
        "maskedPan": "4100##########00",
    }
    assert client.retries_made == 0  # never retried blindly


def test_no_answer_to_a_read_raises_response_timeout_at_the_deadline(silent_server: str) -> None:
    started = time.monotonic()
    with (
        WalletClient(
            MERCHANT.merchant_id,
            MERCHANT.secret_key,
            1,
            environment=silent_server,
            timeout=(1, 0.2),
            retry=RetryPolicy(attempts=2, base_delay=0.01),
        ) as client,
        pytest.raises(ResponseTimeout) as caught,
    ):
        client.get_wallet_data("wallet-1")
    assert not isinstance(caught.value, OutcomeUnknown)
    # the deadline (1 + 0.2 s) covers retries too: none fits after a timeout
    assert client.retries_made == 0
    assert time.monotonic() - started < 1.2 + 0.5
