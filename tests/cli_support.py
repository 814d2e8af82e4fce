"""Running the real ``sogen-soap`` console script, as a middleware job would."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MERCHANT

from sogen_soap.cli.journal import Journal
from sogen_soap.redact import mask_pan
from sogen_soap.simulator.cards import test_card_number

SCRIPT = str(Path(sys.executable).with_name("sogen-soap"))


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment minus any SOGEN_* setting, with a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOGEN_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def merchant_env(tmp_path: Path, url: str) -> dict[str, str]:
    return clean_env(
        tmp_path,
        SOGEN_ENVIRONMENT=url,
        SOGEN_MERCHANT_ID=MERCHANT.merchant_id,
        SOGEN_KEY_VERSION=str(MERCHANT.key_version),
        SOGEN_SECRET_KEY=MERCHANT.secret_key,
    )


def run(
    *args: str, env: dict[str, str], stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


@dataclass(frozen=True)
class Done:
    """What a run of the command left: its status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def python_says(code: str) -> list[str]:
    """The lines a fresh interpreter prints running ``code`` (it must end well):
    for what only a process that has imported nothing yet shows."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def run_in_process(
    *args: str,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> Done:
    """The command's ``main()`` in this process, with exactly ``env`` as its environment.

    Why beside ``run``: the package's own code runs here, where coverage and
    mutation testing can see it; the real console script is kept for what
    only a process shows (signals, locks between processes, the entry point).
    """
    from sogen_soap.cli.main import main

    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if cwd is not None:
        monkeypatch.chdir(cwd)
    # a text stream over bytes, as a real stdin is: the command reads its .buffer
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((stdin or "").encode())))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as exit_:  # argparse's usage errors
            status = int(exit_.code or 0)
    return Done(status, out.getvalue(), err.getvalue())


def left_mid_send(
    journal: Journal,
    line: int,
    wallet: str,
    card: str,
    expiry: str = "203012",
    alias: str | None = None,
) -> None:
    """What a run killed mid-send leaves: the row claimed (``sending``) as enrol
    claims it, its answer never recorded."""
    identity = journal.identity(wallet, card, expiry, alias, None, None)
    journal.claim(identity.key, line, wallet, mask_pan(card))


def fake_pan(wallet_no: int, k: int) -> str:
    return test_card_number(wallet_no, k)


def write_batch(path: Path, rows: int, *, first_wallet: int = 0) -> list[dict[str, str]]:
    """A CSV of ``rows`` rows: three cards a wallet, some bad rows, some duplicates."""
    records = []
    for i in range(rows):
        wallet_no, k = first_wallet + i // 3, i % 3
        card, expiry = fake_pan(wallet_no, k), "203012"
        if i % 97 == 5:
            card = "12345"  # bad: too short
        elif i % 89 == 7:
            expiry = "203013"  # bad: month 13
        elif i % 50 == 9:
            card = fake_pan(wallet_no, 0)  # the wallet's first card again
        records.append(
            {"wallet": f"w{wallet_no}", "card": card, "expiry": expiry, "alias": f"a{k}"}
        )
    lines = ["wallet,card,expiry,alias"] + [
        f"{r['wallet']},{r['card']},{r['expiry']},{r['alias']}" for r in records
    ]
    path.write_text("\n".join(lines) + "\n")
    return records


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def is_valid(record: dict[str, str]) -> bool:
    """Whether ``write_batch`` made this row a good one."""
    return len(record["card"]) == 16 and record["expiry"] == "203012"


class SimulatorProcess:
    """``python -m sogen_soap.simulator`` on a fixed port and store, restartable: the
    service a chaos test kills.  ``rates`` are fault kinds and their shares."""

    def __init__(
        self, db: Path, port: int, rates: dict[str, float], seed: int, latency: float
    ) -> None:
        self.db, self.port, self.rates = db, port, rates
        self.seed, self.latency = seed, latency
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        faults = [f"--fault={kind}={rate}" for kind, rate in self.rates.items()]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sogen_soap.simulator", "--port", str(self.port),
             "--db", str(self.db), "--seed", str(self.seed + self.starts),
             "--fault-delay", "1.0", "--latency", str(self.latency), *faults],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        assert self.process.stdout.readline().startswith("http://127.0.0.1:")

    def kill(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill(signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def proc_stat(pid: int | str) -> list[str]:
    """A process's ``/proc/<pid>/stat`` fields after its command name (which may hold
    spaces and parentheses): ``[state, ppid, pgrp, session, ...]``.  OSError once gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """The CPU time a process used so far, user and system (from /proc)."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_processes(parent: int) -> list[int]:
    """The children of ``parent`` running the batch worker, oldest first (from /proc)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(proc_stat(name)[1])
            command = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        if ppid == parent and b"sogen_soap.cli.worker" in command:
            found.append(int(name))
    return sorted(found)


def read_terminal(terminal: int) -> bytes:
    """All a command wrote on a pseudo-terminal, read once every other end of it is
    closed (the read then ends in EIO, Linux's word for the last end gone)."""
    seen = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            return seen
        if not chunk:
            return seen
        seen += chunk
