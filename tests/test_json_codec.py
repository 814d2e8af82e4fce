"""The JSON codec's pure functions: URL mapping, request bytes with a seal built by
hand here, strict reading of answers, and what DEBUG logs may show."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from sogen_soap.endpoints import parse_url
from sogen_soap.errors import ResponseError
from sogen_soap.json_codec import build_request, json_base, parse_reply, redacted_json, soap_base

KEY = "002001000000001_KEY1"


@pytest.mark.parametrize(
    ("given", "json_url", "soap_url"),
    [
        ("https://h.example/services/v2/wallet", "https://h.example/rs-services/v2/wallet",
         "https://h.example/services/v2/wallet"),
        ("https://h.example/rs-services/v2/wallet/", "https://h.example/rs-services/v2/wallet",
         "https://h.example/services/v2/wallet"),
        ("https://h.example/p/services/v2/wallet?x=1", "https://h.example/p/rs-services/v2/wallet",
         "https://h.example/p/services/v2/wallet?x=1"),
        ("https://h.example/other", "https://h.example/other", "https://h.example/other"),
        ("https://h.example", "https://h.example/", "https://h.example/"),
    ],
)  # fmt: skip
def test_one_service_two_endpoints_either_url_maps_to_both(
    given: str, json_url: str, soap_url: str
) -> None:
    endpoint = parse_url(given)
    assert json_base(endpoint).url == json_url
    assert soap_base(endpoint).url == soap_url
    assert json_base(json_base(endpoint)).url == json_url  # mapping twice changes nothing


def _seal(values: list[str], algorithm: str = "sha256") -> str:
    data = "".join(values).encode()
    return hmac.new(KEY.encode(), data, getattr(hashlib, algorithm)).hexdigest()


def test_a_request_is_compact_json_with_its_seal_and_a_numeric_key_version() -> None:
    fields = {
        "merchantId": "002001000000001", "keyVersion": 1, "interfaceVersion": "WR_WS_2.55",
        "merchantWalletId": "café", "active": True, "skipped": None,
        "sealAlgorithm": "HMAC-SHA-256",
    }  # fmt: skip
    body = build_request(fields, KEY, "HMAC-SHA-256")
    # sorted by name ignoring case: active, interfaceVersion, merchantId, merchantWalletId
    seal = _seal(["true", "WR_WS_2.55", "002001000000001", "café"])
    assert (
        body
        == (
            '{"merchantId":"002001000000001","interfaceVersion":"WR_WS_2.55",'
            f'"merchantWalletId":"café","active":"true","seal":"{seal}","keyVersion":1}}'
        ).encode()
    )


def test_a_request_names_a_seal_algorithm_other_than_the_default() -> None:
    fields = {"merchantId": "m", "keyVersion": "2", "sealAlgorithm": "HMAC-SHA-512"}
    data = json.loads(build_request(fields, KEY, "HMAC-SHA-512"))
    assert data == {
        "merchantId": "m", "seal": _seal(["m"], "sha512"), "keyVersion": 2,
        "sealAlgorithm": "HMAC-SHA-512",
    }  # fmt: skip


def test_an_answer_is_read_as_text_lists_and_mappings() -> None:
    answer = parse_reply(
        b'{"walletResponseCode":"00","count":3,"active":false,"none":null,'
        b'"list":[{"paymentMeanId":"1","n":2}],"nested":{"on":true}}'
    )
    assert answer == {
        "walletResponseCode": "00", "count": "3", "active": "false", "none": None,
        "list": [{"paymentMeanId": "1", "n": "2"}], "nested": {"on": "true"},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"seal":"a","seal":"b"}', "the response names 'seal' twice; a seal over it is ambiguous"),
        (b"<html>busy</html>", "the response is not JSON"),
        (b'{"walletResponseCode":"00"', "the response is not JSON"),
        (b'{"a":"\xff"}', "the response is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "the response holds more than 65536 values; refused unparsed"),
        (b"[" * 20_000 + b"]" * 20_000, "the response is not JSON"),  # under the limit, too deep
        (b"{" * 65_537, "the response holds more than 65536 values; refused unparsed"),
        (b"," * 65_537, "the response holds more than 65536 values; refused unparsed"),
        (b'{"maskedPan":[4100]}', "the response gives maskedPan as a int, not text"),
        (b'[{"walletResponseCode":"00"}]', "the response is not a JSON object"),
        (b'"00"', "the response is not a JSON object"),
        (b'{"walletResponseCode":0}', "the response gives walletResponseCode as a int, not text"),
        (b'{"paymentMeanId":true}', "the response gives paymentMeanId as a bool, not text"),
        (b'{"list":[{"maskedPan":4100}]}', "the response gives maskedPan as a int, not text"),
        (b'{"amount":1.5}', "the response gives amount as a fraction; refused"),
    ],
)  # fmt: skip
def test_answers_that_could_mislead_the_seal_are_refused(content: bytes, message: str) -> None:
    with pytest.raises(ResponseError) as caught:
        parse_reply(content)
    assert str(caught.value) == message


# Every field the wallet service sends as text (the data dictionary's types), written
# out here, not read from the codec: a number in any of them is refused, not guessed at.
TEXT_FIELDS = [
    "walletResponseCode", "errorFieldName", "seal", "paymentMeanId", "maskedPan",
    "paymentMeanAlias", "panExpiryDate", "paymentMeanBrand", "walletActionDateTime",
    "walletCreationDateTime", "walletLastActionDateTime", "merchantWalletId",
]  # fmt: skip


@pytest.mark.parametrize("name", TEXT_FIELDS)
def test_a_number_in_any_text_field_is_refused(name: str) -> None:
    with pytest.raises(ResponseError) as caught:
        parse_reply(b'{"%s":7}' % name.encode())
    assert str(caught.value) == f"the response gives {name} as a int, not text"
    assert parse_reply(b'{"%s":"7"}' % name.encode()) == {name: "7"}


def test_debug_logs_show_no_card_seal_or_token() -> None:
    shown = redacted_json(
        {"cardNumber": "4100000000000000", "seal": "ab" * 32, "paymentToken": "tok",
         "merchantWalletId": "café", "note": "card 4111 1111 1111 1111"}
    )  # fmt: skip
    assert json.loads(shown) == {
        "cardNumber": "4100##########00", "seal": "[hidden]", "paymentToken": "[hidden]",
        "merchantWalletId": "café", "note": "card 4111##########11",
    }  # fmt: skip
    assert "café" in shown  # kept readable, not \\u00e9


def test_the_other_base_drops_the_whole_query_however_many_question_marks() -> None:
    soap = parse_url("http://127.0.0.1:8080/services/v2/wallet/?a=1?b=2")
    rest = parse_url("http://127.0.0.1:8080/rs-services/v2/wallet?a=1?b=2")
    assert json_base(soap).url == "http://127.0.0.1:8080/rs-services/v2/wallet"
    assert soap_base(rest).url == "http://127.0.0.1:8080/services/v2/wallet"


def test_an_answer_of_exactly_65536_values_is_read() -> None:
    # the object, the list and its 65,534 commas: the limit itself is allowed
    content = b'{"a":[' + b"0," * 65_534 + b'0]}'
    assert sum(content.count(mark) for mark in (b"{", b"[", b",")) == 65_536
    assert len(parse_reply(content)["a"]) == 65_535  # type: ignore[arg-type]
