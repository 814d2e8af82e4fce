"""A wallet's whole life over HTTP: the six operations, with any equivalent WSDL."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import MERCHANT, OTHER_PAN, TEST_PAN, input_fields
from lxml import etree

from sogen_soap import (
    ConfigurationError,
    GetWalletDataResult,
    InvalidFieldError,
    SealVerificationError,
    WalletClient,
)
from sogen_soap.simulator import FaultProfile, Simulator
from sogen_soap.testing import SimulatedWallet
from sogen_soap.wsdl_cache import SOURCE_FILE, fetch_wsdl

VARIANT = Path(__file__).parent / "data" / "variant"
JCB_PAN = "3528000000000000"


def _client(sim: Simulator, wsdl: str | Path | None = None, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        MERCHANT.key_version,
        environment=sim.url,
        wsdl=wsdl,
        **options,  # type: ignore[arg-type]
    )


def _fetched(sim: Simulator, folder: Path) -> Path:
    return fetch_wsdl(sim.url, folder).parent


WSDLS: dict[str, Callable[[Simulator, Path], Path | None]] = {
    "bundled": lambda sim, tmp: None,
    "variant-layout": lambda sim, tmp: VARIANT,
    "fetched-from-simulator": _fetched,
}


@pytest.mark.parametrize("wsdl", list(WSDLS))
def test_a_wallet_lives_its_whole_life(simulator: Simulator, tmp_path: Path, wsdl: str) -> None:
    with _client(simulator, WSDLS[wsdl](simulator, tmp_path)) as client:
        first = client.add_card("life-1", TEST_PAN, "203012", payment_mean_alias="perso")
        second = client.add_card("life-1", OTHER_PAN, "203106")
        assert (first.payment_mean_id, second.payment_mean_id) == ("1", "2")
        assert client.add_card("life-1", TEST_PAN, "203012").duplicate

        wallet = client.get_wallet_data("life-1")
        assert wallet.ok and wallet.seal_verified
        assert [m.payment_mean_id for m in wallet.payment_means] == ["1", "2"]
        visa, mastercard = wallet.payment_means
        assert (visa.masked_pan, visa.payment_mean_alias, visa.pan_expiry_date) == (
            "4100##########00",
            "perso",
            "203012",
        )
        assert (visa.payment_mean_brand, mastercard.payment_mean_brand) == ("VISA", "MASTERCARD")
        assert wallet.wallet_creation_datetime is not None

        read = client.get_payment_mean_data("life-1", "2")
        assert read.ok and read.payment_mean == mastercard

        assert client.update_payment_mean("life-1", 2, "pro").ok
        assert client.get_payment_mean_data("life-1", 2).payment_mean.payment_mean_alias == "pro"  # type: ignore[union-attr]

        deleted = client.delete_payment_mean("life-1", 1)
        assert deleted.ok and deleted.wallet_action_datetime is not None
        remaining = client.get_wallet_data("life-1").payment_means
        assert [(m.payment_mean_id, m.payment_mean_alias) for m in remaining] == [("2", "pro")]

        assert client.sign_off("life-1").ok
        after = [
            client.get_wallet_data("life-1"),
            client.get_payment_mean_data("life-1", 2),
            client.update_payment_mean("life-1", 2, "x"),
            client.delete_payment_mean("life-1", 2),
            client.sign_off("life-1"),
        ]
        assert [r.response_code for r in after] == ["25"] * 5
        assert all(r.seal_verified and not r.ok for r in after)


def test_a_new_card_after_a_delete_gets_a_fresh_id(client: WalletClient) -> None:
    client.add_card("w", TEST_PAN, "203012")
    client.add_card("w", OTHER_PAN, "203012")
    client.delete_payment_mean("w", 2)
    assert client.add_card("w", JCB_PAN, "203012").payment_mean_id == "3"


def test_an_unknown_payment_mean_gets_25(client: WalletClient) -> None:
    client.add_card("w", TEST_PAN, "203012")
    assert client.get_payment_mean_data("w", 9).response_code == "25"
    assert client.delete_payment_mean("w", 9).response_code == "25"


def test_payment_mean_id_zero_is_sent_as_an_id(kit: SimulatedWallet) -> None:
    """0 is an id like any other (``payment_mean_id: str | int``): sent as ``0`` to each
    operation that names a payment mean, and answered 25 (no such mean), never dropped
    as if it were missing."""
    with kit.client() as client:
        client.add_card("w", TEST_PAN, "203012")
        answers = [
            client.get_payment_mean_data("w", 0),
            client.update_payment_mean("w", 0, "renamed"),
            client.delete_payment_mean("w", 0),
        ]
    assert [a.response_code for a in answers] == ["25"] * 3
    sent = [(r.operation, r.fields.get("paymentMeanId")) for r in kit.requests[1:]]
    assert sent == [
        ("getPaymentMeanData", "0"),
        ("updatePaymentMean", "0"),
        ("deletePaymentMean", "0"),
    ]


def test_an_empty_wallet_lists_no_payment_means(client: WalletClient) -> None:
    client.add_card("w", TEST_PAN, "203012")
    client.delete_payment_mean("w", 1)
    wallet = client.get_wallet_data("w")
    assert wallet.ok and wallet.payment_means == ()
    # every field the simulator answers is a typed one: nothing left over in extra
    assert wallet.wallet_last_action_datetime is not None
    assert wallet.extra == {}


def test_the_last_action_time_moves_with_every_change() -> None:
    ticks = itertools.count()
    start = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))

    def clock() -> datetime:
        return start + timedelta(minutes=next(ticks))

    with Simulator(clock=clock) as sim, _client(sim) as client:
        stamps = []
        for change in (
            lambda: client.add_card("w", TEST_PAN, "203012"),
            lambda: client.add_card("w", OTHER_PAN, "203012"),
            lambda: client.update_payment_mean("w", 1, "a"),
            lambda: client.delete_payment_mean("w", 2),
        ):
            assert change().ok
            stamps.append(client.get_wallet_data("w").wallet_last_action_datetime)
        created = client.get_wallet_data("w").wallet_creation_datetime
    assert created == start
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


def test_the_get_wallet_data_seal_covers_the_list(simulator: Simulator) -> None:
    with _client(simulator) as client:
        client.add_card("w", TEST_PAN, "203012", payment_mean_alias="a1")
        client.add_card("w", OTHER_PAN, "203101")
    fields = {
        "merchantId": MERCHANT.merchant_id,
        "interfaceVersion": "WR_WS_2.55",
        "merchantWalletId": "w",
    }
    data = "".join(fields[k] for k in sorted(fields))
    fields["seal"] = hmac.new(
        MERCHANT.secret_key.encode(), data.encode(), hashlib.sha256
    ).hexdigest()
    fields["keyVersion"] = "1"
    ns = "urn:sips:cn:contract:office:wallet:v2"
    items = "".join(f"<w:{k}>{v}</w:{k}>" for k, v in fields.items())
    body = (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:w="{ns}">'
        f"<s:Body><w:getWalletData><w:input>{items}</w:input></w:getWalletData></s:Body></s:Envelope>"
    )
    answer = requests.post(simulator.url, data=body.encode(), timeout=5)
    output = etree.fromstring(answer.content).find(f".//{{{ns}}}output")
    assert output is not None
    text = {etree.QName(e).localname: e for e in output}
    means = text["walletPaymentMeanDataList"]
    # by hand: top-level fields sorted by name; the list's items in order,
    # each item's fields sorted by name (paymentMeanAlias absent on the 2nd card)
    item_texts = []
    for item in means:
        values = {etree.QName(e).localname: e.text or "" for e in item}
        item_texts.append("".join(values[k] for k in sorted(values)))
    assert item_texts[0] == "4100##########00" + "203012" + "a1" + "VISA" + "1"
    by_hand = (
        text["walletCreationDateTime"].text
        + text["walletLastActionDateTime"].text
        + "".join(item_texts)
        + text["walletResponseCode"].text
    )
    expected = hmac.new(MERCHANT.secret_key.encode(), by_hand.encode(), hashlib.sha256)
    assert text["seal"].text == expected.hexdigest()


def test_a_tampered_list_item_is_rejected() -> None:
    with Simulator() as sim:
        with _client(sim) as client:
            client.add_card("w", TEST_PAN, "203012")
            client.add_card("w", OTHER_PAN, "203012")
        sim.app.faults = FaultProfile({"tampered": 1.0})
        with _client(sim) as client, pytest.raises(SealVerificationError):
            client.get_wallet_data("w")


def test_an_unknown_code_is_kept_with_a_generic_message() -> None:
    with Simulator(faults=FaultProfile({"code_77": 1.0})) as sim, _client(sim) as client:
        result = client.get_wallet_data("w")
    assert isinstance(result, GetWalletDataResult)
    assert result.response_code == "77" and not result.ok
    assert result.message == "Unknown response code 77"


def test_interface_versions_can_be_set_per_operation(
    simulator: Simulator, received: list[bytes]
) -> None:
    with _client(simulator, interface_versions={"getWalletData": "WR_WS_2.51"}) as client:
        client.add_card("w", TEST_PAN, "203012")
        client.get_wallet_data("w")
    versions = [input_fields(body)["interfaceVersion"] for body in received]
    assert versions == ["WR_WS_2.55", "WR_WS_2.51"]


def test_one_interface_version_can_be_set_for_all(
    simulator: Simulator, received: list[bytes]
) -> None:
    with _client(simulator, interface_version="WR_WS_2.58") as client:
        client.get_wallet_data("w")
        client.sign_off("w")
    assert {input_fields(body)["interfaceVersion"] for body in received} == {"WR_WS_2.58"}


def test_an_interface_version_for_an_unknown_operation_is_refused(simulator: Simulator) -> None:
    with pytest.raises(ConfigurationError, match="getWallet"):
        _client(simulator, interface_versions={"getWallet": "WR_WS_2.51"})


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.get_wallet_data(""), "merchantWalletId"),
        (lambda c: c.get_payment_mean_data("w", "one"), "paymentMeanId"),
        (lambda c: c.get_payment_mean_data("w", "1234567"), "paymentMeanId"),
        (lambda c: c.update_payment_mean("w", 1, "x" * 21), "paymentMeanAlias"),
        (lambda c: c.delete_payment_mean("w" * 22, 1), "merchantWalletId"),
        (lambda c: c.sign_off("w" * 22), "merchantWalletId"),
    ],
)
def test_bad_input_to_any_operation_is_refused_before_sending(
    client: WalletClient,
    simulator: Simulator,
    call: Callable[[WalletClient], object],
    field: str,
) -> None:
    seen = simulator.requests_seen
    with pytest.raises(InvalidFieldError) as caught:
        call(client)
    assert caught.value.field == field
    assert simulator.requests_seen == seen


# ------------------------------------------------------------------ wsdl fetch


def test_wsdl_fetch_writes_a_cache_a_fresh_client_loads_offline(
    simulator: Simulator, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sogen_soap", "wsdl", "fetch",
         "--environment", simulator.url, "--output", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == tmp_path / "service.wsdl"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        SOURCE_FILE,
        "WalletService.xsd",
        "service.wsdl",
    ]
    assert 'schemaLocation="WalletService.xsd"' in (tmp_path / "service.wsdl").read_text()
    source = (tmp_path / SOURCE_FILE).read_text()
    assert simulator.url in source and "fetched_at" in source
    # this process blocks every socket but loopback (conftest)
    with _client(simulator, tmp_path) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


class _WsdlHandler(BaseHTTPRequestHandler):
    def __init__(self, wsdl: bytes, *args: object) -> None:
        self.wsdl = wsdl
        super().__init__(*args)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.wsdl)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def wsdl_server(tmp_path: Path) -> Iterator[Callable[[bytes], str]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(wsdl: bytes) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_WsdlHandler, wsdl))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/services/v2/wallet"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_wsdl_fetch_refuses_imports_from_another_origin(
    wsdl_server: Callable[[bytes], str], tmp_path: Path
) -> None:
    wsdl = (
        b'<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" '
        b'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><types><xsd:schema>'
        b'<xsd:import namespace="urn:x" schemaLocation="http://127.0.0.2:9/evil.xsd"/>'
        b"</xsd:schema></types></definitions>"
    )
    with pytest.raises(ConfigurationError, match="outside"):
        fetch_wsdl(wsdl_server(wsdl), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wsdl_fetch_refuses_a_document_with_a_dtd(
    wsdl_server: Callable[[bytes], str], tmp_path: Path
) -> None:
    from sogen_soap import ResponseError

    wsdl = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><definitions>&e;</definitions>'
    with pytest.raises(ResponseError):
        fetch_wsdl(wsdl_server(wsdl), tmp_path)


def test_an_alias_set_to_empty_is_cleared(client: WalletClient) -> None:
    """Renaming to "" removes the alias (the card then shows none), never leaves the
    old one nor stores a placeholder."""
    assert client.add_card("w", TEST_PAN, "203012", payment_mean_alias="home").ok
    assert client.update_payment_mean("w", 1, "").ok
    (mean,) = client.get_wallet_data("w").payment_means
    assert mean.payment_mean_alias in (None, "")
