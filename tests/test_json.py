"""The JSON transport: the same client, rules and guarantees over the JSON endpoint.

Seals of JSON bodies are rebuilt here by hand (hmac/hashlib over concatenations
written out in the test), never with the package's ``compute_seal``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from conftest import FAST_RETRY, MERCHANT, OTHER_PAN, TEST_PAN
from hostile import HostileServer, request_parts

from sogen_soap import (
    AsyncWalletClient,
    OutcomeUnknown,
    ResponseError,
    ResponseTooLarge,
    SealVerificationError,
    WalletClient,
)
from sogen_soap.simulator import FaultProfile, Merchant, Simulator

KEY = MERCHANT.secret_key.encode()
WHEN = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
STAMP = "2026-11-29T12:00:00+00:00"


def _hmac(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def _client(url: str, transport: str = "json", **options: object) -> WalletClient:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("timeout", 1.5)
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url, transport=transport,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _recording(sim: Simulator) -> list[tuple[bytes, bytes]]:
    """(request, answer) bodies of the JSON endpoint, as they went over the wire."""
    seen: list[tuple[bytes, bytes]] = []
    real = sim.app.handle_json

    def record(operation: str, body: bytes, *service: Any) -> tuple[str, bytes, str]:
        status, payload, kind = real(operation, body, *service)
        seen.append((body, payload))
        return status, payload, kind

    sim.app.handle_json = record  # type: ignore[method-assign]
    return seen


def test_a_wallets_whole_life_over_json() -> None:
    with Simulator(clock=lambda: WHEN, newer_fields=True) as sim:
        wire = _recording(sim)
        with _client(sim.url) as client:
            assert client.endpoint.endswith("/rs-services/v2/wallet")
            added = client.add_card("w", TEST_PAN, "203012", payment_mean_alias="visa")
            assert added.ok and added.seal_verified and added.payment_mean_id == "1"
            assert client.add_card("w", TEST_PAN, "203012").duplicate
            assert client.add_card("w", OTHER_PAN, "203101").ok
            wallet = client.get_wallet_data("w")
            one = client.get_payment_mean_data("w", 2)
            assert client.update_payment_mean("w", 1, "renamed").ok
            assert client.delete_payment_mean("w", 2).ok
            assert client.sign_off("w").ok
            assert client.get_wallet_data("w").response_code == "25"
    assert [m.masked_pan for m in wallet.payment_means] == ["4100##########00", "5100##########00"]
    assert wallet.payment_means[0].co_badging_brands == ("CB", "VISA")
    assert wallet.payment_means[0].extra["pspData"] == {
        "pspId": "SIMULATED",
        "pspName": "sogen-soap simulator",
    }
    assert one.payment_mean is not None and one.payment_mean.pan_expiry_date == "203101"

    # the request: vendor names, keyVersion a number, the seal over the rest, by hand
    request = json.loads(wire[0][0])
    assert request["keyVersion"] == 1 and "sealAlgorithm" not in request
    assert request["seal"] == _hmac(
        "203012" + TEST_PAN + "WR_WS_2.55" + MERCHANT.merchant_id + "w" + "visa"
    )
    # the answer with a list of payment means and nested objects, sealed by hand:
    # names sorted ignoring case; each mean: maskedPan, panExpiryDate, [paymentMeanAlias],
    # paymentMeanBrand, paymentMeanBrandSelectionStatus, paymentMeanCoBadgingBrandList,
    # paymentMeanData{cardProductCode, panType}, paymentMeanId, pspData{pspId, pspName},
    # transactionActors
    answer = json.loads(wire[3][1])
    assert isinstance(answer["walletPaymentMeanDataList"], list)  # a bare array

    def mean(pan: str, expiry: str, alias: str, brand: str, number: str) -> str:
        return (pan + expiry + alias + brand + "MERCHANT_SELECTION" + "CB" + brand + "F" + "PAN"
                + number + "SIMULATED" + "sogen-soap simulator" + "MERCHANT" + "WALLET_PROVIDER")  # fmt: skip

    text = (STAMP + STAMP + mean("4100##########00", "203012", "visa", "VISA", "1")
            + mean("5100##########00", "203101", "", "MASTERCARD", "2") + "00")  # fmt: skip
    assert answer["seal"] == _hmac(text)


def test_the_async_client_speaks_json_too() -> None:
    async def life(url: str) -> tuple[bool, int]:
        async with AsyncWalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url, transport="json"
        ) as client:
            added = await client.add_card("a", TEST_PAN, "203012")
            wallet = await client.get_wallet_data("a")
            return added.ok, len(wallet.payment_means)

    with Simulator() as sim:
        assert asyncio.run(life(sim.url)) == (True, 1)


def test_a_card_added_over_soap_is_read_over_json_and_the_reverse() -> None:
    with Simulator() as sim, _client(sim.url, "soap") as soap, _client(sim.url, "json") as rest:
        assert soap.add_card("s", TEST_PAN, "203012").ok
        assert [m.masked_pan for m in rest.get_wallet_data("s").payment_means] == [
            "4100##########00"
        ]
        assert rest.add_card("j", OTHER_PAN, "203012").ok
        assert soap.get_payment_mean_data("j", 1).payment_mean.masked_pan == "5100##########00"  # type: ignore[union-attr]
        assert soap.add_card("j", OTHER_PAN, "203012").duplicate  # the same store


@pytest.mark.parametrize("given", ["/services/v2/wallet", "/rs-services/v2/wallet"])
def test_either_url_names_the_same_service_for_either_transport(given: str) -> None:
    with Simulator() as sim:
        url = sim.url.replace("/services/v2/wallet", given)
        with _client(url, "json") as rest, _client(url, "soap") as soap:
            assert rest.endpoint.endswith("/rs-services/v2/wallet")
            assert soap.endpoint.endswith(":" + sim.url.split(":")[2])
            assert rest.add_card("w", TEST_PAN, "203012").ok
            assert soap.get_wallet_data("w").ok


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("drop", OutcomeUnknown),
        ("commit_drop", OutcomeUnknown),
        ("delay", OutcomeUnknown),
        ("http_503", OutcomeUnknown),
        ("soap_fault", OutcomeUnknown),  # over JSON: a 500 with no wallet answer
        ("garbage", ResponseError),
        ("wrong_seal", SealVerificationError),
        ("no_seal", SealVerificationError),
        ("tampered", SealVerificationError),
        ("xxe", ResponseError),
    ],
)
def test_every_failure_mode_over_json(fault: str, expected: type[Exception]) -> None:
    with Simulator(faults=FaultProfile({fault: 1.0}, delay=3.0)) as sim, _client(sim.url) as client:
        with pytest.raises(expected) as caught:
            client.add_card("w", TEST_PAN, "203012")
    assert TEST_PAN not in str(caught.value)


def test_a_temporary_problem_is_retried_and_a_lost_answer_reconciled_over_json() -> None:
    with (
        Simulator(faults=FaultProfile(sequence=["code_99", None])) as sim,
        _client(sim.url) as client,
    ):
        assert client.add_card("w", TEST_PAN, "203012").ok
        assert client.retries_made == 1
        sim.app.faults = FaultProfile(sequence=["commit_drop", None, None])
        result = client.add_card("w", OTHER_PAN, "203012", reconcile=True)
        assert result.ok and result.recovered and result.payment_mean_id == "2"
        assert sim.store.count_cards() == 2


def _serving(
    payload: bytes, status: bytes = b"200 OK", kind: bytes = b"application/json"
) -> HostileServer:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + kind
                     + b"\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))  # fmt: skip

    return HostileServer(answer)


def test_a_json_request_says_what_it_sends_and_what_it_takes() -> None:
    """The vendor's JSON endpoint is ``<base>/<function>``, POSTed with
    ``Content-Type: application/json``; ``Accept: application/json`` asks for JSON
    back (a gateway answering HTML error pages by default answers JSON then)."""
    with _serving(b'{"walletResponseCode": "25"}') as server:
        url = server.url.replace("/services/v2/wallet", "/rs-services/v2/wallet")
        with _client(url, "json") as client:
            assert client.get_wallet_data("w").response_code == "25"
    line, headers, body = request_parts(server.bodies[0])
    assert line == "POST /rs-services/v2/wallet/getWalletData HTTP/1.1"
    assert (headers["content-type"], headers["accept"]) == ("application/json", "application/json")
    assert json.loads(body)["merchantWalletId"] == "w"


HOSTILE: dict[str, tuple[bytes, bytes, bytes, type[Exception], str]] = {
    "html page": (b"<html><body>Service down</body></html>", b"200 OK", b"text/html", ResponseError, "not JSON"),
    "html 502": (b"<html>bad gateway</html>", b"502 Bad Gateway", b"text/html", OutcomeUnknown, "HTTP 502"),
    "truncated": (b'{"walletResponseCode": "00", "se', b"200 OK", b"application/json", ResponseError, "not JSON"),
    "duplicate keys": (b'{"walletResponseCode": "00", "walletResponseCode": "94", "seal": "x"}', b"200 OK",
                       b"application/json", ResponseError, "twice"),
    "number code": (b'{"walletResponseCode": 0, "seal": "x"}', b"200 OK", b"application/json", ResponseError,
                    "walletResponseCode as a int"),
    "an array": (b"[1, 2]", b"200 OK", b"application/json", ResponseError, "not JSON"),
    "a float": (b'{"walletResponseCode": "00", "x": 1.5, "seal": "x"}', b"200 OK", b"application/json",
                ResponseError, "fraction"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_json_answers_raise_the_package_errors(case: str) -> None:
    payload, status, kind, expected, match = HOSTILE[case]
    with _serving(payload, status, kind) as server, _client(server.url) as client:
        with pytest.raises(expected, match=match):
            client.add_card("w", TEST_PAN, "203012")


def test_a_huge_json_answer_is_cut_at_the_cap() -> None:
    payload = b'{"walletResponseCode": "00", "x": "' + b"a" * 6_000_000 + b'"}'
    with _serving(payload) as server, _client(server.url) as client:
        with pytest.raises(ResponseTooLarge):
            client.get_wallet_data("w")


def test_a_json_answer_with_a_list_and_a_nested_object_is_verified_by_the_rule() -> None:
    body = {
        "walletResponseCode": "00",
        "walletCreationDateTime": STAMP,
        "walletPaymentMeanDataList": [
            {
                "paymentMeanId": "1",
                "maskedPan": "4100##########00",
                "pspData": {"pspName": "B", "pspId": "A"},
            },
            {
                "paymentMeanId": "2",
                "maskedPan": "5100##########00",
                "transactionActors": ["X", "Y"],
            },
        ],
    }
    # ignoring case: walletCreationDateTime, walletPaymentMeanDataList, walletResponseCode;
    # item 1: maskedPan, paymentMeanId, pspData{pspId, pspName}; item 2: ..., transactionActors
    text = (
        STAMP + "4100##########00" + "1" + "A" + "B" + "5100##########00" + "2" + "X" + "Y" + "00"
    )
    payload = json.dumps({**body, "seal": _hmac(text)}).encode()
    with _serving(payload) as server, _client(server.url) as client:
        wallet = client.get_wallet_data("w")
    assert wallet.seal_verified
    assert [m.payment_mean_id for m in wallet.payment_means] == ["1", "2"]
    assert wallet.payment_means[0].extra == {"pspData": {"pspName": "B", "pspId": "A"}}
    assert wallet.payment_means[1].transaction_actors == ("X", "Y")
    # one character changed anywhere: refused
    tampered = payload.replace(b'"pspName": "B"', b'"pspName": "C"')
    with _serving(tampered) as server, _client(server.url) as client:
        with pytest.raises(SealVerificationError):
            client.get_wallet_data("w")


def test_the_simulator_answers_json_format_errors_with_30_and_the_field() -> None:
    with Simulator() as sim, _client(sim.url) as client:
        wire = _recording(sim)
        result = client.get_payment_mean_data("w", "1")
        assert result.response_code == "25"
        body = json.loads(wire[0][0])
        body["paymentMeanId"] = "abc"
        _, payload, _ = sim.app.handle_json("getPaymentMeanData", json.dumps(body).encode())
        assert json.loads(payload)["walletResponseCode"] in ("30", "34")


def test_enrol_and_the_cli_work_unchanged_over_json(tmp_path: object) -> None:
    from pathlib import Path

    from cli_support import merchant_env, read_results, run

    folder = Path(str(tmp_path))
    (folder / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    with Simulator() as sim:
        env = merchant_env(folder, sim.url)
        env["SOGEN_TRANSPORT"] = "json"
        seen: Callable[[], int] = lambda: sim.requests_seen  # noqa: E731
        done = run("enrol", "in.csv", "--quiet", env=env, cwd=folder)
        assert done.returncode == 0, done.stderr
        assert [r["outcome"] for r in read_results(folder / "in.results.csv")] == ["ok", "ok"]
        shown = run("wallet", "--wallet", "w1", "--transport", "json", "--json", env=env)
        assert json.loads(shown.stdout)["payment_means"][0]["masked_pan"] == "4100##########00"
        assert seen() == 3


def test_the_simulator_refuses_by_hand_what_the_client_never_sends() -> None:
    """Requests built and sealed by hand (the client refuses to build them): the brand
    UNKNOWN, an answer's word, is refused 12 naming paymentMeanBrand; a key version the
    simulator does not know is refused 34, sealed with the merchant's own key all the
    same; a seal algorithm it does not take is refused 30.  The same request under its
    own version is the control: 00."""
    base = {"cardExpiryDate": "203012", "cardNumber": TEST_PAN, "interfaceVersion": "WR_WS_2.55",
            "keyVersion": 1, "merchantId": MERCHANT.merchant_id, "merchantWalletId": "w"}  # fmt: skip
    signed = "203012" + TEST_PAN + "WR_WS_2.55" + MERCHANT.merchant_id + "w"

    def send(sim: Simulator, fields: dict[str, object], text: str) -> dict[str, object]:
        body = json.dumps({**fields, "seal": _hmac(text)}).encode()
        answer: dict[str, object] = json.loads(sim.app.handle_json("addCard", body)[1])
        return answer

    with Simulator() as sim:
        unknown = send(sim, {**base, "paymentMeanBrand": "UNKNOWN"}, signed + "UNKNOWN")
        assert (unknown["walletResponseCode"], unknown["errorFieldName"]) == (
            "12", "paymentMeanBrand",
        )  # fmt: skip
        assert send(sim, {**base, "keyVersion": 7}, signed)["walletResponseCode"] == "34"
        # a seal algorithm it does not take: 30 naming the field, sealed the default way
        # (HMAC-SHA-256; sealAlgorithm is not part of the sealed text)
        md5 = send(sim, {**base, "sealAlgorithm": "HMAC-MD5"}, signed)
        assert md5 == {"walletResponseCode": "30", "errorFieldName": "sealAlgorithm",
                       "seal": _hmac("sealAlgorithm" + "30")}  # fmt: skip
        assert sim.store.wallet(MERCHANT.merchant_id, "w") is None
        assert send(sim, base, signed)["walletResponseCode"] == "00"
        # a version it does not know is answered under the merchant's newest key
        sim.app.add_key(Merchant(MERCHANT.merchant_id, 2, "key-two"))
        refused = send(sim, {**base, "keyVersion": 7}, signed)
        assert refused == {"walletResponseCode": "34",
                           "seal": hmac.new(b"key-two", b"34", hashlib.sha256).hexdigest()}  # fmt: skip


def test_a_cb_card_is_co_badged_cb_alone() -> None:
    """The simulator's newer fields: a card of another brand is co-badged CB and its
    own; a CB card, CB once (not CB twice)."""
    with Simulator(newer_fields=True) as sim, _client(sim.url) as client:
        assert client.add_card("w", TEST_PAN, "203012", payment_mean_brand="CB").ok
        assert client.add_card("w", OTHER_PAN, "203012").ok
        wallet = client.get_wallet_data("w")
    assert [m.co_badging_brands for m in wallet.payment_means] == [("CB",), ("CB", "MASTERCARD")]
