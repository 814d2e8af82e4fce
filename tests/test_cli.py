"""The ``sogen-soap`` command: subcommands, exit statuses, JSON, secrets, stdin."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_support import SCRIPT, clean_env, merchant_env
from cli_support import run as run_script
from conftest import MERCHANT, OTHER_PAN, TEST_PAN

from sogen_soap.simulator import FaultProfile, Simulator

ADD = ("add-card", "--wallet", "demo-1", "--card", "-", "--expiry", "203012")


def run(*args: str, env: dict[str, str], stdin: str | None = None) -> Any:
    """The console script; ``--card -`` is given the test card on standard input."""
    if stdin is None and "-" in args:
        stdin = TEST_PAN + "\n"
    return run_script(*args, env=env, stdin=stdin)


@pytest.fixture
def env(simulator: Simulator, tmp_path: Path) -> dict[str, str]:
    return merchant_env(tmp_path, simulator.url)


def test_add_card_prints_a_table_with_the_masked_pan_only(env: dict[str, str]) -> None:
    done = run(*ADD, env=env)
    assert done.returncode == 0, done.stderr
    assert "00 Successful operation" in done.stdout
    assert "4100##########00" in done.stdout
    assert TEST_PAN not in done.stdout + done.stderr


def test_json_output_is_one_object(env: dict[str, str]) -> None:
    done = run(*ADD, "--json", env=env)
    data = json.loads(done.stdout)
    assert data["operation"] == "addCard"
    assert data["ok"] is True and data["response_code"] == "00"
    assert data["masked_pan"] == "4100##########00" and data["payment_mean_id"] == "1"
    assert data["seal_verified"] is True
    assert data["wallet_action_datetime"].startswith("20")
    assert len(done.stdout.strip().splitlines()) == 1


def test_a_duplicate_exits_3_with_the_refusal(env: dict[str, str]) -> None:
    run(*ADD, env=env)
    done = run(*ADD, "--json", env=env)
    assert done.returncode == 3
    assert json.loads(done.stdout)["response_code"] == "94"


def test_bad_input_exits_2_and_nothing_is_sent(env: dict[str, str], simulator: Simulator) -> None:
    seen = simulator.requests_seen
    done = run("add-card", "--wallet", "w", "--card", "-", "--expiry", "203013", env=env)
    assert done.returncode == 2
    assert "--expiry: must be YYYYMM" in done.stderr
    assert simulator.requests_seen == seen


def test_a_soap_fault_exits_4(tmp_path: Path) -> None:
    with Simulator(faults=FaultProfile({"soap_fault": 1.0})) as sim:
        done = run("sign-off", "--wallet", "demo-1", "--json", env=merchant_env(tmp_path, sim.url))
    assert done.returncode == 4
    assert json.loads(done.stdout)["fault"]["code"] == "soap:Server"


def test_soap_faults_to_add_card_every_time_leave_it_unknown_exit_5(tmp_path: Path) -> None:
    """A fault may come after the card was stored: sent again, and faulted again, it is
    an unknown outcome, never "not stored"."""
    with Simulator(faults=FaultProfile({"soap_fault": 1.0})) as sim:
        done = run(*ADD, "--json", env=merchant_env(tmp_path, sim.url))
        assert sim.requests_seen == 3  # the call, then two re-sends
    assert done.returncode == 5 and done.stdout == ""
    assert done.stderr.startswith(
        "sogen-soap: addCard: the answer was lost and sending again answered "
        "'SOAP fault soap:Server: "
    )


def test_an_unreachable_service_exits_5(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run(*ADD, env=merchant_env(tmp_path, f"http://127.0.0.1:{port}/services/v2/wallet"))
    assert done.returncode == 5
    assert "could not connect" in done.stderr


def test_an_untrusted_answer_exits_6_and_to_add_card_5(tmp_path: Path) -> None:
    with Simulator(faults=FaultProfile({"wrong_seal": 1.0})) as sim:
        sim.store.add_card(MERCHANT.merchant_id, "demo-1", TEST_PAN, "203012", None, None, "x")
        read = run("wallet", "--wallet", "demo-1", env=merchant_env(tmp_path, sim.url))
        change = run(*ADD[:2], "demo-2", *ADD[3:], env=merchant_env(tmp_path, sim.url))
    assert read.returncode == 6
    assert "seal is wrong" in read.stderr
    # to a change, an answer that cannot be trusted leaves its outcome unknown
    assert change.returncode == 5
    assert change.stderr.startswith("sogen-soap: addCard: the answer was lost and sending again")
    assert "whether card 4100##########00 is in wallet demo-2 is unknown" in change.stderr


def test_the_card_can_come_from_stdin(env: dict[str, str], simulator: Simulator) -> None:
    done = run(
        "add-card",
        "--wallet",
        "w",
        "--card",
        "-",
        "--expiry",
        "203012",
        "--json",
        env=env,
        stdin="\n" + OTHER_PAN + "  \n\n",  # blank lines around (an editor's): one card
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["masked_pan"] == "5100##########00"
    assert simulator.store.has_card(MERCHANT.merchant_id, "w", OTHER_PAN)


def test_every_operation_has_a_subcommand(env: dict[str, str]) -> None:
    def call(*args: str) -> dict[str, object]:
        done = run(*args, "--json", env=env)
        assert done.returncode in (0, 3), done.stderr
        result: dict[str, object] = json.loads(done.stdout)
        return result

    call(*ADD)
    done = run("add-card", "--wallet", "demo-1", "--card", "-", "--expiry", "203101", "--json",
               env=env, stdin=OTHER_PAN)  # fmt: skip
    assert done.returncode == 0, done.stderr
    wallet = call("wallet", "--wallet", "demo-1")
    assert [m["masked_pan"] for m in wallet["payment_means"]] == [  # type: ignore[attr-defined]
        "4100##########00",
        "5100##########00",
    ]
    assert call("get-wallet-data", "--wallet", "demo-1")["ok"] is True
    mean = call("payment-mean", "--wallet", "demo-1", "--id", "2")
    assert mean["payment_mean"]["payment_mean_brand"] == "MASTERCARD"  # type: ignore[index]
    assert call("update-payment-mean", "--wallet", "demo-1", "--id", "2", "--alias", "pro")["ok"]
    assert call("delete-payment-mean", "--wallet", "demo-1", "--id", "1")["ok"]
    assert call("sign-off", "--wallet", "demo-1")["ok"]
    gone = call("wallet", "--wallet", "demo-1")
    assert gone["response_code"] == "25"


def test_the_wallet_table_lists_the_cards(env: dict[str, str]) -> None:
    run(*ADD, "--alias", "perso", env=env)
    done = run("wallet", "--wallet", "demo-1", env=env)
    assert done.returncode == 0
    assert "4100##########00  203012  VISA   perso" in done.stdout


def test_a_secret_key_on_the_command_line_is_refused(
    env: dict[str, str], simulator: Simulator
) -> None:
    seen = simulator.requests_seen
    done = run(*ADD, "--secret-key", MERCHANT.secret_key, env=env)
    assert done.returncode == 2
    assert "ps" in done.stderr and "SOGEN_SECRET_KEY" in done.stderr
    assert simulator.requests_seen == seen


def test_the_secret_key_can_come_from_a_file(simulator: Simulator, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(MERCHANT.secret_key + "\n")
    env = merchant_env(tmp_path, simulator.url)
    del env["SOGEN_SECRET_KEY"]
    assert run(*ADD, "--secret-key-file", str(key_file), env=env).returncode == 0
    env["SOGEN_SECRET_KEY_FILE"] = str(key_file)
    assert run(*ADD, env=env).returncode == 3  # sealed right, so the service saw a duplicate


def test_a_config_file_supplies_what_options_and_env_do_not(
    simulator: Simulator, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(MERCHANT.secret_key)
    config = tmp_path / "sogen.toml"
    config.write_text(
        f'environment = "{simulator.url}"\nmerchant_id = "{MERCHANT.merchant_id}"\n'
        f'key_version = 1\nsecret_key_file = "{key_file}"\n'
    )
    done = run(*ADD, "--config", str(config), env=clean_env(tmp_path))
    assert done.returncode == 0, done.stderr


def test_a_secret_key_written_in_the_config_file_is_refused(
    simulator: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "sogen.toml"
    config.write_text(f'environment = "{simulator.url}"\nsecret_key = "x"\n')
    done = run(*ADD, "--config", str(config), env=clean_env(tmp_path))
    assert done.returncode == 2
    assert "secret_key_file" in done.stderr


def test_options_come_before_the_environment(env: dict[str, str]) -> None:
    done = run(*ADD, "--merchant-id", "011223344550000", "--json", env=env)
    assert json.loads(done.stdout)["response_code"] == "03"


def test_with_nothing_configured_the_embedded_simulator_answers(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    first = run("add-card", "--wallet", "demo-1", "--card", "-", "--expiry", "203012", env=env)
    assert first.returncode == 0, first.stderr
    assert "embedded simulator" in first.stderr
    assert len(first.stderr.strip().splitlines()) == 1
    again = run(*ADD, env=env)  # the wallets are kept in the user's data folder
    assert again.returncode == 3
    data_files = list((tmp_path / "data").rglob("*"))
    assert data_files
    for path in data_files:
        if path.is_file():
            assert TEST_PAN.encode() not in path.read_bytes()


def test_the_embedded_simulator_stops_when_the_command_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command run in-process (a script calling ``main()``) leaves no simulator
    serving behind it: its thread is gone once the command returns."""
    import threading

    from cli_support import run_in_process

    def serving() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "sogen-simulator"]

    before = serving()
    done = run_in_process("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                          env=clean_env(tmp_path), monkeypatch=monkeypatch,
                          stdin=TEST_PAN + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "embedded simulator" in done.stderr
    assert serving() == before


def test_python_dash_m_runs_the_same_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(SCRIPT).with_name("python")), "-m", "sogen_soap", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "add-card" in done.stdout and "enrol" in done.stdout
    # and its exit status: bad configuration is 2, nothing sent
    bad = subprocess.run(
        [str(Path(SCRIPT).with_name("python")), "-m", "sogen_soap", "wallet", "--wallet", "w",
         "--environment", "nowhere"],
        capture_output=True, text=True, check=False, env=clean_env(tmp_path),
    )  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.startswith("sogen-soap: missing merchant id")


def test_the_simulator_subcommand_serves_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [SCRIPT, "simulator", "--port", "0", "--db", str(tmp_path / "s.sqlite3")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tmp_path),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        done = run(*ADD, env=merchant_env(tmp_path, url))
        assert done.returncode == 0, done.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_a_pipe_given_as_the_batch_file_says_why_it_cannot_be_read(
    env: dict[str, str], simulator: Simulator
) -> None:
    done = run("enrol", "/dev/stdin", env=env, stdin=f"wallet,card,expiry\nw,{TEST_PAN},203012\n")
    assert done.returncode == 2
    assert done.stderr == (
        "sogen-soap: cannot read /dev/stdin: it is not a file that can be read twice (a "
        "pipe?); the file is checked whole before anything is sent, so save it to a file and "
        "give that\n"
    )
    assert simulator.requests_seen == 0


def test_help_lists_every_exit_status_and_environment_variable(tmp_path: Path) -> None:
    done = run("--help", env=clean_env(tmp_path))
    text = " ".join(done.stdout.split())
    for status in (
        "0 success",
        "1 internal error",
        "2 bad input",
        "3 refused",
        "4 SOAP fault",
        "5 transport failure",
        "6 untrusted answer",
        "7 a batch stopped",
        "130",
        "143",
    ):
        assert status in text, status
    for name in (
        "SOGEN_ENVIRONMENT",
        "SOGEN_MERCHANT_ID",
        "SOGEN_KEY_VERSION",
        "SOGEN_SECRET_KEY",
        "SOGEN_SECRET_KEY_FILE",
        "SOGEN_CONFIG",
        "SOGEN_WSDL",
        "SOGEN_TIMEOUT",
        "SOGEN_TRANSPORT",
        "SOGEN_CA_BUNDLE",
        "SOGEN_CLIENT_CERT",
        "SOGEN_CLIENT_KEY",
        "SOGEN_PROXY",
        "SOGEN_SIMULATOR_MERCHANTS",
        "HTTPS_PROXY",
        "NO_PROXY",
    ):
        assert name in text, name
    enrol = " ".join(run("enrol", "--help", env=clean_env(tmp_path)).stdout.split())
    assert "Exit status: 5 if any row failed or is unknown" in enrol
    assert "--credential-failures" in enrol and "--any-expiry" in enrol


def test_output_keeps_accents_lists_a_card_once_and_names_a_fault_by_its_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_support import run_in_process

    with Simulator() as sim:
        env = merchant_env(tmp_path, sim.url)
        added = run_in_process("add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                               "--alias", "café", env=env, monkeypatch=monkeypatch,
                               stdin=TEST_PAN + "\n")  # fmt: skip
        assert added.returncode == 0, added.stderr
        listed = run_in_process("wallet", "--wallet", "w", "--json", env=env,
                                monkeypatch=monkeypatch)  # fmt: skip
        assert '"payment_mean_alias": "café"' in listed.stdout  # readable, not \\u00e9
        one = run_in_process("payment-mean", "--wallet", "w", "--id", "1", env=env,
                             monkeypatch=monkeypatch)  # fmt: skip
    lines = one.stdout.splitlines()
    assert not any(line.startswith("payment mean ") for line in lines)  # the table shows it
    assert lines[-1].split() == ["1", "4100##########00", "203012", "VISA", "café"]
    with Simulator(faults=FaultProfile({"soap_fault": 1.0})) as sim:
        done = run_in_process("sign-off", "--wallet", "w", env=merchant_env(tmp_path, sim.url),
                              monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 4
    (response,) = [line for line in done.stdout.splitlines() if line.startswith("response")]
    assert response.split()[1] == "soap:Server"
