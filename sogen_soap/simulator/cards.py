"""Card numbers for load tests that can never be real cards.

Every number made here fails the Luhn check, which every real card passes, so
batches of any size can be generated without risk of holding a real PAN.
The vendor's documented test cards (4100000000000000, 5100000000000000) fail
it too, and the simulator, like the vendor's test platform, does not check it.
"""

from __future__ import annotations

__all__ = ["luhn_valid", "test_card_number"]


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def test_card_number(wallet_no: int, k: int) -> str:
    """The ``k``-th test card of wallet ``wallet_no``: 16 digits, Luhn-invalid.

    Cards of one wallet differ in their last two digits, so they stay apart
    once masked (first 4, last 2), as real cards in one wallet do.
    """
    for free in range(10):
        number = f"4100{wallet_no % 10**7:07d}{free}00{k % 100:02d}"
        if not luhn_valid(number):
            return number
    raise AssertionError("unreachable: one of ten digits breaks the Luhn sum")


test_card_number.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
