"""The smaller edges an attacker found, each with the test that fails without its fix.

Escape sequences from the server, a proxy password with a slash, near
misses of ``--secret-key`` and stray arguments, symbolic links where the
batch writes, control characters in a WSDL's soapAction, IPv6 in CONNECT,
lone surrogates in JSON Lines, schemas outside the WSDL's folder, and WSDL
imports from another port.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
from pathlib import Path

import pytest
from cli_support import Done, free_port, merchant_env, run_in_process
from conftest import MERCHANT, TEST_PAN
from hostile import HostileServer

from sogen_soap import ConfigurationError, HTTPStatusError, RetryPolicy, WalletClient
from sogen_soap.endpoints import parse_url
from sogen_soap.simulator import Simulator
from sogen_soap.transport import Proxy, _connect_message
from sogen_soap.wsdl_cache import bundled_wsdl_path, fetch_wsdl

SECRET = "S3cr3t-v4lue-n0t-to-be-seen"


def _refused_404(
    reason: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Done]:
    """A 404 with ``reason`` as its phrase: the client's error text, and the command's run."""

    def evil(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 404 " + reason + b"\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")  # fmt: skip

    with HostileServer(evil) as server:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=server.url,
                          retry=RetryPolicy(attempts=1)) as client:  # fmt: skip
            with pytest.raises(HTTPStatusError) as caught:
                client.get_wallet_data("w")
        done = run_in_process("wallet", "--wallet", "w", env=merchant_env(tmp_path, server.url),
                              monkeypatch=monkeypatch)  # fmt: skip
    return str(caught.value), done


def test_escape_sequences_in_the_server_s_reason_phrase_never_reach_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said, done = _refused_404(b"\x1b]0;owned\x07\x1b[2J\x1b[31mNot Found", tmp_path, monkeypatch)
    assert "\x1b" not in said and "\x07" not in said
    assert "HTTP 404 ?]0;owned??[2J?[31mNot Found" in said
    assert done.returncode == 5 and "\x1b" not in done.stderr


def test_c1_control_characters_in_the_reason_phrase_are_replaced_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 8-bit forms (CSI is 0x9b, OSC 0x9d) act as escape sequences on terminals that
    take C1 controls; read as Latin-1 they are U+0080 to U+009F, and become ``?``."""
    said, done = _refused_404(b"\x9b2J\x9d0;owned\x9c\x85Not Found", tmp_path, monkeypatch)
    assert "HTTP 404 ?2J?0;owned??Not Found" in said
    for text in (said, done.stderr):
        assert not any("\x80" <= c <= "\x9f" for c in text)
    assert done.returncode == 5


@pytest.mark.parametrize(
    "url",
    [
        f"http://ops:pa/ss{SECRET}@127.0.0.1:bad",  # the port is wrong: said, not the password
        f"http://ops:{SECRET}/x@[::1",
        f"ftp://ops:p/{SECRET}@proxy.example:1",
    ],
)
def test_no_part_of_a_proxy_s_credentials_is_ever_echoed(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Proxy.from_url(url)
    assert SECRET not in str(caught.value) and "pa/ss" not in str(caught.value)


def test_a_proxy_password_holds_a_slash_or_an_at_sign_percent_encoded() -> None:
    import base64

    proxy = Proxy.from_url("http://ops:p%2Fa%40ss@proxy.example:3128")
    assert (proxy.host, proxy.port) == ("proxy.example", 3128)
    assert proxy.authorization == "Basic " + base64.b64encode(b"ops:p/a@ss").decode()
    with pytest.raises(ConfigurationError) as caught:  # unencoded: refused, never quoted
        Proxy.from_url("http://ops:p/a@ss@proxy.example:3128")
    assert str(caught.value) == (
        "proxy URL: its host and port cannot be read (the URL is not shown: it holds "
        "credentials; write / and @ in a password as %2F and %40)"
    )


@pytest.mark.parametrize("url", ["http://proxy.example:99999", "proxy.example:99999/"])
def test_a_proxy_url_without_credentials_is_refused_in_its_own_words(url: str) -> None:
    """No password to hide: the message says what is wrong (the port) and shows the
    URL as it was given, not the https:// form it is read in, and never blames a
    password that is not there."""
    with pytest.raises(ConfigurationError) as caught:
        Proxy.from_url(url)
    assert str(caught.value) == f"proxy URL has a bad port: {url!r}"


@pytest.mark.parametrize(
    "argv",
    [
        ["wallet", "--wallet", "w", f"--secret-ke={SECRET}"],
        ["wallet", "--wallet", "w", "--secretkey", SECRET],
        ["wallet", "--wallet", "w", "--key", SECRET],  # not --key-version: no abbreviations
        ["wallet", "--wallet", "w", SECRET],  # a stray value
        ["enrol", "x.csv", f"--secret={SECRET}"],
    ],
)
def test_near_misses_of_the_secret_key_flag_never_echo_the_value(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = run_in_process(*argv, env=merchant_env(tmp_path, "http://127.0.0.1:9/x"),
                          monkeypatch=monkeypatch)  # fmt: skip
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    assert "not shown" in done.stderr or "unexpected argument" in done.stderr


@pytest.mark.parametrize("which", ["--journal", "--output"])
def test_the_journal_and_the_results_are_never_written_through_a_link(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator: Simulator
) -> None:
    (tmp_path / "in.csv").write_text(f"wallet,card,expiry\nw,{TEST_PAN},203012\n")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    link = tmp_path / ("j.sqlite3" if which == "--journal" else "r.csv")
    link.symlink_to(victim)
    done = run_in_process("enrol", "in.csv", which, link.name, "--quiet",
                          env=merchant_env(tmp_path, simulator.url), monkeypatch=monkeypatch,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert f"{which}: {link.name} is a symbolic link; give the file itself" in done.stderr
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert simulator.requests_seen == 0


def test_the_journal_itself_refuses_a_link_and_changes_nothing_it_points_to(
    tmp_path: Path,
) -> None:
    from sogen_soap.cli.journal import Journal, JournalError

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    (tmp_path / "j").symlink_to(victim)
    with pytest.raises(JournalError):
        Journal(tmp_path / "j", "secret")
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def _wsdl_copy(folder: Path, replace: tuple[str, str]) -> Path:
    folder.mkdir(parents=True)
    source = Path(bundled_wsdl_path())
    shutil.copy(source.with_name("WalletService.xsd"), folder)
    text = source.read_text().replace(*replace)
    (folder / "WalletService.wsdl").write_text(text)
    return folder / "WalletService.wsdl"


def test_a_wsdl_whose_soap_action_holds_a_line_break_is_refused_before_sending(
    tmp_path: Path, simulator: Simulator
) -> None:
    wsdl = _wsdl_copy(tmp_path / "w", ('soapAction=""', 'soapAction="x&#13;&#10;X-Injected: 1"'))
    with pytest.raises(ConfigurationError, match="soapAction holds a control character"):
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                          environment=simulator.url, wsdl=wsdl) as client:  # fmt: skip
            client.get_wallet_data("w")
    assert simulator.requests_seen == 0


@pytest.mark.parametrize(
    "tail",
    ["/a\r\nX-Injected: 1", "/\x00", "/a\u00a0b", "/caf\u00e9", "/a\x7fb"],
    ids=["crlf", "nul", "nbsp", "non-ascii", "del"],
)
def test_an_endpoint_holding_a_control_or_non_ascii_character_is_refused_before_sending(
    tail: str, simulator: Simulator
) -> None:
    """A line break in the URL would split the request line it is written into (a
    header of the URL's choosing): such an endpoint is refused, whole, and nothing
    is sent."""
    with pytest.raises(ConfigurationError) as refused:
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                     environment=simulator.url + tail)  # fmt: skip
    said = "environment URL must be printable ASCII without control characters"
    assert str(refused.value) == said
    assert simulator.requests_seen == 0


def test_connect_names_an_ipv6_service_in_brackets() -> None:
    endpoint = parse_url("https://[::1]:8443/services/v2/wallet")
    message = _connect_message(endpoint, Proxy("127.0.0.1", 3128))
    assert message == b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"


def test_a_json_lines_row_with_a_lone_surrogate_refuses_the_file_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator: Simulator
) -> None:
    (tmp_path / "in.jsonl").write_text(
        f'{{"wallet": "w", "card": "{TEST_PAN}", "expiry": "203012"}}\n'
        '{"wallet": "w\\ud800", "card": "5100000000000000", "expiry": "203012"}\n'
    )
    done = run_in_process("enrol", "in.jsonl", "--quiet", env=merchant_env(tmp_path, simulator.url),
                          monkeypatch=monkeypatch, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "line 2: 'wallet' holds a lone surrogate" in done.stderr
    assert simulator.requests_seen == 0


def test_a_schema_in_a_sibling_folder_sharing_the_name_as_prefix_is_not_read(
    tmp_path: Path,
) -> None:
    wsdl = _wsdl_copy(tmp_path / "wsdl", (
        'schemaLocation="WalletService.xsd"', 'schemaLocation="../wsdl-private/WalletService.xsd"'
    ))  # fmt: skip
    (tmp_path / "wsdl-private").mkdir()
    shutil.copy(tmp_path / "wsdl" / "WalletService.xsd", tmp_path / "wsdl-private")
    with pytest.raises(ConfigurationError, match="outside its folder"):
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=wsdl)


def _fetch_refused(text: bytes, tmp_path: Path) -> str:
    """``wsdl fetch`` of a server answering ``text``: refused after that one request."""

    def serve(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(text), text))  # fmt: skip

    with HostileServer(serve) as server:
        with pytest.raises(ConfigurationError) as caught:
            fetch_wsdl(server.url, tmp_path / "out", timeout=5)
        assert server.requests == 1  # the other port was never asked
    return str(caught.value)


def test_wsdl_fetch_refuses_an_import_from_another_port_of_the_same_host(
    tmp_path: Path,
) -> None:
    other = free_port()
    text = (
        Path(bundled_wsdl_path())
        .read_bytes()
        .replace(
            b'schemaLocation="WalletService.xsd"',
            f'schemaLocation="http://127.0.0.1:{other}/services/v2/wallet?xsd=x"'.encode(),
        )
    )
    said = _fetch_refused(text, tmp_path)
    assert f"imports http://127.0.0.1:{other}/" in said
    assert "refused" in said
    assert not os.path.exists(tmp_path / "out" / "WalletService.xsd")


@pytest.mark.parametrize(
    ("element", "attribute"),
    [("xs:import", "schemaLocation"), ("xs:include", "schemaLocation"),
     ("xs:redefine", "schemaLocation"), ("wsdl:import", "location")],
)  # fmt: skip
def test_wsdl_fetch_confines_every_kind_of_reference_to_the_origin(
    element: str, attribute: str, tmp_path: Path
) -> None:
    """Each element through which a WSDL pulls in another document is followed only
    on the same origin: one left out would be fetched by nobody here but kept
    pointing elsewhere, and read from there by any other tool given the folder."""
    other = free_port()
    text = (
        '<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema"><wsdl:types><xs:schema>'
        f'<{element} {attribute}="http://127.0.0.1:{other}/elsewhere.xsd"/>'
        "</xs:schema></wsdl:types></wsdl:definitions>"
    ).encode()
    said = _fetch_refused(text, tmp_path)
    assert f"imports http://127.0.0.1:{other}/elsewhere.xsd, outside " in said
    assert not (tmp_path / "out").exists()


def test_wsdl_fetch_leaves_an_import_by_namespace_alone(tmp_path: Path) -> None:
    """An ``xs:import`` naming only a namespace points nowhere: it is kept so, not
    made to point at a document of the fetch."""
    text = (
        b'<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        b'xmlns:xs="http://www.w3.org/2001/XMLSchema"><wsdl:types><xs:schema>'
        b'<xs:import namespace="urn:example:other"/>'
        b"</xs:schema></wsdl:types></wsdl:definitions>"
    )

    def serve(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n%s" % (len(text), text))  # fmt: skip

    with HostileServer(serve) as server:
        fetched = fetch_wsdl(server.url, tmp_path / "out", timeout=5)
        assert server.requests == 1
    assert b'<xs:import namespace="urn:example:other"/>' in fetched.read_bytes()
