"""Small rules of the simulator and the WSDL tools, pinned where they are written
down: the brand a card number gets, scripted faults counted from one, the
documented limits of a WSDL download (docs/api.md: "at most 32 documents of 4 MiB")."""

from __future__ import annotations

import pytest

from sogen_soap.simulator.faults import FaultProfile
from sogen_soap.simulator.store import brand_of
from sogen_soap.wsdl_cache import MAX_DOCUMENT_BYTES, MAX_DOCUMENTS


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4000000000000000", "VISA"),
        ("5100000000000000", "MASTERCARD"),
        ("5500000000000000", "MASTERCARD"),
        ("5600000000000000", "CB"),
        ("2221000000000000", "MASTERCARD"),  # the 2-series, both ends included
        ("2720000000000000", "MASTERCARD"),
        ("2220000000000000", "CB"),
        ("2721000000000000", "CB"),
        ("340000000000000", "AMEX"),
        ("370000000000000", "AMEX"),
        ("36000000000000", "DINERS"),
        ("30500000000000", "DINERS"),
        ("30600000000000", "CB"),
        ("3500000000000000", "JCB"),
        ("tok_abc", "UNKNOWN"),
    ],
)
def test_the_brand_a_card_number_gets(number: str, brand: str) -> None:
    assert brand_of(number) == brand


def test_scripted_faults_count_from_one() -> None:
    faults = FaultProfile()
    for times in (0, -1):
        with pytest.raises(ValueError, match="times must be at least 1"):
            faults.fail_next("addCard", "drop", times)
    faults.fail_next("addCard", "drop", 2)
    assert [faults.draw("addCard") for _ in range(3)] == ["drop", "drop", None]


def test_the_documented_limits_of_a_wsdl_download() -> None:
    assert (MAX_DOCUMENTS, MAX_DOCUMENT_BYTES) == (32, 4 * 1024 * 1024)
