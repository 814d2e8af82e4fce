"""HTTPS to the simulator with a throw-away CA: verification on, mutual TLS, proxies."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import FAST_RETRY, MERCHANT, TEST_PAN

from sogen_soap import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    OutcomeUnknown,
    TLSError,
    WalletClient,
)
from sogen_soap.simulator import Simulator, ThrowawayPKI, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server()) as sim:
        yield sim


@pytest.fixture
def mutual(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        yield sim


def _client(url: str, **options: object) -> WalletClient:
    return WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        1,
        environment=url,
        retry=FAST_RETRY,
        **options,  # type: ignore[arg-type]
    )


def test_a_trusted_chain_works(https: Simulator, pki: ThrowawayPKI) -> None:
    assert https.url.startswith("https://")
    with _client(https.url, ca_bundle=pki.ca_cert) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


def test_an_untrusted_server_certificate_fails_with_a_tls_error(https: Simulator) -> None:
    with _client(https.url) as client, pytest.raises(TLSError, match="TLS failure") as caught:
        client.add_card("w", TEST_PAN, "203012")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert https.store.count_cards() == 0


def test_the_ca_bundle_of_the_environment_is_honoured(
    https: Simulator, pki: ThrowawayPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))
    with _client(https.url) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


def test_mutual_tls_refuses_a_client_without_a_certificate(
    mutual: Simulator, pki: ThrowawayPKI
) -> None:
    # TLS 1.3: the server judges the client certificate after the client's side of
    # the handshake is done, so its refusal comes as an alert on the first read, or,
    # when the server's reset overtakes the alert, as a dropped connection.  Either
    # way the call fails, nothing is stored, and the error says what happened.
    with _client(mutual.url, ca_bundle=pki.ca_cert) as client:
        with pytest.raises((TLSError, ConnectionDropped)) as caught:
            client.get_wallet_data("w")
        with pytest.raises((TLSError, OutcomeUnknown)):
            client.add_card("w", "4100000000000000", "203012")
    assert mutual.store.count_cards() == 0
    if isinstance(caught.value, TLSError):
        assert "CERTIFICATE" in str(caught.value).upper()


def test_mutual_tls_accepts_the_client_certificate(mutual: Simulator, pki: ThrowawayPKI) -> None:
    with _client(
        mutual.url, ca_bundle=pki.ca_cert, client_cert=(str(pki.client_cert), str(pki.client_key))
    ) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok


def test_a_session_given_by_the_caller_is_used(https: Simulator, pki: ThrowawayPKI) -> None:
    session = requests.Session()
    session.verify = str(pki.ca_cert)
    with _client(https.url, session=session) as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    # still the caller's session, still open
    session.get(https.url + "?wsdl", timeout=5, verify=session.verify).raise_for_status()


def test_a_session_without_verification_is_refused(https: Simulator) -> None:
    session = requests.Session()
    session.verify = False
    with pytest.raises(ConfigurationError) as caught:
        _client(https.url, session=session)
    assert str(caught.value) == (
        "the session given has TLS verification switched off; sogen-soap does not send "
        "card data without it (use ca_bundle= for a private CA)"
    )


def test_a_missing_certificate_file_is_a_configuration_error(
    https: Simulator, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        _client(https.url, ca_bundle=tmp_path / "nope.pem")


def test_the_proxy_option_is_used(https: Simulator, pki: ThrowawayPKI) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = f"http://127.0.0.1:{port}"
    with (
        _client(https.url, ca_bundle=pki.ca_cert, proxy=proxy) as client,
        pytest.raises(ConnectionFailed),  # the (closed) proxy was tried, not the service
    ):
        client.add_card("w", TEST_PAN, "203012")
    assert https.requests_seen == 0
