"""No full card number and no secret key in reprs, errors or logs."""

from __future__ import annotations

import logging
import pickle

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import InvalidFieldError, SecretKey, WalletClient
from sogen_soap.redact import mask_pan, redact_text
from sogen_soap.simulator import FaultProfile, Simulator


def test_mask_pan_keeps_the_first_four_and_last_two() -> None:
    assert mask_pan("4977123412341255") == "4977##########55"
    assert mask_pan("123456789") == "#########"


def test_redact_text_masks_pans_and_hides_seals() -> None:
    text = f"card {TEST_PAN} and 4100 0000 0000 0000 seal {'ab' * 32}"
    redacted = redact_text(text)
    assert TEST_PAN not in redacted and "4100 0000 0000 0000" not in redacted
    assert "ab" * 32 not in redacted
    assert "4100##########00" in redacted


def test_the_client_repr_shows_no_secret(client: WalletClient) -> None:
    assert MERCHANT.secret_key not in repr(client)
    assert MERCHANT.secret_key not in str(vars(client))


def test_a_secret_key_hides_itself_and_refuses_pickling() -> None:
    key = SecretKey("s3cret")
    assert "s3cret" not in repr(key) and "s3cret" not in str(key) and "s3cret" not in f"{key}"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_an_invalid_card_number_is_not_echoed() -> None:
    with (
        Simulator() as sim,
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url) as client,
        pytest.raises(InvalidFieldError) as caught,
    ):
        client.add_card("w", TEST_PAN + "1234", "203012")
    assert TEST_PAN not in str(caught.value)


def test_debug_logs_of_every_outcome_hold_no_pan_and_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    records: list[str] = []
    for faults in (None, {"soap_fault": 1.0}, {"wrong_seal": 1.0}, {"code_99": 1.0}):
        profile = FaultProfile(faults) if faults else None
        with (
            Simulator(faults=profile) as sim,
            WalletClient(
                MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url
            ) as client,
        ):
            try:
                result = client.add_card("w", TEST_PAN, "203012")
                records.append(repr(result))
            except Exception as exc:  # every failure mode's text is checked too
                records.append(str(exc))
    records.extend(record.getMessage() for record in caplog.records)
    assert any("request to" in r for r in records), "wire DEBUG logging did not run"
    for text in records:
        assert TEST_PAN not in text
        assert MERCHANT.secret_key not in text
