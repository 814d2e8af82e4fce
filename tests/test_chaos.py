"""Chaos: the batch and the service both killed at random points, faults on.

The ``enrol`` process and the simulator (a process of its own here) are each
killed with SIGKILL, SIGTERM or SIGINT at random moments while faults are
injected; the batch is run again until it is done, as a job scheduler would.
Then, besides the service holding exactly one card per distinct (wallet,
card): every distinct card has exactly one row reported ``ok`` (with its
payment mean id), exact repeats are ``duplicate``, and no enrolled card is
reported otherwise.  The draws come from a fixed seed, so a failure replays.

``code_77`` (an answer code no client knows) is the one fault kind left out:
it is a final refusal by design (the row is ``refused``, exit 3), which is
correct but would make a card legitimately not enrolled; it is covered in
``test_failures``.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from cli_support import SCRIPT, is_valid, merchant_env, read_results, write_batch
from conftest import MERCHANT

from sogen_soap.simulator import FAULT_KINDS, WalletStore

ROWS = 900
SEED = 20261129
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
LEFT_OUT = {"code_77"}
RATES = {kind: 0.15 / (len(FAULT_KINDS) - len(LEFT_OUT)) for kind in FAULT_KINDS}
for kind in LEFT_OUT:
    del RATES[kind]


class _ServiceProcess:
    """``python -m sogen_soap.simulator`` on a fixed port, restartable."""

    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        faults = [f"--fault={kind}={rate}" for kind, rate in RATES.items()]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sogen_soap.simulator", "--port", str(self.port),
             "--db", str(self.db), "--seed", str(SEED + self.starts), "--fault-delay", "1.0",
             *faults],
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_killing_the_batch_and_the_service_at_random_never_misreports_a_card(
    tmp_path: Path,
) -> None:
    chance = random.Random(SEED)
    records = write_batch(tmp_path / "cards.csv", ROWS)
    port = _free_port()
    service = _ServiceProcess(tmp_path / "store.sqlite3", port)
    env = merchant_env(tmp_path, f"http://127.0.0.1:{port}/services/v2/wallet")
    command = [SCRIPT, "enrol", "cards.csv", "--timeout", "0.5", "--quiet", "--json"]
    kills: Counter[str] = Counter()
    service.start()
    try:
        # chaos: kill one side or the other every 0.3-1.5 s, 30 times
        for _ in range(30):
            batch = subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(chance.uniform(0.3, 1.5))
            sig = chance.choice(SIGNALS)
            if chance.random() < 0.5:
                service.kill(sig)
                kills[f"service {sig.name}"] += 1
                time.sleep(chance.uniform(0.0, 0.3))
                service.start()
            else:
                batch.send_signal(sig)
                kills[f"enrol {sig.name}"] += 1
            try:
                batch.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hang is a failure
                batch.kill()
                pytest.fail("enrol did not stop after its service or itself was killed")
        # then run it again until it is done, faults still on
        for _ in range(15):
            done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True,
                                  text=True, timeout=300, check=False)  # fmt: skip
            if done.returncode != 5:
                break
        assert done.returncode == 2, done.stderr  # what is left: the invalid rows only
        summary = json.loads(done.stdout)
    finally:
        service.stop()

    results = read_results(tmp_path / "cards.results.csv")
    assert [int(r["line"]) for r in results] == list(range(2, ROWS + 2))
    store = WalletStore(str(tmp_path / "store.sqlite3"))
    try:
        first_line: dict[tuple[str, str, str], int] = {}
        ok_rows: Counter[tuple[str, str]] = Counter()
        for number, (record, result) in enumerate(zip(records, results, strict=True), start=2):
            outcome = result["outcome"]
            if not is_valid(record):
                assert outcome == "invalid", (number, result)
                continue
            card = (record["wallet"], record["card"], record["expiry"])
            enrolled = store.has_card(MERCHANT.merchant_id, record["wallet"], record["card"])
            assert enrolled, f"line {number}: card not in the wallet ({outcome})"
            if card in first_line:  # an exact repeat of an earlier row
                assert outcome == "duplicate", (number, result)
                continue
            first_line[card] = number
            assert outcome == "ok", f"line {number}: an enrolled card reported {result}"
            assert result["payment_mean_id"], f"line {number}: ok without its id"
            ok_rows[(record["wallet"], record["card"])] += 1
        pairs = {(r["wallet"], r["card"]) for r in records if is_valid(r)}
        assert set(ok_rows) == pairs and set(ok_rows.values()) == {1}
        assert store.count_cards() == len(pairs)  # nothing lost, nothing doubled
    finally:
        store.close()
    print(
        "\nchaos figures:",
        json.dumps(
            {
                "rows": ROWS,
                "kills": dict(kills),
                "service_starts": service.starts,
                "final": summary["counts"],
                "fault_kinds": len(RATES),
            }
        ),
    )
    assert sum(kills.values()) == 30
