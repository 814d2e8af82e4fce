"""Properties batch 16 of realistic bugs found untested: a signed-off wallet keeps no
card (the same card enrols again as new); the simulator answers a wallet function
under the wallet's interface versions only."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from pathlib import Path

from conftest import MERCHANT, TEST_PAN

from sogen_soap.observe import Exchange
from sogen_soap.testing import SimulatedWallet


def test_a_signed_off_wallet_keeps_no_card(kit: SimulatedWallet) -> None:
    # signOff ends the wallet: a card enrolled afterwards is a new enrolment (00, not
    # the 94 of a card still there), in a wallet that holds only it
    with kit.client() as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
        assert client.add_card("w", "5100000000000000", "203012").ok
        assert client.sign_off("w").ok
        again = client.add_card("w", TEST_PAN, "203012")
        assert (again.response_code, again.payment_mean_id) == ("00", "1")
        means = client.get_wallet_data("w").payment_means
    assert [(m.payment_mean_id, m.masked_pan) for m in means] == [("1", "4100##########00")]
    assert [m.payment_mean_id for m in kit.wallet("w")] == ["1"]


def _json_call(kit: SimulatedWallet, operation: str, fields: dict[str, str]) -> dict[str, str]:
    """A JSON request written and sealed here by hand (the vendor's rule: values in the
    order of their names, HMAC-SHA-256 keyed with the key's text), as a peer would."""
    text = "".join(fields[name] for name in sorted(fields))
    seal = hmac.new(MERCHANT.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    body = json.dumps({**fields, "keyVersion": MERCHANT.key_version, "seal": seal}).encode()
    origin = "/".join(kit.url.split("/")[:3])
    request = urllib.request.Request(  # noqa: S310 - the simulator on loopback
        f"{origin}/rs-services/v2/wallet/{operation}", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
        return json.loads(answer.read())  # type: ignore[no-any-return]


def test_the_simulator_refuses_a_wallet_call_under_another_service_s_version(
    kit: SimulatedWallet,
) -> None:
    # a wallet function answers under WR_WS_ versions only; IR_WS_ is the checkout's
    fields = {"merchantId": MERCHANT.merchant_id, "merchantWalletId": "w"}
    wallet = _json_call(kit, "getWalletData", {**fields, "interfaceVersion": "WR_WS_2.55"})
    assert wallet["walletResponseCode"] == "25"  # sealed right: the wallet is unknown
    other = _json_call(kit, "getWalletData", {**fields, "interfaceVersion": "IR_WS_2.55"})
    assert (other["walletResponseCode"], other["errorFieldName"]) == ("30", "interfaceVersion")


def test_a_charge_file_s_amount_in_other_digits_is_a_bad_row(tmp_path: Path) -> None:
    # str.isdigit() takes Arabic-Indic digits, and int() reads them: 1050 cents
    from sogen_soap.cli.charge import CHARGE_COLUMNS, BadCharge, read_charges
    from sogen_soap.cli.inputs import check_file

    bill = tmp_path / "bill.csv"
    bill.write_text("wallet,id,amount\nw,1,\u0661\u0660\u0665\u0660\nw,1,1050\n", encoding="utf-8")
    rows = list(read_charges(bill, check_file(bill, CHARGE_COLUMNS)))
    said = "amount: a whole number of cents (1050 for 10.50 EUR), not '\u0661\u0660\u0665\u0660'"
    assert rows[0] == BadCharge(2, said, "w")
    assert not isinstance(rows[1], BadCharge) and rows[1].amount == 1050


def test_a_key_file_saved_by_notepad_reads_as_the_key(tmp_path: Path) -> None:
    # credentials.py: "UTF-8 with or without a byte-order mark, CRLF or LF"
    from sogen_soap.credentials import secret_key_from_file

    (tmp_path / "k").write_bytes(b"\xef\xbb\xbf" + MERCHANT.secret_key.encode() + b"\r\n")
    assert secret_key_from_file(tmp_path / "k").reveal() == MERCHANT.secret_key


def test_hooks_never_see_a_payment_token(kit: SimulatedWallet) -> None:
    seen: list[Exchange] = []
    with kit.client(on_request=seen.append, on_response=seen.append, telemetry=False) as client:
        assert client.add_card("w", TEST_PAN, "203012", payment_token="tok0secret0value").ok
    assert [e.operation for e in seen] == ["addCard", "addCard"]
    for exchange in seen:
        assert "paymentToken" not in exchange.request
        assert "tok0secret0value" not in repr(exchange)
