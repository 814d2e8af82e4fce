"""Every option of the simulator command does what its help says, run in-process
(``main(stop=...)``) so that what it configures is checked through a real client
on 127.0.0.1: merchants and their key windows, faults and their seed, latency,
list shapes, newer fields, TLS made up on the spot, the store on disk."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import OTHER_PAN, SIMULATOR_DAY, TEST_PAN

from sogen_soap import KeyRing, RetryPolicy, TransportError, WalletClient
from sogen_soap.endpoints import parse_url
from sogen_soap.simulator import DEFAULT_MERCHANT, Simulator
from sogen_soap.simulator.__main__ import main
from sogen_soap.simulator.faults import FaultProfile

MERCHANT_ID = DEFAULT_MERCHANT.merchant_id
KEY_2 = "002001000000001_KEY2_rotated"
TODAY = SIMULATOR_DAY  # the --merchant windows are the simulator's days
pytestmark = pytest.mark.usefixtures("held_days")  # dates written above stay today


class Said(NamedTuple):
    out: str
    err: str


@contextmanager
def serving(*argv: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Simulator, Said]]:
    """The command running in a thread; yields the simulator and what it said on
    stdout and on stderr, apart (the endpoint alone is promised to stdout)."""
    stop = threading.Event()
    ready: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: ready.setdefault(
            "status",
            main(list(argv), prog="sim", stop=stop, started=lambda s: ready.setdefault("sim", s)),
        )
    )
    thread.start()
    deadline = time.monotonic() + 20
    while "sim" not in ready and "status" not in ready and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "sim" in ready, ready
    said = capsys.readouterr()
    try:
        yield ready["sim"], Said(said.out, said.err)
    finally:
        stop.set()
        thread.join(10)
    assert ready["status"] == 0
    endpoint = parse_url(ready["sim"].url)
    with pytest.raises(ConnectionRefusedError):  # what the command served, it stopped
        socket.create_connection((endpoint.host, endpoint.port), timeout=5).close()


def _client(
    sim: Simulator, key: str | KeyRing = DEFAULT_MERCHANT.secret_key, **options: Any
) -> WalletClient:
    version = None if isinstance(key, KeyRing) else 1
    options.setdefault("retry", RetryPolicy(attempts=1))
    options.setdefault("timeout", 5.0)
    return WalletClient(MERCHANT_ID, key, version, environment=sim.url, **options)


def test_it_prints_its_url_on_stdout_and_what_it_serves_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(capsys=capsys) as (sim, said):
        assert said.out.splitlines() == [sim.url]
        assert sim.url.startswith("http://127.0.0.1:")
        assert "serving wallets from :memory:; SIGTERM to stop" in said.err
        assert "warning" not in said.out + said.err
        with _client(sim) as client:
            assert client.add_card("w", TEST_PAN, "203012").ok


def test_merchants_and_key_windows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "k2").write_text(KEY_2 + "\n")
    (tmp_path / "other").write_text("another-shops-key\n")
    expired = TODAY - timedelta(days=1)
    with serving(
        "--merchant", f"{MERCHANT_ID}:2:{tmp_path / 'k2'}:{TODAY}:{TODAY}",
        "--merchant", f"{MERCHANT_ID}:3:{tmp_path / 'k2'}::{expired}",
        "--merchant", f"999999999999999:1:{tmp_path / 'other'}",
        capsys=capsys,
    ) as (sim, _):  # fmt: skip
        with _client(sim) as demo:  # the demo merchant stays known beside the others
            assert demo.add_card("w", TEST_PAN, "203012").ok
        with _client(sim, KeyRing({2: KEY_2}, active=2)) as second:
            assert second.get_wallet_data("w").ok
        with _client(sim, KeyRing({3: KEY_2}, active=3)) as third:
            assert third.get_wallet_data("w").response_code == "34"
        with WalletClient("999999999999999", "another-shops-key", 1, environment=sim.url) as other:
            assert other.add_card("w", OTHER_PAN, "203012").ok
            assert [m.masked_pan for m in other.get_wallet_data("w").payment_means] == [
                "5100##########00"
            ]  # its own wallet "w", not the demo merchant's


def _drawn(seed: str, calls: int, capsys: pytest.CaptureFixture[str]) -> list[str | None]:
    """The codes of ``calls`` lookups from a simulator faulting half of them with 99."""
    with serving("--fault", "code_99=0.5", "--seed", seed, capsys=capsys) as (sim, _):
        with _client(sim) as client:
            return [client.get_wallet_data(f"w{i}").response_code for i in range(calls)]


def test_faults_with_a_seed_are_the_same_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    codes = [_drawn("7", 12, capsys) for _ in range(2)]
    assert codes[0] == codes[1]
    assert set(codes[0]) == {"99", "25"}


def _draws(profile: FaultProfile) -> list[str | None]:
    return [profile.draw("addCard") for _ in range(40)]


def test_the_command_s_defaults_are_its_help_s(capsys: pytest.CaptureFixture[str]) -> None:
    """No latency, a 2 s delay fault, fault draws seeded with 0 (a run can be
    replayed)."""
    with serving("--fault", "drop=0.5", capsys=capsys) as (sim, _):
        assert sim.app.latency == 0
        assert sim.app.faults.delay == 2.0
        assert _draws(sim.app.faults) == _draws(FaultProfile({"drop": 0.5}, seed=0))


def test_the_command_takes_zero_seconds_a_seed_and_a_delay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ("--latency", "0", "--fault-delay", "0.5", "--seed", "7", "--fault", "drop=0.5")
    with serving(*argv, capsys=capsys) as (sim, _):
        assert sim.app.latency == 0
        assert sim.app.faults.delay == 0.5
        assert _draws(sim.app.faults) == _draws(FaultProfile({"drop": 0.5}, seed=7))
    assert _draws(FaultProfile({"drop": 0.5}, seed=7)) != _draws(FaultProfile({"drop": 0.5}))


def test_latency_and_the_fault_delay(capsys: pytest.CaptureFixture[str]) -> None:
    with serving("--latency", "0.3", capsys=capsys) as (sim, _), _client(sim) as client:
        started = time.monotonic()
        assert client.get_wallet_data("w").response_code == "25"
        assert time.monotonic() - started >= 0.3
    with serving("--fault", "delay=1", "--fault-delay", "0.4", capsys=capsys) as (sim, _):
        with _client(sim, timeout=5.0) as client:
            started = time.monotonic()
            assert client.add_card("w", TEST_PAN, "203012").ok
            assert 0.4 <= time.monotonic() - started < 4


def test_the_jaxb_shape_and_newer_fields(capsys: pytest.CaptureFixture[str]) -> None:
    with serving("--shape", "jaxb", "--newer-fields", capsys=capsys) as (sim, _):
        assert sim.app.shape == "jaxb" and sim.app.newer_fields
        with _client(sim) as client:
            client.add_card("w", TEST_PAN, "203012")
            (mean,) = client.get_wallet_data("w").payment_means
            assert mean.payment_mean_brand_selection_status is not None


def test_a_shape_it_does_not_have_is_refused_from_python_too() -> None:
    """The command's ``--shape`` has its choices; ``Simulator(shape=...)`` refuses
    others in words, rather than serving a layout no peer knows."""
    with pytest.raises(ValueError, match="shape must be one of") as refused:
        Simulator(shape="nested")
    assert str(refused.value) == "shape must be one of wrapped, jaxb, not 'nested'"


def test_tls_made_up_on_the_spot_with_and_without_client_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = tmp_path / "pki"
    with serving("--tls-generate", str(pki), capsys=capsys) as (sim, said):
        assert sim.url.startswith("https://127.0.0.1:")
        assert f"test CA: {pki / 'ca.pem'}" in said.err
        assert said.out.splitlines() == [sim.url]  # the endpoint stays first, and alone
        with _client(sim, ca_bundle=pki / "ca.pem") as client:
            assert client.get_wallet_data("w").response_code == "25"
    with serving("--tls-generate", str(tmp_path / "m"), "--tls-mutual", capsys=capsys) as (sim, _):
        with _client(sim, ca_bundle=tmp_path / "m" / "ca.pem") as anonymous:
            with pytest.raises(TransportError, match=r"(?i)tls|certificate|connection"):
                anonymous.get_wallet_data("w")
        with _client(sim, ca_bundle=tmp_path / "m" / "ca.pem",
                     client_cert=(str(tmp_path / "m" / "client.pem"),
                                  str(tmp_path / "m" / "client.key"))) as client:  # fmt: skip
            assert client.get_wallet_data("w").response_code == "25"


def test_the_store_on_disk_keeps_wallets_between_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "w.sqlite3")
    with serving("--db", db, capsys=capsys) as (sim, said), _client(sim) as client:
        assert f"serving wallets from {db}" in said.err
        assert client.add_card("kept", TEST_PAN, "203012").ok
    with serving("--db", db, capsys=capsys) as (sim, _), _client(sim) as client:
        assert [m.masked_pan for m in client.get_wallet_data("kept").payment_means] == [
            "4100##########00"
        ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--fault", "gremlins=0.1"], "unknown fault kind gremlins"),
        (["--fault", "code_99=2"], "rates"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--merchant", "1:x:k"], "expected ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]"),
        (["--port", "65536"], "a port is 0 to 65535, not '65536'"),
        (["--port", "\u0668\u0660"], "a port is 0 to 65535, not '\u0668\u0660'"),  # Arabic-Indic 80
        (["--latency", "inf"], "must be 0 or more seconds, not inf"),
    ],
)
def test_refusals_name_the_option(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    stopped = threading.Event()
    stopped.set()  # an option taken by mistake serves and stops at once: never a hang
    with pytest.raises(SystemExit) as exit_:
        main(argv, prog="sim", stop=stopped)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sim: ") and said in err and "(see sim --help)" in err


def test_port_65535_and_0_are_ports() -> None:
    from sogen_soap.simulator.__main__ import _port

    assert (_port("65535"), _port("0")) == (65535, 0)


def test_the_seed_chooses_the_draws(capsys: pytest.CaptureFixture[str]) -> None:
    """``--seed`` is what makes a run repeatable: another seed draws other faults."""
    codes = {seed: _drawn(seed, 16, capsys) for seed in ("7", "8")}
    assert codes["7"] != codes["8"]
    assert {*codes["7"], *codes["8"]} == {"99", "25"}


def test_certificates_of_its_own_with_a_client_ca_require_a_client_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tls-cert``/``--tls-key`` serve https; ``--tls-client-ca`` beside them
    refuses a client without a certificate that CA signed."""
    from sogen_soap.simulator import make_test_pki

    pki = make_test_pki(tmp_path / "pki")
    own = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    with serving(*own, capsys=capsys) as (sim, _):
        with _client(sim, ca_bundle=pki.ca_cert) as anonymous:
            assert anonymous.get_wallet_data("w").response_code == "25"
    with serving(*own, "--tls-client-ca", str(pki.ca_cert), capsys=capsys) as (sim, _):
        assert sim.url.startswith("https://127.0.0.1:")
        with _client(sim, ca_bundle=pki.ca_cert) as anonymous:
            with pytest.raises(TransportError, match=r"(?i)tls|certificate|connection"):
                anonymous.get_wallet_data("w")
        pair = (str(pki.client_cert), str(pki.client_key))
        with _client(sim, ca_bundle=pki.ca_cert, client_cert=pair) as client:
            assert client.get_wallet_data("w").response_code == "25"
