"""Properties batch 8 of realistic bugs found untested: XML text escaping, the markup
cap counting attributes, a fault's text masked, interim answers, formula starts,
an IPv6 proxy target, and a connect attempt cut at the deadline's remainder."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from conftest import MERCHANT
from test_transport import _never_accepting

from sogen_soap import ConnectionFailed, ResponseError, WalletClient
from sogen_soap.cli.enrol import spreadsheet_safe
from sogen_soap.endpoints import parse_url
from sogen_soap.envelope import MAX_MARKUP, parse_reply, parse_xml_safely, render_request
from sogen_soap.http11 import ResponseParser
from sogen_soap.retry import RetryPolicy
from sogen_soap.transport import Proxy, _connect_message
from sogen_soap.wsdl_cache import bundled_shapes


@pytest.mark.parametrize("alias", ["a&b <c> d\re", "line\rbreak", "x>y", "a]]>b"])
def test_text_with_xml_specials_and_a_carriage_return_arrives_as_it_was(alias: str) -> None:
    """``&``, ``<``, ``>`` and ``\\r`` are escaped, each on its own too (a bare ``\\r``
    would reach the service as ``\\n``: XML normalises line ends, and the seal would
    not match; a bare ``]]>`` is not well-formed XML text)."""
    body = render_request(bundled_shapes()["updatePaymentMean"], {"paymentMeanAlias": alias})
    root = parse_xml_safely(body)
    (element,) = [e for e in root.iter() if str(e.tag).endswith("paymentMeanAlias")]
    assert element.text == alias


def test_attributes_count_against_the_markup_cap() -> None:
    """One tag holding more attributes than the cap is refused unparsed."""
    attributes = b" ".join(b'a%d=""' % i for i in range(MAX_MARKUP + 1))
    with pytest.raises(ResponseError, match="more than"):
        parse_xml_safely(b"<r " + attributes + b"/>")


def test_a_faults_text_is_masked() -> None:
    fault = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:Server</faultcode><faultstring>card "
        b"4111111111111111 refused</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )
    reply = parse_reply(fault)
    assert reply.fault is not None
    assert "4111111111111111" not in reply.fault.message
    assert "4111##########11" in reply.fault.message


@pytest.mark.parametrize("interim", [100, 102, 103])
def test_every_interim_answer_but_101_is_skipped(interim: int) -> None:
    parser = ResponseParser(1024)
    parser.feed(
        b"HTTP/1.1 %d Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        % interim
    )
    assert parser.done and parser.status == 200 and parser.body == b"ok"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_neutralised(start: str) -> None:
    assert spreadsheet_safe(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert spreadsheet_safe(f"a{start}") == f"a{start}"


def test_an_ipv6_target_is_bracketed_in_the_proxys_connect() -> None:
    proxy = Proxy.from_url("http://127.0.0.1:3128")
    message = _connect_message(parse_url("https://[::1]:8443/services/v2/wallet"), proxy)
    assert message.startswith(b"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n")


def test_a_later_connect_attempt_gets_only_what_the_deadline_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two addresses that never accept: the first takes the connect timeout (0.3 s);
    the second is given what is left of the call's 0.5 s, not another 0.3 s."""
    given: list[float] = []

    class Recording(socket.socket):
        def settimeout(self, value: Any) -> None:
            if value is not None:
                given.append(float(value))
            super().settimeout(value)

    with _never_accepting() as url:
        port = parse_url(url).port
        twice = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))] * 2
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: twice)
        monkeypatch.setattr(socket, "socket", Recording)
        client = WalletClient(
            MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=url,
            timeout=(0.3, 0.2), retry=RetryPolicy(attempts=1),
        )  # fmt: skip
        with client, pytest.raises(ConnectionFailed):
            client.get_wallet_data("w")
    assert len(given) == 2 and given[0] == pytest.approx(0.3)
    assert given[1] < 0.25  # the 0.2 s left of the call, not the connect's own 0.3
