"""``sogen-soap enrol``: a real batch, a killed run, and no PAN in any file written."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from cli_support import SCRIPT, is_valid, merchant_env, read_results, run, write_batch
from conftest import MERCHANT

from sogen_soap.cli.progress import Progress
from sogen_soap.simulator import FaultProfile, Simulator

WORKERS = 4


def _final_rows(journal: Path) -> int:
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM entry WHERE state IN ('ok', 'in-wallet', 'duplicate')"
            ).fetchone()
        return int(count)
    except sqlite3.Error:
        return 0


def _assert_no_pan_in_files(folder: Path, pans: set[str], inputs: set[Path]) -> None:
    written = [p for p in folder.rglob("*") if p.is_file() and p not in inputs]
    assert written
    for path in written:
        data = path.read_bytes()
        leaked = [pan for pan in pans if pan.encode() in data]
        assert not leaked, f"{path} holds {len(leaked)} full card numbers"


def _check_batch(
    sim: Simulator, records: list[dict[str, str]], results: list[dict[str, str]]
) -> None:
    # every input row has exactly one outcome, and only final ones
    assert [int(r["line"]) for r in results] == list(range(2, len(records) + 2))
    by_line = {int(r["line"]): r for r in results}
    for number, record in enumerate(records, start=2):
        outcome = by_line[number]["outcome"]
        if not is_valid(record):
            assert outcome == "invalid", (number, outcome)
        else:
            assert outcome in ("ok", "in-wallet", "duplicate"), (number, by_line[number])
            assert sim.store.has_card(MERCHANT.merchant_id, record["wallet"], record["card"])


def test_a_batch_then_a_killed_batch_restarted_enrol_each_card_once(tmp_path: Path) -> None:
    with Simulator(str(tmp_path / "store.sqlite3"), latency=0.004) as sim:
        env = merchant_env(tmp_path, sim.url)

        first = write_batch(tmp_path / "first.csv", 2000)
        done = run("enrol", "first.csv", "--workers", str(WORKERS), env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stderr  # 2: some rows were invalid
        assert "line 7: card: a clear card number must be 12 to 19 digits" in done.stderr
        assert "\r[" not in done.stderr  # no progress bar when not on a terminal
        assert done.stdout.startswith("2000 rows: ")
        first_results = read_results(tmp_path / "first.results.csv")
        _check_batch(sim, first, first_results)
        counts = {o: sum(r["outcome"] == o for r in first_results) for o in ("ok", "duplicate")}
        assert counts["duplicate"] > 0 and counts["ok"] > 1800

        second = write_batch(tmp_path / "second.csv", 2000, first_wallet=1000)
        journal = tmp_path / "second.journal.sqlite3"
        # A scripted kill point: after 600 more adds the simulator stores each
        # card but holds its answer (a "delay" fault), so the run cannot get
        # past the rows in flight there, however fast or slow this machine is.
        adds_at_start = sim.requests_seen
        sim.app.faults = FaultProfile({"delay": 1.0}, sequence=[None] * 600, delay=3.0)
        process = subprocess.Popen(
            [SCRIPT, "enrol", "second.csv", "--workers", str(WORKERS)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while sim.requests_seen < adds_at_start + 600 + WORKERS and time.monotonic() < deadline:
            time.sleep(0.02)  # every worker is now waiting on a held answer
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        sim.app.faults = FaultProfile()
        done_before_kill = _final_rows(journal)
        assert 500 <= done_before_kill < 2000, done_before_kill
        adds_before = sim.requests_seen

        restarted = run(
            "enrol", "second.csv", "--workers", str(WORKERS), "--json", env=env, cwd=tmp_path
        )
        assert restarted.returncode == 2, restarted.stderr
        summary = json.loads(restarted.stdout)
        assert summary["skipped"] >= done_before_kill
        second_results = read_results(tmp_path / "second.results.csv")
        _check_batch(sim, second, second_results)

        # each valid (wallet, card) pair is in the store exactly once, and nothing else is
        pairs = {(r["wallet"], r["card"]) for r in first + second if is_valid(r)}
        assert sim.store.count_cards() == len(pairs)
        # the restart sent only what the kill left undone, plus at most the rows
        # caught in flight (read back from their wallet, or sent once more)
        valid_rows = sum(is_valid(r) for r in second)
        undone = valid_rows - summary["skipped"] + summary["bad_rows"]
        sent_after = sim.requests_seen - adds_before
        assert summary["sent"] <= undone
        assert sent_after <= summary["sent"] + 2 * WORKERS

    pans = {r["card"] for r in first + second if len(r["card"]) == 16}
    _assert_no_pan_in_files(tmp_path, pans, {tmp_path / "first.csv", tmp_path / "second.csv"})


def test_the_progress_line_shows_counts_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = io.StringIO()
    progress = Progress(12, out, enabled=True)
    for outcome in ["ok"] * 6 + ["duplicate"] * 2 + ["failed", "invalid"]:
        progress.add(outcome)
        time.sleep(0.001)
    progress.close()
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert "10/12" in last and "ok 6" in last and "dup 2" in last and "failed 1" in last
    assert "invalid 1" in last and "/s" in last and "ETA" in last
    assert len(last) < 100  # fits the terminal


def test_rows_done_by_an_earlier_run_do_not_inflate_the_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    out = io.StringIO()
    progress = Progress(10_000, out, enabled=True)
    for _ in range(9_999):
        progress.skip("ok")
    time.sleep(0.2)
    progress.add("ok")
    progress.close()
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    rate = int(last.split("/s")[0].rsplit(" ", 1)[-1])
    assert rate < 50  # one row sent in this run, not ten thousand
    assert len(last) < 120


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_key_near_its_expiry_is_warned_of_once_however_the_batch_is_spread(
    tmp_path: Path, processes: str
) -> None:
    """The batch checks its key before its first row and speaks for its workers: a
    key 20 days from expiry is warned of once, in the command's words, whether the
    rows are sent here or by worker processes (whose stderr is not the command's:
    there the warning was lost)."""
    write_batch(tmp_path / "spread.csv", 12)
    env = merchant_env(tmp_path, "")
    expires = date.today() + timedelta(days=20)
    env["SOGEN_KEY_EXPIRES"] = expires.isoformat()
    with Simulator(str(tmp_path / "store.sqlite3")) as sim:
        env["SOGEN_ENVIRONMENT"] = sim.url
        done = run("enrol", "spread.csv", "--processes", processes, "--concurrency", "4",
                   env=env, cwd=tmp_path)  # fmt: skip
        assert sim.requests_seen > 0
    warnings = [line for line in done.stderr.splitlines() if "expires" in line]
    assert warnings == [
        f"sogen-soap: warning: key version {MERCHANT.key_version} expires on {expires}, in 20 "
        "days: activate its successor before then"
    ], done.stderr


@pytest.mark.parametrize("command", ["enrol 1", "enrol 2", "charge"])
def test_an_expired_key_refuses_a_batch_in_one_line_before_anything(
    tmp_path: Path, command: str
) -> None:
    """Not a failure per row (nor worker processes dying at their start, the batch
    then saying they "ended before the batch was done"): exit 2, one line, nothing
    sent, no journal."""
    name, _, processes = command.partition(" ")
    if name == "enrol":
        write_batch(tmp_path / "batch.csv", 12)
        args = ["enrol", "batch.csv", "--processes", processes]
    else:
        (tmp_path / "batch.csv").write_text("wallet,id,amount\nw,1,100\n", encoding="utf-8")
        args = ["charge", "batch.csv"]
    env = merchant_env(tmp_path, "")
    expired = date.today() - timedelta(days=1)
    env["SOGEN_KEY_EXPIRES"] = expired.isoformat()
    with Simulator() as sim:
        env["SOGEN_ENVIRONMENT"] = sim.url
        done = run(*args, env=env, cwd=tmp_path)
        assert sim.requests_seen == 0
    said = [line for line in done.stderr.splitlines() if not line.startswith("line ")]
    assert done.returncode == 2, done.stderr
    assert said == [
        f"sogen-soap: key version {MERCHANT.key_version} expired on {expired}: the service "
        "refuses it, nothing was sent; activate its successor"
    ]
    assert not list(tmp_path.glob("*journal*")) and not list(tmp_path.glob("*.results.*"))


@pytest.mark.parametrize("flag", ["--output", "--journal"])
def test_a_results_or_journal_folder_that_cannot_be_written_is_refused_before_sending(
    tmp_path: Path, flag: str
) -> None:
    """docs/batch.md: the paths are checked with the file, before anything is sent.
    /proc/sys is a folder no one may create a file in, root included (tests here run
    as root, for whom a folder's mode bits grant everything); the results would
    otherwise be lost after every card was sent."""
    write_batch(tmp_path / "cards.csv", 3)
    name = "results.csv" if flag == "--output" else "cards.journal.sqlite3"
    with Simulator() as sim:
        done = run("enrol", "cards.csv", flag, f"/proc/sys/{name}",
                   env=merchant_env(tmp_path, sim.url), cwd=tmp_path)  # fmt: skip
        assert sim.requests_seen == 0
    assert done.returncode == 2
    said = done.stderr.strip().splitlines()[-1]
    assert said.startswith(f"sogen-soap: {flag}: /proc/sys") and "cannot be written" in said


def test_enrol_spread_over_worker_processes_keeps_one_journal(tmp_path: Path) -> None:
    records = write_batch(tmp_path / "spread.csv", 120)
    with Simulator(str(tmp_path / "store.sqlite3")) as sim:
        done = run(
            "enrol", "spread.csv", "--processes", "2", "--concurrency", "8", "--json",
            env=merchant_env(tmp_path, sim.url), cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr  # the invalid rows
        results = read_results(tmp_path / "spread.results.csv")
        _check_batch(sim, records, results)
        pairs = {(r["wallet"], r["card"]) for r in records if is_valid(r)}
        assert sim.store.count_cards() == len(pairs)
        assert all(r["payment_mean_id"] for r in results if r["outcome"] == "ok")
