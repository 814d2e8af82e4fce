"""A caller's own HTTP stack gets the client's TLS options: a ``requests`` session
is given the CA bundle and the client certificate, so it verifies the simulator's
throw-away CA and presents the certificate mutual TLS asks for; and the async
client's connection limit is checked before anything else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import MERCHANT
from hostile import nothing_left_unclosed, settled_connections

from sogen_soap import AsyncWalletClient, ConfigurationError, TransportError, WalletClient
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.tls import ThrowawayPKI, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def mutual(pki: ThrowawayPKI) -> Iterator[Simulator]:
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        yield sim


def _client(sim: Simulator, session: requests.Session, **options: object) -> WalletClient:
    return WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url,
                        session=session, timeout=5.0, **options)  # type: ignore[arg-type]  # fmt: skip


def test_a_session_is_given_the_ca_bundle_and_the_client_certificate(
    mutual: Simulator, pki: ThrowawayPKI
) -> None:
    session = requests.Session()
    with _client(mutual, session, ca_bundle=pki.ca_cert,
                 client_cert=(str(pki.client_cert), str(pki.client_key))) as client:  # fmt: skip
        assert client.get_wallet_data("w").response_code == "25"
    assert session.verify == str(pki.ca_cert)
    assert session.cert == (str(pki.client_cert), str(pki.client_key))


def test_a_session_without_the_ca_bundle_does_not_trust_the_simulator(
    mutual: Simulator, pki: ThrowawayPKI
) -> None:
    with _client(mutual, requests.Session(),
                 client_cert=(str(pki.client_cert), str(pki.client_key))) as client:  # fmt: skip
        with pytest.raises(TransportError, match=r"(?i)certificate|tls"):
            client.get_wallet_data("w")


def test_a_session_is_given_a_single_pem_certificate_path(
    tmp_path: Path, pki: ThrowawayPKI
) -> None:
    both = tmp_path / "client-and-key.pem"
    both.write_bytes(pki.client_cert.read_bytes() + pki.client_key.read_bytes())
    session = requests.Session()
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        with _client(sim, session, ca_bundle=pki.ca_cert, client_cert=both) as client:
            assert client.get_wallet_data("w").response_code == "25"
    assert session.cert == str(both)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "8"])
def test_the_async_connection_limit_is_a_whole_number_of_at_least_one(limit: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment="http://127.0.0.1:9/x", max_connections=limit)  # type: ignore[arg-type]  # fmt: skip
    assert str(caught.value) == "max_connections must be at least 1"


@pytest.mark.parametrize("size", [-1, 2.0, False, "4"])
def test_the_pool_size_is_a_whole_number_of_zero_or_more(size: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                     environment="http://127.0.0.1:9/x", pool_size=size)  # type: ignore[arg-type]  # fmt: skip
    assert str(caught.value) == (
        "pool_size must be a whole number of kept-alive connections, 0 or more"
    )


def test_a_pool_of_none_still_calls(simulator: Simulator) -> None:
    """And closes each connection as its call ends (none kept, none left for the
    garbage collector): the simulator sees every one closed before the client is."""
    with nothing_left_unclosed():
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment=simulator.url, pool_size=0) as client:  # fmt: skip
            assert [client.get_wallet_data("w").response_code for _ in range(3)] == ["25"] * 3
            assert settled_connections(simulator, 0) == 0
