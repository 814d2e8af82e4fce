"""``WalletClient.from_env()``: how a deployment script builds a client.

The documented variables, what is missing named in the error, the key read
from a file, and the vendor's test service as the default environment.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import (
    AsyncWalletClient,
    ConfigurationError,
    ConnectionFailed,
    InvalidFieldError,
    WalletClient,
)
from sogen_soap.simulator import Simulator

TEST_SERVICE = "https://office-server-sogenactif.test.sips-services.com/services/v2/wallet"


def _environ(url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        "SOGEN_MERCHANT_ID": MERCHANT.merchant_id,
        "SOGEN_KEY_VERSION": str(MERCHANT.key_version),
        "SOGEN_SECRET_KEY": MERCHANT.secret_key,
    }
    if url is not None:
        env["SOGEN_ENVIRONMENT"] = url
    env.update(extra)
    return env


def test_a_client_from_the_environment_calls_the_service_with_its_key(
    simulator: Simulator,
) -> None:
    with WalletClient.from_env(_environ(simulator.url)) as client:
        result = client.add_card("w1", TEST_PAN, "203012")
        assert result.ok and result.seal_verified  # the right key: the answer's seal checks
        assert client.merchant_id == MERCHANT.merchant_id
        assert client.endpoint == simulator.url
        assert repr(client) == (
            f"WalletClient(merchant_id={MERCHANT.merchant_id!r}, "
            f"key_version={MERCHANT.key_version}, endpoint={simulator.url!r})"
        )
        assert MERCHANT.secret_key not in repr(client)


def test_the_key_can_come_from_a_file(simulator: Simulator, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {MERCHANT.secret_key}  \nsecond line ignored\n")
    env = _environ(simulator.url, SOGEN_SECRET_KEY_FILE=str(key_file))
    del env["SOGEN_SECRET_KEY"]
    with WalletClient.from_env(env) as client:
        assert client.get_wallet_data("w").response_code == "25"  # sealed: unknown wallet


def test_os_environ_is_read_when_no_mapping_is_given(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _environ(simulator.url).items():
        monkeypatch.setenv(name, value)

    async def main() -> bool:
        async with AsyncWalletClient.from_env() as client:
            return (await client.get_wallet_data("w")).response_code == "25"

    assert asyncio.run(main())


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        (("SOGEN_MERCHANT_ID",), "set SOGEN_MERCHANT_ID"),
        (("SOGEN_KEY_VERSION",), "set SOGEN_KEY_VERSION"),
        (("SOGEN_MERCHANT_ID", "SOGEN_KEY_VERSION"), "set SOGEN_MERCHANT_ID and SOGEN_KEY_VERSION"),
        (("SOGEN_SECRET_KEY",), "set SOGEN_SECRET_KEY or SOGEN_SECRET_KEY_FILE"),
    ],
)
def test_what_is_missing_is_named(unset: tuple[str, ...], message: str) -> None:
    env = _environ("http://127.0.0.1:9/services/v2/wallet")
    for name in unset:
        env[name] = ""  # set but empty counts as missing
    with pytest.raises(ConfigurationError) as caught:
        WalletClient.from_env(env)
    assert str(caught.value) == message


def test_a_key_ring_from_the_environment_keeps_the_options_and_needs_the_merchant(
    simulator: Simulator, tmp_path: Path
) -> None:
    """``SOGEN_KEYS`` builds a ring; the options given in code and the environment
    still apply to it, and without ``SOGEN_MERCHANT_ID`` it is refused by name."""
    (tmp_path / "k1").write_text(MERCHANT.secret_key + "\n")
    env = {"SOGEN_KEYS": f"{MERCHANT.key_version}:{tmp_path / 'k1'}",
           "SOGEN_ENVIRONMENT": simulator.url, "SOGEN_MERCHANT_ID": MERCHANT.merchant_id}
    seen: list[object] = []
    with WalletClient.from_env(env, on_response=seen.append) as client:
        assert client.endpoint == simulator.url
        assert client.get_wallet_data("w").response_code == "25"  # sealed with the ring's key
    assert len(seen) == 1
    for missing in ("", None):
        partial = {k: v for k, v in env.items() if k != "SOGEN_MERCHANT_ID"}
        if missing is not None:
            partial["SOGEN_MERCHANT_ID"] = missing
        with pytest.raises(ConfigurationError) as caught:
            WalletClient.from_env(partial)
        assert str(caught.value) == "set SOGEN_MERCHANT_ID"


def test_a_key_version_that_is_not_a_number_names_the_field() -> None:
    with pytest.raises(InvalidFieldError) as caught:
        WalletClient.from_env(_environ(SOGEN_KEY_VERSION="one"))
    assert caught.value.field == "keyVersion"


@pytest.mark.parametrize("environment", [None, ""])
def test_without_an_environment_it_is_the_vendor_test_service(environment: str | None) -> None:
    """Built only: no call goes out (the endpoint is read, never connected)."""
    with WalletClient.from_env(_environ(environment)) as client:
        assert client.endpoint == TEST_SERVICE


def test_a_client_given_no_environment_is_for_the_vendor_test_service() -> None:
    """README and docs/api.md: `environment="test"` (the default).  A client made in
    code with no environment must never point at production.  Built only: nothing is
    sent."""
    from sogen_soap import AsyncWalletClient

    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version) as client:
        assert client.endpoint == TEST_SERVICE
    made = AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version)
    assert made.endpoint == TEST_SERVICE


def test_an_environment_given_in_code_wins_over_the_variable(simulator: Simulator) -> None:
    env = _environ("prod")
    with WalletClient.from_env(env, environment=simulator.url) as client:
        assert client.endpoint == simulator.url
        assert client.get_wallet_data("w").response_code == "25"  # sealed: unknown wallet


def _config_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, cwd: Path) -> Any:
    from cli_support import clean_env, run_in_process

    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf" / "c.toml").write_text(toml)
    config = str(tmp_path / "conf" / "c.toml")
    return run_in_process("wallet", "--wallet", "w", "--config", config,
                          env=clean_env(tmp_path), monkeypatch=monkeypatch, cwd=cwd)  # fmt: skip


def test_config_keys_written_above_the_table_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = 'environment = "simulator"\n[sogen-soap]\nmerchant_id = "x"\n'
    done = _config_run(tmp_path, monkeypatch, toml, tmp_path)
    assert done.returncode == 2
    assert "environment written outside the [sogen-soap] table; move it under" in done.stderr


def test_a_relative_key_file_in_a_config_is_read_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "key.txt").write_text(MERCHANT.secret_key + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    toml = (f'[sogen-soap]\nenvironment = "simulator"\nmerchant_id = "{MERCHANT.merchant_id}"\n'
            'key_version = 1\nsecret_key_file = "key.txt"\n')  # fmt: skip
    done = _config_run(tmp_path, monkeypatch, toml, elsewhere)
    assert done.returncode == 3, done.stderr  # sealed right, and the wallet is unknown: 25
    missing = toml.replace("key.txt", "nokey.txt")
    done = _config_run(tmp_path, monkeypatch, missing, elsewhere)
    assert done.returncode == 2
    assert done.stderr.startswith(f"sogen-soap: secret_key_file in {tmp_path}/conf/c.toml: ")


def test_simulator_is_an_environment_for_the_api_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """environment="simulator": an in-memory simulator owned by the client, stopped with
    it; it knows the simulation merchant only, as the command line's embedded one."""
    env = {"SOGEN_ENVIRONMENT": "simulator", "SOGEN_MERCHANT_ID": MERCHANT.merchant_id,
           "SOGEN_KEY_VERSION": "1", "SOGEN_SECRET_KEY": MERCHANT.secret_key}  # fmt: skip
    with WalletClient.from_env(env) as client:
        assert client.endpoint.startswith("http://127.0.0.1:")
        assert client.add_card("w", TEST_PAN, "203012").ok
        url = client.endpoint
    with WalletClient(MERCHANT.merchant_id, "not the key", 1, environment="simulator") as wrong:
        assert wrong.get_wallet_data("w").response_code == "34"
    with pytest.raises(ConnectionFailed):  # stopped with its client: nothing answers there
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                     timeout=1).get_wallet_data("w")  # fmt: skip

    async def asynchronous() -> tuple[str | None, str]:
        async with AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                                     environment="simulator") as client:  # fmt: skip
            return (await client.get_wallet_data("w")).response_code, client.endpoint

    code, url = asyncio.run(asynchronous())
    assert code == "25"
    with pytest.raises(ConnectionFailed):  # the async client's stopped with it too
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
                     timeout=1).get_wallet_data("w")  # fmt: skip


def test_wsdl_fetch_takes_the_simulator_as_its_environment(tmp_path: Path) -> None:
    from cli_support import clean_env, run

    done = run("wsdl", "fetch", "--environment", "simulator", "--output", str(tmp_path / "w"),
               env=clean_env(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "w" / "service.wsdl")
    assert b"WalletServiceImplService" in (tmp_path / "w" / "service.wsdl").read_bytes()


def test_wsdl_fetch_of_a_payment_service_from_the_simulator_writes_into_the_output_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sub-folder per service is for the default cache folder only: an
    ``--output`` the operator names is where the files go, as for every other
    environment (docs/cli.md), not a folder made under it."""
    from cli_support import clean_env, run_in_process

    out = tmp_path / "checkout-wsdl"
    done = run_in_process("wsdl", "fetch", "--environment", "simulator", "--service", "checkout",
                          "--output", str(out), env=clean_env(tmp_path),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "service.wsdl")
    assert b"checkout" in (out / "service.wsdl").read_bytes()
    assert not (out / "checkout").exists()


def test_wsdl_fetch_without_an_environment_is_refused_naming_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/cli.md: ``wsdl fetch --environment ENV``: the flag is required (no
    environment variable stands for it), so nothing is fetched from a default."""
    from cli_support import clean_env, run_in_process

    done = run_in_process("wsdl", "fetch", "--output", str(tmp_path / "w"),
                          env=clean_env(tmp_path), monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert "the following arguments are required: --environment" in done.stderr
    assert not (tmp_path / "w").exists()


def test_wsdl_fetch_into_a_folder_that_is_not_empty_needs_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fetch help: --force writes "into a non-empty --output (only the fetched
    files are replaced)"; without it that folder is refused and left as it was, and
    the flag takes no value (the flag after it is read as its own)."""
    from cli_support import clean_env, run_in_process

    out = tmp_path / "wsdl"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    fetch = ("wsdl", "fetch", "--environment", "simulator", "--output", str(out))
    refused = run_in_process(*fetch, env=clean_env(tmp_path), monkeypatch=monkeypatch)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    done = run_in_process(*fetch[:-2], "--force", "--output", str(out), env=clean_env(tmp_path),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "service.wsdl")
    assert (out / "notes.txt").read_text() == "mine"  # nothing else is touched


def test_wsdl_fetch_from_the_simulator_without_output_uses_its_own_cache_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As documented in docs/cli.md: ``--environment simulator`` alone.  It has no
    host to name a folder after: one folder of its own, refreshed on each fetch,
    and each other service in a folder under it (never over the wallet's)."""
    from cli_support import clean_env, run_in_process

    env = clean_env(tmp_path)
    folder = tmp_path / "cache" / "sogen-soap" / "wsdl" / "simulator"
    said = []
    for service in ("wallet", "checkout", "wallet"):  # the second wallet fetch refreshes
        done = run_in_process("wsdl", "fetch", "--environment", "simulator", "--service",
                              service, env=env, monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 0, done.stderr
        said.append(done.stdout.strip())
    assert said == [str(folder / "service.wsdl"), str(folder / "checkout" / "service.wsdl"),
                    str(folder / "service.wsdl")]  # fmt: skip
    assert b"WalletServiceImplService" in (folder / "service.wsdl").read_bytes()
    assert b"WalletServiceImplService" not in (folder / "checkout" / "service.wsdl").read_bytes()


def test_wsdl_fetch_without_output_keeps_a_folder_per_host_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default folder is per host *and* port (two environments on one host keep
    their own WSDLs), named without the port's colon: a name Windows can hold."""
    from urllib.parse import urlsplit

    from cli_support import clean_env, run_in_process

    from sogen_soap.simulator import Simulator

    env = clean_env(tmp_path)
    wsdl = tmp_path / "cache" / "sogen-soap" / "wsdl"
    with Simulator() as first, Simulator() as second:
        for sim in (first, second):
            done = run_in_process("wsdl", "fetch", "--environment", sim.url,
                                  env=env, monkeypatch=monkeypatch)  # fmt: skip
            assert done.returncode == 0, done.stderr
            port = urlsplit(sim.url).port
            assert done.stdout.strip() == str(wsdl / f"127.0.0.1_{port}" / "service.wsdl")
    assert len(list(wsdl.iterdir())) == 2
    assert not any(":" in p.name for p in wsdl.rglob("*"))
