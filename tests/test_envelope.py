"""Reading SOAP replies strictly and showing them safely, word for word.

Pure-function tests: the bytes are written here by hand, as a hostile or an
unusual server could send them.
"""

from __future__ import annotations

import pytest
from lxml import etree

from sogen_soap.envelope import parse_reply, parse_xml_safely, redacted_xml
from sogen_soap.errors import ResponseError

ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def _envelope(body: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{ENV}"><soap:Body>{body}</soap:Body></soap:Envelope>'.encode()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>',
         "the response declares a DTD or entities (the shape of an XXE or entity expansion "
         "attack); refused"),
        (b'<x><!ENTITY a "b"></x>',
         "the response declares a DTD or entities (the shape of an XXE or entity expansion "
         "attack); refused"),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'.encode(
            "utf-16"), "the response declares a DTD; refused"),
        (b"<x><y></x>", "the response is not well-formed XML"),
        (b"", "the response is not well-formed XML"),
        (b"<x/>", "the response is not a SOAP 1.1 envelope"),
        (b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
         "the response is not a SOAP 1.1 envelope"),
        (_envelope(""), "the response has an empty SOAP body"),
        (_envelope("<!-- only a comment -->"), "the response has an empty SOAP body"),
        (f'<soap:Envelope xmlns:soap="{ENV}"/>'.encode(), "the response has an empty SOAP body"),
    ],
)  # fmt: skip
def test_replies_that_are_not_usable_are_named(content: bytes, message: str) -> None:
    with pytest.raises(ResponseError) as caught:
        parse_reply(content)
    assert str(caught.value) == message


def test_the_output_is_read_with_or_without_an_output_element() -> None:
    wrapped = parse_reply(
        _envelope("<!-- c --><ns:addCardResponse xmlns:ns='urn:x'><ns:output>"
                  "<ns:walletResponseCode>00</ns:walletResponseCode></ns:output>"
                  "</ns:addCardResponse>")
    )  # fmt: skip
    bare = parse_reply(
        _envelope("<addCardResponse><walletResponseCode>00</walletResponseCode>"
                  "<paymentMeanId>3</paymentMeanId></addCardResponse>")
    )  # fmt: skip
    assert wrapped.fault is None and wrapped.output == {"walletResponseCode": "00"}
    assert bare.output == {"walletResponseCode": "00", "paymentMeanId": "3"}


def test_a_fault_is_read_with_its_text_masked() -> None:
    reply = parse_reply(
        _envelope("<soap:Fault><faultcode> soap:Client </faultcode>"
                  "<faultstring> bad card 4111 1111 1111 1111 </faultstring></soap:Fault>")
    )  # fmt: skip
    assert reply.output is None and reply.fault is not None
    assert (reply.fault.code, reply.fault.message) == ("soap:Client", "bad card 4111##########11")
    bare = parse_reply(_envelope("<soap:Fault/>"))
    assert bare.fault is not None and (bare.fault.code, bare.fault.message) == ("soap:Server", "")


@pytest.mark.parametrize(
    ("faultcode", "qname"),
    [
        ('<faultcode xmlns:v="urn:vendor:faults">v:Busy</faultcode>', "{urn:vendor:faults}Busy"),
        ("<faultcode>soap:Client</faultcode>", f"{{{ENV}}}Client"),
        ("<faultcode>Server</faultcode>", f"{{{ENV}}}Server"),  # no prefix: SOAP's own
        ("<faultcode>zz:Server</faultcode>", f"{{{ENV}}}Server"),  # a prefix not in scope
    ],
)  # fmt: skip
def test_a_fault_code_is_qualified_by_the_prefixes_where_it_was_written(
    faultcode: str, qname: str
) -> None:
    reply = parse_reply(_envelope(f"<soap:Fault>{faultcode}<faultstring>x</faultstring></soap:Fault>"))
    assert reply.fault is not None and reply.fault.qname == qname


def test_a_fault_code_s_control_characters_are_shown_as_question_marks_in_both_forms() -> None:
    """A C1 control (U+009B, a terminal's escape introducer) is valid XML text: neither
    the code as written nor its qualified name may carry it to a log or a terminal."""
    fault = "<soap:Fault><faultcode>soap:Busy\u009b31m</faultcode><faultstring>x</faultstring>"
    reply = parse_reply(_envelope(fault + "</soap:Fault>"))
    assert reply.fault is not None
    assert reply.fault.code == "soap:Busy?31m"
    assert reply.fault.qname == f"{{{ENV}}}Busy?31m"


def test_comments_and_processing_instructions_are_dropped() -> None:
    root = parse_xml_safely(b"<x><!-- note --><?pi data?><y>1</y></x>")
    assert [child.tag for child in root] == ["y"]


def test_debug_logs_show_no_card_seal_or_token_and_change_nothing() -> None:
    root = etree.fromstring(
        b"<r><cardNumber>4100000000000000</cardNumber><seal>abcd</seal>"
        b"<paymentToken>tok</paymentToken><seal/><note>card 4111111111111111</note>"
        b"<cardNumber><inner>x</inner></cardNumber></r>"
    )
    before = etree.tostring(root)
    shown = redacted_xml(root)
    assert shown == (
        "<r><cardNumber>4100##########00</cardNumber><seal>[hidden]</seal>"
        "<paymentToken>[hidden]</paymentToken><seal/><note>card 4111##########11</note>"
        "<cardNumber><inner>x</inner></cardNumber></r>"
    )
    assert etree.tostring(root) == before  # the message itself is untouched


def test_fields_are_read_the_same_way_on_both_sides() -> None:
    from sogen_soap.xmlfields import element_values

    root = etree.fromstring(
        b'<o xmlns:ns="urn:x" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b"<ns:a>1</ns:a><!-- c --><b/><c xsi:nil='true'/><d xsi:nil='1'/><e xsi:nil='false'>5</e>"
        b"<l>x</l><l>y</l><l>z</l><n><k>v</k><k>w</k></n><one>  spaced  </one></o>"
    )
    assert element_values(root) == {
        "a": "1", "b": "", "c": None, "d": None, "e": "5", "l": ["x", "y", "z"],
        "n": {"k": ["v", "w"]}, "one": "  spaced  ",
    }  # fmt: skip


def test_a_document_type_alone_is_refused_before_parsing() -> None:
    with pytest.raises(ResponseError) as caught:
        parse_xml_safely(b"<!DOCTYPE x><x/>")
    assert str(caught.value) == (
        "the response declares a DTD or entities (the shape of an XXE or entity expansion "
        "attack); refused"
    )


def test_nesting_deeper_than_the_parser_limit_is_refused() -> None:
    """libxml2's safe limits stay on (no ``huge_tree``): 256 levels are read, 257 are not,
    so a hostile answer cannot make the parse deep (the service nests four levels)."""
    assert parse_xml_safely(b"<a>" * 256 + b"</a>" * 256).tag == "a"
    with pytest.raises(ResponseError) as caught:
        parse_xml_safely(b"<a>" * 257 + b"</a>" * 257)
    assert str(caught.value) == "the response is not well-formed XML"


def test_a_request_whose_parts_live_in_two_namespaces_gives_each_its_own_prefix() -> None:
    """A WSDL given with ``wsdl=`` may put the operation element in one namespace and
    its fields in another (an imported schema): each namespace is declared once,
    under its own prefix, and every element lands in its own."""
    from sogen_soap.envelope import OperationShape, render_request

    shape = OperationShape(
        name="addCard", wrapper="input", fields=frozenset({"merchantId", "note"}),
        required=frozenset(), soap_action="", body_qname="{urn:op}addCard",
        wrapper_qname="{urn:fields}input",
        layout=(("merchantId", "{urn:fields}merchantId"), ("note", "{urn:other}note")),
    )  # fmt: skip
    root = parse_xml_safely(render_request(shape, {"merchantId": "011223344550000", "note": "n"}))
    tags = [str(e.tag) for e in root.iter()][2:]  # after the Envelope and Body
    assert tags == ["{urn:op}addCard", "{urn:fields}input", "{urn:fields}merchantId",
                    "{urn:other}note"]  # fmt: skip
    assert len(set(root.nsmap.values())) == len(root.nsmap) == 4  # the SOAP one and three


def test_fields_of_an_unqualified_schema_are_written_in_no_namespace() -> None:
    """A WSDL whose schema says ``elementFormDefault="unqualified"`` (zeep then gives
    its fields names without a namespace): they are written without a prefix, in no
    namespace, where such a service reads them."""
    from sogen_soap.envelope import OperationShape, render_request

    shape = OperationShape(
        name="addCard", wrapper="input", fields=frozenset({"merchantId"}),
        required=frozenset(), soap_action="", body_qname="{urn:op}addCard",
        wrapper_qname="input", layout=(("merchantId", "merchantId"),),
    )  # fmt: skip
    sent = render_request(shape, {"merchantId": "011223344550000"})
    root = parse_xml_safely(sent)
    assert [str(e.tag) for e in root.iter()][2:] == ["{urn:op}addCard", "input", "merchantId"]
    assert b"<input><merchantId>011223344550000</merchantId></input>" in sent
