"""No full card number and no secret key in reprs, errors or logs."""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from conftest import FAST_RETRY, MERCHANT, TEST_PAN

from sogen_soap import AsyncWalletClient, InvalidFieldError, SecretKey, WalletClient
from sogen_soap.redact import mask_pan, redact_text
from sogen_soap.simulator import (
    FAULT_KINDS,
    FaultProfile,
    Simulator,
    ThrowawayPKI,
    make_test_pki,
)
from sogen_soap.wsdl_cache import fetch_wsdl


def test_mask_pan_keeps_the_first_four_and_last_two() -> None:
    assert mask_pan("4977123412341255") == "4977##########55"
    assert mask_pan("123456789") == "#########"


def test_redact_text_masks_pans_and_hides_seals() -> None:
    text = f"card {TEST_PAN} and 4100 0000 0000 0000 seal {'ab' * 32}"
    redacted = redact_text(text)
    assert TEST_PAN not in redacted and "4100 0000 0000 0000" not in redacted
    assert "ab" * 32 not in redacted
    assert "4100##########00" in redacted
    # an HMAC-SHA-512 seal is 128 hex digits: hidden whole, not cut after 64
    assert redact_text(f"seal {'cd' * 64}.") == "seal [seal]."


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


def test_a_logged_pan_is_masked_on_zeep_and_urllib3_loggers_too(
    client: WalletClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = ("zeep.transports", "urllib3.connectionpool", "sogen_soap", "sogen_soap.wire")
    for name in bodies:  # the wire log's own bodies are masked first; this is the second line
        logging.getLogger(name).debug(
            "body <cardNumber>%s</cardNumber> seal %s", TEST_PAN, "ab" * 32
        )
    assert len(caplog.records) == len(bodies)
    for record in caplog.records:
        assert TEST_PAN not in record.getMessage() and "ab" * 32 not in record.getMessage()
        assert "4100##########00" in record.getMessage()


def _every_outcome(tmp_path: Path, pki: ThrowawayPKI, transport: str = "soap") -> list[str]:
    """Run every operation and every failure mode; return every text they produced."""
    texts: list[str] = []
    tmp_path.mkdir(parents=True, exist_ok=True)

    def attempt(call: Callable[[], object]) -> None:
        try:
            texts.append(repr(call()))
        except Exception as exc:  # every failure's text and traceback are checked too
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc))])

    def client(url: str, **options: object) -> WalletClient:
        made = WalletClient(
            MERCHANT.merchant_id,
            MERCHANT.secret_key,
            1,
            environment=url,
            retry=FAST_RETRY,
            timeout=(1, 0.5),
            transport=transport,
            **options,
        )  # type: ignore[arg-type]
        texts.append(repr(made))
        return made

    with Simulator(str(tmp_path / "store.sqlite3")) as sim, client(sim.url) as c:
        attempt(
            lambda: c.add_card("w", TEST_PAN, "203012", payment_mean_alias="a", payment_token="tok")
        )
        attempt(lambda: c.add_card("w", TEST_PAN, "203012"))
        attempt(lambda: c.get_wallet_data("w"))
        attempt(lambda: c.get_payment_mean_data("w", 1))
        attempt(lambda: c.update_payment_mean("w", 1, "b"))
        attempt(lambda: c.delete_payment_mean("w", 1))
        attempt(lambda: c.sign_off("w"))
        attempt(lambda: c.add_card("w", TEST_PAN + "0000", "203012"))
        attempt(lambda: c.add_card("w", TEST_PAN, "203012", payment_mean_alias=TEST_PAN))
        attempt(lambda: fetch_wsdl(sim.url, tmp_path / "wsdl"))
    for kind in FAULT_KINDS:
        for reconcile in (False, True):
            with (
                Simulator(faults=FaultProfile({kind: 1.0}, delay=1.0)) as sim,
                client(sim.url) as c,
            ):
                attempt(partial(c.add_card, "w", TEST_PAN, "203012", reconcile=reconcile))
    with Simulator(tls=pki.server()) as sim, client(sim.url) as c:
        attempt(lambda: c.add_card("w", TEST_PAN, "203012"))
    with client("http://127.0.0.1:9/services/v2/wallet") as c:
        attempt(lambda: c.add_card("w", TEST_PAN, "203012"))

    async def async_calls(url: str) -> None:
        made = AsyncWalletClient(
            MERCHANT.merchant_id,
            MERCHANT.secret_key,
            1,
            environment=url,
            retry=FAST_RETRY,
            timeout=(1, 0.5),
            transport=transport,
        )
        texts.append(repr(made))
        async with made:
            for _ in range(3):  # 00, then the faults, then 94
                try:
                    texts.append(
                        repr(await made.add_card("aw", TEST_PAN, "203012", reconcile=True))
                    )
                except Exception as exc:
                    texts.extend([str(exc), "".join(traceback.format_exception(exc))])
            texts.append(repr(await made.get_wallet_data("aw")))

    with Simulator(faults=FaultProfile(sequence=[None, "commit_drop", "wrong_seal"])) as sim:
        asyncio.run(async_calls(sim.url))
    return texts


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_nothing_written_anywhere_holds_a_pan_or_the_secret(
    transport: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        texts = _every_outcome(tmp_path / "work", make_test_pki(tmp_path / "pki"), transport)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    records = [r.getMessage() for r in caplog.records]
    assert any("request to" in r for r in records), "wire DEBUG logging did not run"
    if transport == "soap":
        assert any("<ns0:seal>[hidden]</ns0:seal>" in r for r in records)
        assert any("<ns0:merchantWalletId>aw<" in r for r in records), "async body logs ran"
    else:
        assert any('"seal": "[hidden]"' in r for r in records)
        assert any('"merchantWalletId": "aw"' in r for r in records), "async body logs ran"
    assert any("4100##########00" in r for r in records)
    for text in [*texts, *records, caplog.text]:
        assert TEST_PAN not in text, text[:300]
        assert MERCHANT.secret_key not in text, text[:300]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert log_file in files and len(files) > 3
    for path in files:
        data = path.read_bytes()
        assert TEST_PAN.encode() not in data, path
        assert MERCHANT.secret_key.encode() not in data, path
