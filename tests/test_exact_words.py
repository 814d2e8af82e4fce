"""Messages a user reads, in their exact words, where a looser check let a broken
rewrite pass: argparse's "unrecognized arguments" turned into flag names with the
values hidden; an unknown outcome's next step; downloaded schema file names; the
simulator's limit on a chunk-size line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process

from sogen_soap.simulator import FaultProfile, Simulator
from sogen_soap.wsdl_cache import _local_name

SECRET = "s3cr3t-value-typed-by-mistake"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([f"--secret-ke={SECRET}"], "unknown argument --secret-ke (and 1 value, not shown)"),
        (["--secretkey", SECRET], "unknown argument --secretkey (and 1 value, not shown)"),
        (["--colour=a=b"], "unknown argument --colour (and 1 value, not shown)"),
        (["--x", "--y", SECRET, SECRET], "unknown arguments --x --y (and 2 values, not shown)"),
        ([SECRET], "unexpected argument (and 1 value, not shown)"),
        (["--flag-only"], "unknown argument --flag-only"),
    ],
)
def test_an_unknown_argument_is_named_and_its_value_hidden(
    argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = run_in_process("wallet", "--wallet", "w", *argv,
                          env=merchant_env(tmp_path, "http://127.0.0.1:9/x"),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"sogen-soap: {said} (see sogen-soap --help)\n"


def test_an_unknown_outcome_says_where_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator(faults=FaultProfile({"commit_drop": 1.0})) as sim:
        done = run_in_process("update-payment-mean", "--wallet", "w7", "--id", "1", "--alias",
                              "a", "--timeout", "3", env=merchant_env(tmp_path, sim.url),
                              monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 5
    assert done.stderr.endswith(
        "its outcome is unknown. See what the wallet holds: sogen-soap wallet --wallet w7\n"
    )


@pytest.mark.parametrize(
    ("argv", "hinted"),
    [
        (["wallet", "--wallet", "w7"], True),
        (["get-wallet-data", "--wallet", "w7"], True),
        (["payment-mean", "--wallet", "w7", "--id", "1"], True),
        (["transaction", "--reference", "r1"], True),
        (["get-transaction-data", "--reference", "r1"], True),
        (["delete-payment-mean", "--wallet", "w7", "--id", "1"], False),
        (["sign-off", "--wallet", "w7"], False),
    ],
)
def test_a_failed_read_says_it_is_safe_to_run_again_and_a_change_does_not(
    argv: list[str], hinted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why: after a failure the operator's first question is "may I just run it
    again?"; for a read the answer is always yes, and the command says so.  A
    change's failure is not given that blanket word (its own message decides)."""
    with socket.socket() as bound:  # bound, never listening: the connection is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/services/v2/wallet"
        done = run_in_process(*argv, env=merchant_env(tmp_path, url), monkeypatch=monkeypatch)
    assert done.returncode == 5
    assert "Connection refused" in done.stderr
    assert done.stderr.endswith(" (a read: safe to run again)\n") is hinted


@pytest.mark.parametrize(
    ("url", "taken", "suffix", "name"),
    [
        ("https://h/services/v2/wallet?wsdl", set(), ".wsdl", "wallet.wsdl"),
        ("https://h/x?xsd=WalletService.xsd", set(), ".xsd", "WalletService.xsd"),
        ("https://h/x?xsd=WalletService.xsd", {"WalletService.xsd"}, ".xsd", "WalletService2.xsd"),
        ("https://h/x?xsd=W.xsd", {"W.xsd", "W2.xsd"}, ".xsd", "W3.xsd"),
        ("https://h/x?wsdl=Other.wsdl", set(), ".wsdl", "Other.wsdl"),
        ("https://h/x?xsd=../../etc/passwd", set(), ".xsd", "x.xsd"),
        ("https://h/x?xsd=common", set(), ".xsd", "common.xsd"),
        ("https://h/", set(), ".xsd", "schema.xsd"),
    ],
)
def test_a_downloaded_document_gets_a_safe_unique_local_name(
    url: str, taken: set[str], suffix: str, name: str
) -> None:
    before = set(taken)
    assert _local_name(url, taken, suffix) == name
    assert taken == before | {name}


def _chunked(simulator: Simulator, size_line: bytes, then: bytes = b"") -> bytes:
    """The start of the answer to a chunked POST of ``size_line``; ``then``, if any,
    sent after a pause in which the simulator has read what came first."""
    import time

    with socket.create_connection(
        ("127.0.0.1", int(simulator.url.split(":")[2].split("/")[0]))
    ) as s:
        s.settimeout(5)
        s.sendall(b"POST /services/v2/wallet HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: text/xml\r\n\r\n" + size_line)  # fmt: skip
        if then:
            time.sleep(0.2)
            s.sendall(then)
        return s.recv(200)


def test_a_chunk_size_line_longer_than_4096_bytes_is_refused(simulator: Simulator) -> None:
    answer = _chunked(simulator, b"1;" + b"x" * 4200)  # no line end yet, and too long
    assert answer.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("waiting", "rest"),
    [
        (b"1;" + b"x" * 4094, b"\r\n<\r\n0\r\n\r\n"),  # a chunk size line
        (b"1\r\n<\r\n0\r\nX-T: " + b"t" * 4091, b"\r\n\r\n"),  # a trailer line
    ],
    ids=["chunk-size", "trailer"],
)
def test_a_chunked_line_of_exactly_4096_bytes_is_waited_for(
    waiting: bytes, rest: bytes, simulator: Simulator
) -> None:
    """The bound is more than 4096 bytes: a line of 4096 still without its end is
    waited for, and read once its end comes."""
    assert len(waiting.rsplit(b"\n", 1)[-1]) == 4096
    answer = _chunked(simulator, waiting, then=rest)
    assert answer.startswith(b"HTTP/1.1 ") and not answer.startswith(b"HTTP/1.1 400 "), answer


def test_a_chunk_size_line_with_an_extension_is_read(simulator: Simulator) -> None:
    answer = _chunked(simulator, b"3;name=value\r\n<a>\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 ")  # answered (not a framing refusal)
    assert not answer.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("environment", "endpoint"),
    [
        ("test", "https://office-server-sogenactif.test.sips-services.com/services/v2/wallet"),
        (
            "https://Wallet.Example:443/services/v2/wallet",
            "https://wallet.example/services/v2/wallet",
        ),
        (
            "https://wallet.example:8443/services/v2/wallet",
            "https://wallet.example:8443/services/v2/wallet",
        ),
        ("http://127.0.0.1:80/services/v2/wallet", "http://127.0.0.1/services/v2/wallet"),
        ("http://[::1]:8080/services/v2/wallet", "http://[::1]:8080/services/v2/wallet"),
    ],
)
def test_an_endpoint_is_written_without_its_scheme_s_default_port(
    environment: str, endpoint: str
) -> None:
    from sogen_soap import WalletClient
    from sogen_soap.endpoints import resolve_endpoint

    assert resolve_endpoint(environment) == endpoint
    with WalletClient("002001000000001", "k", 1, environment=environment) as client:
        assert client.endpoint == endpoint
