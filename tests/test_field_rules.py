"""Field rules word for word: what a caller reads when a value is refused, and
that a secret or an over-long value is never echoed back."""

from __future__ import annotations

from pathlib import Path

import pytest

from sogen_soap.errors import InvalidFieldError
from sogen_soap.validation import FIELD_RULES, check_field, snake_case


def _refusal(field: str, value: object, parameter: str | None = None) -> str:
    with pytest.raises(InvalidFieldError) as caught:
        check_field(field, value, parameter)
    assert caught.value.field == field
    return str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("merchantId", "123", "merchant_id (merchantId): must be 15 digits (got '123')"),
        ("merchantId", "01122334455000",  # 14 digits: one short (masked: card-shaped)
         "merchant_id (merchantId): must be 15 digits (got '0112########00')"),
        ("merchantId", "z" * 64, f"merchant_id (merchantId): must be 15 digits (got '{'z' * 64}')"),
        # a value shaped like a seal (64 hex digits) is never shown, in any message
        ("merchantId", "a" * 64, "merchant_id (merchantId): must be 15 digits (got '[seal]')"),
        ("merchantId", "a" * 65, "merchant_id (merchantId): must be 15 digits"),  # not echoed
        ("keyVersion", 0, "key_version (keyVersion): must be a whole number from 1 (got '0')"),
        ("keyVersion", True, "key_version (keyVersion): must be text, not bool"),
        ("keyVersion", 1.5, "key_version (keyVersion): must be text, not float"),
        ("merchantWalletId", None, "merchant_wallet_id (merchantWalletId): must be text, not NoneType"),
        ("merchantWalletId", "", "merchant_wallet_id (merchantWalletId): must not be empty"),
        ("merchantWalletId", "w" * 22,
         "merchant_wallet_id (merchantWalletId): must be at most 21 characters (got 22)"),
        ("paymentMeanAlias", "a\x01b",
         "payment_mean_alias (paymentMeanAlias): contains a control character that XML cannot carry"),
        ("paymentMeanAlias", "a\ufffe",
         "payment_mean_alias (paymentMeanAlias): contains a control character that XML cannot carry"),
        ("sealAlgorithm", "MD5",
         "seal_algorithm (sealAlgorithm): must be one of HMAC-SHA-256, HMAC-SHA-512, SHA-256 (got 'MD5')"),
        ("paymentMeanBrandSelectionStatus", "X",
         "payment_mean_brand_selection_status (paymentMeanBrandSelectionStatus): must be one of "
         "'', APPLIED_DEFAULT, APPLIED_HOLDER, NOT_APPLICABLE (got 'X')"),
        ("paymentToken", "t" * 256, "payment_token (paymentToken): must be at most 255 characters (got 256)"),
        ("paymentMeanBrand", "UNKNOWN",
         "payment_mean_brand (paymentMeanBrand): is not one of the 51 names this field takes (got 'UNKNOWN')"),
        # a likely value is named instead of a wall of names
        ("paymentMeanBrand", "visa",
         "payment_mean_brand (paymentMeanBrand): is not one of the 51 names this field takes (got 'visa'); did you mean VISA?"),
        ("paymentMeanBrand", "MASTERCRAD",
         "payment_mean_brand (paymentMeanBrand): is not one of the 51 names this field takes (got 'MASTERCRAD'); did you mean MASTERCARD?"),
        ("panType", "pan", "pan_type (panType): must be one of CSE, PAN, STKPAN, TOKEN_PAN, VCO_PAN (got 'pan'); did you mean PAN?"),
        # the payment fields with a closed list of values
        ("paymentPattern", "recurring_n",
         "payment_pattern (paymentPattern): must be one of INSTALMENT, ONE_SHOT, RECURRING_1, RECURRING_N (got 'recurring_n'); did you mean RECURRING_N?"),
        ("captureMode", "LATER",
         "capture_mode (captureMode): must be one of AUTHOR_CAPTURE, IMMEDIATE, VALIDATION (got 'LATER')"),
        ("orderChannel", "PHONE",
         "order_channel (orderChannel): must be one of INTERNET, IVR, MAIL_ORDER, MOTO, TELEPHONE_ORDER (got 'PHONE')"),
        # a guess only when it is close (3/4 alike): VIZZA is 0.67 like VISA, no guess
        ("paymentMeanBrand", "VIZZA",
         "payment_mean_brand (paymentMeanBrand): is not one of the 51 names this field takes (got 'VIZZA')"),
        ("paymentMeanBrand", "MASTERXXXX",
         "payment_mean_brand (paymentMeanBrand): is not one of the 51 names this field takes (got 'MASTERXXXX')"),
    ],
)  # fmt: skip
def test_a_refused_value_is_named_with_its_rule(field: str, value: object, message: str) -> None:
    assert _refusal(field, value).startswith(message)
    if "must be one of" not in message:
        assert _refusal(field, value) == message


def test_a_secret_is_never_echoed() -> None:
    assert FIELD_RULES["paymentToken"].secret
    text = _refusal("paymentToken", "s3cr3t\x02en")
    assert "s3cr3t" not in text and text.endswith("cannot carry")
    assert "s3cr3t" not in _refusal("paymentToken", "s3cr3t" * 50)
    with pytest.raises(InvalidFieldError) as caught:
        check_field("paymentMeanBrand", "secret-brand?")
    assert "'secret-brand?'" in str(caught.value)  # not secret: shown to help


@pytest.mark.parametrize("kind", ["choices", "pattern"])
def test_a_secret_field_s_refusal_never_quotes_it_whatever_its_rule(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today the one secret field has only a length; a rule that gains choices or a
    pattern must still refuse without quoting the value (the mechanism, not the
    present rule, is what keeps a token off screens and logs)."""
    import dataclasses
    import re

    from sogen_soap import validation

    rule = FIELD_RULES["paymentToken"]
    if kind == "choices":
        changed = dataclasses.replace(rule, choices=("TOKEN_A", "TOKEN_B"))
    else:
        changed = dataclasses.replace(rule, pattern="[A-Z]+", pattern_text="must be capitals")
        monkeypatch.setitem(validation._COMPILED, "paymentToken", re.compile("[A-Z]+"))
    monkeypatch.setitem(FIELD_RULES, "paymentToken", changed)
    with pytest.raises(InvalidFieldError) as caught:
        check_field("paymentToken", "s3cr3t-token")
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in caught.value.rule


def test_what_is_accepted_is_sent_as_text() -> None:
    assert check_field("keyVersion", 3) == "3"
    assert check_field("merchantWalletId", "w" * 21) == "w" * 21
    assert check_field("paymentMeanAlias", "tab\there") == "tab\there"
    assert check_field("paymentMeanBrandSelectionStatus", "") == ""
    assert check_field("cardExpiryDate", "") == ""
    assert check_field("paymentMeanBrand", "VISA") == "VISA"


def test_the_parameter_is_named_as_the_caller_wrote_it() -> None:
    assert _refusal("cardExpiryDate", "2030-12", "--expiry").startswith(
        "--expiry (cardExpiryDate): must be YYYYMM"
    )
    assert _refusal("merchantWalletId", "", "merchantWalletId") == (
        "merchantWalletId: must not be empty"
    )
    assert snake_case("cardExpiryDate") == "card_expiry_date"
    assert snake_case("merchantId") == "merchant_id"


@pytest.mark.parametrize(
    ("card", "pan_type", "message"),
    [
        ("41000000000", None, "a clear card number must be 12 to 19 digits (got 11)"),
        ("4" * 20, "PAN", "a clear card number must be 12 to 19 digits (got 20)"),
        ("4100 0000 0000 000x", None, "a clear card number must contain digits only"),
        ("\uff14" * 16, None, "a clear card number must contain digits only"),  # full-width 4s
        (4100000000000000, None, "must be text"),
        ("", "TOKEN_PAN", "must not be empty"),
        ("t" * 129, "TOKEN_PAN", "a TOKEN_PAN value must be at most 128 characters (got 129)"),
        ("tok\x00en", "CSE", "contains a control character that XML cannot carry"),
    ],
)  # fmt: skip
def test_a_card_number_is_checked_by_its_pan_type_and_never_echoed(
    card: object, pan_type: str | None, message: str
) -> None:
    from sogen_soap.validation import check_card_number

    with pytest.raises(InvalidFieldError) as caught:
        check_card_number(card, pan_type)
    assert str(caught.value) == f"card_number (cardNumber): {message}"
    with pytest.raises(InvalidFieldError) as named:
        check_card_number(card, pan_type, "card")
    assert str(named.value) == f"card (cardNumber): {message}"
    if isinstance(card, str) and len(card) > 3:
        assert card not in str(caught.value)


def test_a_card_number_is_sent_without_its_spacing_and_a_token_as_it_is() -> None:
    from sogen_soap.validation import check_card_number

    assert check_card_number("4100 0000-0000 0000", None) == "4100000000000000"
    assert check_card_number("4100000000000000", "PAN") == "4100000000000000"
    assert check_card_number(" tok-1 ", "TOKEN_PAN") == " tok-1 "
    assert check_card_number("t" * 128, "TOKEN_PAN") == "t" * 128


def test_clear_card_numbers_of_12_and_19_digits_are_accepted() -> None:
    from sogen_soap.validation import check_card_number

    assert check_card_number("4" * 12, None) == "4" * 12
    assert check_card_number("4" * 19, None) == "4" * 19


def test_up_to_eight_choices_are_listed_and_more_are_counted() -> None:
    from sogen_soap.validation import _not_a_choice

    eight = tuple(f"C{i}" for i in range(8))
    assert _not_a_choice("X", eight, "") == "must be one of " + ", ".join(eight)
    assert _not_a_choice("X", (*eight, "C8"), "") == "is not one of the 9 names this field takes"


def _schema_lengths() -> dict[tuple[str, str], int]:
    """(schema file, element) -> maxLength, read from the bundled XSDs with lxml: the
    published sizes (ANS20, ANS32...), independent of the package's rule table."""
    from lxml import etree

    from sogen_soap.wsdl_cache import bundled_wsdl_path

    xs = "{http://www.w3.org/2001/XMLSchema}"
    found = {}
    for xsd in sorted(Path(bundled_wsdl_path()).parent.glob("*.xsd")):
        root = etree.parse(str(xsd)).getroot()
        limits = {
            kind.get("name"): int(limit.get("value"))
            for kind in root.iter(f"{xs}simpleType")
            for limit in kind.iter(f"{xs}maxLength")
        }
        for element in root.iter(f"{xs}element"):
            kind = (element.get("type") or "").rpartition(":")[2]
            if kind in limits:
                found[(xsd.name, element.get("name"))] = limits[kind]
    return found


SCHEMA_LENGTHS = _schema_lengths()


@pytest.mark.parametrize(("where", "field"), sorted(SCHEMA_LENGTHS))
def test_every_text_field_is_as_long_as_its_schema_allows_and_no_longer(
    where: str, field: str
) -> None:
    """A value the schema would refuse is refused before sending, and one it takes
    passes: each field's length limit is its XSD's maxLength (the seal and the card
    number, which the caller never writes as text of its own, have rules apart)."""
    limit = SCHEMA_LENGTHS[(where, field)]
    if field in ("seal", "cardNumber"):
        assert field not in FIELD_RULES
        return
    rule = FIELD_RULES[field]
    assert rule.max_length == limit
    if rule.pattern is None and not rule.choices:
        assert check_field(field, "a" * limit) == "a" * limit
        with pytest.raises(InvalidFieldError) as caught:
            check_field(field, "a" * (limit + 1))
        assert caught.value.rule.startswith(f"must be at most {limit} characters (got {limit + 1})")
