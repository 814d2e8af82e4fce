"""Properties batch 11 of realistic bugs found untested: which HTTP errors leave a
change unknown, the reason an oversized answer gives, a JSON error answer never
used, and the simulator's own rules (key version, each service's interface
version, nested JSON values, functions of another service, a refund's currency)."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from conftest import MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import HTTPStatusError, OutcomeUnknown, RetryPolicy, WalletClient
from sogen_soap.json_codec import build_request
from sogen_soap.services import CHECKOUT, WALLET
from sogen_soap.simulator import DEFAULT_MERCHANT, WalletStore
from sogen_soap.simulator.app import SimulatorApp
from sogen_soap.testing import simulated_wallet


def _answering(head: bytes, body: bytes = b"") -> object:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)

    return answer


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                        retry=RetryPolicy(attempts=1), timeout=2.0, **options)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize("status", [400, 404, 429])
def test_a_4xx_without_an_answer_to_a_change_is_not_an_unknown_outcome(status: int) -> None:
    """A client error says the request was not taken: an HTTP error, not 'maybe done'."""
    with HostileServer(_answering(b"HTTP/1.1 %d Nope" % status)) as server:  # type: ignore[arg-type]
        with _client(server.url) as client, pytest.raises(HTTPStatusError) as caught:
            client.add_card("w", TEST_PAN, "203012")
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.status_code == status


def test_an_oversized_answer_to_a_change_says_so() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n" + b"<" * 4096

    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(huge)

    with HostileServer(answer) as server:  # type: ignore[arg-type]
        with (
            _client(server.url, max_response_bytes=8192) as client,
            pytest.raises(OutcomeUnknown) as caught,
        ):
            client.add_card("w", TEST_PAN, "203012")
    assert caught.value.reason == "too_large"


def test_a_json_answer_with_an_error_status_is_never_used() -> None:
    body = json.dumps({"walletResponseCode": "25", "seal": "x"}).encode()
    head = b"HTTP/1.1 500 Server Error\r\nContent-Type: application/json"
    with HostileServer(_answering(head, body)) as server:  # type: ignore[arg-type]
        with (
            _client(server.url, transport="json") as client,
            pytest.raises(HTTPStatusError) as caught,
        ):
            client.get_wallet_data("w")
    assert caught.value.status_code == 500


def test_the_simulator_answers_34_to_a_key_version_it_does_not_know() -> None:
    """Sealed with the right key, but named version 2: the service knows version 1 only."""
    with simulated_wallet() as kit:
        client = WalletClient(kit.merchant_id, kit.secret_key, 2, environment=kit.url)
        with client:
            assert client.get_wallet_data("w").response_code == "34"


def _app() -> SimulatorApp:
    return SimulatorApp(WalletStore(), [DEFAULT_MERCHANT])


def _sealed(fields: dict[str, object]) -> bytes:
    common = {"merchantId": DEFAULT_MERCHANT.merchant_id, "keyVersion": 1}
    return build_request({**common, **fields}, DEFAULT_MERCHANT.secret_key, "HMAC-SHA-256")


def test_the_simulator_takes_each_services_own_interface_version() -> None:
    app = _app()
    order = {"amount": "100", "currencyCode": "978", "merchantWalletId": "w",
             "paymentMeanId": "1", "transactionReference": "r1",
             "orderChannel": "INTERNET"}  # fmt: skip
    _, payload, _ = app.handle_json(
        "walletOrder", _sealed({**order, "interfaceVersion": "WR_WS_2.55"}), CHECKOUT
    )
    answer = json.loads(payload)
    assert (answer["responseCode"], answer["errorFieldName"]) == ("30", "interfaceVersion")


def test_a_nested_json_value_is_a_format_error_naming_its_field() -> None:
    body = json.dumps({"merchantId": DEFAULT_MERCHANT.merchant_id, "keyVersion": 1,
                       "interfaceVersion": "WR_WS_2.55", "seal": "x",
                       "merchantWalletId": {"nested": "w"}}).encode()  # fmt: skip
    _, payload, _ = _app().handle_json("getWalletData", body)
    answer = json.loads(payload)
    assert (answer["walletResponseCode"], answer["errorFieldName"]) == ("30", "merchantWalletId")


def test_a_function_is_served_by_its_own_service_only() -> None:
    app = _app()
    assert app.handle_json("walletOrder", b"{}", WALLET)[0] == "404 Not Found"
    assert app.handle_json("addCard", b"{}", CHECKOUT)[0] == "404 Not Found"


def test_a_refund_in_another_currency_is_refused_naming_it() -> None:
    with simulated_wallet() as kit, kit.client() as client:
        mean = client.add_card("w", TEST_PAN, "203012").payment_mean_id
        reference = str(client.wallet_order("w", str(mean), 1000).transaction_reference)
        kit.advance(days=1)
        refused = client.refund(reference, 100, "840")
        assert (refused.response_code, refused.error_field_name) == ("12", "currencyCode")
        assert kit.transaction(reference).current_amount == 1000
