"""The seal rule, checked against published vectors and hand-made digests."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from sogen_soap.seal import compute_seal, seal_string, verify_seal

KEY = "002001000000001_KEY1"


def test_hmac_sha256_of_a_plain_text_matches_the_published_vector() -> None:
    # "This is a test!" / superSafeSecretKey, from the vendor's seal page.
    expected = "198e5f278e3f8548e174e84492953c4871732278b7e2aa2cbf20bb1ab85914ea"
    assert compute_seal({"data": "This is a test!"}, "superSafeSecretKey") == expected


def test_vendor_payment_init_example_gives_the_published_seal() -> None:
    fields = {
        "amount": "2500",
        "automaticResponseUrl": "https://automatic-response-url.fr/",
        "normalReturnUrl": "https://normal-return-url/",
        "captureDay": "0",
        "captureMode": "AUTHOR_CAPTURE",
        "currencyCode": "978",
        "interfaceVersion": "IR_WS_2.22",
        "keyVersion": "1",
        "merchantId": "011223344550000",
        "orderChannel": "INTERNET",
        "orderId": "ORD101",
        "returnContext": "ReturnContext",
        "transactionOrigin": "SO_WEBAPPLI",
        "transactionReference": "TREFEXA2012",
    }
    expected = "e4d75c6a779adee5850192d1ecc162ca0c85e960cb00d9923879609f89739152"
    assert compute_seal(fields, "secret123") == expected


def test_values_are_sorted_by_field_name_and_concatenated_without_separators() -> None:
    assert seal_string({"b": "2", "a": "1", "c": "3"}) == "123"


def test_key_version_seal_algorithm_and_seal_are_left_out() -> None:
    fields = {"merchantId": "M", "keyVersion": "9", "sealAlgorithm": "X", "seal": "S"}
    assert seal_string(fields) == "M"


def test_absent_and_null_fields_contribute_nothing() -> None:
    assert seal_string({"a": "1", "b": None, "c": ""}) == "1"


def test_a_container_is_expanded_in_place_with_its_own_fields_sorted() -> None:
    fields = {"a": "1", "m": {"z": "Z", "y": "Y"}, "z": "9"}
    assert seal_string(fields) == "1YZ9"


def test_a_list_contributes_its_items_in_order() -> None:
    fields = {
        "list": {"item": [{"id": "2", "alias": "b"}, {"id": "1", "alias": "a"}]},
        "code": "00",
    }
    # code, then the list's items in document order, each item's fields sorted
    assert seal_string(fields) == "00b2a1"


def test_hmac_sha256_matches_a_digest_made_by_hand() -> None:
    fields = {"merchantWalletId": "w1", "cardNumber": "4100000000000000", "keyVersion": 1}
    by_hand = hmac.new(KEY.encode(), b"4100000000000000w1", hashlib.sha256).hexdigest()
    assert compute_seal(fields, KEY) == by_hand


def test_hmac_sha512_matches_a_digest_made_by_hand() -> None:
    by_hand = hmac.new(KEY.encode(), "é1".encode(), hashlib.sha512).hexdigest()
    assert compute_seal({"a": "é", "b": "1"}, KEY, "HMAC-SHA-512") == by_hand


def test_sha256_appends_the_key_to_the_data() -> None:
    by_hand = hashlib.sha256(b"12" + KEY.encode()).hexdigest()
    assert compute_seal({"a": "1", "b": "2"}, KEY, "SHA-256") == by_hand


def test_an_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="HMAC-MD5"):
        compute_seal({"a": "1"}, KEY, "HMAC-MD5")


def test_verify_accepts_the_right_seal_in_either_hex_case() -> None:
    fields = {"a": "1"}
    seal = hmac.new(KEY.encode(), b"1", hashlib.sha256).hexdigest()
    assert verify_seal(fields, seal, KEY)
    assert verify_seal(fields, seal.upper(), KEY)


@pytest.mark.parametrize("seal", ["", "00" * 32, "not hex at all", "é" * 64])
def test_verify_refuses_a_wrong_seal(seal: str) -> None:
    assert not verify_seal({"a": "1"}, seal, KEY)


def test_verify_refuses_a_seal_made_with_another_key() -> None:
    seal = compute_seal({"a": "1"}, "another key")
    assert not verify_seal({"a": "1"}, seal, KEY)


def test_verify_uses_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    verify_seal({"a": "1"}, "00", KEY)
    assert len(calls) == 1


def test_booleans_are_written_as_java_writes_them() -> None:
    assert seal_string({"a": True, "b": False, "c": [True, {"d": False}]}) == "truefalsetruefalse"


def test_names_differing_only_in_case_keep_a_fixed_order() -> None:
    # ignoring case first (the Java SDK's order), then the exact spelling
    assert seal_string({"ab": "3", "aB": "2", "Ab": "1", "B": "4", "a": "0"}) == "01234"


def test_a_seal_with_surrounding_whitespace_is_still_checked() -> None:
    fields = {"merchantId": "m", "walletResponseCode": "00"}
    seal = hmac.new(KEY.encode(), b"m00", hashlib.sha256).hexdigest()
    assert verify_seal(fields, f"  {seal}\n", KEY)
    assert not verify_seal(fields, f"{seal}é", KEY)  # not hex, not ASCII: refused, no error


def test_names_are_ordered_as_javas_case_insensitive_order_even_with_underscores() -> None:
    # Java compares lower-cased characters: "_" (0x5f) sorts before "b" (0x62), not after "B"
    assert seal_string({"aB": "2", "a_b": "1"}) == "12"


def test_a_nested_container_is_sorted_the_same_way() -> None:
    assert seal_string({"outer": {"B": "2", "a": "1"}}) == "12"


def test_a_seal_that_cannot_even_be_encoded_is_refused_not_raised() -> None:
    assert not verify_seal({"a": "1"}, "\ud800" * 64, KEY)
