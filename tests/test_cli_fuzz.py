"""Fuzzing the command line in-process: whatever the file or the arguments, the
command ends with a documented status and never with an internal error."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MERCHANT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sogen_soap.cli.main import main
from sogen_soap.simulator import Simulator

DOCUMENTED = {0, 2, 3, 4, 5, 6}
CELLS = st.one_of(
    st.sampled_from(["wallet", "card", "expiry", "alias", "4100000000000000", "203012", "",
                     "w1", '"', "=1+1", "203013", "5100 0000 0000 0000", "é", "\x00"]),
    st.text(max_size=12),
)  # fmt: skip


@pytest.fixture(scope="module")
def service() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse's usage errors
            status = int(exit_.code or 0)
    return status, err.getvalue()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(CELLS, max_size=5), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    suffix=st.sampled_from([".csv", ".jsonl"]),
)
def test_any_batch_file_ends_in_a_documented_status(
    rows: list[list[str]], delimiter: str, suffix: str, service: Simulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("SOGEN_ENVIRONMENT", service.url)
    monkeypatch.setenv("SOGEN_MERCHANT_ID", MERCHANT.merchant_id)
    monkeypatch.setenv("SOGEN_KEY_VERSION", "1")
    monkeypatch.setenv("SOGEN_SECRET_KEY", MERCHANT.secret_key)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"in{suffix}"
        path.write_text("\n".join(delimiter.join(r) for r in rows), encoding="utf-8")
        status, err = _run(["enrol", str(path), "--quiet", "--concurrency", "2"])
    assert status in DOCUMENTED, err
    assert "Traceback" not in err and "internal error" not in err
    assert "4100000000000000" not in err


FLAGS = st.sampled_from([
    "enrol", "add-card", "wallet", "payment-mean", "sign-off", "wsdl", "fetch", "diff",
    "--wallet", "--card", "--expiry", "--id", "--alias", "--timeout", "--json", "--output",
    "--journal", "--concurrency", "--environment", "--wsdl", "--config", "-", "0", "-1",
    "nan", "w", "203012", "4100000000000000", "in.csv", ".", "/", "simulator", "test",
])  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=st.lists(st.one_of(FLAGS, st.text(max_size=8)), max_size=8))
def test_any_arguments_end_in_a_documented_status(
    argv: list[str], service: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOGEN_ENVIRONMENT", service.url)
    monkeypatch.setenv("SOGEN_MERCHANT_ID", MERCHANT.merchant_id)
    monkeypatch.setenv("SOGEN_KEY_VERSION", "1")
    monkeypatch.setenv("SOGEN_SECRET_KEY", MERCHANT.secret_key)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    if argv[:1] == ["simulator"]:
        return  # serves until stopped: not a one-shot command
    with tempfile.TemporaryDirectory() as folder:
        monkeypatch.chdir(folder)
        status, err = _run(argv)
    assert status in DOCUMENTED, (argv, err)
    assert "Traceback" not in err and "internal error" not in err
