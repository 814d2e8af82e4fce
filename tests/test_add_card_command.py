"""``sogen-soap add-card``: each flag reaches the request the service receives (the
simulator's record, card numbers masked), through the command's own ``main()``."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import SCRIPT, merchant_env, read_terminal, run_in_process
from conftest import MERCHANT, TEST_PAN

from sogen_soap.simulator import Simulator


@pytest.mark.parametrize(
    ("flags", "sent"),
    [
        (["--no-expiry"], {"cardExpiryDate": None}),
        (["--expiry", "203012"], {"cardExpiryDate": "203012"}),
        (["--expiry", "203012", "--alias", "home"], {"paymentMeanAlias": "home"}),
        (["--expiry", "203012", "--brand", "VISA"], {"paymentMeanBrand": "VISA"}),
        (["--expiry", "203012", "--pan-type", "PAN"], {"panType": "PAN"}),
        (["--expiry", "203012"], {"paymentMeanAlias": None, "paymentMeanBrand": None,
                                  "panType": None}),  # not given: not sent
    ],
)  # fmt: skip
def test_each_add_card_flag_reaches_the_request(
    flags: list[str], sent: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator(record=True) as sim:
        done = run_in_process("add-card", "--wallet", "w", "--card", "-", *flags,
                              env=merchant_env(tmp_path, sim.url), monkeypatch=monkeypatch,
                              stdin=TEST_PAN + "\n")  # fmt: skip
        (request,) = sim.app.received
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert done.returncode == 0, done.stderr
    assert request.operation == "addCard" and stored
    assert request.fields["cardNumber"] == "4100##########00"
    assert {name: request.fields.get(name) or None for name in sent} == sent


def _wait_for(terminal: int, prompt: bytes, seen: bytearray) -> None:
    """Read the terminal into ``seen`` until ``prompt`` shows (20 s at most)."""
    deadline = time.monotonic() + 20
    while prompt not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {prompt!r} on the terminal; it shows {bytes(seen)!r}"
        if select.select([terminal], [], [], left)[0]:
            seen += os.read(terminal, 4096)


def _answer(terminal: int, prompt: bytes, text: str, seen: bytearray) -> None:
    """Wait for ``prompt``, then type ``text`` and Enter."""
    _wait_for(terminal, prompt, seen)
    os.write(terminal, text.encode() + b"\n")


def test_on_a_terminal_the_key_and_the_card_are_asked_for_and_never_echoed(
    tmp_path: Path,
) -> None:
    """``--prompt-secret-key`` and ``--card -`` on a terminal ask with hidden prompts
    (the add-card and --prompt-secret-key help): typed, neither shows on the screen.

    The command runs on a real pseudo-terminal in a session of its own, with no
    controlling terminal, so getpass asks on standard input, which is that terminal.
    """
    terminal, follower = pty.openpty()
    env = merchant_env(tmp_path, "")
    del env["SOGEN_SECRET_KEY"]
    seen = bytearray()
    with Simulator() as sim:
        env["SOGEN_ENVIRONMENT"] = sim.url
        process = subprocess.Popen(
            [SCRIPT, "add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
             "--prompt-secret-key"],
            env=env, stdin=follower, stdout=subprocess.PIPE, stderr=follower,
            start_new_session=True,
        )  # fmt: skip
        os.close(follower)
        try:
            _answer(terminal, b"Secret key (not shown): ", MERCHANT.secret_key, seen)
            _answer(terminal, b"Card number (not shown): ", TEST_PAN, seen)
            out, _ = process.communicate(timeout=60)
        finally:
            process.kill()
            process.wait()
        seen += read_terminal(terminal)
        os.close(terminal)
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert process.returncode == 0, bytes(seen)
    assert stored and b"4100##########00" in out
    assert TEST_PAN.encode() not in seen and MERCHANT.secret_key.encode() not in seen


def _interruptible() -> None:
    """SIGINT as a terminal's shell gives it.  A test run started in the background
    of a script (``cmd &``) ignores SIGINT, its children inherit that, and Python
    then keeps it ignored: Ctrl-C would not reach the command at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_at_the_prompt_ends_with_130_in_one_line(tmp_path: Path) -> None:
    """docs/cli.md: "130 interrupted (Ctrl-C, SIGINT)"; a command stopped while it
    asks says so in one line, with no traceback, and sends nothing."""
    terminal, follower = pty.openpty()
    seen = bytearray()
    with Simulator() as sim:
        process = subprocess.Popen(
            [SCRIPT, "add-card", "--wallet", "w", "--card", "-", "--expiry", "203012"],
            env=merchant_env(tmp_path, sim.url), stdin=follower, stdout=subprocess.PIPE,
            stderr=follower, start_new_session=True, preexec_fn=_interruptible,
        )  # fmt: skip
        os.close(follower)
        try:
            _wait_for(terminal, b"Card number (not shown): ", seen)
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=30)
        finally:
            process.kill()
            process.wait()
        seen += read_terminal(terminal)
        os.close(terminal)
        requests = sim.requests_seen
    assert process.returncode == 130, bytes(seen)
    assert seen.endswith(b"sogen-soap: interrupted\r\n"), bytes(seen)
    assert b"Traceback" not in seen and requests == 0


@pytest.mark.parametrize("expiry", ["202001", "209912"])
def test_any_expiry_sends_an_expiry_the_command_would_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expiry: str
) -> None:
    """The add-card help: --any-expiry "send[s] an expiry in the past or more than 20
    years ahead all the same (refused otherwise)": without it nothing is sent, with it
    the card is, and the flag takes no value (the next flag is not eaten)."""
    with Simulator() as sim:
        env = merchant_env(tmp_path, sim.url)
        card = ("--card", "-", "--wallet", "w", "--expiry", expiry)
        refused = run_in_process("add-card", *card, env=env, monkeypatch=monkeypatch,
                                 stdin=TEST_PAN + "\n")  # fmt: skip
        assert refused.returncode == 2 and "--any-expiry" in refused.stderr
        assert sim.requests_seen == 0
        sent = run_in_process("add-card", "--any-expiry", *card, env=env,
                              monkeypatch=monkeypatch, stdin=TEST_PAN + "\n")  # fmt: skip
        assert sim.requests_seen == 1
        assert (sent.returncode, sent.stderr) == (0, ""), sent.stderr
