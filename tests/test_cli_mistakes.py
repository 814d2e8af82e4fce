"""The command line through the real ``sogen-soap`` process: a sample of the
mistakes table (the whole table runs in-process in ``test_cli_table.py``),
signals, two runs of one file at once, and where an unconfigured command goes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_cases import CASES, Case, check, digest, prepare
from cli_support import SCRIPT, Done, clean_env, merchant_env, read_results, run, write_batch
from hostile import HostileServer, read_request

from sogen_soap.simulator import FaultProfile, Simulator

REAL_PROCESS = {"no expiry column", "latin-1", "secret key on the command line",
                "prompt without a terminal", "unknown command", "missing flag"}  # fmt: skip


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in REAL_PROCESS], ids=sorted(REAL_PROCESS)
)
def test_a_mistake_through_the_real_console_script(
    case: Case, simulator: Simulator, tmp_path: Path
) -> None:
    """A sample of the table through the installed ``sogen-soap`` script: the same
    line and status from the entry point a middleware job runs."""
    work, env, args = prepare(case, tmp_path, simulator.url)
    before = digest(work)
    completed = subprocess.run(
        [SCRIPT, *args], env=env, cwd=work, input=case.stdin, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    done = Done(completed.returncode, completed.stdout, completed.stderr)
    check(case, done, simulator, work, before)


def test_version(tmp_path: Path) -> None:
    done = run("--version", env=clean_env(tmp_path))
    assert done.returncode == 0 and done.stdout.startswith("sogen-soap 0.")


def _wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the command never got there"
        time.sleep(0.01)


def test_ctrl_c_says_the_run_can_be_resumed(tmp_path: Path) -> None:
    write_batch(tmp_path / "slow.csv", 300)
    with Simulator(latency=0.05) as sim:
        process = subprocess.Popen(
            [SCRIPT, "enrol", "slow.csv", "--concurrency", "2"],
            env=merchant_env(tmp_path, sim.url), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_until(lambda: sim.requests_seen >= 1)  # in the batch: 300 rows take 7.5 s
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert "interrupted by SIGINT; run the same command again to resume" in err
    assert "Traceback" not in err


def test_two_runs_of_one_file_at_once_enrol_each_card_once(tmp_path: Path) -> None:
    records = write_batch(tmp_path / "big.csv", 1000)
    with Simulator(str(tmp_path / "store.sqlite3"), latency=0.002) as sim:
        env = merchant_env(tmp_path, sim.url)
        command = [SCRIPT, "enrol", "big.csv", "--json", "--concurrency", "4"]
        # the first run's answers are held after 50 rows until the second has run
        sim.app.faults = FaultProfile({"delay": 1.0}, sequence=[None] * 50, delay=1.0)
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        _wait_until(lambda: sim.requests_seen >= 1)  # it took the journal's lock before sending
        second = run(*command[1:], env=env, cwd=tmp_path)
        sim.app.faults = FaultProfile()
        out, err = first.communicate(timeout=120)
        assert second.returncode == 2
        assert "another sogen-soap enrol is running" in second.stderr
        assert first.returncode == 2, err  # 2: the batch's invalid rows
        summary = json.loads(out)
        results = read_results(tmp_path / "big.results.csv")
        counts = {k: sum(r["outcome"] == k for r in results) for k in summary["counts"]}
        assert counts == summary["counts"]
        pairs = {
            (r["wallet"], r["card"])
            for r in records
            if len(r["card"]) == 16 and r["expiry"] == "203012"
        }
        assert sim.store.count_cards() == len(pairs)


def test_credentials_without_an_environment_go_to_the_vendor_test_service(tmp_path: Path) -> None:
    """Where from_env() goes; seen through a loopback proxy, so no packet leaves."""
    targets: list[bytes] = []

    def proxy(conn: object, request: bytes, stop: object) -> None:
        targets.append(request.split(b"\r\n", 1)[0])  # then close: nothing is forwarded

    with HostileServer(proxy) as server:  # type: ignore[arg-type]
        env = merchant_env(tmp_path, "unused")
        del env["SOGEN_ENVIRONMENT"]
        env["HTTPS_PROXY"] = server.url.rsplit("/services", 1)[0]
        done = run("wallet", "--wallet", "w", "--timeout", "2", env=env)
    assert done.returncode == 5
    assert "using the vendor's test service" in done.stderr
    assert targets and targets[0].startswith(
        b"CONNECT office-server-sogenactif.test.sips-services.com:443 "
    )
    assert read_request is not None


def test_the_embedded_simulator_answers_only_when_nothing_is_configured_or_named(
    tmp_path: Path,
) -> None:
    done = run("wallet", "--wallet", "w", env=clean_env(tmp_path))
    assert done.returncode == 3 and "embedded simulator" in done.stderr
    named = run("wallet", "--wallet", "w", "--environment", "simulator",
                env=merchant_env(tmp_path, "unused"))  # fmt: skip
    assert named.returncode == 3 and "embedded simulator" in named.stderr
