"""What the client makes of each kind of answer, word for word: HTTP errors with
and without a SOAP or JSON answer, unsealed and wrongly sealed answers, answers
without a code, and a wallet list under a name the client does not know.

A server written here sends each answer as given; seals are built by hand
(hmac/hashlib) by the rule the vendor publishes.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import (
    GetWalletDataResult,
    HTTPStatusError,
    ResponseError,
    RetryPolicy,
    SealVerificationError,
    WalletClient,
)

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _seal(values: list[str]) -> str:
    return hmac.new(
        MERCHANT.secret_key.encode(), "".join(values).encode(), hashlib.sha256
    ).hexdigest()


def _envelope(fields: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body><ns:getWalletDataResponse '
        f'xmlns:ns="urn:x"><ns:output>{fields}</ns:output></ns:getWalletDataResponse>'
        "</soap:Body></soap:Envelope>"
    ).encode()


def _answer(status: str, body: bytes, content_type: str = "text/xml") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def answering() -> Iterator[list[bytes]]:
    """Put the answer to send in the list; the server sends the last one put there."""
    answers: list[bytes] = []

    def behaviour(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(answers[-1])

    with HostileServer(behaviour) as server:
        answers.append(server.url.encode())  # the first item: where the server listens
        yield answers


def _read(answers: list[bytes], answer: bytes, transport: str = "soap") -> GetWalletDataResult:
    url = answers[0].decode()
    answers.append(answer)
    with WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, environment=url,
        retry=RetryPolicy(attempts=1), timeout=2, transport=transport,
    ) as client:  # fmt: skip
        return client.get_wallet_data("w")


def _endpoint(answers: list[bytes], transport: str = "soap") -> str:
    url = answers[0].decode()
    return url.replace("/services/", "/rs-services/") if transport == "json" else url


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (_answer("200 OK", b"busy"), ResponseError, "getWalletData: the response is not XML"),
        (_answer("200 OK", b"<x"), ResponseError,
         "getWalletData: the response is not well-formed XML"),
        (_answer("200 OK", _envelope("<code>00</code>")), ResponseError,
         "getWalletData: the response carries no walletResponseCode"),
        (_answer("200 OK", _envelope("<walletResponseCode></walletResponseCode>")),
         ResponseError, "getWalletData: the response carries no walletResponseCode"),
        (_answer("200 OK", _envelope("<walletResponseCode>00</walletResponseCode><seal></seal>")),
         SealVerificationError,
         "getWalletData: the response seal is missing (code 00, key version 1); the response was not used. "
         "Check the secret key and key version, or the path to the service."),
        (_answer("200 OK", _envelope("<walletResponseCode>00</walletResponseCode>")),
         SealVerificationError,
         "getWalletData: the response seal is missing (code 00, key version 1); the response was not used. "
         "Check the secret key and key version, or the path to the service."),
        (_answer("200 OK", _envelope("<walletResponseCode>25</walletResponseCode>"
                                     f"<seal>{'0' * 64}</seal><walletCreationDateTime>x"
                                     "</walletCreationDateTime>")),
         SealVerificationError,
         "getWalletData: the response seal is wrong (code 25, key version 1); the response was not used. "
         "Check the secret key and key version, or the path to the service."),
    ],
)  # fmt: skip
def test_answers_that_cannot_be_used_are_named(
    answering: list[bytes], answer: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        _read(answering, answer)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("status", "body", "transport"),
    [
        ("500 Internal Server Error", b"<html>oops</html>", "soap"),
        ("404 Not Found", b"<html><body>no</body></html>", "soap"),
        ("503 Service Unavailable", _envelope("<walletResponseCode>00</walletResponseCode>"), "soap"),
        ("502 Bad Gateway", b"<html>oops</html>", "json"),
        ("500 Internal Server Error", b"{broken", "json"),
        ("500 Internal Server Error", b'{"walletResponseCode":"00"}', "json"),
    ],
)  # fmt: skip
def test_an_http_error_without_a_usable_answer_names_its_status(
    answering: list[bytes], status: str, body: bytes, transport: str
) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        _read(answering, _answer(status, body), transport)
    kind = "JSON" if transport == "json" else "SOAP"
    # the URL the call went to: JSON's names its function
    called = _endpoint(answering, transport) + ("/getWalletData" if transport == "json" else "")
    assert str(caught.value) == (
        f"getWalletData: HTTP {status} from {called} without a {kind} answer"
    )
    assert caught.value.status_code == int(status[:3])
    assert (caught.value.operation, caught.value.endpoint) == ("getWalletData", called)


def test_an_http_error_without_a_reason_phrase_is_named_by_its_status(
    answering: list[bytes],
) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        _read(answering, b"HTTP/1.1 502\r\nContent-Length: 4\r\n\r\nbusy")
    assert str(caught.value) == (
        f"getWalletData: HTTP 502 from {_endpoint(answering)} without a SOAP answer"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html>busy</html>", "getWalletData: the response is not JSON"),
     (b"{broken", "getWalletData: the response is not JSON"),
     (b'{"walletResponseCode":0}',
      "getWalletData: the response gives walletResponseCode as a int, not text"),
     (b'{"walletResponseCode":"00"}',
      "getWalletData: the response seal is missing (code 00, key version 1); the response was not used. "
      "Check the secret key and key version, or the path to the service.")],
)  # fmt: skip
def test_json_answers_that_cannot_be_used_are_named(
    answering: list[bytes], body: bytes, message: str
) -> None:
    with pytest.raises(ResponseError) as caught:
        _read(answering, _answer("200 OK", body, "application/json"), "json")
    assert str(caught.value) == message


def test_a_fault_is_a_result_whatever_the_status(
    answering: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="sogen_soap")
    fault = (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body><soap:Fault><faultcode>soap:Client'
        "</faultcode><faultstring>bad</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    ).encode()
    for status in ("500 Internal Server Error", "200 OK"):
        result = _read(answering, _answer(status, fault))
        assert result.fault is not None and result.fault.code == "soap:Client"
        assert result.seal_verified is False
    assert [r.getMessage() for r in caplog.records if r.name == "sogen_soap"] == [
        f"getWalletData {_endpoint(answering)} -> soap:Client (wallet w)"
    ] * 2


@pytest.mark.parametrize(
    ("transport", "answer"),
    [
        ("soap", _answer("200 OK", _envelope("<walletResponseCode>25</walletResponseCode>"))),
        (  # empty fields are no data: services often send them on a refusal
            "soap",
            _answer("200 OK", _envelope(
                "<walletResponseCode>25</walletResponseCode>"
                "<walletCreationDateTime></walletCreationDateTime><walletPaymentMeanDataList/>"
            )),
        ),
        (
            "json",
            _answer("200 OK", b'{"walletResponseCode":"25","walletCreationDateTime":"",'
                    b'"walletLastActionDateTime":null}', "application/json"),
        ),
    ],
)  # fmt: skip
def test_an_unsealed_refusal_without_data_is_shown_as_unverified(
    answering: list[bytes], transport: str, answer: bytes
) -> None:
    result = _read(answering, answer, transport)
    assert result.response_code == "25" and result.seal_verified is False
    assert result.wallet_creation_datetime is None and result.payment_means == ()


def test_a_wallet_list_under_an_unknown_name_is_never_an_empty_wallet(
    answering: list[bytes],
) -> None:
    # sealed by hand: names sorted ignoring case -> cards (its fields sorted), walletResponseCode
    seal = _seal(["4100##########00", "1", "00"])
    body = _envelope(
        "<walletResponseCode>00</walletResponseCode><cards><paymentMeanId>1</paymentMeanId>"
        f"<maskedPan>4100##########00</maskedPan></cards><seal>{seal}</seal>"
    )
    with pytest.raises(ResponseError) as caught:
        _read(answering, _answer("200 OK", body))
    assert str(caught.value) == (
        "getWalletData: no walletPaymentMeanDataList, but cards, which the client cannot read "
        "as the wallet's payment means; not read"
    )


def test_a_refusal_carrying_an_unknown_container_is_returned_with_it_kept(
    answering: list[bytes],
) -> None:
    """Only a 00 without the wallet's list is refused for a container the client
    cannot read as cards: a refusal (25, unknown wallet) lists no cards anyway,
    so whatever else it carries is kept in ``extra`` and the code is returned."""
    # sealed by hand: names sorted ignoring case -> details (its field), walletResponseCode
    seal = _seal(["no such wallet", "25"])
    body = _envelope(
        "<walletResponseCode>25</walletResponseCode><details><reason>no such wallet</reason>"
        f"</details><seal>{seal}</seal>"
    )
    result = _read(answering, _answer("200 OK", body))
    assert result.response_code == "25" and result.seal_verified
    assert result.payment_means == ()
    assert result.extra == {"details": {"reason": "no such wallet"}}


def test_a_json_answer_may_start_with_white_space(answering: list[bytes]) -> None:
    body = b'\n  {"walletResponseCode":"25","seal":"%s"}' % _seal(["25"]).encode()
    result = _read(answering, _answer("200 OK", body, "application/json"), "json")
    assert result.response_code == "25" and result.seal_verified


def _client_for(answers: list[bytes], answer: bytes, **options: object) -> WalletClient:
    answers.append(answer)
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=answers[0].decode(), retry=RetryPolicy(attempts=1), timeout=2,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_json_null_in_an_answer_never_reaches_a_hook(answering: list[bytes]) -> None:
    """A field answered as null says nothing, as a field left out says nothing:
    the hook's ``response`` holds the fields that carry a value, never a None."""
    from sogen_soap.observe import Exchange

    seen: list[Exchange] = []
    body = b'{"walletResponseCode":"25","errorFieldName":null,"seal":"%s"}' % _seal(["25"]).encode()
    answering[0] = _endpoint(answering, "json").encode()
    with _client_for(answering, _answer("200 OK", body, "application/json"), transport="json",
                     on_response=seen.append, telemetry=False) as client:  # fmt: skip
        assert client.get_wallet_data("w").response_code == "25"
    assert [e.response for e in seen] == [{"walletResponseCode": "25"}]


def test_fields_the_client_does_not_know_are_kept_on_every_result(answering: list[bytes]) -> None:
    # sealed by hand: names sorted ignoring case, containers expanded with their fields sorted
    mean_seal = _seal(["x", "4100##########00", "1", "00"])
    mean = _envelope(
        "<walletResponseCode>00</walletResponseCode><newTopField>x</newTopField>"
        "<walletPaymentMeanData><paymentMeanId>1</paymentMeanId>"
        f"<maskedPan>4100##########00</maskedPan></walletPaymentMeanData><seal>{mean_seal}</seal>"
    )
    with _client_for(answering, _answer("200 OK", mean)) as client:
        result = client.get_payment_mean_data("w", "1")
    assert result.seal_verified and dict(result.extra) == {"newTopField": "x"}
    assert result.payment_mean is not None and result.payment_mean.payment_mean_id == "1"

    when = "2026-11-29T10:00:00+01:00"
    action = _envelope(
        f"<walletResponseCode>00</walletResponseCode><walletActionDateTime>{when}"
        f"</walletActionDateTime><traceId>t1</traceId><seal>{_seal(['t1', when, '00'])}</seal>"
    )
    with _client_for(answering, _answer("200 OK", action)) as client:
        deleted = client.delete_payment_mean("w", "1")
    assert deleted.seal_verified and dict(deleted.extra) == {"traceId": "t1"}
    assert deleted.wallet_action_datetime is not None
    assert deleted.wallet_action_datetime.isoformat() == when


def test_a_temporary_refusal_is_retried_while_the_deadline_leaves_room(
    answering: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """A 99 is sent again after a short wait, within a one-second deadline, and says so."""
    caplog.set_level("INFO", logger="sogen_soap")
    busy = _envelope(f"<walletResponseCode>99</walletResponseCode><seal>{_seal(['99'])}</seal>")
    retry = RetryPolicy(attempts=2, base_delay=0.01, jitter=False)
    answering.append(_answer("200 OK", busy))
    with WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=answering[0].decode(), retry=retry, timeout=1,
    ) as client:  # fmt: skip
        assert client.get_wallet_data("w").response_code == "99"
        assert client.retries_made == 1
    assert [r.getMessage() for r in caplog.records if "retry" in r.getMessage()] == [
        "getWalletData: code 99, retry 1 in 0.01 s"
    ]


def test_wallet_lists_read_or_refused_by_name(answering: list[bytes]) -> None:
    text_list = _envelope(
        "<walletResponseCode>00</walletResponseCode><walletPaymentMeanDataList>text"
        f"</walletPaymentMeanDataList><seal>{_seal(['text', '00'])}</seal>"
    )
    with pytest.raises(ResponseError) as caught:
        _read(answering, _answer("200 OK", text_list))
    assert str(caught.value) == (
        "getWalletData: walletPaymentMeanDataList holds text where a list was expected; not read"
    )
    two_unknown = _envelope(
        "<walletResponseCode>00</walletResponseCode><cards><n>1</n></cards><decks><n>2</n>"
        f"</decks><seal>{_seal(['1', '2', '00'])}</seal>"
    )
    with pytest.raises(ResponseError) as caught:
        _read(answering, _answer("200 OK", two_unknown))
    assert "no walletPaymentMeanDataList, but cards, decks, which" in str(caught.value)
    with_items = _envelope(
        "<walletResponseCode>00</walletResponseCode><pspInfo><a>1</a></pspInfo>"
        "<walletPaymentMeanDataList><walletPaymentMeanData><paymentMeanId>1</paymentMeanId>"
        "<maskedPan>4100##########00</maskedPan></walletPaymentMeanData>"
        f"</walletPaymentMeanDataList><seal>{_seal(['1', '4100##########00', '1', '00'])}</seal>"
    )
    wallet = _read(answering, _answer("200 OK", with_items))
    assert wallet.seal_verified and [m.payment_mean_id for m in wallet.payment_means] == ["1"]
    assert dict(wallet.extra) == {"pspInfo": {"a": "1"}}


def test_a_refusal_names_the_field_at_fault_and_xml_may_start_with_white_space(
    answering: list[bytes],
) -> None:
    # sealed by hand: errorFieldName, walletResponseCode
    body = _envelope(
        "<walletResponseCode>12</walletResponseCode><errorFieldName>merchantWalletId"
        f"</errorFieldName><seal>{_seal(['merchantWalletId', '12'])}</seal>"
    )
    result = _read(answering, _answer("200 OK", b"\r\n  " + body))
    assert result.seal_verified and result.response_code == "12"
    assert result.error_field_name == "merchantWalletId"
    assert result.message == "Invalid data, verify the request (field merchantWalletId)"


def test_an_added_card_keeps_the_fields_the_client_does_not_know(answering: list[bytes]) -> None:
    when = "2026-11-29T10:00:00+01:00"
    # sealed by hand: maskedPan, newField, paymentMeanId, walletActionDateTime, code
    seal = _seal(["4100##########00", "n", "3", when, "00"])
    body = _envelope(
        f"<walletResponseCode>00</walletResponseCode><walletActionDateTime>{when}"
        "</walletActionDateTime><paymentMeanId>3</paymentMeanId><maskedPan>4100##########00"
        f"</maskedPan><newField>n</newField><seal>{seal}</seal>"
    )
    with _client_for(answering, _answer("200 OK", body)) as client:
        result = client.add_card("w", "4100000000000000", "203012")
    assert result.ok and result.seal_verified and result.payment_mean_id == "3"
    assert dict(result.extra) == {"newField": "n"}


def test_a_result_s_repr_names_only_the_fields_it_holds(client: WalletClient) -> None:
    """results.py: reprs are allow-listed, and show what is set; fields that are
    None, and an empty ``extra``, are left out (a log line per row stays short)."""
    import re

    added = client.add_card("w", TEST_PAN, "203012")
    shown = repr(added)
    assert shown.startswith("AddCardResult(response_code='00', ")
    assert re.findall(r"(?:^\w+\(|, )(\w+)=(?!datetime\.timezone)", shown) == [
        "response_code", "seal_verified", "seal_order", "key_version",
        "wallet_action_datetime", "payment_mean_id", "masked_pan", "recovered",
    ]  # fmt: skip
    assert "masked_pan='4100##########00'" in shown and TEST_PAN not in shown
    unknown = repr(client.get_wallet_data("nobody"))
    assert unknown == (
        "GetWalletDataResult(response_code='25', seal_verified=True, seal_order='received', "
        "key_version=1, payment_means=())"
    )
