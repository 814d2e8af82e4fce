"""Properties the second batch of hand-written bugs found unheld: a settled card
without id, the simulator's connection budget, the key it seals a 34 with, a
tampered answer, the kit's async client with a key ring, expiry warnings day by
day, a key's last day, whose 34 gets the hint, and the keys check's clean-up."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import (
    KeyRing,
    KeyVersion,
    RetryPolicy,
    SealVerificationError,
    SecretKey,
    WalletClient,
)
from sogen_soap.cli.enrol import _outcome
from sogen_soap.cli.keys import check_keys
from sogen_soap.redact import mask_pan
from sogen_soap.results import AddCardResult
from sogen_soap.simulator import DEFAULT_MERCHANT, Merchant, Simulator
from sogen_soap.testing import simulated_wallet

KEY_2 = "002001000000001_KEY2_rotated"


def test_a_card_settled_without_its_id_is_in_wallet_not_ok() -> None:
    assert _outcome(AddCardResult(response_code="94", recovered=True)) == "in-wallet"
    assert _outcome(AddCardResult(response_code="94", recovered=True, payment_mean_id="3")) == "ok"
    assert _outcome(AddCardResult(response_code="00", payment_mean_id="1")) == "ok"
    assert _outcome(AddCardResult(response_code="94")) == "duplicate"


def _request() -> bytes:
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1) as client:
        body, headers, _key = client._request(client.plan_get_wallet_data("w"))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (f"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip


def _answered(conn: socket.socket) -> bool:
    conn.sendall(_request())
    try:
        return conn.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_the_simulator_keeps_as_many_idle_connections_as_it_was_given() -> None:
    with Simulator(max_connections=4) as sim:
        port = int(sim.url.split(":")[2].split("/")[0])
        conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        try:
            assert all(_answered(c) for c in conns)
            for conn in conns:  # the rest of each answer, so the next one starts clean
                conn.settimeout(0.5)
                try:
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass
                conn.settimeout(5)
            assert all(_answered(c) for c in conns)  # none of the four was closed
        finally:
            for conn in conns:
                conn.close()


def test_a_34_for_an_unknown_version_is_sealed_with_the_merchant_s_newest_key() -> None:
    with Simulator(merchants=[DEFAULT_MERCHANT, Merchant(MERCHANT.merchant_id, 2, KEY_2)]) as sim:
        ring = KeyRing([KeyVersion(9, SecretKey(KEY_2))])
        with WalletClient(MERCHANT.merchant_id, ring, environment=sim.url) as client:
            refused = client.get_wallet_data("w")
    assert (refused.response_code, refused.seal_verified) == ("34", True)


def test_a_tampered_answer_is_refused() -> None:
    with simulated_wallet() as kit, kit.client(retry=RetryPolicy(attempts=1)) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
        kit.fail_next("getWalletData", "tampered")
        with pytest.raises(SealVerificationError, match="the response seal is wrong"):
            client.get_wallet_data("w")


def test_the_kit_s_async_client_takes_a_key_ring() -> None:
    async def call(kit: object) -> int | None:
        async with kit.async_client(keys=KeyRing({1: MERCHANT.secret_key, 2: KEY_2},  # type: ignore[attr-defined]
                                                 active=2)) as client:  # fmt: skip
            return (await client.get_wallet_data("w")).key_version

    with simulated_wallet() as kit:
        kit.add_key(2, KEY_2)
        assert asyncio.run(call(kit)) == 2


def test_expiry_warnings_come_at_90_45_and_20_days_day_by_day(
    caplog: pytest.LogCaptureFixture,
) -> None:
    expires = date(2031, 6, 30)
    today = [expires - timedelta(days=120)]
    ring = KeyRing([KeyVersion(7001, SecretKey("k"), expires)], today=lambda: today[0])
    warned_at = []
    with caplog.at_level(logging.WARNING, logger="sogen_soap.keys"):
        for left in (120, 91, 90, 89, 60, 46, 45, 44, 21, 20, 19, 5, 0):
            today[0] = expires - timedelta(days=left)
            before = len(caplog.records)
            ring.for_request()
            if len(caplog.records) > before:
                warned_at.append(left)
    assert warned_at == [90, 45, 20]


def test_a_key_is_valid_through_its_expiry_day() -> None:
    today = date(2031, 6, 30)
    ring = KeyRing([KeyVersion(7002, SecretKey("k"), today), KeyVersion(7003, SecretKey("j"))],
                   active=7003, today=lambda: today)  # fmt: skip
    assert not ring[7002].expired(today)
    assert ring[7002].expired(today + timedelta(days=1))
    ring.activate(7002)  # its last day: still usable
    assert ring.for_request().version == 7002


def test_only_the_version_switched_to_gets_the_hint() -> None:
    ring = KeyRing({1: "k1", 2: "k2"}, active=1)
    ring.for_request()  # version 1 sent, never answered with a seal: not proven
    ring.activate(2)
    ring.for_request()
    assert ring.hint_for_34(1) is None  # a call sealed before the switch
    assert ring.hint_for_34(2) is not None
    ring.proven(2)
    assert ring.hint_for_34(2) is None  # accepted once: a later 34 is not the switch


def test_the_keys_check_leaves_the_active_version_active() -> None:
    with Simulator(merchants=[DEFAULT_MERCHANT, Merchant(MERCHANT.merchant_id, 2, KEY_2)]) as sim:
        ring = KeyRing({1: MERCHANT.secret_key, 2: KEY_2}, active=1)
        with WalletClient(MERCHANT.merchant_id, ring, environment=sim.url) as client:
            checks = check_keys(client)
            assert [c.state for c in checks] == ["accepted", "accepted"]
            assert client.key_version == 1
            assert client.get_wallet_data("w").key_version == 1


# ---- the third (blind) batch's survivors


def test_wsdl_fetch_refuses_a_non_empty_folder_unless_forced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sogen_soap import ConfigurationError
    from sogen_soap.wsdl_cache import fetch_wsdl

    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    with Simulator() as sim:
        with pytest.raises(ConfigurationError) as caught:
            fetch_wsdl(sim.url, folder)
        assert str(caught.value) == (
            f"wsdl fetch: --output {folder} is not empty; choose a new folder, or pass "
            "--force to overwrite the files fetched (nothing else is touched)"
        )
        assert fetch_wsdl(sim.url, folder, force=True).name.endswith(".wsdl")
    assert (folder / "notes.txt").read_text() == "mine\n"


def test_a_key_ring_table_with_an_unknown_key_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sogen_soap import ConfigurationError
    from sogen_soap.keys import key_from_table

    (tmp_path / "k").write_text("key\n")
    entry = {"version": 1, "secret_key_file": str(tmp_path / "k"), "expiry": "2030-01-01"}
    with pytest.raises(ConfigurationError) as caught:
        key_from_table(entry, "keys in c.toml")
    assert str(caught.value) == (
        "keys in c.toml: each key has version and secret_key_file, and may have expires and "
        "active_from (not expiry)"
    )


# ---- the fourth (blind) batch's survivors


def test_a_carriage_return_in_a_field_arrives_as_sent() -> None:
    """XML readers turn a raw CR into LF; escaped as &#13; it survives, and so does the seal."""
    with simulated_wallet() as kit, kit.client() as client:
        assert client.add_card("w", TEST_PAN, "203012", payment_mean_alias="a\rb").ok
        (mean,) = client.get_wallet_data("w").payment_means
        assert mean.payment_mean_alias == "a\rb"
        assert kit.wallet("w")[0].alias == "a\rb"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://user:pa55word@wallet.example/services/v2/wallet",
         "environment URL must not carry user info (user:password@); the URL is not shown here"),
        ("https://wallet.example/services/v2/wallet#part",
         "environment URL must not carry a #fragment: 'https://wallet.example/services/v2/wallet#part'"),
    ],
)  # fmt: skip
def test_an_endpoint_with_user_info_or_a_fragment_is_refused(url: str, said: str) -> None:
    from sogen_soap import ConfigurationError
    from sogen_soap.endpoints import resolve_endpoint

    with pytest.raises(ConfigurationError) as caught:
        resolve_endpoint(url)
    assert str(caught.value) == said
    assert "pa55word" not in str(caught.value)


def test_the_simulator_answers_30_to_an_interface_version_it_does_not_know() -> None:
    import hashlib
    import hmac
    import json
    import urllib.request

    fields = {"interfaceVersion": "IR_WS_2.55", "keyVersion": 1,
              "merchantId": MERCHANT.merchant_id, "merchantWalletId": "w"}  # fmt: skip
    seal_string = "IR_WS_2.55" + MERCHANT.merchant_id + "w"  # by name, keyVersion left out
    fields["seal"] = hmac.new(MERCHANT.secret_key.encode(), seal_string.encode(),
                              hashlib.sha256).hexdigest()  # fmt: skip
    with Simulator() as sim:
        base = sim.url.replace("/services/v2/wallet", "/rs-services/v2/wallet")
        request = urllib.request.Request(  # noqa: S310 (the simulator on loopback)
            f"{base}/getWalletData", data=json.dumps(fields).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 (loopback)
            output = json.loads(answer.read())
    assert (output["walletResponseCode"], output["errorFieldName"]) == ("30", "interfaceVersion")


@pytest.mark.parametrize(("merchant_id", "code"), [("999999999999999", "03"), (None, "34")])
def test_the_embedded_simulator_says_which_merchant_it_knows_when_yours_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merchant_id: str | None, code: str
) -> None:
    """With the embedded simulator, a merchant (or key) it does not know
    is answered as the service would (03, or 34 for a wrong key), and a notice says
    so first, naming the merchant it knows: one JSON event with --log-format json."""
    import json

    from cli_support import clean_env, run_in_process

    from sogen_soap.simulator import DEFAULT_MERCHANT

    env = clean_env(
        tmp_path, SOGEN_MERCHANT_ID=merchant_id or DEFAULT_MERCHANT.merchant_id,
        SOGEN_KEY_VERSION=str(DEFAULT_MERCHANT.key_version), SOGEN_SECRET_KEY="not-its-key",
        SOGEN_ENVIRONMENT="simulator",
    )  # fmt: skip
    done = run_in_process("wallet", "--wallet", "w", "--log-format", "json", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    events = [json.loads(line) for line in done.stderr.splitlines()]
    (said,) = [e for e in events if e["event"] == "simulator_credentials"]
    assert said["level"] == "notice"
    assert said["message"].startswith(
        f"the embedded simulator does not know merchant {env['SOGEN_MERCHANT_ID']} with this "
        f"key: it answers {code}, as the service would. It knows {DEFAULT_MERCHANT.merchant_id}"
    )
    assert done.returncode == 3  # refused, as said


def test_a_message_s_clear_values_stay_clear_and_every_other_card_number_is_masked() -> None:
    from sogen_soap.cli.events import _redacted

    said = _redacted(f"merchant 002001000000001, card {TEST_PAN}, key 002001000000001_KEY1",
                     ("002001000000001", "002001000000001_KEY1"))  # fmt: skip
    assert said == "merchant 002001000000001, card 4100##########00, key 002001000000001_KEY1"
    assert _redacted(f"card {TEST_PAN}", ()) == "card 4100##########00"


def test_the_environment_notice_is_a_notice_not_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from sogen_soap.cli import events
    from sogen_soap.cli.config import resolve_settings
    from sogen_soap.cli.main import build_parser

    args = build_parser().parse_args(["wallet", "--wallet", "w"])
    env = {"SOGEN_MERCHANT_ID": MERCHANT.merchant_id, "SOGEN_KEY_VERSION": "1",
           "SOGEN_SECRET_KEY": MERCHANT.secret_key}  # fmt: skip
    events.configure("json")
    try:
        assert resolve_settings(args, env).environment == "test"  # nothing is sent here
    finally:
        events.configure("text")
    (line,) = capsys.readouterr().err.splitlines()
    event = json.loads(line)
    assert (event["level"], event["event"]) == ("notice", "environment")
    assert event["message"].startswith("no environment set; using the vendor's test service")
    resolve_settings(args, env)
    assert capsys.readouterr().err.startswith("sogen-soap: no environment set;")


# ---- the fifth (blind) batch's survivors


def test_a_single_key_s_expiry_reaches_the_keys_check(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli_support import clean_env, run_in_process

    from sogen_soap.keys import KeyRing

    assert KeyRing.single("k", 1, "2030-01-31").versions[0].expires == date(2030, 1, 31)
    (tmp_path / "k").write_text(MERCHANT.secret_key + "\n")
    with Simulator() as sim:
        env = clean_env(tmp_path, SOGEN_ENVIRONMENT=sim.url, SOGEN_KEY_VERSION="1",
                        SOGEN_MERCHANT_ID=MERCHANT.merchant_id,
                        SOGEN_SECRET_KEY_FILE=str(tmp_path / "k"))  # fmt: skip
        done = run_in_process("keys", "check", "--key-expires", "2099-12-31", env=env,
                              monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("key version 1 (active): expires 2099-12-31 (")


def test_a_log_format_other_than_text_or_json_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cli_support import clean_env, run_in_process

    from sogen_soap.cli import events

    with pytest.raises(ValueError, match="--log-format: text or json, not 'xml'"):
        events.configure("xml")
    env = clean_env(tmp_path, SOGEN_LOG_FORMAT="xml")
    done = run_in_process("wallet", "--wallet", "w", env=env, monkeypatch=monkeypatch)
    assert (done.returncode, done.stderr) == (2, "sogen-soap: SOGEN_LOG_FORMAT: text or json\n")


def test_a_claim_undone_goes_back_to_its_earlier_state_or_failed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sogen_soap.cli.journal import Journal

    journal = Journal(tmp_path / "j.sqlite3", "secret")
    try:
        first = journal.identity("w", TEST_PAN, "203012", None, None, None)
        second = journal.identity("w", "5100000000000000", "203012", None, None, None)
        journal.claim(first.key, 2, "w", "4100##########00")
        journal.unclaim(first.key, None)  # never sent, no earlier state: failed, sent again later
        journal.claim(second.key, 3, "w", "5100##########00")
        journal.unclaim(second.key, "unknown")  # its earlier state comes back
        assert journal.state(first, 2, ("w", TEST_PAN, "203012", "")) == "failed"
        assert journal.state(second, 3, ("w", "5100000000000000", "203012", "")) == "unknown"
    finally:
        journal.close()


def test_a_date_is_read_with_spaces_around_it() -> None:
    from sogen_soap.keys import parse_day

    assert parse_day(" 2030-01-31 ", "expires") == date(2030, 1, 31)
    assert parse_day("", "expires") is None
    said = "expires must be a date written YYYY-MM-DD, not '31/01/2030'"
    with pytest.raises(Exception, match=said):
        parse_day("31/01/2030", "expires")


# ---- the sixth (blind) batch's survivors


def _luhn_by_hand(number: str) -> bool:
    digits = [int(c) for c in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def test_load_test_cards_never_pass_the_luhn_check() -> None:
    from sogen_soap.simulator.cards import luhn_valid, test_card_number

    # the textbook example of the Luhn check (not a card number)
    assert _luhn_by_hand("79927398713") and luhn_valid("79927398713")
    assert not _luhn_by_hand("79927398710") and not luhn_valid("79927398710")
    numbers = {test_card_number(w, k) for w in range(200) for k in range(5)}
    assert len(numbers) == 1000
    assert not any(_luhn_by_hand(n) for n in numbers)
    assert all(luhn_valid(n) == _luhn_by_hand(n) for n in [*numbers, "79927398713", "0"])


def test_load_test_cards_of_one_wallet_stay_apart_once_masked() -> None:
    """cards.py: cards of one wallet differ in their last two digits, so a wallet's
    masked PANs (first 4, last 2) tell them apart, as real cards in a wallet do."""
    from sogen_soap.simulator.cards import test_card_number

    for wallet in (0, 7, 1234567):
        cards = [test_card_number(wallet, k) for k in range(100)]
        assert len({mask_pan(card) for card in cards}) == 100
        assert [card[-2:] for card in cards] == [f"{k:02d}" for k in range(100)]


def test_an_empty_key_ring_is_refused() -> None:
    from sogen_soap import ConfigurationError

    with pytest.raises(ConfigurationError, match="a key ring needs at least one key version"):
        KeyRing([])
