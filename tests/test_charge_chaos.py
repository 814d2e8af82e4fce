"""Chaos for ``charge``: the batch and the service killed at random, every fault kind.

The ``charge`` process is killed 16 times with SIGKILL, SIGTERM or SIGINT at
random moments, over SOAP and JSON; the simulator (a process of its own, on one
store) is killed and restarted 5 times among them; every fault kind is injected
on every function (the lookups that settle lost answers included).  The input
holds rows without a reference (two identical ones are two charges), rows with
their own, references the service already holds from before (94: nothing
charged), a reference repeated in the file, amounts the service refuses or
leaves pending, and bad rows; it is reordered, with rows added at the top,
half-way.  Then the batch runs again until nothing is unknown, and every row is
checked against the simulator's store: 0 double charges, 0 charges lost, 0 rows
misreported.  The draws come from a fixed seed, so a failure replays.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from cli_support import SCRIPT, SimulatorProcess, free_port, merchant_env, read_results
from conftest import MERCHANT

from sogen_soap.simulator import FAULT_KINDS, WalletStore
from sogen_soap.simulator.cards import test_card_number
from sogen_soap.simulator.payments import PaymentDesk

SEED = 20261205
BATCH_KILLS = 16
SERVICE_RESTARTS = 5
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
RATES = {kind: 0.15 / len(FAULT_KINDS) for kind in FAULT_KINDS}
M = MERCHANT.merchant_id
WALLETS = 300
SEEDED = 8  # references the service holds before the batch
LATENCY = 0.05
# What the simulator answers by the amount's last two digits (docs/payments.md).
BY_ENDING = {"02": ("refused", "02"), "05": ("refused", "05"), "59": ("refused", "63"),
             "60": ("pending", "60")}  # fmt: skip


@dataclass(frozen=True)
class Row:
    wallet: str
    amount: str
    reference: str = ""
    mean: str = "1"

    def csv(self) -> str:
        return f"{self.wallet},{self.mean},{self.amount},,{self.reference}"

    @property
    def valid(self) -> bool:
        return self.amount.isdigit()


def _rows(i: int) -> list[Row]:
    w = f"w{i}"
    kind = i % 6
    if kind == 0:  # two identical rows without a reference: two charges
        return [Row(w, "1500"), Row(w, "1500")]
    if kind == 1:  # own references
        return [Row(w, f"{1000 + i}", f"r{i}a"), Row(w, f"{2000 + i}", f"r{i}b")]
    if kind == 2:  # refused, referral, fraud, pending
        return [Row(w, f"{i}05"), Row(w, f"{i}02"), Row(w, f"{i}59"), Row(w, f"{i}60")]
    if kind == 3:  # a reference the service already holds, and one repeated in the file
        return [Row(w, "700", f"seed{i % SEEDED}"), Row(w, "800", f"r{i}"), Row(w, "900", f"r{i}")]
    if kind == 4:  # a bad amount, and a card the wallet does not have (12)
        return [Row(w, "12.50"), Row(w, "1200", mean="7")]
    return [Row(w, f"{3000 + i}")]


def _versions() -> list[list[Row]]:
    first = [row for i in range(WALLETS) for row in _rows(i)]
    moved = first[len(first) // 3 :] + first[: len(first) // 3]
    added = [Row(f"w{i}", f"{4000 + i}", f"n{i}") for i in range(10)]
    return [first, added + moved]


def _write(path: Path, rows: list[Row]) -> None:
    path.write_text(
        "wallet,id,amount,currency,reference\n" + "\n".join(r.csv() for r in rows) + "\n"
    )


def _seed(store_path: Path) -> dict[str, int]:
    """A card in every wallet, and payments made before the batch (their amounts)."""
    store = WalletStore(str(store_path))
    now = "2026-12-01T10:00:00+01:00"
    for i in range(WALLETS):
        assert store.add_card(M, f"w{i}", test_card_number(i, 0), "203012", None, None, now)
    desk = PaymentDesk(store, lambda: datetime.fromisoformat(now))
    seeds = {}
    for k in range(SEEDED):
        fields = {"merchantWalletId": "w0", "paymentMeanId": "1", "amount": str(5100 + 11 * k),
                  "currencyCode": "978", "transactionReference": f"seed{k}"}  # fmt: skip
        assert desk.wallet_order(M, fields, now, "wrapped")["responseCode"] == "00"
        seeds[f"seed{k}"] = 5100 + 11 * k
    store.close()
    return seeds


@pytest.mark.slow
def test_killing_charge_and_the_service_never_charges_twice_loses_or_misreports(
    tmp_path: Path,
) -> None:
    chance = random.Random(SEED)
    versions = _versions()
    store_path = tmp_path / "store.sqlite3"
    seeds = _seed(store_path)
    _write(tmp_path / "bill.csv", versions[0])
    port = free_port()
    service = SimulatorProcess(store_path, port, RATES, SEED, LATENCY)
    env = merchant_env(tmp_path, f"http://127.0.0.1:{port}/services/v2/wallet")
    command = [SCRIPT, "charge", "bill.csv", "--timeout", "0.5", "--json", "--concurrency", "2"]
    kills: Counter[str] = Counter()
    used: Counter[str] = Counter()
    restart_at = set(chance.sample(range(BATCH_KILLS), SERVICE_RESTARTS))
    started = time.monotonic()
    service.start()
    try:
        for n in range(BATCH_KILLS):
            if n == BATCH_KILLS // 2:  # the file changes between runs
                _write(tmp_path / "bill.csv", versions[1])
            transport = chance.choice(("soap", "json"))
            used[transport] += 1
            batch = subprocess.Popen(
                [*command, "--transport", transport], env=env, cwd=tmp_path,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(chance.uniform(0.3, 1.2))
            if n in restart_at:
                sig = chance.choice(SIGNALS)
                service.kill(sig)
                kills[f"service {sig.name}"] += 1
                time.sleep(chance.uniform(0.0, 0.3))
                service.start()
                time.sleep(chance.uniform(0.0, 0.5))
            sig = chance.choice(SIGNALS)
            if batch.poll() is not None:
                kills["missed"] += 1
            batch.send_signal(sig)
            kills[f"charge {sig.name}"] += 1
            try:
                batch.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hang is a failure
                batch.kill()
                pytest.fail("charge did not stop after it was sent a signal")
        for _ in range(15):  # then again until done, faults still on, as a scheduler would
            done = subprocess.run(
                [*command, "--transport", chance.choice(("soap", "json"))], env=env,
                cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if done.returncode != 5:
                break
        assert done.returncode == 2, done.stderr  # what is left: the invalid rows
        summary = json.loads(done.stdout)
    finally:
        service.stop()
    seconds = time.monotonic() - started

    final = versions[-1]
    results = read_results(tmp_path / "bill.results.csv")
    assert [int(r["line"]) for r in results] == list(range(2, len(final) + 2))
    assert summary["counts"] == dict(Counter(r["outcome"] for r in results))

    store = WalletStore(str(store_path))
    try:
        payments = {p["reference"]: p for p in store.payments(M)}
    finally:
        store.close()
    problems = _check(final, results, payments, seeds)
    reported = {r["reference"] for r in results if r["reference"]}
    stray = sorted(set(payments) - reported - set(seeds))  # a row charged under two references
    figures = {
        "rows": len(final), "seconds": round(seconds, 1), "kills": dict(kills),
        "service_starts": service.starts, "runs": dict(used), "final": summary["counts"],
        "fault_kinds": len(RATES), "transactions": len(payments), "stray": len(stray),
        "problems": Counter(kind for kind, _ in problems),
    }  # fmt: skip
    print("\ncharge chaos figures:", json.dumps(figures))
    assert problems == []
    assert stray == []
    assert sum(v for k, v in kills.items() if k.startswith("charge")) == BATCH_KILLS
    assert kills["missed"] <= 3
    assert {k.split()[1] for k in kills if k.startswith("charge")} == {s.name for s in SIGNALS}
    assert service.starts == SERVICE_RESTARTS + 1
    assert set(used) == {"soap", "json"}
    assert set(RATES) == set(FAULT_KINDS)


def _check(
    final: list[Row],
    results: list[dict[str, str]],
    payments: dict[str, dict[str, object]],
    seeds: dict[str, int],
) -> list[tuple[str, str]]:
    """Every row's reported outcome against the store; the kinds of what is wrong."""
    problems: list[tuple[str, str]] = []
    owners: Counter[str] = Counter()
    for row, result in zip(final, results, strict=True):
        line, outcome, reference = result["line"], result["outcome"], result["reference"]
        if not row.valid:
            if outcome != "invalid":
                problems.append(("bad row not invalid", line))
            continue
        if result["message"].startswith("the same reference as line"):  # a repeat
            if outcome != "duplicate" or reference != row.reference:
                problems.append(("repeat in the file not a duplicate", line))
            continue
        if row.reference:
            owners[row.reference] += 1
        if row.reference and reference != row.reference:
            problems.append(("another reference than the row's", line))
        stored = payments.get(reference)
        if row.reference in seeds:
            if (
                outcome != "duplicate"
                or stored is None
                or stored["origin_amount"] != seeds[row.reference]
            ):
                problems.append(("a reference held before not reported duplicate", line))
            continue
        if row.mean != "1":
            if outcome != "refused" or result["code"] not in ("12", "77") or stored is not None:
                problems.append(("unknown card not refused", line))
            continue
        if outcome == "refused" and result["code"] == "77":  # an answer code no one knows
            if stored is not None:
                problems.append(("77 but charged", line))
            continue
        expected, code = BY_ENDING.get(row.amount[-2:], ("ok", "00"))
        if outcome != expected or result["code"] != code:
            problems.append((f"misreported: {outcome} {result['code']} for {expected}", line))
        if stored is None:
            problems.append(("charge lost: nothing stored", line))
            continue
        if (stored["origin_amount"], stored["response_code"], stored["wallet_id"]) != (
            int(row.amount),
            code,
            row.wallet,
        ):
            problems.append(("stored another payment", line))
    repeated = Counter(row.reference for row in final if row.valid and row.reference)
    for reference, count in repeated.items():
        if owners[reference] != 1:  # one payment per reference: exactly one row sent it
            problems.append((f"{owners[reference]} rows own a reference of {count}", reference))
    return problems
