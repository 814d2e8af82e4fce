"""The real service's shapes: both list layouts, newer fields, nothing dropped.

Seals here are computed by hand (hmac/hashlib over a concatenation written out
in the test), never by the package's own ``compute_seal``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timezone
from types import MappingProxyType

import pytest
from conftest import MERCHANT, OTHER_PAN, TEST_PAN, record_answers
from hostile import HostileServer
from lxml import etree

from sogen_soap import ResponseError, WalletClient
from sogen_soap.seal import compute_seal
from sogen_soap.simulator import Simulator
from sogen_soap.wsdl_cache import XSD_FILE, bundled_wsdl_path

KEY = MERCHANT.secret_key.encode()
WHEN = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
STAMP = "2026-11-29T12:00:00+00:00"
NS = "urn:sips:cn:contract:office:wallet:v2"


def _hmac(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def _client(url: str) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url)


@pytest.mark.parametrize("newer", [False, True])
@pytest.mark.parametrize("shape", ["wrapped", "jaxb"])
def test_a_wallets_life_through_each_list_layout(shape: str, newer: bool) -> None:
    with Simulator(shape=shape, newer_fields=newer, clock=lambda: WHEN) as sim:
        answers = record_answers(sim)
        with _client(sim.url) as client:
            assert client.add_card("w", TEST_PAN, "203012", payment_mean_alias="visa").ok
            assert client.add_card("w", OTHER_PAN, "203101").ok
            wallet = client.get_wallet_data("w")
            one = client.get_payment_mean_data("w", 2)
            assert client.delete_payment_mean("w", 1).ok
            after = client.get_wallet_data("w")
            assert client.sign_off("w").ok
            assert client.get_wallet_data("w").response_code == "25"

    assert wallet.ok and wallet.seal_verified
    assert [(m.payment_mean_id, m.masked_pan, m.pan_expiry_date, m.payment_mean_alias)
            for m in wallet.payment_means] == [
        ("1", "4100##########00", "203012", "visa"),
        ("2", "5100##########00", "203101", None),
    ]  # fmt: skip
    assert [m.payment_mean_id for m in after.payment_means] == ["2"]
    assert one.payment_mean is not None and one.payment_mean.masked_pan == "5100##########00"
    # one payment mean read alone carries the newer fields as the list does
    assert one.payment_mean.co_badging_brands == (("CB", "MASTERCARD") if newer else ())
    visa, master = wallet.payment_means
    if newer:
        assert visa.payment_mean_brand_selection_status == "MERCHANT_SELECTION"
        assert visa.co_badging_brands == ("CB", "VISA")
        assert master.co_badging_brands == ("CB", "MASTERCARD")
        assert visa.transaction_actors == ("MERCHANT", "WALLET_PROVIDER")
        assert visa.extra == {
            "paymentMeanData": {"panType": "PAN", "cardProductCode": "F"},
            "pspData": {"pspId": "SIMULATED", "pspName": "sogen-soap simulator"},
        }
        assert isinstance(visa.extra, MappingProxyType)
        with pytest.raises(TypeError):
            visa.extra["pspData"]["pspId"] = "changed"  # type: ignore[index]
        view = json.loads(json.dumps(wallet.as_dict()))  # extra and nested: JSON-ready
        assert [m["masked_pan"] for m in view["payment_means"]] == [
            "4100##########00", "5100##########00",
        ]  # fmt: skip
        assert view["payment_means"][0]["co_badging_brands"] == ["CB", "VISA"]
        assert view["payment_means"][0]["extra"]["pspData"]["pspId"] == "SIMULATED"
    else:
        assert visa.co_badging_brands == () and visa.transaction_actors == ()
        assert visa.extra == {}

    # the getWalletData answer's seal, rebuilt by hand from the bytes received
    answer = etree.fromstring(answers[2])
    output = next(e for e in answer.iter() if etree.QName(e).localname == "output")
    seal = next(e.text for e in output if etree.QName(e).localname == "seal")

    def mean(pan: str, expiry: str, alias: str, brand: str, number: str) -> str:
        # names sorted: maskedPan, panExpiryDate, paymentMeanAlias, paymentMeanBrand,
        # [paymentMeanBrandSelectionStatus, paymentMeanCoBadgingBrandList,]
        # [paymentMeanData{cardProductCode, panType},] paymentMeanId, [pspData{pspId,
        # pspName},] [transactionActors]
        if not newer:
            return pan + expiry + alias + brand + number
        return (pan + expiry + alias + brand + "MERCHANT_SELECTION" + "CB" + brand
                + "F" + "PAN" + number + "SIMULATED" + "sogen-soap simulator"
                + "MERCHANT" + "WALLET_PROVIDER")  # fmt: skip

    text = (STAMP + STAMP
            + mean("4100##########00", "203012", "visa", "VISA", "1")
            + mean("5100##########00", "203101", "", "MASTERCARD", "2")
            + "00")  # fmt: skip
    assert seal == _hmac(text)


# A card the simulator brands CB (no international scheme's leading digits).
CB_PAN = "5600000000000000"


@pytest.mark.parametrize("shape", ["wrapped", "jaxb"])
def test_a_cb_card_lists_cb_once_among_its_co_badged_brands(shape: str) -> None:
    """A co-badged card lists CB and its scheme; a card that is CB alone lists CB once."""
    with Simulator(shape=shape, newer_fields=True, clock=lambda: WHEN) as sim:
        with _client(sim.url) as client:
            assert client.add_card("w", CB_PAN, "203012").ok
            (mean,) = client.get_wallet_data("w").payment_means
    assert mean.payment_mean_brand == "CB"
    assert mean.co_badging_brands == ("CB",)


def _sealed_answer(operation: str, inner: str, seal_text: str) -> bytes:
    seal = _hmac(seal_text)
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<ns:{operation}Response xmlns:ns="{NS}"><ns:output>{inner}'
        f"<ns:seal>{seal}</ns:seal></ns:output></ns:{operation}Response></soap:Body>"
        "</soap:Envelope>"
    ).encode()


def _serving(payload: bytes) -> HostileServer:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )

    return HostileServer(answer)


@pytest.mark.parametrize(
    ("inner", "seal_text", "named"),
    [
        (  # items under a name the client does not know
            "<ns:walletResponseCode>00</ns:walletResponseCode><ns:walletPaymentMeanDataList>"
            "<ns:item><ns:x>1</ns:x></ns:item></ns:walletPaymentMeanDataList>",
            "100",
            "walletPaymentMeanDataList",
        ),
        (  # the list itself under an unknown name
            "<ns:walletResponseCode>00</ns:walletResponseCode><ns:paymentMeanList>"
            "<ns:paymentMean><ns:paymentMeanId>1</ns:paymentMeanId></ns:paymentMean>"
            "</ns:paymentMeanList>",
            "100",
            "paymentMeanList",
        ),
    ],
)
def test_an_unknown_list_layout_is_refused_never_an_empty_wallet(
    inner: str, seal_text: str, named: str
) -> None:
    with _serving(_sealed_answer("getWalletData", inner, seal_text)) as server:
        with _client(server.url) as client, pytest.raises(ResponseError, match=named):
            client.get_wallet_data("w")


def test_one_card_in_the_jaxb_layout_is_one_card() -> None:
    inner = (
        "<ns:walletResponseCode>00</ns:walletResponseCode><ns:walletPaymentMeanDataList>"
        "<ns:paymentMeanId>7</ns:paymentMeanId><ns:maskedPan>4100##########00</ns:maskedPan>"
        "<ns:transactionActors>ONLY</ns:transactionActors></ns:walletPaymentMeanDataList>"
        "<ns:brandNewField>kept</ns:brandNewField>"
    )
    # sorted, ignoring case: brandNewField, walletPaymentMeanDataList{maskedPan,
    # paymentMeanId, transactionActors}, walletResponseCode
    text = "kept" + "4100##########00" + "7" + "ONLY" + "00"
    with _serving(_sealed_answer("getWalletData", inner, text)) as server:
        with _client(server.url) as client:
            wallet = client.get_wallet_data("w")
    assert wallet.seal_verified
    [mean] = wallet.payment_means
    assert (mean.payment_mean_id, mean.transaction_actors) == ("7", ("ONLY",))
    assert wallet.extra == {"brandNewField": "kept"}


def test_the_seal_sorts_names_ignoring_case_like_the_vendor_sdk() -> None:
    # "alpha" before "Zeta" ignoring case; an ordinal sort would put "Zeta" first
    assert compute_seal({"Zeta": "1", "alpha": "2"}, MERCHANT.secret_key) == _hmac("21")


def test_for_every_field_known_today_both_sort_orders_agree() -> None:
    names: set[str] = set()
    for path in (bundled_wsdl_path(), bundled_wsdl_path().replace(".wsdl", ".xsd")):
        tree = etree.parse(path)
        names |= {str(e.get("name")) for e in tree.iter("{*}element") if e.get("name")}
    assert XSD_FILE and len(names) > 30
    assert sorted(names) == sorted(names, key=lambda n: (n.lower(), n))
