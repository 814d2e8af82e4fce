"""Chaos: the batch and the service both killed at random points, faults on.

The ``enrol`` process is killed 32 times with SIGKILL, SIGTERM or SIGINT at
random moments, over SOAP and JSON, with threads and with ``--processes 2``;
the simulator (a process of its own, on one store) is killed and restarted
10 times among them; every fault kind is injected.  The
input holds what makes outcomes hard to get right: cards pre-seeded with
other expiries and aliases, cards of one wallet sharing a mask, a card on
neighbouring rows with two expiries, exact repeats, bad rows; and it is
edited between runs (rows deleted, inserted at the top, edited, moved).
Then the batch is run again until nothing is pending, and every row is
checked against the simulator's store.  The draws come from a fixed seed,
so a failure replays.

``code_77`` (an answer code no client knows) is a final refusal: such a row is
``refused``, with code 77, and nothing it sent was stored; its exact repeats
say they repeat it, and a later row of the same card may enrol the card.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import SCRIPT, SimulatorProcess, free_port, merchant_env, read_results
from conftest import MERCHANT

from sogen_soap.simulator import FAULT_KINDS, WalletStore
from sogen_soap.simulator.cards import test_card_number

SEED = 20261204
BATCH_KILLS = 32
SERVICE_RESTARTS = 10
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
RATES = {kind: 0.15 / len(FAULT_KINDS) for kind in FAULT_KINDS}
M = MERCHANT.merchant_id
# A slow service and few rows at once, so every kill lands in the middle of a run
# (about 80 rows a second): the file outlasts the 32 runs that are killed.
LATENCY = 0.05
CONCURRENCY = "4"


@dataclass(frozen=True)
class Row:
    wallet: str
    card: str
    expiry: str
    alias: str = ""

    @property
    def valid(self) -> bool:
        return len(self.card) == 16 and self.expiry[4:] in ("01", "12")

    def csv(self) -> str:
        return f"{self.wallet},{self.card},{self.expiry},{self.alias}"


def _lookalike(wallet: int, k: int) -> str:
    """Cards of one wallet that all show 4100##########00."""
    return f"4100{wallet:06d}{k:04d}00"


def _wallet_rows(i: int) -> list[Row]:
    w = f"w{i}"
    kind = i % 6
    if kind == 0:  # three distinct cards
        return [Row(w, test_card_number(i, k), "203012", f"a{k}") for k in range(3)]
    if kind == 1:  # three cards sharing one mask
        return [Row(w, _lookalike(i, k), "203012", f"a{k}") for k in range(3)]
    if kind == 2:  # a card, the same card with another expiry, then an exact repeat
        card = test_card_number(i, 0)
        return [Row(w, card, "203012", "a"), Row(w, card, "203101", "b"),
                Row(w, card, "203012", "a")]  # fmt: skip
    if kind == 3:  # pre-seeded with another expiry and alias; a lookalike of another seed
        return [Row(w, test_card_number(i, 0), "203012", "a"), Row(w, _lookalike(i, 1), "203012")]
    if kind == 4:  # pre-seeded lookalikes: 0 (203012) and 2 (203101); a new one, then
        # card 0 again with card 2's expiry (whose id it must never be given)
        return [Row(w, _lookalike(i, 1), "203012", "new"), Row(w, _lookalike(i, 0), "203101")]
    return [Row(w, "12345", "203012"), Row(w, test_card_number(i, 0), "203013"),
            Row(w, test_card_number(i, 1), "203012")]  # fmt: skip


def _seeds(i: int) -> list[tuple[str, str, str, str | None]]:
    """(wallet, card, expiry, alias) stored before the first run."""
    w = f"w{i}"
    if i % 6 == 3:
        return [(w, test_card_number(i, 0), "203101", "old"), (w, _lookalike(i, 0), "203012", None)]
    if i % 6 == 4:
        return [(w, _lookalike(i, 0), "203012", "seeded"), (w, _lookalike(i, 2), "203101", None)]
    return []


WALLETS = 600
EDITED = {i for i in range(WALLETS) if i % 10 == 7}  # their first row's alias changes
DELETED = set(range(8))  # gone from the second version on
MOVED = set(range(50, 60))  # moved to the end in the third version


def _versions() -> list[list[Row]]:
    base = {i: _wallet_rows(i) for i in range(WALLETS)}
    v1 = [row for i in range(WALLETS) for row in base[i]]
    edited = {i: [Row(r.wallet, r.card, r.expiry, r.alias + "x") if n == 0 else r
                  for n, r in enumerate(rows)] if i in EDITED else rows
              for i, rows in base.items()}  # fmt: skip
    top = [Row(f"n{j}", test_card_number(1000 + j, 0), "203012") for j in range(10)]
    v2 = top + [row for i in range(WALLETS) if i not in DELETED for row in edited[i]]
    more = [Row(f"n{j}", test_card_number(1000 + j, 0), "203112") for j in range(10, 15)]
    kept = [i for i in range(WALLETS) if i not in DELETED]
    v3 = (more + top + [row for i in kept if i not in MOVED for row in edited[i]]
          + [row for i in sorted(MOVED) for row in edited[i]])  # fmt: skip
    return [v1, v2, v3]


def _write(path: Path, rows: list[Row]) -> None:
    path.write_text("wallet,card,expiry,alias\n" + "\n".join(r.csv() for r in rows) + "\n")


def _options(chance: random.Random) -> list[str]:
    transport = chance.choice(("soap", "json"))
    processes = ["--processes", "2"] if chance.random() < 0.3 else []
    return ["--transport", transport, *processes]


@pytest.mark.slow
def test_killing_the_batch_and_the_service_at_random_never_misreports_a_row(
    tmp_path: Path,
) -> None:
    chance = random.Random(SEED)
    versions = _versions()
    store_path = tmp_path / "store.sqlite3"
    seeded = WalletStore(str(store_path))
    seeds = [seed for i in range(WALLETS) for seed in _seeds(i)]
    for wallet, card, expiry, alias in seeds:
        assert seeded.add_card(M, wallet, card, expiry, alias, None, "2026-01-01T00:00:00Z")
    seeded.close()
    _write(tmp_path / "cards.csv", versions[0])
    port = free_port()
    service = SimulatorProcess(store_path, port, RATES, SEED, LATENCY)
    env = merchant_env(tmp_path, f"http://127.0.0.1:{port}/services/v2/wallet")
    command = [SCRIPT, "enrol", "cards.csv", "--timeout", "0.5", "--quiet", "--json",
               "--concurrency", CONCURRENCY]  # fmt: skip
    kills: Counter[str] = Counter()
    used: Counter[str] = Counter()
    restart_at = set(chance.sample(range(BATCH_KILLS), SERVICE_RESTARTS))
    started = time.monotonic()
    service.start()
    try:
        for n in range(BATCH_KILLS):
            if n in (BATCH_KILLS // 3, 2 * BATCH_KILLS // 3):  # the file changes between runs
                _write(tmp_path / "cards.csv", versions[1 if n < 2 * BATCH_KILLS // 3 else 2])
            options = _options(chance)
            used[" ".join(options)] += 1
            batch = subprocess.Popen(
                command + options, env=env, cwd=tmp_path,
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
            if batch.poll() is not None:  # it finished first: a kill that missed
                kills["missed"] += 1
            batch.send_signal(sig)
            kills[f"enrol {sig.name}"] += 1
            try:
                batch.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hang is a failure
                batch.kill()
                pytest.fail("enrol did not stop after it was sent a signal")
        # then run it again until it is done, faults still on, as a scheduler would
        for _ in range(15):
            done = subprocess.run(
                command + _options(chance), env=env, cwd=tmp_path,
                capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            if done.returncode != 5:
                break
        assert done.returncode == 2, done.stderr  # what is left: the invalid rows only
        summary = json.loads(done.stdout)
    finally:
        service.stop()
    seconds = time.monotonic() - started

    final = versions[-1]
    results = read_results(tmp_path / "cards.results.csv")
    here = [r for r in results if r["line"]]
    earlier = [r for r in results if not r["line"]]
    assert [int(r["line"]) for r in here] == list(range(2, len(final) + 2))
    # the summary is the results file
    assert summary["counts"] == dict(Counter(r["outcome"] for r in here))
    assert summary["earlier"] == len(earlier) and summary["rows"] == len(final)

    store = WalletStore(str(store_path))
    try:
        problems = _check(store, final, here, seeds, versions)
        known = {(r.wallet, r.card) for v in versions for r in v if r.valid}
        known |= {(w, c) for w, c, _, _ in seeds}
        present = sum(store.find_card(M, w, c) is not None for w, c in known)
        stray = store.count_cards() - present
    finally:
        store.close()
    figures = {
        "rows": len(final), "seconds": round(seconds, 1), "kills": dict(kills),
        "service_starts": service.starts, "runs": dict(used), "final": summary["counts"],
        "earlier_rows": len(earlier), "fault_kinds": len(RATES), "stray": stray,
        "problems": Counter(kind for kind, _ in problems),
    }  # fmt: skip
    print("\nchaos figures:", json.dumps(figures))
    assert problems == []
    assert stray == 0
    assert sum(v for k, v in kills.items() if k.startswith("enrol")) == BATCH_KILLS
    assert kills["missed"] <= 2
    assert {k.split()[1] for k in kills if k.startswith("enrol")} == {s.name for s in SIGNALS}
    assert service.starts == SERVICE_RESTARTS + 1
    assert {"--transport soap", "--transport json"} <= {k.split(" --processes")[0] for k in used}
    assert set(RATES) == set(FAULT_KINDS)  # every fault kind, code_77 included
    assert any("--processes 2" in k for k in used)


def _check(
    store: WalletStore,
    final: list[Row],
    results: list[dict[str, str]],
    seeds: list[tuple[str, str, str, str | None]],
    versions: list[list[Row]],
) -> list[tuple[str, int]]:
    """Every row of the final input against the store: (what is wrong, line) pairs."""
    problems: list[tuple[str, int]] = []
    seeded = {(w, c) for w, c, _, _ in seeds}
    # a card's rows are "stable" when no version of the file changed them
    rows_of: dict[tuple[str, str], set[tuple[Row, ...]]] = {}
    for version in versions:
        for key in {(r.wallet, r.card) for r in version}:
            rows = tuple(r for r in version if (r.wallet, r.card) == key)
            rows_of.setdefault(key, set()).add(rows)
    first_seen: set[tuple[str, str]] = set()
    refused_lines: set[str] = set()
    for number, (row, result) in enumerate(zip(final, results, strict=True), start=2):
        outcome, pmid = result["outcome"], result["payment_mean_id"]
        if not row.valid:
            if outcome != "invalid":
                problems.append(("bad row not invalid", number))
            continue
        key = (row.wallet, row.card)
        first = key not in first_seen
        first_seen.add(key)
        if outcome == "refused":  # the service's final no (code_77): nothing it sent stored
            if result["code"] != "77":
                problems.append((f"refused with {result['code']}", number))
            refused_lines.add(str(number))
            continue
        repeated = result["message"].removeprefix("repeats line ").removesuffix("; not sent")
        if outcome == "duplicate" and repeated in refused_lines:
            continue  # it repeats a refused row, and says which
        stored = store.find_card(M, row.wallet, row.card)
        if outcome not in ("ok", "in-wallet", "duplicate"):
            problems.append((f"{outcome} after the last run", number))
        if stored is None:
            problems.append(("lost: reported " + outcome + " but not in the wallet", number))
            continue
        if pmid and pmid != stored.payment_mean_id:
            problems.append(("another card's id", number))
        if outcome == "ok" and not pmid:
            problems.append(("ok without its id", number))
        reason = "cannot be told" in result["message"] or "could not be read" in result["message"]
        if outcome == "in-wallet" and not reason:
            problems.append(("in-wallet without its reason", number))
        stable = len(rows_of[key]) == 1 and key not in seeded
        if first and stable:
            if outcome == "duplicate":
                problems.append(("first row of a card reported duplicate", number))
            if stored.expiry != row.expiry:
                problems.append(("a later row enrolled the card", number))
    return problems
