"""One named test for each kind of bug a mutation campaign found the suite let through.

Each asserts what a user relies on (what went on the wire, what was logged,
what a result says), not how the code gets there.
"""

from __future__ import annotations

import csv
import socket
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import left_mid_send, merchant_env, run_in_process
from conftest import FAST_RETRY, MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import HTTPStatusError, SealVerificationError, WalletClient
from sogen_soap.cli.journal import Journal
from sogen_soap.parsing import parse_datetime
from sogen_soap.redact import mask_pan, redact_text
from sogen_soap.simulator import Simulator

NS = "urn:sips:cn:contract:office:wallet:v2"


def _answering(status: bytes, body: bytes) -> HostileServer:
    def answer(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    return HostileServer(answer)


def _client(url: str) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                        retry=FAST_RETRY, timeout=2)  # fmt: skip


# ---- retry rules: only the gateway statuses are retried, and only for reads


@pytest.mark.parametrize(
    ("status", "sent"), [(b"500 Internal Server Error", 1), (b"504 Gateway Timeout", 3)]
)
def test_only_gateway_statuses_are_retried_on_a_read(status: bytes, sent: int) -> None:
    with _answering(status, b"<html>down</html>") as server, _client(server.url) as client:
        with pytest.raises(HTTPStatusError):
            client.get_wallet_data("w")
        assert server.requests == sent


# ---- trust: data never comes back unsealed


def test_an_unsealed_refusal_that_carries_data_is_not_trusted() -> None:
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<n:getWalletDataResponse xmlns:n="{NS}"><n:output>'
        "<n:walletResponseCode>25</n:walletResponseCode>"
        "<n:walletCreationDateTime>2026-01-01T00:00:00+01:00</n:walletCreationDateTime>"
        "</n:output></n:getWalletDataResponse></s:Body></s:Envelope>"
    ).encode()
    with _answering(b"200 OK", body) as server, _client(server.url) as client:
        with pytest.raises(SealVerificationError, match="seal is missing"):
            client.get_wallet_data("w")


# ---- redaction: every PAN length validation accepts is masked in free text


@pytest.mark.parametrize("digits", [12, 16, 17, 18, 19])
def test_free_text_masking_covers_every_pan_length(digits: int) -> None:
    pan = "4" + "1" * (digits - 1)
    text = redact_text(f"card {pan} refused")
    assert pan not in text
    assert mask_pan(pan) in text


# ---- parsing paths the simulator never produces


def test_a_date_time_without_an_offset_is_read_in_paris() -> None:
    summer = parse_datetime("2026-07-01T12:00:00")
    winter = parse_datetime("2026-01-15T12:00:00.5")
    assert summer is not None and summer.utcoffset() == timedelta(hours=2)
    assert winter is not None and winter.utcoffset() == timedelta(hours=1)
    assert winter.microsecond == 500_000
    assert parse_datetime("2026-07-01T12:00:00Z").utcoffset() == timedelta(0)  # type: ignore[union-attr]
    assert parse_datetime("not a date") is None


# ---- batch resume: a row caught mid-send whose card did arrive


def test_a_row_caught_mid_send_whose_card_arrived_is_ok_with_its_id_not_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text(f"wallet,card,expiry\nw,{TEST_PAN},203012\n")
    with Simulator() as sim:
        with _client(sim.url) as client:  # the request reached the service...
            assert client.add_card("w", TEST_PAN, "203012").payment_mean_id == "1"
        journal = Journal(tmp_path / "cards.journal.sqlite3", MERCHANT.secret_key)
        left_mid_send(journal, 2, "w", TEST_PAN)  # ...and the process died
        journal.close()
        done = run_in_process(
            "enrol", str(cards), "--quiet", env=merchant_env(tmp_path, sim.url),
            monkeypatch=monkeypatch,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert sim.store.count_cards() == 1
    with (tmp_path / "cards.results.csv").open() as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["outcome"], row["code"], row["payment_mean_id"]) == ("ok", "94", "1")
    assert "recovered" in row["message"]


# ---- DEBUG logs mask the card field itself, not only digit runs (a token is no digits)


@pytest.mark.parametrize("transport", ["soap", "json"])
def test_a_token_card_number_is_masked_in_wire_logs(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    token = "tok_SECRETVALUE_abcdefghijklmnop"
    caplog.set_level(logging.DEBUG, logger="sogen_soap.wire")
    with (
        Simulator() as sim,
        WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url, transport=transport
        ) as client,
    ):
        assert client.add_card("w", token, "203012", pan_type="TOKEN_PAN", payment_token="pt-1").ok
    text = caplog.text
    assert "request to" in text
    assert token not in text and "SECRETVALUE" not in text
    assert mask_pan(token) in text
    assert "pt-1" not in text  # the payment token is hidden too
    request, response = (r.getMessage() for r in caplog.records if r.name == "sogen_soap.wire")
    endpoint = client.endpoint + ("/addCard" if transport == "json" else "")  # the URL called
    assert request.startswith(f"addCard request to {endpoint}:\n")
    assert response.startswith("addCard response (HTTP 200):\n")
    assert "walletResponseCode" in response and "[hidden]" in response  # its seal hidden


# ---- extra fields are handed out read-only, nested lists included


def test_unmodeled_fields_are_frozen_all_the_way_down() -> None:
    from types import MappingProxyType

    from sogen_soap.parsing import freeze, unmodeled

    frozen = freeze({"a": [1, {"b": [2, 3]}], "c": "x"})
    assert isinstance(frozen, MappingProxyType)
    assert frozen == {"a": (1, {"b": (2, 3)}), "c": "x"}
    inner = frozen["a"][1]
    assert isinstance(inner, MappingProxyType) and inner["b"] == (2, 3)
    with pytest.raises(TypeError):
        frozen["c"] = "y"  # type: ignore[index]
    extra = unmodeled({"known": "1", "pspData": ["p", "q"]}, frozenset({"known"}))
    assert dict(extra) == {"pspData": ("p", "q")}


# ---- masking at its boundaries


def test_masking_and_redaction_at_their_boundaries() -> None:
    assert mask_pan("123456789") == "#########"  # too short to show any of it
    assert mask_pan("1234567890") == "1234####90"
    assert redact_text("n 12345678901 n") == "n 12345678901 n"  # 11 digits: not a card
    assert redact_text("n 123456789012 n") == "n 1234######12 n"
    assert redact_text("4111-1111 1111-1111!") == "4111##########11!"
    assert redact_text("x" + "1" * 20 + "x") == "x" + "1" * 20 + "x"  # 20 digits: not a card
    seal, longer = "ab" * 32, "cd" * 64
    assert redact_text(f"seal={seal};") == "seal=[seal];"
    assert redact_text(f"seal={longer};") == "seal=[seal];"  # a 512-bit digest: one seal
    assert redact_text("a" * 63) == "a" * 63 and redact_text("a" * 65) == "a" * 65
