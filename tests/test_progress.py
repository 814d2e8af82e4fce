"""The batch's progress line as a terminal shows it: counts, rate, ETA and bar,
drawn at most ten times a second, and only where asked (a terminal)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sogen_soap.cli import progress as progress_module
from sogen_soap.cli.progress import Progress
from sogen_soap.testing import SimulatedWallet


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module, "time", fake)
    monkeypatch.setenv("COLUMNS", "100")
    return fake


def _frames(stream: io.StringIO) -> list[str]:
    return stream.getvalue().split("\r")[1:]


def test_the_line_shows_counts_rate_eta_and_a_bar(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(10, stream=out, enabled=True)
    clock.now += 2.0
    for outcome in ["ok"] * 5 + ["duplicate"]:
        bar.add(outcome)
        clock.now += 0.0  # all within one tenth of a second: drawn once
    (frame,) = _frames(out)
    tail = " 1/10  ok 1  dup 0  invalid 0  failed 0  0/s  ETA 18s"
    assert frame == ("[==                      ]" + tail).ljust(99)
    clock.now += 1.0  # three seconds in, six rows done
    bar.add("failed")
    tail = " 7/10  ok 5  dup 1  invalid 0  failed 1  2/s  ETA 1s"
    assert _frames(out)[-1] == ("[================        ]" + tail).ljust(99)


def test_rows_done_before_count_but_do_not_make_the_rate(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(8, stream=out, enabled=True)
    for _ in range(4):
        bar.skip("ok")
    clock.now += 2.0
    bar.add("unknown")
    bar.add("refused")  # same instant: not drawn again
    assert len(_frames(out)) == 1
    assert " 5/8  ok 4  dup 0  invalid 0  failed 1  0/s  ETA 6s" in _frames(out)[0]
    bar.close()  # the last state, then a line end
    assert " 6/8  ok 4  dup 0  invalid 0  failed 2  1/s  ETA 2s" in _frames(out)[-1]
    assert out.getvalue().endswith("\n")
    assert (bar.done, bar.skipped) == (6, 4)


def test_nothing_is_drawn_off_a_terminal(clock: Clock) -> None:
    out = io.StringIO()  # not a terminal
    bar = Progress(3, stream=out)
    assert bar.enabled is False
    clock.now += 1.0
    bar.add("ok")
    bar.close()
    assert out.getvalue() == ""


def test_a_narrow_terminal_drops_the_bar_and_cuts_the_line(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    bar = Progress(2, stream=out, enabled=True)
    clock.now += 1.0
    bar.add("ok")
    (frame,) = _frames(out)
    assert len(frame) == 39 and not frame.startswith("[")
    assert frame.startswith(" 1/2  ok 1  dup 0")


@pytest.mark.parametrize("quiet", [False, True], ids=["shown", "quiet"])
def test_enrol_on_a_terminal_draws_progress_unless_quiet(quiet: bool, tmp_path: Path) -> None:
    """The real command with its stderr on a pseudo-terminal: the line is drawn
    there, last with every row counted, then ended; ``--quiet`` keeps it off even
    on a terminal."""
    import os
    import pty
    import subprocess

    from cli_support import SCRIPT, merchant_env, read_terminal
    from conftest import TEST_PAN

    from sogen_soap.simulator import Simulator

    rows = "".join(f"w{n},{TEST_PAN},203012\n" for n in range(3))
    (tmp_path / "in.csv").write_text("wallet,card,expiry\n" + rows)
    leader, follower = pty.openpty()
    with Simulator() as sim:
        process = subprocess.Popen(
            [SCRIPT, "enrol", "in.csv", *(["--quiet"] if quiet else [])],
            env={**merchant_env(tmp_path, sim.url), "COLUMNS": "100"},
            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        shown = read_terminal(leader)
        process.communicate(timeout=60)
        os.close(leader)
    assert process.returncode == 0, shown
    drawn = b"\r[" in shown and b" 3/3  ok 3  dup 0" in shown
    assert drawn is not quiet, shown
    if drawn:  # the last frame is the batch's end, and the line is ended for the shell
        assert b" 3/3  ok 3  dup 0" in shown.split(b"\r[")[-1] and shown.endswith(b"\n")


def test_the_rate_in_the_first_second_is_per_second_of_what_elapsed(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(20, stream=out, enabled=True)
    clock.now += 0.5
    bar.add("ok")  # one row in half a second: 2/s, 19 left: ETA 10s
    assert " 1/20  ok 1  dup 0  invalid 0  failed 0  2/s  ETA 10s" in _frames(out)[0]


def test_with_no_row_handled_in_this_run_the_eta_is_zero(clock: Clock) -> None:
    out = io.StringIO()
    bar = Progress(5, stream=out, enabled=True)
    for outcome in ("ok", "ok", "invalid"):
        bar.skip(outcome)
    clock.now += 1.0
    bar.close()  # nothing handled in this run: no rate to divide by
    assert _frames(out)[-1].rstrip().endswith(" 3/5  ok 2  dup 0  invalid 1  failed 0  0/s  ETA 0s")


def test_the_bar_takes_what_the_terminal_leaves_down_to_five_columns(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line is one column short of the terminal (no wrap); the bar gets what the
    counts leave, less three columns (brackets and a space), and only if that is 5
    or more."""
    tail = " 1/2  ok 1  dup 0  invalid 0  failed 0  1/s  ETA 1s"
    for bar_width, expected in ((5, "[==   ]" + tail), (4, tail)):
        columns = len(tail) + 3 + bar_width
        monkeypatch.setenv("COLUMNS", str(columns))
        out = io.StringIO()
        bar = Progress(2, stream=out, enabled=True)
        clock.now += 1.0
        bar.add("ok")
        (frame,) = _frames(out)
        assert frame == expected.ljust(columns - 1), bar_width


def _stderr_on_a_terminal(
    args: list[str], env: dict[str, str], cwd: Path, status: int = 0
) -> bytes:
    """What the command writes to its standard error when that is a terminal (a real
    pseudo-terminal: the command sees ``isatty()`` true, as in an operator's shell)."""
    import os
    import pty
    import subprocess

    from cli_support import SCRIPT, read_terminal

    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [SCRIPT, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=slave, timeout=120, check=False,
        )  # fmt: skip
        os.close(slave)
        slave = -1
        assert done.returncode == status
        return read_terminal(master)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


@pytest.mark.parametrize("command", ["enrol", "charge"])
def test_quiet_draws_no_progress_line_even_on_a_terminal(
    command: str, kit: SimulatedWallet, tmp_path: Path
) -> None:
    """docs/batch.md: "On a terminal a progress line shows counts, rate and ETA"; each
    batch's ``--quiet`` help: "no progress bar even on a terminal"."""
    from cli_support import merchant_env
    from conftest import TEST_PAN

    with kit.client() as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    env = merchant_env(tmp_path, kit.url)
    seen = {}
    for quiet in (False, True):
        folder = tmp_path / f"quiet-{quiet}"
        folder.mkdir()
        if command == "enrol":
            (folder / "rows.csv").write_text("wallet,card,expiry\nv,5100000000000000,203012\n")
        else:
            (folder / "rows.csv").write_text("wallet,id,amount\nw,1,100\nw,1,250\n")
        flags = ["--quiet"] if quiet else []
        seen[quiet] = _stderr_on_a_terminal([command, "rows.csv", *flags], env, folder)
    rows = 1 if command == "enrol" else 2
    assert seen[False].startswith(b"\r[") and f" {rows}/{rows}  ok {rows} ".encode() in seen[False]
    assert seen[True] == b""  # nothing at all: every row went well, and quietly


def test_charge_s_progress_line_counts_each_outcome_where_it_belongs(
    kit: SimulatedWallet, tmp_path: Path
) -> None:
    """A row done by an earlier run counts as what it was, a repeated reference as
    dup, a bad row as invalid, a charge whose answer never came under failed (it
    is to be run again): the operator reads the batch's state from this line."""
    from cli_support import merchant_env
    from conftest import TEST_PAN

    with kit.client() as client:
        assert client.add_card("w", TEST_PAN, "203012").ok
    env = merchant_env(tmp_path, kit.url)
    (tmp_path / "rows.csv").write_text("wallet,id,amount,reference\nw,1,100,done1\n")
    _stderr_on_a_terminal(["charge", "rows.csv", "--quiet"], env, tmp_path)
    (tmp_path / "rows.csv").write_text(
        "wallet,id,amount,reference\nw,1,100,done1\nw,1,200,done1\nw,1,0,\nw,1,300,lost1\n"
    )
    kit.fail_next("walletOrder", "drop", 100)
    seen = _stderr_on_a_terminal(["charge", "rows.csv", "--timeout", "5"], env, tmp_path, 5)
    frames = [frame for frame in seen.split(b"\r") if frame.startswith(b"[")]
    assert b" 4/4  ok 1  dup 1  invalid 1  failed 1 " in frames[-1], seen


def test_enrol_s_progress_line_counts_each_outcome_where_it_belongs(
    kit: SimulatedWallet, tmp_path: Path
) -> None:
    """A row repeating an earlier one counts as dup, a bad row as invalid: the last
    frame adds up to every row of the file."""
    from cli_support import merchant_env
    from conftest import TEST_PAN

    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw1,{TEST_PAN},203012\nw2,12345,203012\n"
    )
    seen = _stderr_on_a_terminal(["enrol", "in.csv"], merchant_env(tmp_path, kit.url), tmp_path, 2)
    frames = [frame for frame in seen.split(b"\r") if frame.startswith(b"[")]
    assert b" 3/3  ok 1  dup 1  invalid 1  failed 0 " in frames[-1], seen
