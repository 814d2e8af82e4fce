"""``enrol --processes 2`` and ``enrol --concurrency 1`` are ``enrol``'s twins: rows
sent by worker processes, or one at a time, meet every fault kind of the simulator
and end as rows sent by threads side by side do.

One fault is put on the batch's first ``addCard`` (whichever row that is); the
summary (counts, rows sent, recovered, retries), the exit status and the cards the
service holds must be the same both ways.  A rule that one sender keeps and the
other does not (a lost answer reconciled, a refusal final, an outcome counted)
shows as a difference.  ``delay`` is left out: it costs a whole deadline.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import merchant_env, run_in_process, worker_processes
from hostile import CountingProxy

from sogen_soap.simulator import Simulator
from sogen_soap.simulator.cards import test_card_number
from sogen_soap.simulator.faults import FAULT_KINDS

KINDS = ["none", *sorted(set(FAULT_KINDS) - {"delay"})]


def _cards(folder: Path, count: int) -> Path:
    """A batch file of ``count`` test cards, one wallet each."""
    rows = [f"w{i},{test_card_number(i, 0)},203012" for i in range(count)]
    (folder / "in.csv").write_text("wallet,card,expiry\n" + "\n".join(rows) + "\n")
    return folder / "in.csv"


def _enrol(
    kind: str, processes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    concurrency: str = "2",
) -> object:  # fmt: skip
    work = tmp_path / f"p{processes}c{concurrency}"
    work.mkdir()
    batch = _cards(work, 6)
    with Simulator() as sim:
        if kind != "none":
            sim.app.faults.fail_next("addCard", kind)
        done = run_in_process("enrol", str(batch), "--json", "--processes", processes,
                              "--concurrency", concurrency, "--timeout", "5",
                              env=merchant_env(work, sim.url), monkeypatch=monkeypatch)  # fmt: skip
        held = sim.store.count_cards()
    summary = json.loads(done.stdout) if done.stdout else {}
    summary.pop("seconds", None)
    summary.pop("results", None)
    return done.returncode, summary, held


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_worker_processes_end_each_fault_as_threads_do(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = _enrol(kind, "1", tmp_path, monkeypatch)
    assert threads[1], "the batch ran and said what it did"
    assert _enrol(kind, "2", tmp_path, monkeypatch) == threads
    assert _enrol(kind, "1", tmp_path, monkeypatch, concurrency="1") == threads  # one at a time


def test_worker_processes_present_the_client_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutual TLS through ``--processes``: the certificate and its key reach each
    worker (as a pair, after a trip through JSON) and every row is enrolled."""
    from sogen_soap.simulator import make_test_pki

    pki = make_test_pki(tmp_path / "pki")
    batch = _cards(tmp_path, 4)
    with Simulator(tls=pki.server(require_client_cert=True)) as sim:
        env = {**merchant_env(tmp_path, sim.url), "SOGEN_CA_BUNDLE": str(pki.ca_cert),
               "SOGEN_CLIENT_CERT": str(pki.client_cert),
               "SOGEN_CLIENT_KEY": str(pki.client_key)}  # fmt: skip
        done = run_in_process("enrol", str(batch), "--json", "--processes", "2",
                              "--timeout", "5", env=env, monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["counts"] == {"ok": 4}
        assert sim.store.count_cards() == 4


def test_worker_processes_go_through_the_configured_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--proxy`` (here SOGEN_PROXY) reaches each worker: every row's connection goes
    to the proxy, which refuses the tunnel, and none goes straight to the service."""
    from sogen_soap.simulator import make_test_pki

    pki = make_test_pki(tmp_path / "pki")
    batch = _cards(tmp_path, 4)
    with Simulator(tls=pki.server()) as sim, CountingProxy() as proxy:
        env = {**merchant_env(tmp_path, sim.url), "SOGEN_CA_BUNDLE": str(pki.ca_cert),
               "SOGEN_PROXY": proxy.base}  # fmt: skip
        done = run_in_process("enrol", str(batch), "--json", "--processes", "2",
                              "--timeout", "5", env=env, monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 5, done.stderr  # never connected: sent again next run
        assert json.loads(done.stdout)["counts"] == {"failed": 4}
        assert proxy.connections >= 4 and sim.requests_seen == 0


def test_worker_processes_speak_the_transport_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--transport json`` reaches each worker: every row goes to the JSON endpoint."""
    batch = _cards(tmp_path, 4)
    with Simulator() as sim:
        seen: list[str] = []  # appended from the simulator's worker threads
        soap, json_front = sim.app.handle, sim.app.handle_json

        def by_soap(*args: Any) -> Any:
            seen.append("soap")
            return soap(*args)

        def by_json(*args: Any) -> Any:
            seen.append("json")
            return json_front(*args)

        sim.app.handle, sim.app.handle_json = by_soap, by_json  # type: ignore[method-assign]
        env = merchant_env(tmp_path, sim.url)
        done = run_in_process("enrol", str(batch), "--json", "--processes", "2",
                              "--transport", "json", "--timeout", "5", env=env,
                              monkeypatch=monkeypatch)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["counts"] == {"ok": 4}
        assert seen == ["json"] * 4 and sim.store.count_cards() == 4


class _Peak:
    """The simulator's own application, counting the requests it is answering at once."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def __call__(self, environ: object, start_response: object) -> object:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return self.app(environ, start_response)  # type: ignore[operator]
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.parametrize("processes", ["1", "2"])
def test_concurrency_is_the_whole_batch_s_however_many_processes(
    processes: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--concurrency 2`` is two requests on the wire at most, also spread over two
    worker processes (a thread each; docs/batch.md: "Rows go out --concurrency at a
    time"), never two each."""
    batch = _cards(tmp_path, 8)
    with Simulator(latency=1.0) as sim:  # a worker process started late still overlaps
        peak = sim._front.app = _Peak(sim.app)  # type: ignore[assignment]
        done = run_in_process(
            "enrol", str(batch), "--json", "--processes", processes,
            "--concurrency", "2", "--timeout", "5",
            env=merchant_env(tmp_path, sim.url), monkeypatch=monkeypatch,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert sim.store.count_cards() == 8
    assert peak.peak == 2  # both used, never more


def test_a_worker_killed_while_idle_leaves_the_batch_to_finish_not_hang(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A worker process killed between chunks (the OOM killer, a stray kill) is one the
    next chunk cannot reach: that chunk must come back (unsettled, sent again by the next
    run), and the other worker must finish the batch; no wait for rows that never left."""
    import os
    import signal
    import time

    from conftest import MERCHANT

    from sogen_soap import KeyRing, WalletClient
    from sogen_soap.cli.config import Settings, client_options
    from sogen_soap.cli.enrol import enrol
    from sogen_soap.cli.inputs import Row
    from sogen_soap.cli.journal import Journal
    from sogen_soap.cli.progress import Progress

    cards = [Row(line=i + 2, wallet=f"w{i}", card=test_card_number(i, 0), expiry="203012")
             for i in range(6)]  # fmt: skip

    def rows() -> Iterator[Row]:
        deadline = time.monotonic() + 20
        while len(worker_processes(os.getpid())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = worker_processes(os.getpid())
        assert len(pids) == 2
        os.kill(pids[-1], signal.SIGKILL)  # the last made: the first handed a chunk
        time.sleep(0.5)  # its reader has seen it end before any row is given
        yield from cards

    settings = Settings(MERCHANT.merchant_id, KeyRing.single(MERCHANT.secret_key,
                        MERCHANT.key_version), simulator.url, None, 5.0)  # fmt: skip
    options = client_options(settings, simulator.url)  # what the command hands its workers
    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    outcome: list[object] = []

    def run() -> None:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                          environment=simulator.url) as client:  # fmt: skip
            outcome.append(enrol(client, rows(), journal, concurrency=2, processes=2,
                                 client_options=options,
                                 progress=Progress(0, enabled=False)))  # fmt: skip

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the batch hung on a chunk given to a dead worker"
    journal.close()
    (summary,) = outcome
    counts = summary.counts  # type: ignore[attr-defined]
    assert counts["ok"] >= 5 and sum(counts.values()) == 6, counts
    assert simulator.store.count_cards() == counts["ok"]


@pytest.mark.parametrize("hello", [b"not json\n", b'{"parent": "x"}\n', b""])
def test_a_worker_that_cannot_start_ends_1_without_a_traceback(hello: bytes) -> None:
    """A worker's stderr is the batch's terminal: whatever goes wrong in it (here a
    first line that is not the batch's hello), it ends with status 1 and prints
    nothing, no traceback (cli/worker.py's ``__main__``)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sogen_soap.cli.worker"], input=hello,
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (1, b"", b"")
