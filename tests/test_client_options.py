"""A client's options: each refusal word for word, and each accepted option seen on
the wire (the request bodies the simulator received) or in what the client says."""

from __future__ import annotations

import math

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import (
    ConfigurationError,
    InvalidFieldError,
    OutcomeUnknown,
    RetryPolicy,
    WalletClient,
)
from sogen_soap.simulator import FaultProfile, Simulator

TIMEOUT_RULE = "timeout must be a positive number of seconds or a (connect, read) pair"


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, environment=url,
        retry=RetryPolicy(attempts=3, base_delay=0.001), **options,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_unknown_option_is_named() -> None:
    with pytest.raises(TypeError) as caught:
        _client("test", colour="blue", size=3)
    assert str(caught.value) == "unexpected option colour, size"


@pytest.mark.parametrize(
    "timeout", [0, -1, "5", True, math.nan, math.inf, (1, 2, 3), (), (1, 0), (1, "2"), None]
)
def test_a_timeout_that_is_not_a_positive_time_is_refused(timeout: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _client("test", timeout=timeout)
    assert str(caught.value) == TIMEOUT_RULE


@pytest.mark.parametrize("value", [1023, 0, True, "4096", 2048.0])
def test_a_size_cap_below_a_kilobyte_or_not_whole_is_refused(value: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _client("test", max_response_bytes=value)
    assert str(caught.value) == "max_response_bytes must be a whole number of at least 1024"


def test_the_smallest_size_cap_and_a_timeout_pair_are_accepted(simulator: Simulator) -> None:
    with _client(simulator.url, max_response_bytes=1024, timeout=(1, 2)) as client:
        assert client.get_wallet_data("w").response_code == "25"


@pytest.mark.parametrize("transport", ["xml", "JSON", "Soap", None])
def test_a_transport_that_does_not_exist_is_named(transport: object) -> None:
    """The names are exactly ``soap`` and ``json`` (as the command's --transport and
    the config's ``transport`` take them): another spelling is named, not guessed."""
    with pytest.raises(ConfigurationError) as caught:
        _client("test", transport=transport)
    assert str(caught.value) == f"transport must be one of soap, json, not {transport!r}"


def test_interface_versions_are_sent_as_configured(
    simulator: Simulator, received: list[bytes]
) -> None:
    with _client(
        simulator.url, interface_version="WR_WS_2.51",
        interface_versions={"getWalletData": "WR_WS_2.58"},
    ) as client:  # fmt: skip
        client.add_card("w", TEST_PAN, "203012")
        client.get_wallet_data("w")
    assert b"interfaceVersion>WR_WS_2.51<" in received[0]
    assert b"interfaceVersion>WR_WS_2.58<" in received[1]


def test_interface_versions_for_no_operation_or_badly_written_are_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        _client("test", interface_versions={"addCrd": "WR_WS_2.55", "signof": "WR_WS_2.55"})
    assert (
        str(caught.value) == "interface_versions names no operation of the services: addCrd, signof"
    )
    for spelling in ("2.55", "WR_WS_2", "WR_WS_2.", "WR_WS_.55", "wr_ws_2.55"):
        with pytest.raises(InvalidFieldError) as field_error:
            _client("test", interface_version=spelling)
        assert field_error.value.parameter == "interface_version", spelling


def test_the_seal_algorithm_and_intermediary_are_sent(
    simulator: Simulator, received: list[bytes]
) -> None:
    with _client(
        simulator.url, seal_algorithm="HMAC-SHA-512", intermediate_service_provider_id="isp-7"
    ) as client:
        result = client.add_card("w", TEST_PAN, "203012")
    assert result.ok and result.seal_verified  # the answer sealed the same way, checked
    assert b"sealAlgorithm>HMAC-SHA-512<" in received[0]
    assert b"intermediateServiceProviderId>isp-7<" in received[0]
    seal = received[0].split(b"seal>")[1].split(b"<")[0]
    assert len(seal) == 128  # a SHA-512 digest in hex


@pytest.mark.parametrize("isp", ["i" * 21, "isp\x00"])
def test_a_client_s_intermediary_is_checked_when_the_client_is_made(isp: str) -> None:
    """``intermediate_service_provider_id`` given to the client goes into every request:
    checked once, when the client is made (at most 20 characters, no control
    character), as the same field given to one call is."""
    with pytest.raises(InvalidFieldError) as caught:
        _client("test", intermediate_service_provider_id=isp)
    assert caught.value.field == "intermediateServiceProviderId"


def test_retries_are_counted_and_the_repr_shows_no_secret(simulator: Simulator) -> None:
    simulator.app.faults = FaultProfile(sequence=["code_99", "code_99", None])
    with _client(simulator.url) as client:
        assert client.retries_made == 0
        assert client.get_wallet_data("w").response_code == "25"
        assert client.retries_made == 2
        assert repr(client) == (
            f"WalletClient(merchant_id={MERCHANT.merchant_id!r}, key_version=1, "
            f"endpoint={simulator.url!r})"
        )


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("commit_drop", "dropped"), ("delay", "timeout"), ("garbage", "unreadable"),
     ("no_seal", "unverified"), ("http_503", "http_status")],
)  # fmt: skip
def test_a_lost_change_says_what_was_asked_without_the_card(fault: str, reason: str) -> None:
    with Simulator(faults=FaultProfile(sequence=[fault], delay=1.0)) as sim:
        with _client(sim.url, timeout=0.5) as client:
            with pytest.raises(OutcomeUnknown) as caught:
                client.add_card("w", TEST_PAN, "203012", payment_mean_alias="a")
    error = caught.value
    assert error.reason == reason
    assert error.attempted == {
        "merchantWalletId": "w", "cardExpiryDate": "203012", "paymentMeanAlias": "a",
        "maskedPan": "4100##########00",
    }  # fmt: skip
    assert TEST_PAN not in str(error)
    assert str(error).endswith("; the request was sent, so its outcome is unknown")


def test_a_lost_payment_mean_change_names_the_payment_mean() -> None:
    with Simulator(faults=FaultProfile(sequence=[None, "commit_drop"])) as sim:
        with _client(sim.url) as client:
            mean = client.add_card("w", TEST_PAN, "203012").payment_mean_id
            assert mean is not None
            with pytest.raises(OutcomeUnknown) as caught:
                client.delete_payment_mean("w", mean)
    assert caught.value.attempted == {"merchantWalletId": "w", "paymentMeanId": mean}
    assert caught.value.operation == "deletePaymentMean"


def test_add_card_names_every_option_it_does_not_know_and_sends_nothing(
    simulator: Simulator,
) -> None:
    with _client(simulator.url) as client, pytest.raises(TypeError) as caught:
        client.add_card("w", TEST_PAN, "203012", pan_typ="PAN", alias="x")  # type: ignore[call-arg]
    assert str(caught.value) == "add_card() got unexpected keyword alias, pan_typ"
    assert simulator.requests_seen == 0


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"on_request": "print"}, "on_request must be callable, not str"),
        ({"on_response": 3}, "on_response must be callable, not int"),
    ],
)
def test_a_hook_that_cannot_be_called_is_refused_when_the_client_is_made(
    options: dict[str, object], said: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _client("test", **options)
    assert str(caught.value) == said


@pytest.mark.parametrize("options", [{"attempts": 0}, {"base_delay": -0.1}, {"cap": -1.0}])
def test_a_retry_policy_that_cannot_be_followed_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RetryPolicy(**options)  # type: ignore[arg-type]
    assert str(caught.value) == "retry: attempts >= 1, delays >= 0"
    assert RetryPolicy(attempts=1, base_delay=0, cap=0).delay(3) == 0  # the edges are allowed


def test_a_key_ring_is_checked_when_made_and_hides_its_secrets() -> None:
    from datetime import date, datetime, timedelta

    from sogen_soap import KeyRing, KeyVersion

    with pytest.raises(ConfigurationError) as caught:
        KeyRing(["S3cr3tAsText"])  # type: ignore[list-item]
    assert str(caught.value) == "a key ring holds KeyVersion entries, not str"
    assert "S3cr3tAsText" not in str(caught.value)
    entry = KeyVersion(2, "S3cr3tAsText", expires=datetime(2031, 1, 2, 23, 59))  # type: ignore[arg-type]
    assert entry.expires == date(2031, 1, 2) and "S3cr3tAsText" not in repr(entry)
    assert entry.secret_key.reveal() == "S3cr3tAsText"
    later = date.today() + timedelta(days=3)
    ring = KeyRing([KeyVersion(4, "k4", active_from=later + timedelta(days=1)),  # type: ignore[arg-type]
                    KeyVersion(3, "k3", active_from=later)])  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(ConfigurationError) as early:
        ring.active  # noqa: B018
    assert str(early.value) == f"no key version is active yet: the first, 3, starts on {later}"
