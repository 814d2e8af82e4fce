"""Conformance with peers that differ: list order in seals, the "unknown wallet"
code, and fault codes written with any prefix.

Every seal here is computed by hand with ``hmac`` from the seal string spelled
out in the test, never by the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading

import pytest
from conftest import MERCHANT, record_answers
from hostile import HostileServer

from sogen_soap import RetryPolicy, SealVerificationError, WalletClient
from sogen_soap.simulator import FaultProfile, Simulator

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "urn:sips:cn:contract:office:wallet:v2"


def _seal(text: str) -> str:
    return hmac.new(MERCHANT.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()


def _answering(body: bytes) -> HostileServer:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(body), body))  # fmt: skip

    return HostileServer(answer)


def _client(url: str) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                        retry=RetryPolicy(attempts=1))  # fmt: skip


def _wallet_answer(seal: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body><ns:getWalletDataResponse xmlns:ns="{NS}">'
        "<ns:output><ns:walletResponseCode>00</ns:walletResponseCode>"
        "<ns:walletPaymentMeanDataList><ns:walletPaymentMeanData>"
        "<ns:paymentMeanId>1</ns:paymentMeanId><ns:maskedPan>4100##########00</ns:maskedPan>"
        "<ns:paymentMeanBrand>VISA</ns:paymentMeanBrand>"
        "<ns:paymentMeanCoBadgingBrandList><ns:paymentMeanCoBadgingBrand>VISA"
        "</ns:paymentMeanCoBadgingBrand><ns:paymentMeanCoBadgingBrand>CB"
        "</ns:paymentMeanCoBadgingBrand></ns:paymentMeanCoBadgingBrandList>"
        "</ns:walletPaymentMeanData></ns:walletPaymentMeanDataList>"
        f"<ns:seal>{seal}</ns:seal></ns:output></ns:getWalletDataResponse></soap:Body>"
        "</soap:Envelope>"
    ).encode()


# The seal string, by name ignoring case: maskedPan, paymentMeanBrand,
# paymentMeanCoBadgingBrandList (its values), paymentMeanId; then walletResponseCode.
AS_RECEIVED = "4100##########00" + "VISA" + "VISA" + "CB" + "1" + "00"
SORTED = "4100##########00" + "VISA" + "CB" + "VISA" + "1" + "00"


@pytest.mark.parametrize(("seal_string", "order"), [(AS_RECEIVED, "received"), (SORTED, "sorted")])
def test_an_answer_sealed_over_its_lists_as_received_or_sorted_is_verified_and_says_which(
    seal_string: str, order: str
) -> None:
    with _answering(_wallet_answer(_seal(seal_string))) as server, _client(server.url) as client:
        result = client.get_wallet_data("w")
    assert result.ok and result.seal_verified and result.seal_order == order
    assert result.payment_means[0].co_badging_brands == ("VISA", "CB")  # as received


def test_a_wallet_of_two_cards_sealed_the_java_way_sorts_the_lists_inside_each_card() -> None:
    """With two cards the wallet's list is a list of containers, which keeps its
    order; the Java SDK still sorts the plain lists inside each card (its
    co-badging brands), and the client must follow it there too."""
    card = (
        "<ns:walletPaymentMeanData><ns:paymentMeanId>{id}</ns:paymentMeanId>"
        "<ns:maskedPan>4100##########0{id}</ns:maskedPan>"
        "<ns:paymentMeanCoBadgingBrandList><ns:paymentMeanCoBadgingBrand>VISA"
        "</ns:paymentMeanCoBadgingBrand><ns:paymentMeanCoBadgingBrand>CB"
        "</ns:paymentMeanCoBadgingBrand></ns:paymentMeanCoBadgingBrandList>"
        "</ns:walletPaymentMeanData>"
    )
    # cards in document order, each: maskedPan, its brands sorted, paymentMeanId; then the code
    seal = _seal("4100##########01" + "CB" + "VISA" + "1" + "4100##########02" + "CB" + "VISA" + "2"
                 + "00")  # fmt: skip
    body = (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body><ns:getWalletDataResponse xmlns:ns="{NS}">'
        "<ns:output><ns:walletResponseCode>00</ns:walletResponseCode><ns:walletPaymentMeanDataList>"
        + card.format(id=1) + card.format(id=2)
        + f"</ns:walletPaymentMeanDataList><ns:seal>{seal}</ns:seal></ns:output>"
        "</ns:getWalletDataResponse></soap:Body></soap:Envelope>"
    ).encode()
    with _answering(body) as server, _client(server.url) as client:
        result = client.get_wallet_data("w")
    assert result.ok and result.seal_verified and result.seal_order == "sorted"
    assert [m.payment_mean_id for m in result.payment_means] == ["1", "2"]
    assert result.payment_means[1].co_badging_brands == ("VISA", "CB")  # as received


def test_an_answer_sealed_over_any_other_order_is_refused() -> None:
    other = "4100##########00" + "VISA" + "1" + "VISACB" + "00"  # the list in the wrong place
    with _answering(_wallet_answer(_seal(other))) as server, _client(server.url) as client:
        with pytest.raises(SealVerificationError, match="seal is wrong"):
            client.get_wallet_data("w")


def test_a_request_seals_its_fields_in_one_documented_order() -> None:
    from sogen_soap.seal import seal_string

    # requests send lists as given: never sorted
    assert seal_string({"b": ["z", "a"], "a": "1"}) == "1za"
    assert seal_string({"b": ["z", "a"], "a": "1"}, sorted_lists=True) == "1az"


def test_unknown_wallet_is_01_or_25_on_operations_that_name_one() -> None:
    answer01 = (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body><ns:signOffResponse xmlns:ns="{NS}">'
        f"<ns:output><ns:walletResponseCode>01</ns:walletResponseCode><ns:seal>{_seal('01')}"
        "</ns:seal></ns:output></ns:signOffResponse></soap:Body></soap:Envelope>"
    ).encode()
    with _answering(answer01) as server, _client(server.url) as client:
        assert client.sign_off("w").unknown_wallet  # the data dictionary's 01
    with Simulator() as sim, _client(sim.url) as client:
        unknown = client.get_wallet_data("nobody")
        assert unknown.response_code == "25" and unknown.unknown_wallet  # the Java SDK's 25
        known = client.add_card("w", "4100000000000000", "203012")
        assert not known.unknown_wallet and not client.get_wallet_data("w").unknown_wallet


@pytest.mark.parametrize("prefix", ["soap", "S", "env"])
def test_a_fault_code_is_also_given_as_a_qualified_name(prefix: str) -> None:
    fault = (
        f'<{prefix}:Envelope xmlns:{prefix}="{ENV}"><{prefix}:Body><{prefix}:Fault>'
        f"<faultcode>{prefix}:Server</faultcode><faultstring>boom</faultstring>"
        f"</{prefix}:Fault></{prefix}:Body></{prefix}:Envelope>"
    ).encode()
    with _answering(fault) as server, _client(server.url) as client:
        result = client.sign_off("w")
    assert result.fault is not None and result.fault.code == f"{prefix}:Server"
    assert result.fault.qname == f"{{{ENV}}}Server"


def test_the_simulator_s_fault_has_the_same_qualified_name() -> None:
    with Simulator(faults=FaultProfile({"soap_fault": 1.0})) as sim, _client(sim.url) as client:
        result = client.sign_off("w")
    assert result.fault is not None and result.fault.qname == f"{{{ENV}}}Server"


@pytest.mark.parametrize("newer", [False, True], ids=["fields", "newer-fields"])
@pytest.mark.parametrize("shape", ["wrapped", "jaxb"])
def test_every_answer_of_a_wallet_s_life_is_valid_against_the_schema_served(
    shape: str, newer: bool
) -> None:
    """What a client generated from the simulator's ?wsdl reads: every answer, for
    every list layout, validates against the XSD the simulator serves with it."""
    import copy
    import urllib.request

    from lxml import etree

    with Simulator(shape=shape, newer_fields=newer) as sim:
        answers = record_answers(sim)
        with urllib.request.urlopen(f"{sim.url}?xsd=WalletService.xsd", timeout=5) as served:  # noqa: S310
            schema = etree.XMLSchema(etree.fromstring(served.read()))
        with _client(sim.url) as client:
            assert client.get_wallet_data("w").unknown_wallet
            first = client.add_card("w", "4100000000000000", "203012", payment_mean_alias="a")
            client.add_card("w", "5100000000000000", "203101")
            assert client.add_card("w", "4100000000000000", "203012").duplicate
            wallet = client.get_wallet_data("w")
            assert len(wallet.payment_means) == 2
            assert client.get_payment_mean_data("w", first.payment_mean_id or "").ok
            assert client.update_payment_mean("w", "1", "b").ok
            assert client.delete_payment_mean("w", "2").ok
            assert client.get_payment_mean_data("w", "2").unknown_wallet
            assert client.sign_off("w").ok
    assert len(answers) == 10
    for payload in answers:
        body = etree.fromstring(payload).find(f"{{{ENV}}}Body")
        assert body is not None
        answer = etree.ElementTree(copy.deepcopy(body[0]))
        assert schema.validate(answer), (shape, newer, schema.error_log.last_error, payload)
