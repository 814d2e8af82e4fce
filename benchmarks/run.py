"""sogen-soap benchmarks: every figure measured side by side in one run.

    python benchmarks/run.py [--json PATH] [--quick]

Prints a table (figure, median, target, pass/fail) and writes the figures as
JSON.  The simulator runs in a separate process, so it never shares the
client's GIL.  These are measurements, not tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from lxml import etree

from sogen_soap import WalletClient
from sogen_soap.simulator import DEFAULT_MERCHANT as M
from sogen_soap.simulator.cards import test_card_number

PAN = "4100000000000000"
NS = "urn:sips:cn:contract:office:wallet:v2"


@dataclass
class Row:
    group: str
    figure: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, *args: object, **kwargs: object) -> None:
        self.rows.append(Row(*args, **kwargs))  # type: ignore[arg-type]
        row = self.rows[-1]
        verdict = "" if row.passed is None else ("PASS" if row.passed else "FAIL")
        print(
            f"  {row.figure:<48} {row.value:>10.2f} {row.unit:<8} {row.target:<22} {verdict}",
            flush=True,
        )


def _rss_mb(pid: int | None = None) -> float:
    pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator(db: str = ":memory:", latency: float = 0.0) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sogen_soap.simulator",
            "--port",
            "0",
            "--db",
            db,
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip(), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def client(url: str) -> WalletClient:
    return WalletClient(M.merchant_id, M.secret_key, M.key_version, environment=url)


# ---------------------------------------------------------------- 1. construction


FIRST_CLIENT = """
import time
t = time.perf_counter()
from sogen_soap import WalletClient
imported = time.perf_counter()
WalletClient("002001000000001", "k", 1, environment="test")
print((time.perf_counter() - imported) * 1000)
"""


def bench_construction(report: Report, repeats: int) -> None:
    print("1. client construction")
    first = statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", FIRST_CLIENT], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    )
    client("https://127.0.0.1:1/services/v2/wallet")  # the process's first: parses the WSDL
    times = []
    for _ in range(50):
        started = time.perf_counter()
        client("https://127.0.0.1:1/services/v2/wallet")
        times.append((time.perf_counter() - started) * 1000)
    nth = statistics.median(times)
    report.add("construction", "first client in a process (parses WSDL)", first, "ms")
    report.add(
        "construction", "N-th client (shared parsed Document)", nth, "ms", "<= 5 ms", nth <= 5
    )
    report.add("construction", "ratio N-th / first", nth / first, "x", "<= 0.1", nth / first <= 0.1)


# ---------------------------------------------------------------- 2. overhead vs floor


def _floor_envelope(wallet: str) -> bytes:
    """The addCard request built once by hand, its seal made with hmac directly."""
    fields = {
        "merchantId": M.merchant_id,
        "interfaceVersion": "WR_WS_2.55",
        "keyVersion": "1",
        "merchantWalletId": wallet,
        "cardNumber": PAN,
        "cardExpiryDate": "203012",
    }
    data = "".join(v for k, v in sorted(fields.items()) if k != "keyVersion")
    fields["seal"] = hmac.new(M.secret_key.encode(), data.encode(), hashlib.sha256).hexdigest()
    body = "".join(f"<w:{k}>{v}</w:{k}>" for k, v in fields.items())
    return (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:w="{NS}">'
        f"<s:Body><w:addCard><w:input>{body}</w:input></w:addCard></s:Body></s:Envelope>"
    ).encode()


def bench_overhead(report: Report, url: str, server_pid: int, calls: int, repeats: int) -> None:
    print("2. per-call overhead against the floor (same request, same server path)")
    wallet_client = client(url)
    wallet_client.add_card("overhead", PAN, "203012")  # later calls all take the 94 path
    session = requests.Session()
    session.trust_env = False
    envelope = _floor_envelope("overhead")
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

    def floor_call() -> None:
        response = session.post(url, data=envelope, headers=headers, timeout=10)
        etree.fromstring(response.content)

    def client_call() -> None:
        wallet_client.add_card("overhead", PAN, "203012")

    def measure(call: Callable[[], None]) -> tuple[float, float, float]:
        server_before, cpu_before = _cpu_seconds(server_pid), time.process_time()
        started = time.perf_counter()
        for _ in range(calls):
            call()
        wall = (time.perf_counter() - started) * 1000 / calls
        cpu = (time.process_time() - cpu_before) * 1000 / calls
        server = (_cpu_seconds(server_pid) - server_before) * 1000 / calls
        return wall, cpu, server

    for _ in range(20):
        floor_call()
        client_call()
    floor_runs, client_runs = [], []
    for _ in range(repeats):  # interleaved, so drift hits both alike
        floor_runs.append(measure(floor_call))
        client_runs.append(measure(client_call))
    floor = [statistics.median(run[i] for run in floor_runs) for i in range(3)]
    mine = [statistics.median(run[i] for run in client_runs) for i in range(3)]
    ratio = mine[0] / floor[0]
    report.add("overhead", "floor: latency per call", floor[0], "ms")
    report.add("overhead", "WalletClient.add_card: latency per call", mine[0], "ms")
    report.add("overhead", "ratio client / floor (latency)", ratio, "x", "<= 1.5", ratio <= 1.5)
    report.add("overhead", "client CPU per call (floor)", floor[1], "ms")
    report.add("overhead", "client CPU per call (WalletClient)", mine[1], "ms")
    report.add("overhead", "server CPU per call (simulator)", mine[2], "ms")


# ---------------------------------------------------------------- 3. concurrency


def _rate(call: Callable[[int], object], threads: int, calls: int) -> tuple[float, int]:
    """Calls per second with ``threads`` threads sharing the work; and the errors."""
    errors = [0] * threads

    def work(worker: int) -> None:
        for i in range(worker, calls, threads):
            try:
                call(i)
            except Exception:  # counted, reported
                errors[worker] += 1

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return calls / (time.perf_counter() - started), sum(errors)


def bench_concurrency(report: Report, url: str, calls: int, repeats: int, label: str) -> None:
    print(f"3. concurrency {label}: one shared client vs the floor, {calls} calls")
    shared = client(url)
    session = requests.Session()
    session.trust_env = False
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    floor_bodies = [_floor_envelope(f"f{i}") for i in range(calls)]
    run_no = iter(range(10**6))
    errors = 0
    rates: dict[tuple[str, int], float] = {}
    for threads in (1, 2, 4, 8):
        for who in ("client", "floor"):
            samples = []
            for _ in range(repeats):
                tag = next(run_no)
                if who == "client":

                    def call(i: int, tag: int = tag) -> None:
                        if not shared.add_card(f"c{tag}-{i}", PAN, "203012").ok:
                            raise RuntimeError("not ok")
                else:

                    def call(i: int, tag: int = tag) -> None:
                        response = session.post(
                            url, data=floor_bodies[i], headers=headers, timeout=10
                        )
                        etree.fromstring(response.content)

                rate, failed = _rate(call, threads, calls)
                samples.append(rate)
                errors += failed if who == "client" else 0
            rates[who, threads] = statistics.median(samples)
        report.add(
            "concurrency",
            f"{label} {threads} thread(s): client / floor calls/s",
            rates["client", threads],
            "calls/s",
            f"floor {rates['floor', threads]:.0f}",
        )
    for threads in (2, 4, 8):
        speedup = rates["client", threads] / rates["client", 1]
        floor_speedup = rates["floor", threads] / rates["floor", 1]
        target = ">= 1.6" if threads == 4 else ""
        report.add(
            "concurrency",
            f"{label} speed-up {threads} threads (floor: {floor_speedup:.2f}x)",
            speedup,
            "x",
            target,
            speedup >= 1.6 if threads == 4 else None,
        )
    report.add("concurrency", f"{label} client errors", errors, "", "0", errors == 0)


# ---------------------------------------------------------------- 6. async


def bench_async(report: Report, url: str, calls: int, repeats: int, label: str) -> None:
    print(f"6. async {label}: 100 concurrent calls vs 8 threads of the sync client, {calls} calls")
    from sogen_soap import AsyncWalletClient

    async def async_rate(tag: int) -> float:
        async with AsyncWalletClient(M.merchant_id, M.secret_key, 1, environment=url) as aclient:
            await asyncio.gather(
                *(aclient.add_card(f"aw{tag}-{i}", PAN, "203012") for i in range(100))
            )
            started = time.perf_counter()
            for batch in range(0, calls, 100):
                results = await asyncio.gather(
                    *(
                        aclient.add_card(f"a{tag}-{i}", PAN, "203012")
                        for i in range(batch, batch + 100)
                    )
                )
                assert all(r.ok for r in results)
            return calls / (time.perf_counter() - started)

    shared = client(url)
    async_rates, thread_rates = [], []
    for tag in range(repeats):
        async_rates.append(asyncio.run(async_rate(tag)))
        rate, _ = _rate(lambda i, tag=tag: shared.add_card(f"t{tag}-{i}", PAN, "203012"), 8, calls)
        thread_rates.append(rate)
    async_rate_, thread_rate = statistics.median(async_rates), statistics.median(thread_rates)
    report.add("async", f"{label} async, 100 concurrent: calls/s", async_rate_, "calls/s")
    report.add("async", f"{label} sync, 8 threads: calls/s", thread_rate, "calls/s")
    report.add("async", f"{label} ratio async / 8 threads", async_rate_ / thread_rate, "x")


# ---------------------------------------------------------------- 4. batch


ENROL = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - started
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode)
"""


def _batch_file(path: Path, rows: int) -> None:
    lines = ["wallet,card,expiry"] + [
        f"b{i // 3},{test_card_number(i // 3, i % 3)},203012" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")


def bench_batch(report: Report, url: str, sizes: tuple[int, ...]) -> None:
    print("4. batch enrolment (sogen-soap enrol, 4 workers)")
    script = str(Path(sys.executable).with_name("sogen-soap"))
    env = {
        **os.environ,
        "SOGEN_ENVIRONMENT": url,
        "SOGEN_MERCHANT_ID": M.merchant_id,
        "SOGEN_KEY_VERSION": "1",
        "SOGEN_SECRET_KEY": M.secret_key,
    }
    rss: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            source = Path(folder) / f"batch{size}.csv"
            _batch_file(source, size)
            out = subprocess.run(
                [sys.executable, "-c", ENROL, script, "enrol", str(source), "--quiet"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            wall, rss[size], code = float(out[0]), float(out[1]), int(out[2])
            report.add("batch", f"{size} rows: wall time", wall, "s", "exit 0", code == 0)
            report.add("batch", f"{size} rows: rows per second", size / wall, "rows/s")
            report.add(
                "batch", f"{size} rows: peak RSS", rss[size], "MB", "< 150 MB", rss[size] < 150
            )
    if len(sizes) == 2:
        small, large = sizes
        growth = rss[large] - rss[small]
        report.add(
            "batch",
            f"peak RSS growth {small} -> {large} rows",
            growth,
            "MB",
            "< 10 MB (flat)",
            growth < 10,
        )


# ---------------------------------------------------------------- 5. memory


def bench_memory(report: Report, url: str, calls: int) -> None:
    print(f"5. memory over {calls} calls on one client (4 threads)")
    shared = client(url)

    def run(count: int) -> None:
        def work(worker: int) -> None:
            for i in range(worker, count, 4):
                shared.add_card(f"m{i % 500}", PAN, "203012")

        pool = [threading.Thread(target=work, args=(w,)) for w in range(4)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    run(1000)  # warm-up: pools, caches, lazily built objects
    before = _rss_mb()
    run(calls)
    growth = _rss_mb() - before
    report.add("memory", f"RSS growth over {calls} calls", growth, "MB", "< 5 MB", growth < 5)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--json", default="benchmark-results.json", help="where to write figures")
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    args = parser.parse_args()
    quick = args.quick
    report = Report()
    started = time.perf_counter()
    print(f"  {'figure':<48} {'median':>10} {'unit':<8} {'target':<22}")
    bench_construction(report, repeats=3 if quick else 5)
    with simulator() as (url, pid):
        bench_overhead(report, url, pid, calls=100 if quick else 300, repeats=3 if quick else 5)
        bench_concurrency(
            report, url, calls=200 if quick else 600, repeats=1 if quick else 3, label="loopback"
        )
        bench_memory(report, url, calls=2000 if quick else 10_000)
        bench_async(report, url, 200 if quick else 600, 1 if quick else 3, "loopback")
    with simulator(latency=0.005) as (url, _):
        bench_concurrency(
            report,
            url,
            calls=200 if quick else 400,
            repeats=1 if quick else 3,
            label="5 ms service",
        )
        bench_async(report, url, 200 if quick else 400, 1 if quick else 3, "5 ms service")
    with (
        tempfile.TemporaryDirectory() as folder,
        simulator(str(Path(folder) / "b.sqlite3")) as (url, _),
    ):
        bench_batch(report, url, (500, 2000) if quick else (2000, 10_000))
    total = time.perf_counter() - started
    failed = [row.figure for row in report.rows if row.passed is False]
    print(
        f"\n{len(report.rows)} figures, {len(failed)} below target, in {total:.0f} s"
        f"{': ' + '; '.join(failed) if failed else ''}"
    )
    Path(args.json).write_text(
        json.dumps(
            {
                "seconds": round(total, 1),
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "rows": [row.__dict__ for row in report.rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
