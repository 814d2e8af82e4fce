"""sogen-soap benchmarks: every figure measured side by side in one run.

    python benchmarks/run.py [--baseline PYTHON] [--quick] [--json PATH]

Loopback only.  The simulator runs in a process of its own (the same one for
every client measured).  Each figure is the median of interleaved rounds, and
its target is printed beside it.  ``--baseline DIR`` names a checkout of an
``--baseline PYTHON`` names an interpreter with an earlier version installed
(``python -m venv /tmp/b && /tmp/b/bin/pip install <checkout of 87f19f4>``;
an editable install would shadow ``PYTHONPATH``, so a separate environment is
the honest way); its client and its ``enrol`` are then measured in the same
rounds against the same simulator, so "x baseline" ratios come from one run.
PHP's SoapClient (``php`` with the soap extension) is the anchor when present;
otherwise the run says "skipped: php not found".  These are measurements, not
tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEY = "002001000000001_KEY1"  # the public simulation merchant
PAN = "4100000000000000"
NS = "urn:sips:cn:contract:office:wallet:v2"

# One client measurement, run in a fresh interpreter (ours or the baseline's).
_CLIENT = r"""
import json, sys, time, threading
from sogen_soap import WalletClient
url, calls, threads, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
options = {"transport": sys.argv[5]} if len(sys.argv) > 5 else {}
client = WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url, **options)
for i in range(200):
    client.add_card(f"{prefix}-warm-{i}", "4100000000000000", "203012")
def work(k, n):
    for i in range(n):
        assert client.add_card(f"{prefix}-{k}-{i}", "4100000000000000", "203012").ok
wall, cpu = time.perf_counter(), time.process_time()
if threads == 1:
    work(0, calls)
else:
    pool = [threading.Thread(target=work, args=(k, calls // threads)) for k in range(threads)]
    [t.start() for t in pool]; [t.join() for t in pool]
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"ms": wall / calls * 1e3, "cpu_ms": cpu / calls * 1e3, "rate": calls / wall}))
"""

# The floors: the same sealed envelope, sealed and verified by hand, over a
# kept-alive http.client connection or a raw socket.
_FLOOR = r"""
import hashlib, hmac, http.client, json, re, socket, sys, time
url, calls, prefix, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
key = b"002001000000001_KEY1"
host, port = url.split("//")[1].split("/")[0].split(":")
path = "/" + url.split("//")[1].split("/", 1)[1]
def envelope(wallet):
    fields = {"cardExpiryDate": "203012", "cardNumber": "4100000000000000",
              "interfaceVersion": "WR_WS_2.55", "merchantId": "002001000000001",
              "merchantWalletId": wallet}
    seal = hmac.new(key, "".join(fields[k] for k in sorted(fields)).encode(), hashlib.sha256).hexdigest()
    inner = "".join(f"<ns0:{k}>{v}</ns0:{k}>" for k, v in
        [("merchantId", "002001000000001"), ("interfaceVersion", "WR_WS_2.55"), ("keyVersion", "1"),
         ("sealAlgorithm", "HMAC-SHA-256"), ("merchantWalletId", wallet),
         ("cardNumber", "4100000000000000"), ("cardExpiryDate", "203012"), ("seal", seal)])
    return ('<?xml version="1.0" encoding="utf-8"?><soap-env:Envelope xmlns:soap-env='
            '"http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><ns0:addCard xmlns:ns0='
            f'"urn:sips:cn:contract:office:wallet:v2"><ns0:input>{inner}</ns0:input></ns0:addCard>'
            '</soap-env:Body></soap-env:Envelope>').encode()
FIELD = re.compile(rb"<ns:(\w+)>([^<]*)</ns:\1>")
def verified(body):
    out = dict(FIELD.findall(body))
    seal = out.pop(b"seal")
    text = b"".join(out[k] for k in sorted(out))
    return out[b"walletResponseCode"] == b"00" and hmac.compare_digest(
        hmac.new(key, text, hashlib.sha256).hexdigest().encode(), seal)
headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"addCard"'}
if kind == "http.client":
    conn = http.client.HTTPConnection(host, int(port))
    def call(wallet):
        conn.request("POST", path, envelope(wallet), headers)
        return conn.getresponse().read()
else:
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def call(wallet):
        body = envelope(wallet)
        sock.sendall(b"POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: text/xml; charset=utf-8\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (path.encode(), host.encode(), port.encode(), len(body), body))
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(rest) < length:
            rest += sock.recv(65536)
        return rest
for i in range(200):
    call(f"{prefix}-warm-{i}")
wall, cpu = time.perf_counter(), time.process_time()
for i in range(calls):
    assert verified(call(f"{prefix}-{i}"))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"ms": wall / calls * 1e3, "cpu_ms": cpu / calls * 1e3, "rate": calls / wall}))
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator(*options: str) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sogen_soap.simulator", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def _child(code: str, *args: str, python: str | None = None) -> dict[str, float]:
    done = subprocess.run(
        [python or sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),  # not the checkout: "-c" puts the cwd first on sys.path
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _php(url: str, calls: int, prefix: str) -> dict[str, float] | None:
    if shutil.which("php") is None:
        return None
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout
    if "soap" not in modules.lower():
        return None
    import resource

    from sogen_soap.wsdl_cache import bundled_wsdl_path

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["php", str(HERE / "php_loop.php"), url, bundled_wsdl_path(), str(calls + 200), prefix],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(out)
    assert data["ok"] == calls + 200, "PHP saw answers it could not verify"
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"ms": data["seconds"] / data["calls"] * 1e3, "cpu_ms": cpu / data["calls"] * 1e3}


def _median(rounds: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def line(figure: str, value: str, target: str = "", verdict: bool | None = None) -> None:
    mark = "" if verdict is None else ("PASS" if verdict else "FAIL")
    print(f"  {figure:<52} {value:>16}  {target:<16} {mark}", flush=True)


def bench_latency(
    rounds: int, calls: int, baseline: str | None, figures: dict[str, object]
) -> None:
    print(f"1. add_card on loopback: median of {rounds} interleaved rounds of {calls} calls")
    results: dict[str, list[dict[str, float]]] = {}
    with simulator() as (url, _):
        for r in range(rounds):
            results.setdefault("sogen-soap", []).append(
                _child(_CLIENT, url, str(calls), "1", f"s{r}")
            )
            results.setdefault("sogen-soap, JSON transport", []).append(
                _child(_CLIENT, url, str(calls), "1", f"j{r}", "json")
            )
            php = _php(url, calls, f"p{r}")
            if php is not None:
                results.setdefault("PHP SoapClient", []).append(php)
            for kind in ("http.client", "raw socket"):
                results.setdefault(f"floor: {kind}", []).append(
                    _child(_FLOOR, url, str(calls), f"f{kind[0]}{r}", kind)
                )
            if baseline:
                results.setdefault("baseline", []).append(
                    _child(_CLIENT, url, str(calls), "1", f"b{r}", python=baseline)
                )
    ours = _median(results["sogen-soap"], "ms")
    for name, measured in results.items():
        ms, cpu = _median(measured, "ms"), _median(measured, "cpu_ms")
        line(f"{name}: latency / client CPU per call", f"{ms:.3f} / {cpu:.3f} ms")
        figures[f"latency_ms[{name}]"] = round(ms, 4)
        figures[f"client_cpu_ms[{name}]"] = round(cpu, 4)
    if "PHP SoapClient" in results:
        ratio = ours / _median(results["PHP SoapClient"], "ms")
        line("sogen-soap / PHP SoapClient latency", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)
        figures["latency_vs_php"] = round(ratio, 3)
    else:
        line("sogen-soap / PHP SoapClient latency", "skipped: php not found")
    for kind in ("http.client", "raw socket"):
        floor = _median(results[f"floor: {kind}"], "ms")
        line(f"sogen-soap / {kind} floor", f"{ours / floor:.2f}x")
    cpu = _median(results["sogen-soap"], "cpu_ms")
    line("sogen-soap client CPU per call", f"{cpu:.3f} ms", "<= 0.35 ms", cpu <= 0.35)
    figures["client_cpu_ms"] = round(cpu, 4)


def bench_threads(
    rounds: int, calls: int, baseline: str | None, figures: dict[str, object]
) -> None:
    print(f"2. one client shared by 8 threads on loopback, {calls} calls a round")
    ours: list[dict[str, float]] = []
    base: list[dict[str, float]] = []
    with simulator() as (url, _):
        for r in range(rounds):
            ours.append(_child(_CLIENT, url, str(calls), "8", f"t{r}"))
            if baseline:
                base.append(_child(_CLIENT, url, str(calls), "8", f"u{r}", python=baseline))
    rate = _median(ours, "rate")
    line("8 threads: calls/s", f"{rate:.0f}")
    figures["threads8_calls_per_s"] = round(rate)
    if base:
        old = _median(base, "rate")
        line("8 threads: calls/s, baseline", f"{old:.0f}")
        line("8 threads: x baseline", f"{rate / old:.2f}x", ">= 1.8x", rate / old >= 1.8)
        figures["threads8_vs_baseline"] = round(rate / old, 3)


def _batch(path: Path, rows: int) -> None:
    sys.path.insert(0, str(HERE.parent / "tests"))
    from cli_support import write_batch

    write_batch(path, rows)


def _merchant_env(url: str) -> dict[str, str]:
    """This environment, set for the simulation merchant against ``url``."""
    env = dict(os.environ)
    env.update(
        SOGEN_ENVIRONMENT=url,
        SOGEN_MERCHANT_ID="002001000000001",
        SOGEN_KEY_VERSION="1",
        SOGEN_SECRET_KEY=KEY,
    )
    return env


def _enrol(rows: int, latency: float, python: str | None) -> tuple[float, float, float]:
    """(rows/s, enrol CPU share of a core, simulator CPU share of a core)."""
    with (
        tempfile.TemporaryDirectory() as folder,
        simulator("--latency", str(latency)) as (url, pid),
    ):
        _batch(Path(folder) / "b.csv", rows)
        env = _merchant_env(url)
        import resource

        sim_before = _cpu_seconds(pid)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [python or sys.executable, "-m", "sogen_soap", "enrol", "b.csv", "--quiet", "--json"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sim_cpu = _cpu_seconds(pid) - sim_before
        assert done.returncode == 2, done.stderr  # 2: the batch's invalid rows
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return rows / wall, cpu / wall, sim_cpu / wall


def bench_enrol(rounds: int, rows: int, baseline: str | None, figures: dict[str, object]) -> None:
    print(f"3. sogen-soap enrol of {rows} rows, default settings (wall time of the command)")
    for latency, target in ((0.0, 1.5), (0.02, 4.0)):
        ours = [_enrol(rows, latency, None) for _ in range(rounds)]
        rate = statistics.median(r[0] for r in ours)
        label = "loopback" if not latency else f"--latency {latency}"
        cores = statistics.median(r[1] + r[2] for r in ours)
        line(f"enrol, {label}: rows/s (cores busy)", f"{rate:.0f} ({cores:.2f})")
        figures[f"enrol_rows_per_s[{label}]"] = round(rate)
        figures[f"enrol_cores_busy[{label}]"] = round(cores, 2)
        if baseline:
            old = statistics.median(_enrol(rows, latency, baseline)[0] for _ in range(rounds))
            line(f"enrol, {label}: rows/s, baseline", f"{old:.0f}")
            line(f"enrol, {label}: x baseline", f"{rate / old:.2f}x", f">= {target}x",
                 rate / old >= target)  # fmt: skip
            figures[f"enrol_vs_baseline[{label}]"] = round(rate / old, 3)


def bench_cold(figures: dict[str, object]) -> None:
    print("4. cold start: a fresh process per call, median of 15")
    script = Path(sys.executable).with_name("sogen-soap")
    with simulator() as (url, _):
        env = _merchant_env(url)

        def timed(command: list[str]) -> float:
            samples = []
            for _ in range(15):
                started = time.perf_counter()
                subprocess.run(command, env=env, capture_output=True, check=False)
                samples.append(time.perf_counter() - started)
            return statistics.median(samples) * 1e3

        bare = timed([sys.executable, "-c", "pass"])
        cold = timed(
            [str(script), "add-card", "--wallet", "cold", "--card", PAN, "--expiry", "203012"]
        )
    line("python -c pass", f"{bare:.0f} ms")
    line("sogen-soap add-card (given URL)", f"{cold:.0f} ms", "< 150 ms", cold < 150)
    figures["cold_add_card_ms"] = round(cold)
    figures["python_pass_ms"] = round(bare)


def bench_memory(calls: int, figures: dict[str, object]) -> None:
    print(f"5. memory over {calls} calls on one client")
    code = _CLIENT.replace(
        "wall, cpu = time.perf_counter()",
        "import os\nrss = lambda: int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "start = rss()\nwall, cpu = time.perf_counter()",
    ).replace(
        'print(json.dumps({"ms"', 'print(json.dumps({"growth_mb": (rss() - start) / 2**20, "ms"'
    )
    with simulator() as (url, _):
        grown = _child(code, url, str(calls), "4", "m")["growth_mb"]
    line(f"RSS growth over {calls} calls", f"{grown:.2f} MB", "< 5 MB", grown < 5)
    figures["rss_growth_mb"] = round(grown, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--baseline", help="a Python with an earlier sogen-soap installed, measured alongside"
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    baseline = args.baseline
    if baseline:
        version = subprocess.run(
            [baseline, "-c", "import sogen_soap; print(sogen_soap.__file__)"],
            capture_output=True, text=True, check=True, cwd=tempfile.gettempdir(),
        ).stdout.strip()  # fmt: skip
        print(f"baseline: {version}")
    rounds = 3 if args.quick else 7
    started = time.perf_counter()
    figures: dict[str, object] = {}
    print(f"  {'figure':<52} {'value':>16}  {'target':<16}")
    bench_latency(rounds, 500 if args.quick else 1000, baseline, figures)
    bench_threads(rounds, 2000 if args.quick else 4000, baseline, figures)
    bench_enrol(1 if args.quick else 3, 2000, baseline, figures)
    bench_cold(figures)
    bench_memory(2000 if args.quick else 10000, figures)
    print(f"\ndone in {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
