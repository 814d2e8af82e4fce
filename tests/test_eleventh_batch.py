"""Properties of realistic-bug batches 16 to 19 found untested: a signed-off wallet
keeps no card; the simulator answers a wallet function under the wallet's interface
versions only; a charge file's amount in other digits is a bad row; a key file saved
by Notepad reads as the key; hooks never see a payment token; a key spec's dates,
a key table's misspelt field and a ring beside one key in the environment; a
declined payment holds no money."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from pathlib import Path

import pytest
from conftest import MERCHANT, TEST_PAN
from test_payments import _enrolled

from sogen_soap import OutcomeUnknown
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


def test_the_simulator_s_record_of_a_request_never_holds_its_token_or_seal(
    kit: SimulatedWallet,
) -> None:
    """simulator.app.Received: "a request the simulator answered, as a test may inspect
    it: masked only" (a test suite's logs and failure messages print these)."""
    with kit.client() as client:
        added = client.add_card("w", TEST_PAN, "203012", payment_token="tok0secret0value")
    assert added.ok
    (request,) = kit.requests
    assert request.operation == "addCard" and request.fields["cardNumber"] == "4100##########00"
    assert "paymentToken" not in request.fields and "seal" not in request.fields
    assert "tok0secret0value" not in repr(request) and TEST_PAN not in repr(request)


def test_a_key_spec_s_dates_are_not_part_of_its_file_name(tmp_path: Path) -> None:
    # docs/keys.md: VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]
    from datetime import date

    from sogen_soap.keys import key_from_spec

    (tmp_path / "k2").write_text("002001000000001_KEY2_example\n")
    entry = key_from_spec(f"2:{tmp_path / 'k2'}:2027-03-31:2027-03-01", "SOGEN_KEYS")
    assert (entry.version, entry.expires, entry.active_from) == (
        2, date(2027, 3, 31), date(2027, 3, 1)
    )  # fmt: skip
    assert entry.secret_key.reveal() == "002001000000001_KEY2_example"
    only = key_from_spec(f"3:{tmp_path / 'k2'}:2027-03-31", "SOGEN_KEYS")
    assert (only.expires, only.active_from) == (date(2027, 3, 31), None)


def test_a_key_table_with_a_misspelt_field_is_refused(tmp_path: Path) -> None:
    from sogen_soap import ConfigurationError
    from sogen_soap.keys import key_from_table

    (tmp_path / "k").write_text("k1\n")
    with pytest.raises(ConfigurationError) as refused:
        key_from_table({"version": 1, "secret_key_file": str(tmp_path / "k"),
                        "expiry": "2027-01-01"}, "config c.toml")  # fmt: skip
    assert str(refused.value) == (
        "config c.toml: each key has version and secret_key_file, and may have expires and "
        "active_from (not expiry)"
    )


def test_a_key_ring_and_one_key_in_the_environment_are_refused(tmp_path: Path) -> None:
    from sogen_soap import ConfigurationError
    from sogen_soap.keys import keys_from_env

    (tmp_path / "k").write_text("k1\n")
    for single in ("SOGEN_SECRET_KEY", "SOGEN_SECRET_KEY_FILE"):
        with pytest.raises(ConfigurationError) as refused:
            keys_from_env({"SOGEN_KEYS": f"1:{tmp_path / 'k'}", single: str(tmp_path / "k")})
        assert str(refused.value) == (
            "SOGEN_KEYS and SOGEN_SECRET_KEY(_FILE) are both set: a key ring or one key; keep one"
        )


def test_a_declined_payment_holds_no_money(kit: SimulatedWallet) -> None:
    # a refusal authorised nothing: its current amount is 0, its origin what was asked
    mean = _enrolled(kit, "w")
    with kit.client() as client:
        declined = client.wallet_order("w", mean, 2505, transaction_reference="decl1")
        assert (declined.response_code, declined.declined) == ("05", True)
        data = client.get_transaction_data("decl1")
    assert (data.status, data.origin_amount, data.current_amount) == ("REFUSED", 2505, 0)
    stored = kit.transaction("decl1")
    assert stored is not None and (stored.status, stored.current_amount) == ("REFUSED", 0)


def test_the_kit_s_delay_outlasts_its_client_s_wait(kit: SimulatedWallet) -> None:
    # testing.py: the kit's client gives a call up after 2 s, and the "delay" fault holds
    # the answer back longer: the card is stored and the caller is told it cannot know
    kit.fail_next("addCard", "delay")
    with kit.client() as client, pytest.raises(OutcomeUnknown):
        client.add_card("w", TEST_PAN, "203012")
    assert [m.payment_mean_id for m in kit.wallet("w")] == ["1"]


def test_the_kit_shows_one_transaction_as_it_stands(kit: SimulatedWallet) -> None:
    mean = _enrolled(kit, "w")
    with kit.client() as client:
        client.wallet_order("w", mean, 1000, transaction_reference="due1", capture_day=1)
    stored = kit.transaction("due1")
    assert stored is not None and stored.status == "TO_CAPTURE"
    kit.advance(days=2)  # past its capture day: captured
    stored = kit.transaction("due1")
    assert stored is not None and stored.status == "CAPTURED"


def test_a_lookup_answering_99_is_read_again(kit: SimulatedWallet) -> None:
    # docs/payments.md: a lost charge is settled by the service's sealed word; a 99 to
    # the lookup is no word about the payment.  A read's 99 is retried (3 attempts, the
    # kit's policy); a lookup still at 99 after them is asked again, not taken
    mean = _enrolled(kit, "w")
    kit.fail_next("walletOrder", "commit_drop")
    kit.fail_next("getTransactionData", "code_99", times=3)
    with kit.client() as client:
        paid = client.wallet_order("w", mean, 1000, transaction_reference="look99")
    assert (paid.ok, paid.recovered, paid.amount) == (True, True, 1000)
    assert [(r.operation, r.response_code) for r in kit.requests][1:] == [
        ("walletOrder", "00"), *[("getTransactionData", "99")] * 3, ("getTransactionData", "00")
    ]  # fmt: skip
    assert len(kit.transactions()) == 1


def test_a_first_94_is_the_answer_and_nothing_is_looked_up(kit: SimulatedWallet) -> None:
    # a reference used before, on a request that was not lost: nothing new was charged,
    # and the service already said so
    mean = _enrolled(kit, "w")
    with kit.client() as client:
        assert client.wallet_order("w", mean, 1000, transaction_reference="used1").ok
        again = client.wallet_order("w", mean, 2000, transaction_reference="used1")
    assert (again.response_code, again.duplicate, again.recovered) == ("94", True, False)
    assert again.reconciliation is None
    assert [r.operation for r in kit.requests][1:] == ["walletOrder", "walletOrder"]
