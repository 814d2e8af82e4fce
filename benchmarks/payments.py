"""wallet_order beside add_card: the same lean path, measured side by side in one run.

    python benchmarks/payments.py [--calls 1000] [--rounds 5]

Loopback only: one simulator process serves every round.  Each round runs, in a
fresh interpreter each, ``add_card`` (a new wallet per call) and ``wallet_order``
(a charge of a card enrolled first), over SOAP and over JSON, and prints per
call: latency, the client's CPU, the requests that went out (one: a charge
whose answer comes is never looked up), and whether zeep was imported (it must
not be: both are rendered from the bundled layouts).  Medians of interleaved
rounds.  A measurement, not a test: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import _child, simulator  # a sibling script

_CALLS = r"""
import json, sys, time
from sogen_soap import WalletClient
url, calls, prefix, wire, operation = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
sent = []
timed = WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url,
                     transport=wire)
counted = WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url,
                       transport=wire, on_request=sent.append)  # how many requests went out
mean = timed.add_card(f"{prefix}-payer", "4100000000000000", "203012").payment_mean_id
def add(client, i):
    assert client.add_card(f"{prefix}-{i}", "4100000000000000", "203012").ok
def pay(client, i):
    assert client.wallet_order(f"{prefix}-payer", mean, 1000 + (i % 7) * 100).ok
work = add if operation == "add_card" else pay
for i in range(100):
    work(timed, -1 - i)
wall, cpu = time.perf_counter(), time.process_time()
for i in range(calls):
    work(timed, i)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
for i in range(50):
    work(counted, calls + i)
print(json.dumps({"ms": wall / calls * 1e3, "cpu_ms": cpu / calls * 1e3,
                  "requests": len(sent) / 50, "zeep": float("zeep" in sys.modules)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    modes = [(op, wire) for wire in ("soap", "json") for op in ("add_card", "wallet_order")]
    rounds: dict[tuple[str, str], list[dict[str, float]]] = {mode: [] for mode in modes}
    with simulator() as (url, _):
        for r in range(args.rounds):
            for op, wire in modes:
                rounds[(op, wire)].append(
                    _child(_CALLS, url, str(args.calls), f"b{r}{wire[0]}{op[0]}", wire, op)
                )
    print(f"median of {args.rounds} interleaved rounds of {args.calls} calls, loopback")
    print(f"  {'call':<26} {'ms/call':>8} {'cpu ms/call':>12} {'requests':>9} {'zeep':>5}")
    medians: dict[tuple[str, str], dict[str, float]] = {}
    for mode in modes:
        medians[mode] = {
            key: statistics.median(r[key] for r in rounds[mode])
            for key in ("ms", "cpu_ms", "requests", "zeep")
        }
        m = medians[mode]
        zeep = "yes" if m["zeep"] else "no"
        print(
            f"  {mode[0] + ' (' + mode[1] + ')':<26} {m['ms']:>8.3f} {m['cpu_ms']:>12.3f} "
            f"{m['requests']:>9.2f} {zeep:>5}"
        )
    for wire in ("soap", "json"):
        pay, add = medians[("wallet_order", wire)], medians[("add_card", wire)]
        print(
            f"  wallet_order / add_card ({wire}): latency x{pay['ms'] / add['ms']:.2f}, "
            f"client CPU x{pay['cpu_ms'] / add['cpu_ms']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
