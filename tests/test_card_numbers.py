"""Card numbers hidden in free text: an alias may hold no long number at all; a
wallet id (often a customer number) only none that passes the Luhn check.

Luhn vectors are the card networks' published test numbers, and numbers whose
check digit is worked out here by the textbook rule (not by the package).
"""

from __future__ import annotations

import pytest

from sogen_soap.errors import InvalidFieldError
from sogen_soap.validation import check_field, holds_card_number

# Published test card numbers, all passing the Luhn check.
PUBLISHED = [
    "4111111111111111",  # Visa
    "5555555555554444",  # Mastercard (doubled 5s: the "minus 9" branch)
    "378282246310005",  # Amex, 15 digits
    "30569309025904",  # Diners, 14 digits
    "6011111111111117",  # Discover
    "4012888888881881",  # Visa
]


def _with_check_digit(body: str) -> str:
    """The textbook Luhn rule: double every second digit from the right of the full number."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # these become every second digit once the check digit is added
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return body + str((10 - total % 10) % 10)


def _break(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


@pytest.mark.parametrize("number", PUBLISHED)
def test_published_card_numbers_are_found_in_a_wallet_id_in_any_spacing(number: str) -> None:
    grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    for text in (number, grouped, grouped.replace(" ", "-"), f"cust {number} x"):
        assert holds_card_number(text, strict=False), text
    assert not holds_card_number(_break(number), strict=False)  # one digit off: a customer no.


@pytest.mark.parametrize("length", range(12, 20))
def test_every_card_length_is_found(length: int) -> None:
    number = _with_check_digit("4" + "7" * (length - 2))
    assert len(number) == length
    assert holds_card_number(number, strict=False)
    assert not holds_card_number(_break(number), strict=False)
    assert holds_card_number(_break(number), strict=True)  # an alias: any long number


def test_numbers_too_short_or_too_long_for_a_card_are_not_cards_in_a_wallet_id() -> None:
    assert not holds_card_number(_with_check_digit("4" * 10), strict=False)  # 11 digits
    assert not holds_card_number(_with_check_digit("4" * 10), strict=True)
    assert not holds_card_number(_with_check_digit("4" * 19), strict=False)  # 20 digits
    assert holds_card_number(_with_check_digit("4" * 19), strict=True)
    assert holds_card_number("4111 1111 1111 111", strict=True)  # 15 digits, spaced
    assert not holds_card_number("4111  1111 111", strict=True)  # two spaces: two numbers


def test_a_wallet_id_or_alias_holding_a_card_is_refused_without_echoing_it() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_field("merchantWalletId", "w4111-1111-1111-1111")
    assert caught.value.field == "merchantWalletId"
    assert caught.value.rule == (
        "looks like it holds a card number (digits passing the Luhn check); a wallet id "
        "must carry no cardholder data"
    )
    assert "4111" not in str(caught.value)
    with pytest.raises(InvalidFieldError) as caught:
        check_field("paymentMeanAlias", "4100 0000-0000 0000")  # fails Luhn: still refused
    assert caught.value.rule == (
        "looks like it holds a card number; the alias must carry no cardholder data"
    )
    assert "4100" not in str(caught.value)
    assert check_field("merchantWalletId", "4100000000000000") == "4100000000000000"  # no Luhn
    assert check_field("paymentMeanAlias", "card ending 0000") == "card ending 0000"
