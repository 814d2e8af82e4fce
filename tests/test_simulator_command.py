"""``sogen-soap simulator`` as an operator meets it: one line for each mistake, under
its own name, no traceback; and the service's paths only."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cli_support import clean_env, run

from sogen_soap.simulator import Simulator


@pytest.fixture
def busy_port() -> int:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def _one_line(done: object) -> str:
    stderr: str = done.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_port_in_use_is_one_line(busy_port: int, tmp_path: Path) -> None:
    done = run("simulator", "--port", str(busy_port), env=clean_env(tmp_path))
    assert done.returncode == 2
    assert _one_line(done) == (
        f"sogen-soap simulator: cannot listen on 127.0.0.1:{busy_port}: the port is in use; "
        "give another --port"
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "70000"], "argument --port: a port is 0 to 65535, not '70000'"),
        (["--latency", "-1"], "argument --latency: must be 0 or more seconds, not -1"),
        (["--fault-delay", "nan"], "argument --fault-delay: must be 0 or more seconds, not nan"),
        (["--db", "{tmp}/no/such/w.sqlite3"], "--db {tmp}/no/such/w.sqlite3: no such folder"),
        (["--db", "{tmp}/notes.txt"], "--db {tmp}/notes.txt: not a simulator store"),
        # the store's own refusal, as it says it (not under "cannot start")
        (["--db", "{tmp}/w.sqlite3"],
         "simulator: {tmp}/w.sqlite3.key is not a sogen-soap simulator key"),
        (["--colour", "blue"], "unrecognized arguments"),
        (["--latency", "soon"], "argument --latency: expected seconds, not 'soon'"),
        (["--lat", "1"], "unrecognized arguments: --lat 1"),  # no abbreviations
        # an address this machine does not have (TEST-NET-1): bind() fails, nothing is sent
        (["--host", "192.0.2.1"],
         "cannot start on 192.0.2.1:0 (--db :memory:): Cannot assign requested address"),
    ],
)  # fmt: skip
def test_each_mistake_is_one_line_under_the_command_s_own_name(
    args: list[str], said: str, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a database, some notes\n" * 100)
    (tmp_path / "w.sqlite3.key").write_bytes(b"short")  # a key is 32 bytes
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = run("simulator", *args, env=clean_env(tmp_path))
    assert done.returncode == 2
    line = _one_line(done)
    assert line.startswith("sogen-soap simulator: ")
    assert said.replace("{tmp}", str(tmp_path)) in line
    assert "python -m" not in line


def test_a_corrupt_embedded_store_names_its_path_and_how_to_start_afresh(tmp_path: Path) -> None:
    store = tmp_path / "data" / "sogen-soap" / "simulator.sqlite3"
    store.parent.mkdir(parents=True)
    store.write_text("not a database\n" * 100)
    done = run("wallet", "--wallet", "w", env=clean_env(tmp_path))
    assert done.returncode == 2
    line = _one_line(done)
    assert f"the embedded simulator's store {store} cannot be used" in line
    assert "remove it and its key file" in line


@pytest.mark.parametrize("path", ["/services/v2/walet", "/", "/rs-services/v2/walet/addCard"])
def test_a_path_that_is_not_the_service_s_is_404_naming_the_right_ones(
    path: str, simulator: Simulator
) -> None:
    base = simulator.url.split("/services/")[0]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{base}{path}?wsdl", timeout=5)  # noqa: S310
    assert caught.value.code == 404
    body = caught.value.read().decode()
    assert "/services/v2/wallet" in body and "/rs-services/v2/wallet/<function>" in body


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.1", False)],  # noqa: S104 - names, no socket
)  # fmt: skip
def test_listening_beyond_loopback_is_told_apart(host: str, loopback: bool) -> None:
    from sogen_soap.simulator.__main__ import _loopback

    assert _loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "tls", "said"),
    [
        ("127.0.0.1", False, None),
        ("::1", False, None),
        ("0.0.0.0", False, "listening on 0.0.0.0, beyond this machine's loopback, in plain "  # noqa: S104
         "http; it accepts the public demo merchant 002001000000001 and its published key: "
         "anyone who can reach it can use it"),
        ("192.0.2.1", True, "listening on 192.0.2.1, beyond this machine's loopback; it "
         "accepts the public demo merchant 002001000000001 and its published key: anyone "
         "who can reach it can use it"),
    ],
)  # fmt: skip
def test_the_warning_beyond_loopback_says_what_is_exposed(
    host: str, tls: bool, said: str | None
) -> None:
    """Worked out from the address alone (no socket is opened here): plain http is
    said when there is no TLS, and loopback gets no warning."""
    from sogen_soap.simulator.__main__ import _exposure

    assert _exposure(host, tls=tls) == said


def test_the_endpoint_is_the_first_line_on_a_pipe_while_it_serves(tmp_path: Path) -> None:
    """The module's promise: "The first line on stdout is the endpoint URL". A
    harness reads it from a pipe while the simulator runs, so it must be flushed
    at once, not when the simulator stops."""
    import select
    import signal
    import subprocess
    import sys

    env = clean_env(tmp_path)
    env.pop("PYTHONUNBUFFERED", None)  # as a harness starts it: stdout block-buffered
    process = subprocess.Popen(
        [sys.executable, "-m", "sogen_soap.simulator"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)
        assert readable, "no first line within 30 s"
        line = process.stdout.readline().decode()
        assert process.poll() is None  # still serving
        assert line.startswith("http://127.0.0.1:") and line.endswith("/services/v2/wallet\n")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)

