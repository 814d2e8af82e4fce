"""``wsdl fetch``, WSDL loading and the simulator, bounded like a call.

``wsdl fetch`` follows no redirect, no other origin, at most a fixed number
and size of documents, and never deletes or overwrites what it did not
write.  Loading a WSDL reads only regular files in its own folder.  The
simulator closes idle and slow connections, so neither starves real clients.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_support import clean_env, free_port, run
from conftest import MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import ConfigurationError, ResponseError, WalletClient
from sogen_soap.simulator import Simulator
from sogen_soap.wsdl_cache import (
    MAX_DOCUMENTS,
    SOURCE_FILE,
    bundled_wsdl_path,
    fetch_wsdl,
    load_document,
)


def _answer(conn: socket.socket, status: bytes, body: bytes, *extra: bytes) -> None:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body)
    conn.sendall(head + b"".join(e + b"\r\n" for e in extra) + b"\r\n" + body)


@pytest.mark.parametrize("status", [b"300 Multiple Choices", b"301 Moved Permanently",
                                    b"302 Found", b"307 Temporary Redirect",
                                    b"308 Permanent Redirect"])  # fmt: skip
@pytest.mark.parametrize(
    "location",
    [b"http://203.0.113.7/services/v2/wallet?wsdl", b"/elsewhere?wsdl", b"https://127.0.0.1/x",
     None],  # none given: said as "?"
)  # fmt: skip
def test_wsdl_fetch_follows_no_redirect(
    location: bytes | None, status: bytes, tmp_path: Path
) -> None:
    """Every 3xx, 300 included, is a redirect, and none is followed."""
    extra = () if location is None else (b"Location: " + location,)

    def redirect(conn: socket.socket, request: bytes, stop: object) -> None:
        _answer(conn, status, b"", *extra)

    with HostileServer(redirect) as server:  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="redirects are not followed") as caught:
            fetch_wsdl(server.url, tmp_path / "out")
        assert server.requests == 1
    shown = "?" if location is None else location.decode()
    assert f"redirects (HTTP {status[:3].decode()}) to {shown}; " in str(caught.value)
    assert str(caught.value).endswith("redirects are not followed: fetch from the final address")
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_that_cannot_connect_says_it_was_the_fetch(tmp_path: Path) -> None:
    from sogen_soap import ConnectionFailed

    url = f"http://127.0.0.1:{free_port()}/services/v2/wallet"  # nobody listens there
    with pytest.raises(ConnectionFailed) as caught:
        fetch_wsdl(url, tmp_path / "out", timeout=5)
    assert str(caught.value) == f"wsdl fetch: could not connect to {url}: Connection refused"
    assert caught.value.operation == "wsdl fetch"
    assert not (tmp_path / "out").exists()


_TWO_IMPORTS = (
    b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    b'<xs:import namespace="urn:local"/>'  # no location: a namespace the schema knows
    b'<xs:import namespace="urn:b" schemaLocation="?xsd=b.xsd"/></xs:schema>'
)


def test_wsdl_fetch_goes_on_past_an_import_without_a_location(tmp_path: Path) -> None:
    def serve(conn: socket.socket, request: bytes, stop: object) -> None:
        target = request.split(b" ", 2)[1]
        body = _TWO_IMPORTS if target.endswith(b"?wsdl") else (
            b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>'
        )
        _answer(conn, b"200 OK", body)

    with HostileServer(serve) as server:  # type: ignore[arg-type]
        path = fetch_wsdl(server.url, tmp_path / "out", timeout=10)
        assert server.requests == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["SOURCE.json", "b.xsd", "service.wsdl"]
    assert b'schemaLocation="b.xsd"' in path.read_bytes()


def test_wsdl_fetch_refuses_an_import_whose_address_cannot_be_read(tmp_path: Path) -> None:
    wsdl = _TWO_IMPORTS.replace(b"?xsd=b.xsd", b"http://[bad/b.xsd")

    def serve(conn: socket.socket, request: bytes, stop: object) -> None:
        _answer(conn, b"200 OK", wsdl)

    with HostileServer(serve) as server:  # type: ignore[arg-type]
        url = server.url
        with pytest.raises(ConfigurationError) as caught:
            fetch_wsdl(url, tmp_path / "out", timeout=10)
    assert str(caught.value) == (
        f"wsdl fetch: {url}?wsdl imports http://[bad/b.xsd, outside {url}; refused"
    )
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_caps_each_document_at_the_size_given(
    simulator: Simulator, tmp_path: Path
) -> None:
    from sogen_soap import ResponseTooLarge

    with pytest.raises(ResponseTooLarge):
        fetch_wsdl(simulator.url, tmp_path / "out", max_document_bytes=1024)
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_writes_each_file_through_a_temporary_beside_it(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file is written whole or not at all: written beside its final name,
    then renamed (a rename from another file system is a copy, not atomic)."""
    import tempfile

    elsewhere = tmp_path / "tmp"
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
    seen: list[str] = []
    real_replace = os.replace

    def replace(source: str, target: object) -> None:
        seen.append(source)
        real_replace(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)
    path = fetch_wsdl(simulator.url, tmp_path / "out")
    assert list(elsewhere.iterdir()) == []
    assert seen and all(Path(s).parent == path.parent for s in seen), seen
    assert all(Path(s).name.startswith(".") for s in seen), seen  # hidden while written


def test_wsdl_fetch_stops_an_endless_chain_of_imports(tmp_path: Path) -> None:
    def chain(conn: socket.socket, request: bytes, stop: object) -> None:
        target = request.split(b" ", 2)[1]
        number = int(target.rsplit(b"=", 1)[1]) if b"xsd=" in target else 0
        body = (
            b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
            b'<xs:import namespace="urn:n%d" schemaLocation="?xsd=s%d.xsd"/></xs:schema>'
            % (number + 1, number + 1)
        ).replace(b"s%d.xsd" % (number + 1), b"%d" % (number + 1))
        _answer(conn, b"200 OK", body)

    with HostileServer(chain) as server:  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=f"more than {MAX_DOCUMENTS} documents"):
            fetch_wsdl(server.url, tmp_path / "out", timeout=10)
        assert server.requests == MAX_DOCUMENTS
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_never_touches_a_folder_it_did_not_get_empty(
    simulator: Simulator, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.wsdl"
    mine.write_text("the user's own file")
    with pytest.raises(ConfigurationError, match="not empty"):
        fetch_wsdl(simulator.url, tmp_path)
    assert mine.read_text() == "the user's own file"
    wsdl = fetch_wsdl(simulator.url, tmp_path, force=True)
    assert mine.read_text() == "the user's own file"  # not deleted, not rewritten
    source = json.loads((tmp_path / SOURCE_FILE).read_text())
    assert source["endpoint"] == simulator.url
    assert {f["url"] for f in source["files"].values()} == {
        f"{simulator.url}?wsdl",
        f"{simulator.url}?xsd=WalletService.xsd",
    }
    assert wsdl.name == "service.wsdl"
    fetched = datetime.fromisoformat(source["fetched_at"])  # when, in UTC, to the second
    assert fetched.utcoffset() == timedelta(0) and fetched.microsecond == 0
    assert abs(datetime.now(timezone.utc) - fetched) < timedelta(minutes=5)
    for name, entry in source["files"].items():  # each digest is of the file as written
        assert entry["sha256"] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()


def test_wsdl_fetch_on_the_command_line_refuses_a_file_as_output(
    simulator: Simulator, tmp_path: Path
) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    done = run("wsdl", "fetch", "--environment", simulator.url, "--output", str(target),
               env=clean_env(tmp_path))  # fmt: skip
    assert done.returncode == 2
    assert "not a folder" in done.stderr and "Traceback" not in done.stderr
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("location", ["/etc/passwd", "/dev/zero", "../outside.xsd"])
def test_a_wsdl_reads_only_regular_files_in_its_own_folder(location: str, tmp_path: Path) -> None:
    (tmp_path / "outside.xsd").write_text(Path(bundled_wsdl_path()).with_suffix(".xsd").read_text())
    folder = tmp_path / "wsdl"
    folder.mkdir()
    text = Path(bundled_wsdl_path()).read_text()
    (folder / "evil.wsdl").write_text(
        text.replace('schemaLocation="WalletService.xsd"', f'schemaLocation="{location}"')
    )
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=r"evil\.wsdl.*refused"):
        load_document(folder / "evil.wsdl")
    assert time.monotonic() - started < 2  # /dev/zero was never read


def test_a_file_that_is_not_a_wsdl_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wsdl"
    bogus.write_text("these are my notes, not XML")
    with pytest.raises(ConfigurationError, match=r"notes\.wsdl"):
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=bogus)


def test_idle_and_slow_connections_do_not_starve_real_clients() -> None:
    with Simulator(idle_timeout=1.0, request_timeout=1.0, workers=4) as sim:
        port = int(sim.url.split(":")[2].split("/")[0])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(600)]
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        stop = threading.Event()

        def drip() -> None:  # a request one byte at a time, forever
            while not stop.wait(0.05):
                for sock in slow:
                    with contextlib.suppress(OSError):  # closed by the simulator: the point
                        sock.send(b"P")

        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        try:
            time.sleep(0.2)
            with WalletClient(
                MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url, timeout=2
            ) as client:
                started = time.monotonic()
                for number in range(8):
                    assert client.add_card(f"w{number}", TEST_PAN, "203012").ok
                assert time.monotonic() - started < 2
            deadline = time.monotonic() + 5
            while sim.open_connections > 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert sim.open_connections <= 1  # the idle and the slow were closed
        finally:
            stop.set()
            dripper.join()
            for sock in idle + slow:
                sock.close()


def test_wsdl_fetch_asks_with_a_plain_get_and_names_an_answer_that_is_not_xml(
    tmp_path: Path,
) -> None:
    requests: list[bytes] = []

    def answer(conn: socket.socket, request: bytes, stop: object) -> None:
        requests.append(request)
        _answer(conn, b"200 OK", b"<html>maintenance</p>")

    with HostileServer(answer) as server:  # type: ignore[arg-type]
        url = server.url
        with pytest.raises(ResponseError) as caught:
            fetch_wsdl(url, tmp_path / "out")
    assert str(caught.value).startswith(f"wsdl fetch: {url}?wsdl: ")
    (request,) = requests
    head = request.split(b"\r\n")
    assert head[0].startswith(b"GET /services/v2/wallet?wsdl HTTP/1.1")
    lines = [line.lower() for line in head]  # header names are read without regard to case
    assert b"accept: */*" in lines and b"content-length: 0" in lines
    assert request.endswith(b"\r\n\r\n")  # no body on a GET
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "status", [b"203 Non-Authoritative Information", b"204 No Content", b"400 Bad Request"]
)
def test_wsdl_fetch_takes_only_a_200_as_a_document(status: bytes, tmp_path: Path) -> None:
    """Any answer but a 200 is refused with its status, even one carrying a WSDL."""
    from sogen_soap import HTTPStatusError

    wsdl = Path(bundled_wsdl_path()).read_bytes()

    def answer(conn: socket.socket, request: bytes, stop: object) -> None:
        _answer(conn, status, b"" if status.startswith(b"204") else wsdl)

    with HostileServer(answer) as server:  # type: ignore[arg-type]
        url = server.url
        with pytest.raises(HTTPStatusError) as caught:
            fetch_wsdl(url, tmp_path / "out")
    code = int(status.split()[0])
    assert caught.value.status_code == code
    assert str(caught.value) == f"wsdl fetch: HTTP {code} for {url}?wsdl"
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_refreshes_its_own_default_folder(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no output folder, the per-user cache is the command's own: fetched again,
    its files are replaced (an output folder given is refused unless --force)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = fetch_wsdl(simulator.url)
    assert first.is_relative_to(tmp_path / "cache")
    first.write_text("stale")
    again = fetch_wsdl(simulator.url)
    assert again == first and again.read_bytes().startswith(b"<?xml")


def test_wsdl_fetch_over_https_trusts_the_ca_bundle_given(tmp_path: Path) -> None:
    from sogen_soap import TLSError
    from sogen_soap.simulator.tls import make_test_pki

    pki = make_test_pki(tmp_path / "pki")
    with Simulator(tls=pki.server()) as sim:
        wsdl = fetch_wsdl(sim.url, tmp_path / "out", ca_bundle=str(pki.ca_cert), timeout=5)
        assert wsdl.read_bytes().count(b"WalletServiceImplService") >= 1
        with pytest.raises(TLSError):  # without it, the throw-away CA is not trusted
            fetch_wsdl(sim.url, tmp_path / "out2", timeout=5)


def test_wsdl_fetch_says_which_address_answered_an_http_error(tmp_path: Path) -> None:
    from sogen_soap import HTTPStatusError

    def not_found(conn: socket.socket, request: bytes, stop: object) -> None:
        _answer(conn, b"404 Not Found", b"no")

    with HostileServer(not_found) as server:  # type: ignore[arg-type]
        url = server.url
        with pytest.raises(HTTPStatusError) as caught:
            fetch_wsdl(url, tmp_path / "out")
    error = caught.value
    assert (error.status_code, error.operation) == (404, "wsdl fetch")
    assert error.endpoint == f"{url}?wsdl"
    assert str(error) == f"wsdl fetch: HTTP 404 for {url}?wsdl"


def test_wsdl_fetch_names_the_services_it_knows(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        fetch_wsdl("http://127.0.0.1:9/services/v2/wallet", tmp_path / "out", service="billing")
    assert str(caught.value) == (
        "wsdl fetch: service must be one of wallet, checkout, cashManagement, diagnostic"
    )
