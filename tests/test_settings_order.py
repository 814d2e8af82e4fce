"""Where each setting of the command comes from: an option beats the environment,
which beats the config file, setting by setting; paths in the file are relative
to it; the testing kit's clients fail fast unless told otherwise."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import OutcomeUnknown, RetryPolicy
from sogen_soap.cli.config import resolve_settings
from sogen_soap.cli.main import build_parser
from sogen_soap.testing import simulated_wallet

KEY = MERCHANT.secret_key


def _settings(tmp_path: Path, *options: str, **env: str) -> object:
    (tmp_path / "c.toml").write_text(
        "[sogen-soap]\n"
        'merchant_id = "111111111111111"\nkey_version = 3\nenvironment = "https://config.example/x"\n'
        'secret_key_file = "keys/k"\ntimeout = 7\ntransport = "json"\nwsdl = "w/service.wsdl"\n'
        'ca_bundle = "ca.pem"\nproxy = "http://proxy.config:3128"\n'
    )
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "k").write_text("config-key\n")
    (tmp_path / "env-key").write_text("env-key\n")
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--config",
                                      str(tmp_path / "c.toml"), *options])  # fmt: skip
    return resolve_settings(args, env)


def test_the_config_file_alone(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert (s.merchant_id, s.key_version, s.environment, s.timeout, s.transport) == (  # type: ignore[attr-defined]
        "111111111111111", 3, "https://config.example/x", 7.0, "json",
    )  # fmt: skip
    assert s.secret_key.reveal() == "config-key"  # type: ignore[attr-defined]
    assert s.wsdl == str(tmp_path / "w" / "service.wsdl")  # type: ignore[attr-defined]
    assert s.ca_bundle == str(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    assert s.proxy == "http://proxy.config:3128"  # type: ignore[attr-defined]


def test_the_environment_beats_the_file_setting_by_setting(tmp_path: Path) -> None:
    key_file = str(tmp_path / "env-key")
    s = _settings(tmp_path, SOGEN_MERCHANT_ID="222222222222222", SOGEN_TIMEOUT="9",
                  SOGEN_SECRET_KEY_FILE=key_file, SOGEN_TRANSPORT="soap")  # fmt: skip
    assert (s.merchant_id, s.key_version, s.timeout, s.transport) == (  # type: ignore[attr-defined]
        "222222222222222", 3, 9.0, "soap",
    )  # fmt: skip
    assert s.secret_key.reveal() == "env-key"  # type: ignore[attr-defined]
    assert s.environment == "https://config.example/x"  # type: ignore[attr-defined]


def test_an_option_beats_the_environment(tmp_path: Path) -> None:
    s = _settings(tmp_path, "--merchant-id", "333333333333333", "--key-version", "4",
                  "--timeout", "11", "--environment", "prod",
                  SOGEN_MERCHANT_ID="222222222222222", SOGEN_KEY_VERSION="5",
                  SOGEN_TIMEOUT="9", SOGEN_ENVIRONMENT="test")  # fmt: skip
    assert (s.merchant_id, s.key_version, s.timeout, s.environment) == (  # type: ignore[attr-defined]
        "333333333333333", 4, 11.0, "prod",
    )  # fmt: skip


@pytest.mark.parametrize("env_source", ["SOGEN_SECRET_KEY", "SOGEN_SECRET_KEY_FILE"])
def test_a_key_file_option_beats_a_key_in_the_environment(tmp_path: Path, env_source: str) -> None:
    (tmp_path / "option-key").write_text("option-key\n")
    env = {"SOGEN_SECRET_KEY": "env-key"} if env_source == "SOGEN_SECRET_KEY" else {
        "SOGEN_SECRET_KEY_FILE": str(tmp_path / "env-key")}  # fmt: skip
    s = _settings(tmp_path, "--secret-key-file", str(tmp_path / "option-key"), **env)
    assert s.secret_key.reveal() == "option-key"  # type: ignore[attr-defined]


def test_the_kit_s_clients_give_up_fast_unless_told_otherwise() -> None:
    with simulated_wallet() as kit:
        kit._simulator.app.faults.delay = 3.0
        kit.fail_next("addCard", "delay")
        started = time.monotonic()
        with kit.client() as fast, pytest.raises(OutcomeUnknown):
            fast.add_card("w", TEST_PAN, "203012")
        assert time.monotonic() - started < 2.9  # its 2 s deadline, not the default 35
        kit.fail_next("addCard", "delay")
        with kit.client(timeout=6.0) as patient:  # the caller's timeout wins
            assert patient.add_card("w", "5100000000000000", "203012").ok
        kit.fail_next("getWalletData", "code_99", times=2)
        with kit.client() as retrying:  # three quick attempts by default
            assert retrying.get_wallet_data("other").response_code == "25"
            assert retrying.retries_made == 2
        kit.fail_next("getWalletData", "code_99")
        with kit.client(retry=RetryPolicy(attempts=1)) as once:  # the caller's choice wins
            assert once.get_wallet_data("other").response_code == "99"
