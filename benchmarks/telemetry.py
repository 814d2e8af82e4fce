"""What observability costs a call: tracing off, the API with no provider, an SDK.

    python benchmarks/telemetry.py [--calls N] [--rounds R] [--before COMMIT]

Loopback only.  One simulator runs in a process of its own; each mode is a fresh
interpreter making the same ``add_card`` calls to it, the modes interleaved
round by round, and each figure is the median over the rounds:

- ``before``: the package as it was before observability existed (``--before``,
  a commit of this repository, 962d8a2 by default, run from a ``git archive`` of
  it), with ``opentelemetry`` not importable either;
- ``off``: ``opentelemetry`` cannot be imported (an import hook refuses it), as
  when the ``otel`` extra is not installed: the client holds no observer at all;
- ``api, no provider``: ``opentelemetry-api`` installed, no provider configured
  (the API's no-op tracer and meter);
- ``sdk``: the SDK's tracer and meter providers, spans to a batch processor whose
  exporter drops them, metrics to an in-memory reader.

It prints latency and client CPU per call, and each mode's ratio to ``before``
beside the spread of ``before`` against itself (two runs per round): a cost at
or below that spread is measurement noise.  These are measurements,
not tests: nothing here fails a build.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import simulator  # noqa: E402  (the benchmarks' own simulator process)

_CLIENT = r"""
import json, sys, time
mode, url, calls, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode in ("off", "before"):
    class _NoOpenTelemetry:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError("opentelemetry is not installed (benchmark)")
    sys.meta_path.insert(0, _NoOpenTelemetry())
elif mode == "sdk":
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
from sogen_soap import WalletClient
client = WalletClient("002001000000001", "002001000000001_KEY1", 1, environment=url)
assert getattr(client, "_observer", None) is None or mode not in ("off", "before"), mode
assert hasattr(client, "_observer") == (mode != "before"), mode
for i in range(200):
    client.add_card(f"{prefix}-warm-{i}", "4100000000000000", "203012")
wall, cpu = time.perf_counter(), time.process_time()
for i in range(calls):
    assert client.add_card(f"{prefix}-{i}", "4100000000000000", "203012").ok
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"ms": wall / calls * 1e3, "cpu_ms": cpu / calls * 1e3}))
"""

MODES = {
    "before": "before",
    "before again": "before",
    "off": "off",
    "api, no provider": "api",
    "sdk": "sdk",
}


def _run(mode: str, url: str, calls: int, prefix: str, before: Path) -> dict[str, float]:
    env = dict(os.environ)
    if MODES[mode] == "before":
        env["PYTHONPATH"] = str(before)  # ahead of the installed package
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, MODES[mode], url, str(calls), prefix],
        capture_output=True, text=True, check=True, timeout=600, env=env, cwd=HERE,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default="962d8a2", help="the commit to compare with")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    before = Path(folder.name)
    archive = subprocess.run(
        ["git", "archive", args.before, "sogen_soap", "wsdl"],
        cwd=HERE.parent, capture_output=True, check=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tree:
        tree.extractall(before)  # noqa: S202 (this repository's own tree)
    rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with simulator() as (url, _):
        for r in range(args.rounds):
            for mode in MODES:
                prefix = f"t{r}-{mode[:3]}-{mode[-3:]}"
                rounds[mode].append(_run(mode, url, args.calls, prefix, before))
    median = {
        mode: {k: statistics.median(x[k] for x in rs) for k in ("ms", "cpu_ms")}
        for mode, rs in rounds.items()
    }
    base = median["before"]
    print(f"{args.rounds} rounds of {args.calls} add_card calls each, medians:")
    print(
        f"{'mode':<18}{'ms/call':>10}{'CPU ms/call':>14}{'x before (ms)':>16}{'x before (CPU)':>16}"
    )
    for mode in MODES:
        m = median[mode]
        print(
            f"{mode:<18}{m['ms']:>10.3f}{m['cpu_ms']:>14.3f}"
            f"{m['ms'] / base['ms']:>16.3f}{m['cpu_ms'] / base['cpu_ms']:>16.3f}"
        )
    pairs = list(zip(rounds["before"], rounds["before again"], strict=True))
    for key, what in (("cpu_ms", "CPU"), ("ms", "latency")):
        spread = [abs(a[key] / b[key] - 1) for a, b in pairs]
        print(
            f"noise: 'before' against itself, per round: median {statistics.median(spread):.1%},"
            f" up to {max(spread):.1%} in {what} per call"
        )
    folder.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
