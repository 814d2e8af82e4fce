"""``sogen-soap keys check``, key rings on the command line, ``--log-format json``,
and a batch journal that keeps its rows across a key switch.  The command runs
in-process against a simulator on 127.0.0.1 that knows the versions each test
gives it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import clean_env, run_in_process
from conftest import CLIENT_DAY, OTHER_PAN, TEST_PAN

from sogen_soap.simulator import DEFAULT_MERCHANT, Merchant, Simulator

MERCHANT_ID = DEFAULT_MERCHANT.merchant_id
KEY_2 = "002001000000001_KEY2_rotated"
TODAY = CLIENT_DAY  # the key ring counts days in UTC
pytestmark = pytest.mark.usefixtures("held_days")  # dates written above stay today


@pytest.fixture
def two_keys() -> Iterator[Simulator]:
    with Simulator(merchants=[DEFAULT_MERCHANT, Merchant(MERCHANT_ID, 2, KEY_2)]) as sim:
        yield sim


def _env(tmp_path: Path, sim: Simulator, **extra: str) -> dict[str, str]:
    (tmp_path / "k1").write_text(DEFAULT_MERCHANT.secret_key + "\n")
    (tmp_path / "k2").write_text(KEY_2 + "\n")
    (tmp_path / "k3").write_text("a key the service never gave\n")
    return clean_env(tmp_path, SOGEN_ENVIRONMENT=sim.url, SOGEN_MERCHANT_ID=MERCHANT_ID, **extra)


def _check(tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch, *keys: str,
           extra: tuple[str, ...] = ()) -> tuple[int, str, str]:  # fmt: skip
    args = [a for spec in keys for a in ("--key-ring", spec.replace("@", str(tmp_path) + "/"))]
    done = run_in_process(
        "keys", "check", *args, *extra, env=_env(tmp_path, sim), monkeypatch=monkeypatch
    )
    return done.returncode, done.stdout, done.stderr


def test_keys_check_all_good_exits_0(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = TODAY + timedelta(days=400)
    status, out, err = _check(
        tmp_path, two_keys, monkeypatch, f"1:@k1:{later}", "2:@k2", extra=("--key-version", "2")
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == (
        f"key version 1: expires {later} (400 days left); accepted: a sealed answer (25) "
        "verified with this key"
    )
    assert lines[1].startswith("key version 2 (active): no expiry given; accepted")
    assert DEFAULT_MERCHANT.secret_key not in out + err and KEY_2 not in out + err


def test_keys_check_one_expiring_soon_exits_8_and_warns_once(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = TODAY + timedelta(days=30)
    status, out, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{soon}", "2:@k2",
                              extra=("--key-version", "2"))  # fmt: skip
    assert status == 8, err
    assert f"key version 1: expires {soon} (30 days left); accepted" in out
    warnings = [line for line in err.splitlines() if "expires on" in line]
    assert warnings == [
        f"sogen-soap: warning: key version 1 expires on {soon}, in 30 days: activate its "
        "successor before then"
    ]
    status, _, _ = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{soon}", "2:@k2",
                          extra=("--key-version", "2", "--warn-days", "29"))  # fmt: skip
    assert status == 0
    status, _, _ = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{soon}", "2:@k2",
                          extra=("--key-version", "2", "--warn-days", "30"))  # fmt: skip
    assert status == 8  # 30 days left is within 30 days
    # 0 is allowed (its refusal says "0 or more"): only a key on its last day is "soon"
    status, _, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{soon}", "2:@k2",
                            extra=("--key-version", "2", "--warn-days", "0"))  # fmt: skip
    assert status == 0, err
    status, out, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{TODAY}", "2:@k2",
                              extra=("--key-version", "2", "--warn-days", "0"))  # fmt: skip
    assert status == 8, err
    assert f"key version 1: expires {TODAY} (0 days left); accepted" in out


@pytest.mark.parametrize(("days", "status"), [(60, 8), (90, 8), (91, 0)])
def test_keys_check_counts_90_days_as_soon_unless_told(
    days: int, status: int, tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/keys.md: ``--warn-days`` is 90 when not given, so the command run bare
    from cron exits 8 a quarter ahead of an expiry, time to order the next key."""
    when = TODAY + timedelta(days=days)
    got, out, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{when}", "2:@k2",
                           extra=("--key-version", "2"))  # fmt: skip
    assert got == status, out + err
    assert f"key version 1: expires {when} ({days} days left); accepted" in out


def test_keys_check_a_refused_or_expired_key_exits_7(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = _check(tmp_path, two_keys, monkeypatch, "1:@k1", "3:@k3",
                              extra=("--key-version", "1"))  # fmt: skip
    assert status == 7, err
    assert "key version 3: no expiry given; refused: 34" in out
    assert "key version 1 (active): no expiry given; accepted" in out

    yesterday = TODAY - timedelta(days=1)
    status, out, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{yesterday}", "2:@k2",
                              extra=("--key-version", "2", "--json"))  # fmt: skip
    assert status == 7, err
    found = {c["version"]: c for c in json.loads(out)}
    assert found[1]["state"] == "expired" and found[1]["days_left"] == -1
    assert found[2]["state"] == "accepted" and found[2]["active"] is True


def test_keys_check_with_the_service_out_of_reach_exits_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator() as sim:
        url = sim.url  # closed below: nothing listens there any more
    done = run_in_process("keys", "check", "--key-version", "1", "--timeout", "2",
                          env={**_env(tmp_path, sim), "SOGEN_ENVIRONMENT": url,
                               "SOGEN_SECRET_KEY_FILE": str(tmp_path / "k1")},
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert "unreachable" in done.stdout
    assert "unreachable: ConnectionFailed: " in done.stdout  # which failure, in its words


def test_keys_check_with_an_answer_that_proves_nothing_exits_5(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a sealed 77 says nothing of the key: not accepted, not refused; the run is not "all good"
    two_keys.app.faults.fail_next("getWalletData", "code_77")
    status, out, err = _check(tmp_path, two_keys, monkeypatch, "1:@k1", "2:@k2",
                              extra=("--key-version", "2"))  # fmt: skip
    assert status == 5, out + err
    first, second = out.splitlines()
    assert first.startswith("key version 1: no expiry given; unproven: the answer (")
    assert second.startswith("key version 2 (active): no expiry given; accepted")


def test_keys_check_for_a_merchant_the_service_does_not_know_exits_7(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 03: the merchant id is wrong, whatever the key: a refusal, as a 34 is
    done = run_in_process(
        "keys", "check", "--key-version", "1",
        env={**_env(tmp_path, two_keys), "SOGEN_MERCHANT_ID": "002001000000099",
             "SOGEN_SECRET_KEY_FILE": str(tmp_path / "k1")},
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert done.returncode == 7, done.stdout + done.stderr
    assert "; refused: 03: Invalid merchant contract" in done.stdout


def test_log_format_json_makes_every_stderr_line_one_object(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = TODAY + timedelta(days=10)
    status, _, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{soon}",
                            extra=("--log-format", "json"))  # fmt: skip
    assert status == 8
    events = [json.loads(line) for line in err.splitlines()]
    assert [(e["level"], e["event"]) for e in events] == [("warning", "sogen_soap.keys")]
    assert events[0]["message"].startswith("key version 1 expires on")
    assert set(events[0]) == {"time", "level", "event", "message"}

    # an error, as one object too, with no card number in it (a clear one is refused)
    done = run_in_process(
        "add-card", "--wallet", "w", "--card", TEST_PAN, "--expiry", "1999-01",
        "--log-format", "json", env=_env(tmp_path, two_keys, SOGEN_KEY_VERSION="1",
                                        SOGEN_SECRET_KEY=DEFAULT_MERCHANT.secret_key),
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert done.returncode == 2
    (event,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert (event["level"], event["event"]) == ("error", "error")
    assert event["message"].startswith("--card: a card number is not accepted on the command")
    assert TEST_PAN not in done.stderr


def test_a_message_said_after_a_blank_line_is_one_clean_json_object(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C says "\\ninterrupted" (off the progress line): on a terminal the blank
    line stays, in a JSON object the message carries no line break at either end."""
    from sogen_soap.cli.events import configure, say

    try:
        configure("json")
        say("\ninterrupted; run it again\n")
        configure("text")
        say("\ninterrupted; run it again")
    finally:
        configure(None)
    as_json, *as_text = capsys.readouterr().err.split("\n")
    event = json.loads(as_json)
    assert (event["level"], event["event"]) == ("error", "error")
    assert event["message"] == "interrupted; run it again"
    assert as_text == ["", "sogen-soap: interrupted; run it again", ""]


def test_a_key_ring_and_a_single_key_together_are_refused(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, two_keys, SOGEN_SECRET_KEY_FILE=str(tmp_path / "k1"))
    done = run_in_process("keys", "check", "--key-ring", f"2:{tmp_path / 'k2'}", env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert "both as a key ring (--key-ring) and as one key (SOGEN_SECRET_KEY_FILE)" in done.stderr


def test_a_config_file_names_the_ring_and_the_active_version(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, two_keys)
    (tmp_path / "c.toml").write_text(
        "[sogen-soap]\nkey_version = 2\n"
        '[[sogen-soap.keys]]\nversion = 1\nsecret_key_file = "k1"\nexpires = 2099-01-31\n'
        '[[sogen-soap.keys]]\nversion = 2\nsecret_key_file = "k2"\n'
    )
    done = run_in_process("keys", "check", "--config", str(tmp_path / "c.toml"), env=env,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "key version 1: expires 2099-01-31" in done.stdout
    assert "key version 2 (active)" in done.stdout


def test_a_batch_resumed_after_a_key_switch_sends_no_done_row_again(
    tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in.csv").write_text(
        f"wallet,card,expiry\nw1,{TEST_PAN},203012\nw2,{OTHER_PAN},203012\n"
    )
    single = _env(tmp_path, two_keys, SOGEN_KEY_VERSION="1",
                  SOGEN_SECRET_KEY_FILE=str(tmp_path / "k1"))  # fmt: skip
    first = run_in_process("enrol", "in.csv", "--quiet", env=single, monkeypatch=monkeypatch,
                           cwd=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    seen = two_keys.requests_seen
    ring = _env(tmp_path, two_keys, SOGEN_KEY_VERSION="2",
                SOGEN_KEYS=f"1:{tmp_path / 'k1'},2:{tmp_path / 'k2'}")  # fmt: skip
    again = run_in_process("enrol", "in.csv", "--quiet", env=ring, monkeypatch=monkeypatch,
                           cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "sent 0, skipped 2 already done" in again.stdout
    assert two_keys.requests_seen == seen
    without_1 = _env(tmp_path, two_keys, SOGEN_KEY_VERSION="2",
                     SOGEN_KEYS=f"2:{tmp_path / 'k2'}")  # fmt: skip
    refused = run_in_process("enrol", "in.csv", "--quiet", env=without_1,
                             monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2
    assert "was started under key version 1, which is not configured now" in refused.stderr


@pytest.mark.parametrize(
    ("days", "said"),
    [
        (-1, "1 day ago); expired: not sent: the service refuses an expired key"),
        (-3, "3 days ago); expired: not sent: the service refuses an expired key"),
        (1, "1 day left); accepted"),
        (0, "0 days left); accepted"),  # its last valid day: still good, still sent
    ],
)
def test_keys_check_says_days_in_words_expired_keys_unsent(
    days: int, said: str, tmp_path: Path, two_keys: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = TODAY + timedelta(days=days)
    before = two_keys.requests_seen
    _, out, err = _check(tmp_path, two_keys, monkeypatch, f"1:@k1:{when}", "2:@k2",
                         extra=("--key-version", "2"))  # fmt: skip
    assert f"key version 1: expires {when} ({said}" in out, out + err
    probes = two_keys.requests_seen - before
    assert probes == (2 if days >= 0 else 1)  # an expired key's probe is never sent


def test_the_verdict_s_expiry_window_is_90_days_unless_told() -> None:
    """docs/keys.md: exit 8 when a key expires within ``--warn-days`` (90); the same
    window when ``exit_status`` is called without one (a program of the operator's
    own reusing the command's verdict)."""
    from sogen_soap.cli.keys import EXIT_EXPIRING, KeyCheck, exit_status

    def accepted(days_left: int) -> list[KeyCheck]:
        return [KeyCheck(1, True, "2027-01-01", days_left, "accepted", "a sealed answer")]

    assert [exit_status(accepted(d)) for d in (1, 60, 90, 91, 365)] == [
        EXIT_EXPIRING, EXIT_EXPIRING, EXIT_EXPIRING, 0, 0,
    ]  # fmt: skip
    assert exit_status(accepted(60), 30) == 0
