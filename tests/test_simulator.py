"""The simulator as any SOAP client sees it: raw HTTP, its command line, its store."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import MERCHANT, TEST_PAN
from lxml import etree

from sogen_soap import WalletClient
from sogen_soap.simulator import Simulator

NS = "urn:sips:cn:contract:office:wallet:v2"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def _hand_seal(values: dict[str, str]) -> str:
    """The seal rule written out here, independent of the package: flat fields only."""
    names = sorted(k for k in values if k not in ("keyVersion", "sealAlgorithm", "seal"))
    text = "".join(values[k] for k in names)
    return hmac.new(MERCHANT.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()


def _envelope(fields: dict[str, str], operation: str = "addCard", seal: bool = True) -> bytes:
    values = dict(fields)
    if seal:
        values["seal"] = _hand_seal(values)
    items = "".join(f"<w:{k}>{v}</w:{k}>" for k, v in values.items())
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:w="{NS}"><s:Body>'
        f"<w:{operation}><w:input>{items}</w:input></w:{operation}>"
        "</s:Body></s:Envelope>"
    ).encode()


def _add_card_fields(**change: str) -> dict[str, str]:
    fields = {
        "merchantId": MERCHANT.merchant_id,
        "interfaceVersion": "WR_WS_2.55",
        "keyVersion": "1",
        "merchantWalletId": "raw-1",
        "cardNumber": TEST_PAN,
        "cardExpiryDate": "203012",
    }
    fields.update(change)
    return {k: v for k, v in fields.items() if v != "-"}


def _post(sim: Simulator, body: bytes) -> requests.Response:
    return requests.post(sim.url, data=body, headers={"Content-Type": "text/xml"}, timeout=5)


def _output(response: requests.Response) -> dict[str, str]:
    root = etree.fromstring(response.content)
    output = root.find(f".//{{{NS}}}output")
    assert output is not None
    return {etree.QName(e).localname: e.text or "" for e in output}


@pytest.mark.parametrize("query", ["?wsdl", "?WSDL"])  # CXF takes either spelling
def test_it_serves_its_wsdl_pointing_back_at_itself(simulator: Simulator, query: str) -> None:
    response = requests.get(simulator.url + query, timeout=5)
    assert response.status_code == 200
    assert f'location="{simulator.url}"' in response.text
    assert f"{simulator.url}?xsd=WalletService.xsd" in response.text
    xsd = requests.get(simulator.url + "?xsd=WalletService.xsd", timeout=5)
    etree.XMLSchema(etree.fromstring(xsd.content))


def test_a_hand_written_request_in_any_field_order_is_answered(simulator: Simulator) -> None:
    fields = dict(reversed(list(_add_card_fields().items())))
    out = _output(_post(simulator, _envelope(fields)))
    assert out["walletResponseCode"] == "00"
    assert out["maskedPan"] == "4100##########00"
    # maskedPan, paymentMeanId, walletActionDateTime, walletResponseCode, by hand
    text = out["maskedPan"] + out["paymentMeanId"] + out["walletActionDateTime"] + "00"
    expected = hmac.new(MERCHANT.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    assert out["seal"] == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cardExpiryDate": "203013"}, "cardExpiryDate"),
        ({"merchantWalletId": "w" * 22}, "merchantWalletId"),
        ({"panType": "CLEAR"}, "panType"),
        ({"cardNumber": "-"}, "cardNumber"),
        ({"merchantId": "123"}, "merchantId"),
    ],
)
def test_a_schema_invalid_request_gets_30_naming_the_field(
    simulator: Simulator, change: dict[str, str], field: str
) -> None:
    out = _output(_post(simulator, _envelope(_add_card_fields(**change))))
    assert out["walletResponseCode"] == "30"
    assert out["errorFieldName"] == field


@pytest.mark.parametrize(
    ("digits", "code"), [(11, "12"), (12, "00"), (19, "00"), (20, "12")]
)
def test_a_clear_card_number_is_12_to_19_digits(
    simulator: Simulator, digits: int, code: str
) -> None:
    """docs/assumptions.md: ``cardNumber`` N19, 12 to 19 digits for a clear PAN."""
    card = "4" + "0" * (digits - 1)
    out = _output(_post(simulator, _envelope(_add_card_fields(cardNumber=card))))
    assert out["walletResponseCode"] == code
    assert out.get("errorFieldName") == (None if code == "00" else "cardNumber")


@pytest.mark.parametrize("version", ["WR_XX_2.55", "WX_WS_2.55", "IR_WS_2.32"])
def test_an_interface_version_of_another_prefix_gets_30(simulator: Simulator, version: str) -> None:
    """The whole prefix of the service's versions (WR_WS_ for the wallet) is checked."""
    out = _output(_post(simulator, _envelope(_add_card_fields(interfaceVersion=version))))
    assert (out["walletResponseCode"], out["errorFieldName"]) == ("30", "interfaceVersion")
    assert simulator.store.count_cards() == 0


@pytest.mark.parametrize(("version", "code"), [("DR_WS_2.27", "25"), ("DR_XX_2.27", "30")])
def test_a_payment_service_checks_its_own_interface_version_prefix(
    simulator: Simulator, version: str, code: str
) -> None:
    """The diagnostic service takes DR_WS_ versions: another spelling is a format
    error naming the field; its own is read (25: no such transaction)."""
    fields = {
        "merchantId": MERCHANT.merchant_id,
        "interfaceVersion": version,
        "keyVersion": "1",
        "transactionReference": "ref1",
    }
    body = {**fields, "seal": _hand_seal(fields)}
    url = simulator.url.replace(
        "/services/v2/wallet", "/rs-services/v2/diagnostic/getTransactionData"
    )
    answer = requests.post(url, json=body, timeout=5).json()
    assert answer["getTransDataResponseCode"] == code
    assert answer.get("errorFieldName") == ("interfaceVersion" if code == "30" else None)


def test_a_clear_card_number_with_letters_gets_12(simulator: Simulator) -> None:
    out = _output(_post(simulator, _envelope(_add_card_fields(cardNumber="4100ABCD00000000"))))
    assert (out["walletResponseCode"], out["errorFieldName"]) == ("12", "cardNumber")


def test_a_wrong_seal_gets_34(simulator: Simulator) -> None:
    body = _envelope({**_add_card_fields(), "seal": "0" * 64}, seal=False)
    assert _output(_post(simulator, body))["walletResponseCode"] == "34"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"this is not xml", "soap:Client"),
        (b"<a><b/></a>", "soap:Client"),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>',
            "soap:VersionMismatch",
        ),
        (
            f'<s:Envelope xmlns:s="{SOAP}"><s:Body><x:nope xmlns:x="urn:x"/>'
            "</s:Body></s:Envelope>".encode(),
            "soap:Client",
        ),
    ],
)
def test_malformed_messages_get_a_soap_fault(simulator: Simulator, body: bytes, code: str) -> None:
    response = _post(simulator, body)
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.findtext(f".//{{{SOAP}}}Fault/faultcode") == code


def test_a_request_declaring_entities_is_refused(simulator: Simulator) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + _envelope(_add_card_fields())
    response = _post(simulator, body)
    assert response.status_code == 500 and b"DTD" in response.content


def test_wallets_survive_a_restart_on_the_same_file(tmp_path: Path) -> None:
    db = str(tmp_path / "wallets.sqlite3")
    with (
        Simulator(db) as sim,
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url) as client,
    ):
        assert client.add_card("w", TEST_PAN, "203012").ok
    with (
        Simulator(db) as sim,
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url) as client,
    ):
        assert client.add_card("w", TEST_PAN, "203012").duplicate


def test_the_store_file_holds_no_clear_card_number(tmp_path: Path) -> None:
    db = tmp_path / "wallets.sqlite3"
    with (
        Simulator(str(db)) as sim,
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url) as client,
    ):
        client.add_card("w", TEST_PAN, "203012")
    for path in tmp_path.iterdir():
        assert TEST_PAN.encode() not in path.read_bytes(), path


def test_the_command_prints_its_url_first_and_stops_on_sigterm(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("another-key\n")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "sogen_soap.simulator", "--port", "0",
            "--db", str(tmp_path / "w.sqlite3"),
            "--merchant", f"011223344550000:3:{key_file}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/services/v2/wallet")
        with WalletClient("011223344550000", "another-key", 3, environment=url) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok  # the default merchant too
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=10)
    assert returncode == 0


def test_a_json_boolean_reaches_the_rules_as_jackson_writes_it(simulator: Simulator) -> None:
    # A JSON true in a text field is the text "true" (as a Jackson-based service reads
    # it): the seal is over "true", and the alias stored is "true", never Python's "True".
    fields = _add_card_fields(paymentMeanAlias="true")
    body = {**fields, "keyVersion": 1, "paymentMeanAlias": True, "seal": _hand_seal(fields)}
    url = simulator.url.replace("/services/v2/wallet", "/rs-services/v2/wallet/addCard")
    answer = requests.post(url, json=body, timeout=5).json()
    assert answer["walletResponseCode"] == "00"
    means = simulator.store.wallet(MERCHANT.merchant_id, "raw-1")
    assert means is not None and [m.alias for m in means.payment_means] == ["true"]


@pytest.mark.parametrize("namespace", ["urn:sips:cn:contract:office:checkout:v2", "urn:other"])
def test_an_operation_in_another_namespace_is_a_client_fault(
    simulator: Simulator, namespace: str
) -> None:
    """As CXF answers: the wallet's operation names mean nothing outside its namespace, so a
    request in another one is refused as a whole (a fault), never read as a wallet call."""
    body = _envelope(_add_card_fields()).replace(f'xmlns:w="{NS}"'.encode(),
                                                 f'xmlns:w="{namespace}"'.encode())  # fmt: skip
    response = _post(simulator, body)
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f".//{{{SOAP}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "soap:Client"
    assert (fault.findtext("faultstring") or "").startswith("Unexpected wrapper element")
    assert simulator.store.count_cards() == 0


def test_the_delay_fault_holds_an_answer_two_seconds_by_default(simulator: Simulator) -> None:
    """A profile made without ``delay`` holds an answer 2 s, as the command's
    ``--fault-delay`` does by default (docs/simulator.md): past a client that waits
    one second, which then gives up; the next call is answered at once."""
    from sogen_soap import ResponseTimeout, RetryPolicy

    simulator.app.faults.fail_next("getWalletData", "delay")
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                      environment=simulator.url, timeout=1.0,
                      retry=RetryPolicy(attempts=1)) as client:  # fmt: skip
        with pytest.raises(ResponseTimeout):
            client.get_wallet_data("w")
        assert client.get_wallet_data("w").response_code == "25"
