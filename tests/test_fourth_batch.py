"""Properties batch 9 of realistic bugs found untested: the port range, a URL's
fragment, the timeout's upper bound, addCard never 'unknown wallet', a gateway
timeout retried for reads, and the simulator's cap on a request's head."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from test_settings_order import _settings

from sogen_soap import AddCardResult, ConfigurationError, GetWalletDataResult, HTTPStatusError
from sogen_soap.endpoints import parse_url
from sogen_soap.retry import retryable
from sogen_soap.simulator import Simulator


def test_the_port_range_is_1_to_65535() -> None:
    assert parse_url("https://office.example:65535/services/v2/wallet").port == 65535
    assert parse_url("https://office.example:1/services/v2/wallet").port == 1
    for bad in ("0", "65536"):
        with pytest.raises(ConfigurationError, match="bad port"):
            parse_url(f"https://office.example:{bad}/services/v2/wallet")


def test_a_url_with_a_fragment_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="fragment"):
        parse_url("https://office.example/services/v2/wallet#top")


@pytest.mark.parametrize(("timeout", "accepted"), [("3599.5", True), ("3600", False)])
def test_a_timeout_is_less_than_an_hour(tmp_path: Path, timeout: str, accepted: bool) -> None:
    if accepted:
        settings = _settings(tmp_path, "--timeout", timeout)
        assert settings.timeout == float(timeout)  # type: ignore[attr-defined]
    else:
        with pytest.raises(ConfigurationError, match="less than 3600 seconds"):
            _settings(tmp_path, "--timeout", timeout)


@pytest.mark.parametrize("code", ["01", "25"])
def test_an_enrolment_never_says_unknown_wallet(code: str) -> None:
    """addCard makes the wallet: its 01 or 25 is about something else."""
    assert not AddCardResult(response_code=code).unknown_wallet
    assert GetWalletDataResult(response_code=code).unknown_wallet


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateways_error_is_retried_for_a_read_only(status: int) -> None:
    error = HTTPStatusError("gateway", status_code=status)
    assert retryable(error, "getWalletData") and retryable(error, "getTransactionData")
    assert not retryable(error, "addCard") and not retryable(error, "walletOrder")
    assert not retryable(HTTPStatusError("x", status_code=500), "getWalletData")


def test_the_simulator_refuses_a_request_head_over_16_kib(simulator: Simulator) -> None:
    url = parse_url(simulator.url)
    with socket.create_connection((url.host, url.port), timeout=5) as conn:
        conn.sendall(b"POST /services/v2/wallet HTTP/1.1\r\nX-Long: " + b"a" * (17 * 1024))
        answer = conn.recv(1024)
    assert answer.startswith(b"HTTP/1.1 413 ")
