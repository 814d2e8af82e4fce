"""Wrong credentials stop a batch at once, and keys are read as people save them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import clean_env, read_results, run_in_process
from conftest import MERCHANT

from sogen_soap import ConfigurationError, WalletClient
from sogen_soap.credentials import SecretKey, secret_key_from_env
from sogen_soap.simulator import Simulator
from sogen_soap.simulator.cards import test_card_number


def _cards(path: Path, rows: int) -> None:
    lines = [f"w{i},{test_card_number(i, 0)},203012" for i in range(rows)]
    path.write_text("wallet,card,expiry\n" + "\n".join(lines) + "\n")


def _env(
    tmp_path: Path, url: str, key: str, merchant: str = MERCHANT.merchant_id
) -> dict[str, str]:
    return clean_env(tmp_path, SOGEN_ENVIRONMENT=url, SOGEN_MERCHANT_ID=merchant,
                     SOGEN_KEY_VERSION="1", SOGEN_SECRET_KEY=key)  # fmt: skip


@pytest.mark.parametrize(
    ("key", "merchant", "code"),
    [("a wrong key", MERCHANT.merchant_id, "34"), (MERCHANT.secret_key, "011223344550000", "03")],
)
def test_a_batch_stops_at_the_first_answers_saying_the_credentials_are_wrong_then_resumes(
    key: str, merchant: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cards(tmp_path / "in.csv", 400)
    with Simulator() as sim:
        wrong = run_in_process("enrol", "in.csv", "--quiet", "--concurrency", "4",
                               env=_env(tmp_path, sim.url, key, merchant),
                               monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip
        sent = sim.requests_seen
        # docs/batch.md: a stopped run writes no results file (they would not be final)
        results_after_stop = (tmp_path / "in.results.csv").exists()
        right = run_in_process("enrol", "in.csv", "--quiet", "--json",
                               env=_env(tmp_path, sim.url, MERCHANT.secret_key),
                               monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip
        assert sim.store.count_cards() == 400
    assert wrong.returncode == 7, wrong.stderr
    assert 5 <= sent <= 5 + 4  # five answers in a row, and what was already on the wire
    [line] = wrong.stderr.splitlines()
    assert line.startswith("sogen-soap: stopped after 5 answers in a row saying the credentials")
    assert "check the key, the key version and the merchant id" in line
    assert not results_after_stop
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["counts"] == {"ok": 400}  # the refused rows went again


def test_a_batch_told_never_to_stop_records_every_refusal_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cards(tmp_path / "in.csv", 12)
    with Simulator() as sim:
        done = run_in_process("enrol", "in.csv", "--quiet", "--credential-failures", "0",
                              env=_env(tmp_path, sim.url, "a wrong key"),
                              monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip
        assert sim.requests_seen == 12
    assert done.returncode == 5
    rows = read_results(tmp_path / "in.results.csv")
    assert {(r["outcome"], r["code"]) for r in rows} == {("failed", "34")}


@pytest.mark.parametrize(
    ("before", "after"),
    [(b"\xef\xbb\xbf", b"\r\n"), (b"  ", b" \n\n"), (b"", b"")],
    ids=["notepad-bom-crlf", "spaces-and-lines", "bare"],
)
def test_a_key_file_is_read_as_people_save_it(
    before: bytes, after: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    simulator: Simulator,
) -> None:  # fmt: skip
    (tmp_path / "key.txt").write_bytes(before + MERCHANT.secret_key.encode() + after)
    env = clean_env(
        tmp_path, SOGEN_ENVIRONMENT=simulator.url, SOGEN_MERCHANT_ID=MERCHANT.merchant_id,
        SOGEN_KEY_VERSION="1", SOGEN_SECRET_KEY_FILE=str(tmp_path / "key.txt"),
    )  # fmt: skip
    done = run_in_process("wallet", "--wallet", "w", env=env, monkeypatch=monkeypatch)
    assert done.returncode == 3 and "25" in done.stdout, done.stderr  # sealed right: 25, not 34
    assert secret_key_from_env(env).reveal() == MERCHANT.secret_key


@pytest.mark.parametrize("content", [b"cl\xe9 latin-1\n", b"\xff\xfek\x00e\x00y\x00"])
def test_a_key_file_that_is_not_utf8_is_refused_as_unreadable(
    content: bytes, tmp_path: Path
) -> None:
    """A key saved in Latin-1 or UTF-16 is a setup mistake said in the package's own
    words (the path not echoed), never a UnicodeDecodeError from inside it."""
    (tmp_path / "key.txt").write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        secret_key_from_env({"SOGEN_SECRET_KEY_FILE": str(tmp_path / "key.txt")})
    assert str(caught.value).startswith("SOGEN_SECRET_KEY_FILE: the file given cannot be read")
    assert str(tmp_path) not in str(caught.value)


@pytest.mark.parametrize(
    "key",
    ["002001000000001_KEY1\n", "\ufeff002001000000001_KEY1", "002001\ufeff000000001_KEY1", " k"],
)
def test_a_key_given_in_python_with_a_bom_or_white_space_is_refused(key: str) -> None:
    with pytest.raises(ConfigurationError, match="white space, a line end or a byte-order mark"):
        SecretKey(key)
    with pytest.raises(ConfigurationError):
        WalletClient(MERCHANT.merchant_id, key, 1)


def test_two_secret_sources_at_once_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator: Simulator
) -> None:
    (tmp_path / "key.txt").write_text(MERCHANT.secret_key)
    env = clean_env(
        tmp_path, SOGEN_ENVIRONMENT="simulator", SOGEN_MERCHANT_ID=MERCHANT.merchant_id,
        SOGEN_KEY_VERSION="1", SOGEN_SECRET_KEY=MERCHANT.secret_key,
        SOGEN_SECRET_KEY_FILE=str(tmp_path / "key.txt"),
    )  # fmt: skip
    done = run_in_process("wallet", "--wallet", "w", env=env, monkeypatch=monkeypatch)
    assert done.returncode == 2
    assert done.stderr == (
        "sogen-soap: the secret key is given two ways (SOGEN_SECRET_KEY and "
        "SOGEN_SECRET_KEY_FILE); keep one\n"
    )
    with pytest.raises(ConfigurationError, match="both SOGEN_SECRET_KEY and SOGEN_SECRET_KEY_FILE"):
        secret_key_from_env(env)
    # a flag overrides the environment, as for every setting: not two sources on one layer
    done = run_in_process(
        "wallet", "--wallet", "w", "--secret-key-file", str(tmp_path / "key.txt"),
        env={**env, "SOGEN_SECRET_KEY_FILE": "", "SOGEN_ENVIRONMENT": simulator.url},
        monkeypatch=monkeypatch,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr


def test_the_embedded_simulator_answers_a_wrong_key_34_and_an_unknown_merchant_03(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Checking my settings against the simulator" must fail where the service would."""
    base = {"SOGEN_ENVIRONMENT": "simulator", "SOGEN_KEY_VERSION": "1"}
    wrong = clean_env(tmp_path, **base, SOGEN_MERCHANT_ID=MERCHANT.merchant_id,
                      SOGEN_SECRET_KEY="not the key")  # fmt: skip
    unknown = clean_env(tmp_path, **base, SOGEN_MERCHANT_ID="011223344550000",
                        SOGEN_SECRET_KEY="its own key")  # fmt: skip
    for env, code in ((wrong, "34"), (unknown, "03")):
        done = run_in_process("wallet", "--wallet", "w", "--json", env=env, monkeypatch=monkeypatch)
        assert done.returncode == 3
        assert json.loads(done.stdout)["response_code"] == code
        assert f"it answers {code}, as the service would" in done.stderr
        assert "SOGEN_SIMULATOR_MERCHANTS=ID:KEY_VERSION:KEY_FILE" in done.stderr
    (tmp_path / "k.txt").write_text("its own key\n")
    (tmp_path / "other.txt").write_text("another key\n")
    two = f"099999999999999:1:{tmp_path / 'other.txt'},011223344550000:1:{tmp_path / 'k.txt'}"
    registered = {**unknown, "SOGEN_SIMULATOR_MERCHANTS": two}  # the one used second
    done = run_in_process("wallet", "--wallet", "w", "--json", env=registered,
                          monkeypatch=monkeypatch)  # fmt: skip
    assert json.loads(done.stdout)["response_code"] == "25"  # known now: sealed right
    assert "does not know" not in done.stderr
