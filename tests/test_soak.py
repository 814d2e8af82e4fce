"""A bounded fault-injection soak: the batch command against a misbehaving service."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from cli_support import is_valid, merchant_env, read_results, run, write_batch
from conftest import MERCHANT

from sogen_soap.simulator import FAULT_KINDS, FaultProfile, Simulator

ROWS = 1200
# About 20% of all calls faulted, every kind the simulator knows of but one:
# code_77 (a code no client knows) is a final refusal by design, so it would
# leave a card rightly not enrolled; test_failures covers it.
RATES = {
    "drop": 0.02,
    "commit_drop": 0.03,
    "delay": 0.02,
    "soap_fault": 0.02,
    "http_503": 0.02,
    "garbage": 0.02,
    "wrong_seal": 0.02,
    "code_99": 0.02,
    "xxe": 0.01,
    "no_seal": 0.005,
    "billion_laughs": 0.005,
    "tampered": 0.005,
    "doctype": 0.005,
}


@pytest.mark.slow
def test_a_batch_through_a_faulty_service_loses_nothing_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    assert abs(sum(RATES.values()) - 0.20) < 1e-9
    records = write_batch(tmp_path / "soak.csv", ROWS)
    profile = FaultProfile(RATES, seed=20261129, delay=1.0)
    runs = []
    with Simulator(str(tmp_path / "store.sqlite3"), faults=profile) as sim:
        env = merchant_env(tmp_path, sim.url)
        for _ in range(8):  # a job scheduler would run it again until nothing is pending
            done = run(
                "enrol",
                "soak.csv",
                "--workers",
                "4",
                "--timeout",
                "0.5",
                "--json",
                env=env,
                cwd=tmp_path,
            )
            runs.append(json.loads(done.stdout))
            if done.returncode != 5:
                break
        assert done.returncode == 2, done.stderr  # what is left: the invalid rows only
        results = read_results(tmp_path / "soak.results.csv")
        by_line = {int(r["line"]): r for r in results}
        outcomes = Counter(r["outcome"] for r in results)

        # every input row has exactly one final outcome
        assert sorted(by_line) == list(range(2, ROWS + 2))
        assert set(outcomes) <= {"ok", "in-wallet", "duplicate", "invalid"}
        lost = duplicated = unmarked = 0
        for number, record in enumerate(records, start=2):
            outcome = by_line[number]
            present = is_valid(record) and sim.store.has_card(
                MERCHANT.merchant_id, record["wallet"], record["card"]
            )
            if outcome["outcome"] in ("ok", "in-wallet", "duplicate") and not present:
                lost += 1
            if outcome["outcome"] in ("failed", "unknown") and present:
                unmarked += "recovered" not in (outcome["message"] or "")
        pairs = {(r["wallet"], r["card"]) for r in records if is_valid(r)}
        duplicated = sim.store.count_cards() - len(pairs)
        injected = dict(sim.app.faults.injected)

    figures = {
        "rows": ROWS,
        "runs": len(runs),
        "outcomes": dict(outcomes),
        "faults_injected": injected,
        "faults_total": sum(injected.values()),
        "retries": sum(r["retries"] for r in runs),
        "recovered": sum(r["recovered"] for r in runs),
        "lost": lost,
        "duplicated": duplicated,
        "seconds": round(sum(r["seconds"] for r in runs), 1),
    }
    print("\nsoak figures:", json.dumps(figures))
    assert lost == 0
    assert duplicated == 0
    assert unmarked == 0
    assert figures["faults_total"] >= 0.1 * ROWS  # the faults really happened
    assert set(injected) == set(RATES) == set(FAULT_KINDS) - {"code_77"}
