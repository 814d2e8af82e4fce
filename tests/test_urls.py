"""One notion of the host: the URL that is checked is the URL that is connected to.

Every spelling below was read by some HTTP stack as another host than
``urllib.parse`` sees, or is ambiguous enough to be; each is refused before
any socket exists.  The spellings that are accepted reach exactly the
loopback simulator.  Connections anywhere else are refused in-process
(conftest blocks every non-loopback connect and lookup), so no packet can
leave even if a check were wrong: the test then fails with NetworkBlocked.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import requests
from conftest import MERCHANT, TEST_PAN

from sogen_soap import AsyncWalletClient, ConfigurationError, RetryPolicy, WalletClient
from sogen_soap.endpoints import parse_endpoint
from sogen_soap.simulator import Simulator
from sogen_soap.wsdl_cache import fetch_wsdl

OTHER = "203.0.113.7"  # TEST-NET-3: documentation only, never a real host
REFUSED = [
    f"http://{OTHER}:80\\@127.0.0.1/services/v2/wallet",  # the reported one
    f"http://{OTHER}\\@127.0.0.1/services/v2/wallet",
    f"http://127.0.0.1@{OTHER}/services/v2/wallet",
    "http://user:pw@127.0.0.1/services/v2/wallet",
    f"http://{OTHER}#@127.0.0.1/services/v2/wallet",
    f"http://{OTHER}?@127.0.0.1/services/v2/wallet",
    f"http://{OTHER}/services/v2/wallet",
    "http://127.0.0.1.nip.io/services/v2/wallet",
    "http://localhost.example/services/v2/wallet",
    "http://notlocalhost/services/v2/wallet",  # only localhost itself is loopback
    "http://evil-localhost/services/v2/wallet",
    "http://127.0.0.1:0/services/v2/wallet",  # port 0 is no port
    "https://office-server.example/services/v2/wallet#top",  # a fragment, even in https
    "http://127.1/services/v2/wallet",
    "http://0x7f.0.0.1/services/v2/wallet",
    "http://0x7f000001/services/v2/wallet",
    "http://2130706433/services/v2/wallet",
    "http://0177.0.0.1/services/v2/wallet",
    "http://127.000.000.001/services/v2/wallet",
    "http://[::ffff:203.0.113.7]/services/v2/wallet",
    "http://[::1%25eth0]/services/v2/wallet",
    "http://127.0.0.1:80:81/services/v2/wallet",
    "http://127.0.0.1:99999/services/v2/wallet",
    "http://127.0.0.1:-1/services/v2/wallet",
    "http://127.0.0.1 /services/v2/wallet",
    " http://127.0.0.1/services/v2/wallet",
    "http://127.0.0.1\t/services/v2/wallet",
    "http://127.0.0.1\r\nHost: evil/services/v2/wallet",
    "http://127\u30020\u30020\u30021/services/v2/wallet",  # ideographic full stops
    "http://ⓛocalhost/services/v2/wallet",
    "http://%31%32%37.0.0.1/services/v2/wallet",
    "http:/127.0.0.1/services/v2/wallet",
    "http:127.0.0.1/services/v2/wallet",
    "//127.0.0.1/services/v2/wallet",
    "ftp://127.0.0.1/services/v2/wallet",
    "file:///etc/passwd",
    "https://user@office-server.example/services/v2/wallet",
    "https://office-server.example\\@127.0.0.1/services/v2/wallet",
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_spelling_that_could_be_read_two_ways_is_refused_before_any_socket(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    real = socket.socket.connect
    monkeypatch.setattr(
        socket.socket,
        "connect",
        lambda self, address: opened.append(address) or real(self, address),
    )
    with pytest.raises(ConfigurationError):
        parse_endpoint(url)
    with pytest.raises(ConfigurationError):
        WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url)
    with pytest.raises(ConfigurationError):
        AsyncWalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url)
    with pytest.raises(ConfigurationError):
        fetch_wsdl(url, "unused-folder")
    assert opened == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "127.9.9.9"])
def test_the_loopback_spellings_that_are_accepted_reach_the_simulator(host: str) -> None:
    with Simulator(host="127.0.0.1" if host != "127.9.9.9" else host) as sim:
        port = sim.url.split(":")[2].split("/")[0]
        url = f"http://{host}:{port}/services/v2/wallet"
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url) as c:
            assert c.add_card("w", TEST_PAN, "203012").ok

        async def call() -> bool:
            async with AsyncWalletClient(
                MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url
            ) as client:
                return (await client.get_wallet_data("w")).ok

        assert asyncio.run(call())


def test_ipv6_loopback_is_accepted() -> None:
    with Simulator(host="::1") as sim:
        assert sim.url.startswith("http://[::1]:")
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=sim.url) as c:
            assert c.add_card("w", TEST_PAN, "203012").ok


def _add_one(url: str, asynchronous: bool) -> object:
    options: dict[str, Any] = {"environment": url, "timeout": (1, 2)}
    if not asynchronous:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, **options) as client:
            return client.add_card("w", TEST_PAN, "203012")

    async def main() -> object:
        async with AsyncWalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, 1, **options
        ) as client:
            return await client.add_card("w", TEST_PAN, "203012")

    return asyncio.run(main())


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_localhost_resolving_elsewhere_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    """/etc/hosts could point localhost at another machine: plain http still refuses."""
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (OTHER, port))]

    def connect(self: socket.socket, address: Any) -> None:
        connects.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    with pytest.raises(ConfigurationError) as caught:
        _add_one("http://localhost:1/x", asynchronous)
    assert str(caught.value) == "refusing plain http: localhost resolves to a non-loopback address"
    assert connects == []


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_each_address_a_name_resolves_to_is_tried_in_turn(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, asynchronous: bool
) -> None:
    """``localhost`` is often ::1 first and the service may listen on 127.0.0.1 only:
    an address that refuses is not the end of the call (nothing listens on 127.0.0.2)."""
    port = int(simulator.url.split(":")[2].split("/")[0])
    tried: list[Any] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        tried.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in ("127.0.0.2", "127.0.0.1")]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = simulator.url.replace("127.0.0.1", "localhost")
    assert _add_one(url, asynchronous).ok  # type: ignore[attr-defined]
    assert tried == ["localhost"] and simulator.store.count_cards() == 1


def test_the_endpoint_shown_is_the_one_connected_to() -> None:
    endpoint = parse_endpoint("HTTP://LocalHost:8080/services/v2/wallet?x=1")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("http", "localhost", 8080)
    assert endpoint.target == "/services/v2/wallet?x=1"
    assert endpoint.url == "http://localhost:8080/services/v2/wallet?x=1"
    # a query with no path: the request line needs its "/" (RFC 9112 origin-form)
    assert parse_endpoint("http://127.0.0.1:8080?x=1").target == "/?x=1"
    assert parse_endpoint("test").host == "office-server-sogenactif.test.sips-services.com"


_LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters: the most DNS takes


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://[::1]x/s", "malformed IPv6 address in 'https://[::1]x/s'"),
        ("https://[::1/s", "malformed IPv6 address in 'https://[::1/s'"),
        ("https:///s", "environment URL has no host: 'https:///s'"),
        ("https://exa_mple.com/s",
         "'exa_mple.com' in 'https://exa_mple.com/s' is not a valid host name"),
        (f"https://{_LONGEST}e/s",
         f"'{_LONGEST}e' in 'https://{_LONGEST}e/s' is not a valid host name"),
        ("http://127.1/s", "'127.1' in 'http://127.1/s' is not a plain dotted IPv4 address"),
        # a last label of digits makes a URL parser (WHATWG's) read the host as IPv4
        ("https://service.123/s",
         "'service.123' in 'https://service.123/s' is not a plain dotted IPv4 address"),
        # inet_aton reads a hexadecimal host as an address (127.0.0.1): refused, over https too
        ("https://0x7f000001/s",
         "'0x7f000001' in 'https://0x7f000001/s' is not a plain dotted IPv4 address"),
        ("http://[::1%25eth0]/s",
         "'[::1%25eth0]' in 'http://[::1%25eth0]/s': no percent-encoding or zone ids in a host"),
        ("https://h.example:0/s", "environment URL has a bad port: 'https://h.example:0/s'"),
        ("https://h.example:65536/s", "environment URL has a bad port: 'https://h.example:65536/s'"),
        ("https://h.example:/s", "environment URL has a bad port: 'https://h.example:/s'"),
    ],
)  # fmt: skip
def test_each_refused_url_says_why(url: str, said: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_endpoint(url)
    assert str(caught.value) == said


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        (f"https://{_LONGEST}/s", _LONGEST, 443),
        ("https://H.Example:65535/s", "h.example", 65535),
        ("https://h.example:1/s", "h.example", 1),
        ("http://[0:0:0:0:0:0:0:1]:8080/s", "::1", 8080),
    ],
)
def test_the_edges_that_are_accepted_are_read_one_way(url: str, host: str, port: int) -> None:
    endpoint = parse_endpoint(url)
    assert (endpoint.host, endpoint.port) == (host, port)
    # written back the same way it reads (an IPv6 host bracketed), for the WSDL
    # cache, the hooks and every message that names the endpoint
    assert parse_endpoint(endpoint.url) == endpoint


@pytest.mark.parametrize("suffix", ["/", "?tenant=7", "/?tenant=7"])
@pytest.mark.parametrize("transport", ["soap", "json"])
def test_a_wallet_url_ending_in_a_slash_or_a_query_reaches_every_service(
    transport: str, suffix: str
) -> None:
    """``.../services/v2/wallet/`` (a slash pasted with the URL), or the URL with a
    query: the wallet and the payment services beside it are reached, over SOAP and
    JSON (the payment services' paths are the wallet's path beside it, without its
    query), and the simulator routes the wallet's path with its slash as without."""
    with Simulator() as sim:
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
                          environment=sim.url + suffix, transport=transport,  # type: ignore[arg-type]
                          retry=RetryPolicy(attempts=1)) as client:  # fmt: skip
            mean = client.add_card("w", TEST_PAN, "203012").payment_mean_id
            paid = client.wallet_order("w", str(mean), 1050)
            assert paid.ok, paid.message
            looked = client.get_transaction_data(str(paid.transaction_reference))
            assert looked.ok, looked.message
        answer = requests.get(sim.url + "/?wsdl", timeout=5)
        assert answer.status_code == 200 and b"definitions" in answer.content


@pytest.mark.parametrize("operation", ["getWalletData", "getTransactionData"])
def test_a_json_base_at_the_root_sends_one_slash_before_the_function(operation: str) -> None:
    """A JSON environment given as the bare host (``http://host:port/``) sends
    ``POST /<function>``: a doubled slash is another path to many servers."""
    from hostile import HostileServer

    from sogen_soap import HTTPStatusError

    def not_found(conn: socket.socket, request: bytes, stop: object) -> None:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with HostileServer(not_found) as server, WalletClient(
        MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version,
        environment=f"{server.base}/", transport="json", retry=RetryPolicy(attempts=1),
    ) as client:  # fmt: skip
        with pytest.raises(HTTPStatusError):
            if operation == "getWalletData":
                client.get_wallet_data("w")
            else:
                client.get_transaction_data("t1")
    expected = {"getWalletData": "/getWalletData",  # the wallet is the base itself
                "getTransactionData": "/rs-services/v2/diagnostic/getTransactionData"}[operation]
    line = server.bodies[0].split(b"\r\n", 1)[0].decode()
    assert line == f"POST {expected} HTTP/1.1", line
