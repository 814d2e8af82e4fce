"""``sogen-soap enrol`` row by row, through ``main()`` in this process.

What an operator reads after a batch: the exit status, the summary line (or
its JSON), the ``line N: ...`` reports and the results file, one row per
input row with its outcome, code, payment mean id and message.  These run
in-process so coverage and mutation testing see the batch code; the real
process (kills, signals, two runs at once) is in ``test_enrol.py`` and
``test_cli_mistakes.py``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import socket
import stat
from pathlib import Path

import pytest
from cli_support import Done, fake_pan, merchant_env, read_results, run_in_process
from conftest import MERCHANT, TEST_PAN
from hostile import Relay

from sogen_soap import WalletClient
from sogen_soap.simulator import Simulator

OTHER_PAN = "5100000000000000"  # a documented Mastercard test number
MIXED = (
    "wallet,card,expiry,alias\n"
    f"w1,{TEST_PAN},203012,a\n"  # line 2: ok
    "w1,12345,203012,b\n"  # line 3: invalid card
    f"w2,{TEST_PAN},203013,c\n"  # line 4: invalid expiry
    f"w1,{TEST_PAN},203012,a\n"  # line 5: repeats line 2
    f"w2,{TEST_PAN},203012,\n"  # line 6: ok (the same card in another wallet)
    f"w3,{OTHER_PAN},203012,\n"  # line 7: ok
)
SUMMARY = re.compile(
    r"^(?P<rows>\d+) rows: (?P<parts>[^;]+)(?:; (?P<earlier>\d+) earlier rows not in this file)?"
    r"(?:; (?P<blank>\d+) cards without expiry)?"
    r"; sent (?P<sent>\d+), skipped (?P<skipped>\d+) "
    r"already done, recovered (?P<recovered>\d+), retries (?P<retries>\d+) "
    r"in \d+\.\d s \(\d+ rows/s\)$"
)


def _enrol(simulator_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> Done:
    return run_in_process(
        "enrol", *args, env=merchant_env(tmp_path, simulator_url), monkeypatch=monkeypatch,
        cwd=tmp_path,
    )  # fmt: skip


def _summary(done: Done) -> re.Match[str]:
    first, second = done.stdout.splitlines()[:2]
    match = SUMMARY.match(first)
    assert match, first
    assert second.startswith("results: ")
    return match


def _store_id(sim: Simulator, wallet: str, pan: str) -> str:
    with WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, environment=sim.url
    ) as client:
        data = client.get_wallet_data(wallet)
    ids = [m.payment_mean_id for m in data.payment_means if m.masked_pan[-2:] == pan[-2:]]
    assert len(ids) == 1
    return str(ids[0])


def test_a_mixed_batch_reports_every_row_with_its_line_outcome_and_id(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(MIXED)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 2, done.stderr  # invalid rows: fix them and run again
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # the batch's are gone
    summary = _summary(done)
    assert summary["rows"] == "6"
    assert summary["parts"] == "3 ok, 1 duplicate, 2 invalid"
    assert (summary["sent"], summary["skipped"], summary["recovered"]) == ("3", "0", "0")
    assert done.stdout.splitlines()[1] == "results: in.results.csv"
    assert done.stderr.splitlines() == [
        "line 3: card: a clear card number must be 12 to 19 digits (got 5)",
        "line 4: expiry: must be YYYYMM with a month from 01 to 12 (or empty for a card "
        "without expiry) (got '203013')",
    ]
    rows = read_results(tmp_path / "in.results.csv")
    assert [(r["line"], r["wallet"], r["masked_pan"], r["outcome"], r["code"]) for r in rows] == [
        ("2", "w1", "4100##########00", "ok", "00"),
        ("3", "w1", "#####", "invalid", ""),
        ("4", "w2", "4100##########00", "invalid", ""),
        ("5", "w1", "4100##########00", "duplicate", ""),
        ("6", "w2", "4100##########00", "ok", "00"),
        ("7", "w3", "5100##########00", "ok", "00"),
    ]
    assert rows[3]["message"] == "repeats line 2; not sent"
    assert rows[0]["message"] == "Successful operation"
    assert rows[0]["payment_mean_id"] == _store_id(simulator, "w1", TEST_PAN)
    assert rows[5]["payment_mean_id"] == _store_id(simulator, "w3", OTHER_PAN)
    assert simulator.store.count_cards() == 3
    assert simulator.requests_seen == 3 + 2  # three adds, then the two reads above
    for name in ("in.journal.sqlite3", "in.results.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_a_second_run_of_a_finished_batch_sends_nothing_and_says_so(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(MIXED)
    _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    first = (tmp_path / "in.results.csv").read_text()
    seen = simulator.requests_seen
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--json")
    assert again.returncode == 2
    summary = json.loads(again.stdout)
    # the three enrolled rows come from the journal; the others are checked again, not sent
    assert summary["rows"] == 6 and summary["sent"] == 0 and summary["skipped"] == 3
    assert summary["counts"] == {"ok": 3, "invalid": 2, "duplicate": 1}
    assert summary["bad_rows"] == 2 and summary["recovered"] == 0 and summary["retries"] == 0
    assert summary["results"] == "in.results.csv"
    assert simulator.requests_seen == seen
    assert (tmp_path / "in.results.csv").read_text() == first


def test_a_card_already_in_the_wallet_is_a_duplicate_with_the_service_code(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version, environment=simulator.url
    ) as client:
        assert client.add_card("w1", TEST_PAN, "203012").ok
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr  # already there is what the operator wanted
    (row,) = read_results(tmp_path / "in.results.csv")
    assert (row["outcome"], row["code"]) == ("duplicate", "94")
    assert _summary(done)["parts"] == "1 duplicate"


@pytest.mark.parametrize(
    ("fault", "times", "outcome", "code", "status"),
    [("code_99", 3, "failed", "99", 5), ("code_77", 1, "refused", "77", 3)],
)
def test_a_refusal_is_recorded_with_its_code_and_a_temporary_one_is_sent_next_run(
    fault: str,
    times: int,
    outcome: str,
    code: str,
    status: int,
    simulator: Simulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", fault, times=times)  # 99 is retried in the run
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == status, done.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert (row["outcome"], row["code"], row["payment_mean_id"]) == (outcome, code, "")
    assert _summary(done)["parts"] == f"1 {outcome}"
    assert _summary(done)["retries"] == str(times - 1)
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    (row,) = read_results(tmp_path / "in.results.csv")
    if outcome == "failed":  # 99: it certainly was not stored; sent again
        assert again.returncode == 0 and row["outcome"] == "ok" and row["payment_mean_id"]
        assert _summary(again)["sent"] == "1"
        # sent as a new request (it never arrived), not as one whose answer was lost
        assert (_summary(again)["recovered"], row["message"]) == ("0", "Successful operation")
    else:  # a final refusal is not sent again
        assert again.returncode == 3 and row["outcome"] == "refused"
        assert _summary(again)["sent"] == "0"


def test_an_answer_lost_for_good_is_unknown_then_settled_by_the_next_run(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", "commit_drop", times=3)  # the send and re-sends
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 5, done.stderr  # run again
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "unknown" and row["payment_mean_id"] == ""
    assert row["message"].startswith("OutcomeUnknown: ")
    assert _summary(done)["parts"] == "1 unknown"
    assert simulator.store.count_cards() == 1
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert again.returncode == 0, again.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "ok" and row["payment_mean_id"] == _store_id(simulator, "w1", TEST_PAN)
    assert row["code"] == "94"  # the service's own duplicate check settled it
    summary = _summary(again)
    assert (summary["sent"], summary["recovered"]) == ("1", "1")
    assert simulator.store.count_cards() == 1


def test_an_answer_lost_once_is_recovered_in_the_same_run(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", "commit_drop")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "ok" and row["payment_mean_id"]
    assert _summary(done)["recovered"] == "1"


def test_an_untrusted_answer_leaves_the_row_unknown(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", "wrong_seal", times=3)
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 5
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "unknown" and row["code"] == ""


def test_a_service_that_cannot_be_reached_leaves_rows_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    url = f"http://127.0.0.1:{port}/services/v2/wallet"
    done = _enrol(url, tmp_path, monkeypatch, "in.csv", "--quiet", "--concurrency", "1")
    assert done.returncode == 5
    rows = read_results(tmp_path / "in.results.csv")
    assert [r["outcome"] for r in rows] == ["failed", "failed"]
    expected = "ConnectionFailed: addCard: could not connect"
    assert all(r["message"].startswith(expected) for r in rows)
    assert _summary(done)["parts"] == "2 failed"


def test_results_as_json_lines_keep_numbers_and_empty_fields(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\n=w1,{TEST_PAN},203012\nw1,12,203012\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--output", "r.jsonl", "--quiet")
    assert done.returncode == 2
    records = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["line"] for r in records] == [2, 3]
    assert records[0]["wallet"] == "=w1"  # JSON is not a spreadsheet: kept as it is
    assert records[0]["outcome"] == "ok" and records[0]["code"] == "00"
    assert records[1]["code"] is None and records[1]["payment_mean_id"] is None
    assert set(records[0]) == {
        "line", "wallet", "masked_pan", "outcome", "code", "payment_mean_id", "message"
    }  # fmt: skip
    assert stat.S_IMODE((tmp_path / "r.jsonl").stat().st_mode) == 0o600


def test_json_lines_input_and_vendor_column_names_are_accepted(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        {"merchantWalletId": "j1", "cardNumber": fake_pan(1, 0), "cardExpiryDate": "203012"},
        {"wallet": "j1", "card": fake_pan(1, 1), "expiry": "203012", "alias": "x", "brand": "VISA"},
        {"wallet": "j1", "card": "not a card", "expiry": "203012"},
    ]
    (tmp_path / "cards.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = _enrol(simulator.url, tmp_path, monkeypatch, "cards.ndjson", "--quiet")
    assert done.returncode == 2
    assert not (tmp_path / "cards.results.csv").exists()
    results = [
        json.loads(line) for line in (tmp_path / "cards.results.jsonl").read_text().splitlines()
    ]
    assert [r["outcome"] for r in results] == ["ok", "ok", "invalid"]
    assert [r["line"] for r in results] == [1, 2, 3]
    assert results[0]["masked_pan"] == "4100##########00"
    assert (tmp_path / "cards.journal.sqlite3").exists()
    assert simulator.store.has_card(MERCHANT.merchant_id, "j1", fake_pan(1, 0))
    assert simulator.store.has_card(MERCHANT.merchant_id, "j1", fake_pan(1, 1))


def test_cells_that_a_spreadsheet_would_run_are_written_as_text(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(
        "wallet,card,expiry,alias\n"
        f"=HYPERLINK(1),{TEST_PAN},203012,@SUM\n+w2,{TEST_PAN},203012,-x\n"
        f"-w3,{TEST_PAN},203012,\n@w4,{TEST_PAN},203012,\nw5,{TEST_PAN},203012,\n"
    )
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr
    wallets = [r["wallet"] for r in read_results(tmp_path / "in.results.csv")]
    assert wallets == ["'=HYPERLINK(1)", "'+w2", "'-w3", "'@w4", "w5"]


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semi.csv"), ("\t", "tabs.csv")])
def test_semicolons_and_tabs_are_read_as_delimiters(
    delimiter: str, name: str, simulator: Simulator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    d = delimiter
    (tmp_path / name).write_text(f"wallet{d}card{d}expiry\nw{d}{TEST_PAN}{d}203012\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, name, "--quiet")
    assert done.returncode == 0, done.stderr
    assert simulator.store.count_cards() == 1


def test_an_explicitly_empty_expiry_cell_stays_legal(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "ok"


def test_a_worker_process_builds_its_client_from_the_options_and_sends_its_chunk(
    simulator: Simulator,
) -> None:
    """What each ``--processes`` worker is: a process reading the options, then chunks
    of rows, on standard input, and writing each chunk's outcomes, in order."""
    import subprocess
    import sys

    options: dict[str, object] = {
        "merchant_id": MERCHANT.merchant_id,
        "key_version": str(MERCHANT.key_version),
        # every version of the ring, so the worker's client is the batch's
        "keys": [[MERCHANT.key_version, MERCHANT.secret_key, None, None]],
        "environment": simulator.url,
        "wsdl": None,
        "timeout": [5.0, 10.0],
        "ca_bundle": None,
        "client_cert": None,
        "proxy": None,
        "transport": "soap",
    }
    row = {"alias": None, "brand": None, "pan_type": None, "expiry": "203012"}
    chunks = [
        [{**row, "line": 2, "wallet": "w1", "card": TEST_PAN, "resumed": False},
         {**row, "line": 3, "wallet": "w2", "card": OTHER_PAN, "resumed": False}],
        # resumed: settled by sending again
        [{**row, "line": 4, "wallet": "w1", "card": TEST_PAN, "resumed": True}],
    ]  # fmt: skip
    hello = {"options": options, "threads": 3, "parent": os.getpid()}
    lines = [json.dumps(hello)] + [json.dumps({"rows": chunk}) for chunk in chunks]
    worker = subprocess.run(
        [sys.executable, "-m", "sogen_soap.cli.worker"], input="\n".join(lines) + "\n",
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (worker.returncode, worker.stderr) == (0, "")
    first, second = (json.loads(line)["outcomes"] for line in worker.stdout.splitlines())
    outcomes = first + second
    assert [o["state"] for o in outcomes] == ["ok", "ok", "ok"]
    assert [o["code"] for o in outcomes] == ["00", "00", "94"]
    assert outcomes[2]["recovered"] and not outcomes[0]["recovered"]
    assert outcomes[0]["payment_mean_id"] == _store_id(simulator, "w1", TEST_PAN)
    assert outcomes[2]["payment_mean_id"] == outcomes[0]["payment_mean_id"]
    assert MERCHANT.secret_key not in worker.stdout


def test_the_summary_line_word_for_word() -> None:
    from collections import Counter

    from sogen_soap.cli.enrol import BatchSummary

    summary = BatchSummary(
        rows=12, counts=Counter(ok=6, invalid=2, unknown=1, failed=1, refused=1, duplicate=1),
        sent=8, skipped=1, recovered=1, retries=2, seconds=2.0,
    )  # fmt: skip
    assert summary.line() == (
        "12 rows: 6 ok, 1 duplicate, 1 refused, 2 invalid, 1 failed, 1 unknown; sent 8, "
        "skipped 1 already done, recovered 1, retries 2 in 2.0 s (4 rows/s)"
    )
    assert BatchSummary().line() == (
        "0 rows: nothing to do; sent 0, skipped 0 already done, recovered 0, retries 0 "
        "in 0.0 s (0 rows/s)"
    )


@pytest.mark.parametrize(
    "edited",
    [
        f"w2,{TEST_PAN},203012",  # another wallet
        f"w1,{OTHER_PAN},203012",  # another card
        f"w1,{TEST_PAN},203112",  # another expiry
    ],
)
def test_a_row_edited_between_runs_is_sent_again_not_skipped(
    edited: str, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    first = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert first.returncode == 0
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\n{edited}\n")
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    summary = _summary(again)
    assert (summary["sent"], summary["skipped"], summary["earlier"]) == ("1", "0", "1")
    row, earlier = read_results(tmp_path / "in.results.csv")
    assert (row["line"], row["wallet"]) == ("2", edited.split(",")[0])
    # the row it replaced was done: its outcome and id are kept, after this input's rows
    assert (earlier["line"], earlier["wallet"], earlier["outcome"]) == ("", "w1", "ok")
    assert earlier["payment_mean_id"] == "1"
    assert earlier["message"] == "not in this file (an earlier run's row): Successful operation"


def test_identical_bad_rows_are_each_reported_and_an_edited_one_again(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text("wallet,card,expiry\nw1,123,203012\nw1,123,203012\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    rows = read_results(tmp_path / "in.results.csv")
    assert [(r["line"], r["outcome"]) for r in rows] == [("2", "invalid"), ("3", "invalid")]
    assert _summary(done)["parts"] == "2 invalid"
    (tmp_path / "in.csv").write_text("wallet,card,expiry\nw1,123,203012\nw1,1234,203012\n")
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert _summary(again)["skipped"] == "0"  # bad rows are checked and reported anew
    rows = read_results(tmp_path / "in.results.csv")
    assert rows[1]["message"] == "card: a clear card number must be 12 to 19 digits (got 4)"


def _answer_404(conn: object, request: bytes, stop: object) -> None:
    conn.sendall(  # type: ignore[attr-defined]
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nnot found"
    )


def test_an_http_error_before_the_service_is_failed_unless_an_earlier_send_may_have_landed(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hostile import HostileServer

    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    simulator.app.faults.fail_next("addCard", "commit_drop", times=3)  # line 2: unknown
    first = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--concurrency", "1")
    assert [r["outcome"] for r in read_results(tmp_path / "in.results.csv")] == ["unknown", "ok"]
    with HostileServer(_answer_404) as wrong_path:  # a proxy or a typo: nothing reached it
        url = wrong_path.url
        again = _enrol(url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert again.returncode == 5 and first.returncode == 5
    (row, _) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "unknown"  # the first send may have landed: still unknown
    assert row["message"].startswith("OutcomeUnknown: addCard: the answer was lost and sending")
    assert "HTTPStatusError: addCard: HTTP 404 Not Found" in row["message"]
    (tmp_path / "fresh.csv").write_text(f"wallet,card,expiry\nw3,{TEST_PAN},203012\n")
    with HostileServer(_answer_404) as wrong_path:
        url = wrong_path.url
        fresh = _enrol(url, tmp_path, monkeypatch, "fresh.csv", "--quiet")
    assert fresh.returncode == 5
    (row,) = read_results(tmp_path / "fresh.results.csv")
    assert row["outcome"] == "failed"  # a 404 never reached the service: send it next run
    assert "404" in row["message"]


def test_every_recovery_is_counted(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sogen_soap.simulator import FaultProfile

    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    # each row: stored but its answer lost, then the re-send's sealed 94 settles it
    simulator.app.faults = FaultProfile(
        sequence=["commit_drop", None, None, "commit_drop", None, None]
    )  # a row: its send, the re-send, the read of the wallet for the id
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--concurrency", "1")
    assert done.returncode == 0, done.stderr
    assert _summary(done)["recovered"] == "2"
    rows = read_results(tmp_path / "in.results.csv")
    assert [(r["outcome"], r["code"]) for r in rows] == [("ok", "94"), ("ok", "94")]


def test_what_a_row_carries_goes_on_the_wire(
    simulator: Simulator,
    received: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry,alias,brand,pan_type\nw1,{TEST_PAN},203012,my visa,VISA,PAN\n"
    )
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr
    (body,) = received
    for element in (b"paymentMeanAlias>my visa<", b"paymentMeanBrand>VISA<", b"panType>PAN<"):
        assert element in body, element


def test_soap_faults_leave_the_row_unknown_then_the_next_run_settles_it(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service may fault after it stored the card: the row is never "failed" (sent
    again blindly), it is unknown until a sealed answer settles it."""
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", "soap_fault", times=3)
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 5
    (row,) = read_results(tmp_path / "in.results.csv")
    assert (row["outcome"], row["code"]) == ("unknown", "")
    assert row["message"].startswith(
        "OutcomeUnknown: addCard: the answer was lost and sending again answered "
        "'SOAP fault soap:Server: "
    )
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert again.returncode == 0, again.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert (row["outcome"], row["code"], row["payment_mean_id"]) == ("ok", "00", "1")
    assert row["message"] == "Successful operation (recovered after a lost answer)"


def test_enrol_spread_over_two_worker_processes_in_process(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher's chunks to worker processes, driven from this process."""
    lines = [f"w{i},{fake_pan(i, 0)},203012" for i in range(9)] + ["w9,12,203012"]
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + "\n".join(lines) + "\n")
    # no change of folder here: the worker processes start in this one (mutation
    # testing's workers find their settings from it)
    env = merchant_env(tmp_path, simulator.url)
    env.pop("PYTHONUNBUFFERED", None)  # as an operator's shell starts it: pipes block-buffered
    done = run_in_process(
        "enrol", str(tmp_path / "in.csv"), "--quiet", "--processes", "2", "--concurrency", "5",
        env=env, monkeypatch=monkeypatch,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    rows = read_results(tmp_path / "in.results.csv")
    assert [r["outcome"] for r in rows] == ["ok"] * 9 + ["invalid"]
    assert all(r["payment_mean_id"] for r in rows[:9])
    assert simulator.store.count_cards() == 9
    assert _summary(done)["sent"] == "9"


def test_json_lines_in_keep_their_name_and_non_ascii_text_out(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {"wallet": "café-1", "card": TEST_PAN, "expiry": "203012"}
    (tmp_path / "in.jsonl").write_text("\ufeff" + json.dumps(record) + "\n", encoding="utf-8")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.jsonl", "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    assert 0 <= json.loads(done.stdout)["seconds"] < 60
    text = (tmp_path / "in.results.jsonl").read_text(encoding="utf-8")
    assert '"wallet": "café-1"' in text  # as written, not \\u00e9
    again = _enrol(
        simulator.url, tmp_path, monkeypatch, "in.jsonl", "--quiet", "--output", "r.JSONL"
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "r.JSONL").read_text())["outcome"] == "ok"


def test_results_that_cannot_be_put_in_place_leave_no_temporary_file(tmp_path: Path) -> None:
    from sogen_soap.cli.enrol import write_results
    from sogen_soap.cli.journal import Journal

    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    journal.note_line(2, None, state="invalid", message="bad", wallet="w")
    target = tmp_path / "out.csv"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(IsADirectoryError):  # a folder (full) where the file should go
        write_results(journal, target)
    journal.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv.")]


def test_every_bad_row_is_reported_before_anything_is_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sogen_soap.cli.enrol import check_rows, default_paths
    from sogen_soap.cli.inputs import check_file

    path = tmp_path / "in.csv"
    path.write_text(f"wallet,card,expiry\nw,{TEST_PAN},203012\nw,1,203012\n\nw,{TEST_PAN},1\n")
    assert check_rows(path, check_file(path)) == (3, 2)
    assert capsys.readouterr().err.splitlines() == [
        "line 3: card: a clear card number must be 12 to 19 digits (got 1)",
        "line 5: expiry: must be YYYYMM with a month from 01 to 12 (or empty for a card "
        "without expiry) (got '1')",
    ]
    for name, results in [("a.csv", "a.results.csv"), ("b.JSONL", "b.results.jsonl"),
                          ("c.ndjson", "c.results.jsonl"), ("d.txt", "d.results.csv")]:  # fmt: skip
        journal, out = default_paths(tmp_path / name)
        assert (journal.name, out.name) == (f"{name[0]}.journal.sqlite3", results)
        assert journal.parent == out.parent == tmp_path


def test_a_row_the_wsdl_cannot_carry_is_failed_and_named(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetched WSDL without paymentMeanAlias: a row with an alias is not sent."""
    wsdl = Path(__file__).parent / "data" / "noalias" / "Wallet.wsdl"
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry,alias\nw1,{TEST_PAN},203012,mine\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--wsdl", str(wsdl))
    assert done.returncode == 5, done.stderr
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["outcome"] == "failed"
    assert row["message"] == (
        "ConfigurationError: the WSDL's addCard request has no field paymentMeanAlias; "
        "is it the wallet service WSDL?"
    )
    assert simulator.requests_seen == 0


def test_a_file_longer_than_the_queue_goes_through_in_order(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one worker at most two rows are queued; the rest wait their turn."""
    lines = [f"w{i},{fake_pan(i, 0)},203012" for i in range(7)]
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + "\n".join(lines) + "\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--concurrency", "1")
    assert done.returncode == 0, done.stderr
    rows = read_results(tmp_path / "in.results.csv")
    assert [(r["wallet"], r["outcome"]) for r in rows] == [(f"w{i}", "ok") for i in range(7)]
    assert simulator.store.count_cards() == 7


@pytest.mark.parametrize(
    ("before", "after", "shown"),
    [
        ("w1,123,203012", "w2,123,203012", ("w2", "card: a clear card number must be")),
        (f"w1,{TEST_PAN},203013", f"w1,{TEST_PAN},2030-1", ("w1", "expiry: must be YYYYMM")),
    ],
)
def test_a_bad_row_edited_between_runs_is_reported_as_it_now_is(
    before: str, after: str, shown: tuple[str, str],
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\n{before}\n")
    _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\n{after}\n")
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert _summary(again)["skipped"] == "0"
    (row,) = read_results(tmp_path / "in.results.csv")
    assert row["wallet"] == shown[0] and row["message"].startswith(shown[1])
    assert after.rsplit(",", 1)[1] in row["message"] or shown[1].startswith("card")


def test_results_are_written_in_their_own_folder_not_the_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written beside the target and renamed into place: a results file on another
    filesystem than the temporary folder is still replaced atomically."""
    import tempfile

    from sogen_soap.cli.enrol import write_results
    from sogen_soap.cli.journal import Journal

    journal = Journal(tmp_path / "j.sqlite3", MERCHANT.secret_key)
    journal.note_line(2, None, state="invalid", message="bad", wallet="w")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    write_results(journal, tmp_path / "out.csv")
    journal.close()
    assert read_results(tmp_path / "out.csv")[0]["message"] == "bad"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j.sqlite3", "out.csv"]


def test_an_expiry_in_the_past_or_far_ahead_makes_the_row_invalid_unless_asked_for(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},190001\nw2,{TEST_PAN},999912\nw3,{TEST_PAN},203012\n"
    )
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "line 2: expiry: 190001 is in the past: an expired card cannot be enrolled "
        "(--any-expiry to send it all the same)",
        "line 3: expiry: 999912 is more than 20 years ahead, which no card is (--any-expiry to "
        "send it all the same)",
    ]
    assert [r["outcome"] for r in read_results(tmp_path / "in.results.csv")] == [
        "invalid",
        "invalid",
        "ok",
    ]
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--any-expiry")
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""  # no row reported bad that the batch then sends
    assert simulator.store.count_cards() == 3


def test_the_expiry_window_counts_months_from_today() -> None:
    from datetime import date

    from sogen_soap import InvalidFieldError
    from sogen_soap.cli.inputs import check_expiry_window

    today = date(2026, 12, 4)
    for fine in ("202612", "204612", ""):
        check_expiry_window(fine, "expiry", today)
    for wrong in ("202611", "204701"):
        with pytest.raises(InvalidFieldError):
            check_expiry_window(wrong, "expiry", today)


def test_results_named_ndjson_are_json_lines(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet",
                  "--output", "out.ndjson")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.ndjson").read_text())["outcome"] == "ok"
    # an earlier results file is replaced without --force; another file needs it
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet",
                   "--output", "out.ndjson")  # fmt: skip
    assert again.returncode == 0, again.stderr
    (tmp_path / "mine.csv").write_text("my,own\n")
    forced = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet",
                    "--output", "mine.csv", "--force")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert read_results(tmp_path / "mine.csv")[0]["outcome"] == "ok"


def test_cards_without_expiry_are_counted_aloud(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blank expiry cell is legal, and may be a slip: the summary says how many."""
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},\nw2,{TEST_PAN},203012\nw3,{OTHER_PAN},\n"
    )
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    assert done.returncode == 0, done.stderr
    assert _summary(done)["blank"] == "2"
    assert "3 rows: 3 ok; 2 cards without expiry; sent 3" in done.stdout
    again = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--json")
    summary = json.loads(again.stdout)  # a script reads the same count
    assert (summary["without_expiry"], summary["skipped"], summary["sent"]) == (2, 3, 0)


@pytest.mark.parametrize("json_lines", [False, True], ids=["csv", "jsonl"])
def test_enrol_reads_standard_input_with_a_journal_and_writes_no_card_anywhere(
    json_lines: bool, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [("w1", TEST_PAN, "203012"), ("w2", OTHER_PAN, "203101")]
    if json_lines:
        text = "".join(json.dumps({"wallet": w, "card": c, "expiry": e}) + "\n" for w, c, e in rows)
    else:
        text = "wallet,card,expiry\n" + "".join(f"{w},{c},{e}\n" for w, c, e in rows)
    env = merchant_env(tmp_path, simulator.url)
    refused = run_in_process("enrol", "-", "--quiet", env=env, monkeypatch=monkeypatch,
                             stdin=text, cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "--journal" in refused.stderr
    done = run_in_process("enrol", "-", "--journal", "j.sqlite3", "--quiet", env=env,
                          monkeypatch=monkeypatch, stdin=text, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = tmp_path / ("j.results.jsonl" if json_lines else "j.results.csv")
    assert done.stdout.splitlines()[1] == f"results: {results.name}"
    again = run_in_process("enrol", "-", "--journal", "j.sqlite3", "--quiet", env=env,
                           monkeypatch=monkeypatch, stdin=text, cwd=tmp_path)  # fmt: skip
    assert _summary(again)["skipped"] == "2" and simulator.store.count_cards() == 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert TEST_PAN.encode() not in path.read_bytes(), path


def test_standard_input_over_the_limit_is_refused_whole_not_read_short(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Standard input is held in memory, so it has a cap; input over it is refused
    with nothing sent, never cut at the cap (a cut last row is another card or
    wallet).  The cap is lowered here to the size of a few rows; its value, the
    256 MiB the refusal names, is pinned below."""
    command = importlib.import_module("sogen_soap.cli.main")  # the module, not main()

    rows = "wallet,card,expiry\n" + "".join(f"w{i},{TEST_PAN},203012\n" for i in range(40))
    env = merchant_env(tmp_path, simulator.url)
    monkeypatch.setattr(command, "_STDIN_LIMIT", len(rows.encode()) - 1)
    over = run_in_process("enrol", "-", "--journal", "j.sqlite3", "--quiet", env=env,
                          monkeypatch=monkeypatch, stdin=rows, cwd=tmp_path)  # fmt: skip
    assert over.returncode == 2, over.stdout
    assert "standard input is over 256 MiB; give a file" in over.stderr
    assert simulator.store.count_cards() == 0 and not (tmp_path / "j.sqlite3").exists()
    monkeypatch.setattr(command, "_STDIN_LIMIT", len(rows.encode()))  # exactly at the cap
    done = run_in_process("enrol", "-", "--journal", "j.sqlite3", "--quiet", env=env,
                          monkeypatch=monkeypatch, stdin=rows, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert simulator.store.count_cards() == 40


def test_the_standard_input_cap_is_the_256_mib_its_refusal_names() -> None:
    command = importlib.import_module("sogen_soap.cli.main")  # the module, not main()

    assert command._STDIN_LIMIT == 256 * 1024 * 1024


def test_a_lost_answer_settled_as_a_card_there_before_counts_as_recovered(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer to a row is lost and the re-send's sealed 94 shows the card was in
    the wallet before this row (another expiry): the row is a duplicate, and its lost
    answer was settled, so the summary counts it among the recovered."""
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                      environment=simulator.url) as client:  # fmt: skip
        assert client.add_card("w1", TEST_PAN, "203011").ok
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw1,{TEST_PAN},203012\n")
    simulator.app.faults.fail_next("addCard", "commit_drop")
    done = _enrol(simulator.url, tmp_path, monkeypatch, "in.csv", "--quiet")
    (row,) = read_results(tmp_path / "in.results.csv")
    assert (row["outcome"], row["code"], row["payment_mean_id"]) == ("duplicate", "94", "1"), row
    assert "before" in row["message"], row["message"]
    assert (_summary(done)["parts"], _summary(done)["recovered"]) == ("1 duplicate", "1")
    assert done.returncode == 0, done.stderr  # settled: a duplicate is not a refusal


def test_the_summary_s_rate_is_rows_sent_over_the_run_s_own_seconds() -> None:
    """A short run's rate is its own (10 rows in half a second: 20 rows/s), not
    rounded up to a whole second; a run of no time says 0."""
    from collections import Counter

    from sogen_soap.cli.enrol import BatchSummary

    short = BatchSummary(rows=10, counts=Counter(ok=10), sent=10, seconds=0.5)
    assert short.line().endswith("in 0.5 s (20 rows/s)")
    assert BatchSummary(rows=0, seconds=0.0).line().endswith("in 0.0 s (0 rows/s)")


def test_a_batch_keeps_one_connection_per_concurrent_row(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --concurrency N sizes the client's pool to N: every row after the first N goes on
    # a kept-alive connection, none opened and dropped for want of room in the pool.
    rows = "".join(f"w{i // 3},{fake_pan(i // 3, i % 3)},203012\n" for i in range(24))
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + rows)
    with Relay(simulator.url) as relay:
        done = _enrol(relay.url, tmp_path, monkeypatch, "in.csv", "--quiet", "--concurrency", "4")
    assert done.returncode == 0, done.stderr
    assert _summary(done)["parts"] == "24 ok"
    assert simulator.store.count_cards() == 24
    assert 1 <= relay.connections <= 4
