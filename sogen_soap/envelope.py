"""SOAP messages in and out: building a sealed request, reading a reply.

Pure functions over lxml trees (no I/O), shared by every client flavour.

Requests are built by zeep from the operation's input type *as the WSDL
declares it*, then sealed over the texts zeep actually serialized: what is
sealed is exactly what is sent, whatever the WSDL's element order or types.

Replies are read leniently from the raw XML: any element order, unknown extra
fields tolerated, and every value kept as the exact text received, because
the response seal is computed over those texts (an ``xs:dateTime`` parsed and
re-printed would no longer match).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from .errors import ConfigurationError, ResponseError
from .redact import mask_pan, printable, redact_text
from .results import SoapFault
from .seal import compute_seal
from .xmlfields import element_values

__all__ = [
    "SOAP_ENV_NS",
    "OperationShape",
    "Reply",
    "build_sealed_request",
    "operation_shape",
    "parse_reply",
    "redacted_xml",
    "render_request",
    "shape_from_json",
    "shape_to_json",
]

SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True)
class OperationShape:
    """An operation's request as the WSDL lays it out.

    ``wrapper`` is the single child of the operation element that holds the
    fields (``input`` in the vendor's services), or ``None`` when the fields
    sit directly in the operation element.  ``layout`` lists the fields'
    qualified names in the order the WSDL declares them; it is set when every
    field is a single simple value, and then requests are rendered straight
    from it (a tenth of zeep's per-call serialisation cost) instead of
    through zeep.  A test holds both renderings equal.
    """

    name: str
    wrapper: str | None
    fields: frozenset[str]
    required: frozenset[str]
    soap_action: str
    body_qname: str = ""
    wrapper_qname: str | None = None
    layout: tuple[tuple[str, str], ...] | None = None
    _pieces: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def shape_to_json(shape: OperationShape) -> dict[str, Any]:
    return {
        "name": shape.name,
        "wrapper": shape.wrapper,
        "fields": sorted(shape.fields),
        "required": sorted(shape.required),
        "soap_action": shape.soap_action,
        "body_qname": shape.body_qname,
        "wrapper_qname": shape.wrapper_qname,
        "layout": None if shape.layout is None else [list(pair) for pair in shape.layout],
    }


def shape_from_json(data: Mapping[str, Any]) -> OperationShape:
    layout = data["layout"]
    return OperationShape(
        name=str(data["name"]),
        wrapper=data["wrapper"],
        fields=frozenset(data["fields"]),
        required=frozenset(data["required"]),
        soap_action=str(data["soap_action"]),
        body_qname=str(data["body_qname"]),
        wrapper_qname=data["wrapper_qname"],
        layout=None if layout is None else tuple((str(a), str(b)) for a, b in layout),
    )


def _children(xsd_type: Any) -> list[tuple[str, Any]]:
    return list(getattr(xsd_type, "elements", None) or [])


def operation_shape(binding: Any, name: str) -> OperationShape:
    """Read ``name``'s request layout from a zeep binding."""
    from zeep.xsd import AnySimpleType

    try:
        operation = binding.get(name)
    except ValueError:
        operation = None
    if operation is None:
        raise ConfigurationError(f"the WSDL has no operation {name!r}")
    body_elements = _children(operation.input.body.type)
    wrapper: str | None = None
    elements = body_elements
    if len(body_elements) == 1 and _children(body_elements[0][1].type):
        wrapper = body_elements[0][0]
        elements = _children(body_elements[0][1].type)
    names = frozenset(field for field, _ in elements)
    required = frozenset(field for field, element in elements if element.min_occurs >= 1)
    simple = all(
        isinstance(element.type, AnySimpleType) and element.max_occurs == 1
        for _, element in elements
    )
    soap_action = operation.soapaction or ""
    if not soap_action.isprintable():  # it goes into every request's headers as it is
        raise ConfigurationError(f"the WSDL's {name} soapAction holds a control character; refused")
    return OperationShape(
        name=name,
        wrapper=wrapper,
        fields=names,
        required=required,
        soap_action=soap_action,
        body_qname=operation.input.body.qname.text,
        wrapper_qname=body_elements[0][1].qname.text if wrapper else None,
        layout=tuple((field, element.qname.text) for field, element in elements)
        if simple
        else None,
    )


_SPECIAL: Final = re.compile(r"[&<>\r]")


def _escape(text: str) -> str:
    if _SPECIAL.search(text) is None:  # ids, codes, digits: nothing to escape
        return text
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _split(qname: str) -> tuple[str | None, str]:
    if qname.startswith("{"):
        namespace, _, local = qname[1:].partition("}")
        return namespace, local
    return None, qname


def _compile(shape: OperationShape) -> tuple[str, str, dict[str, tuple[str, str]]]:
    """The envelope's fixed head and tail, and each field's open and close tags."""
    assert shape.layout is not None
    prefixes: dict[str, str] = {SOAP_ENV_NS: "soap-env"}

    def tag(qname: str) -> str:
        namespace, local = _split(qname)
        if namespace is None:
            return local
        prefix = prefixes.setdefault(namespace, f"ns{len(prefixes) - 1}")
        return f"{prefix}:{local}"

    containers = [tag(shape.body_qname)]
    if shape.wrapper_qname is not None:
        containers.append(tag(shape.wrapper_qname))
    fields = {name: (f"<{tag(q)}>", f"</{tag(q)}>") for name, q in shape.layout}
    declarations = "".join(f' xmlns:{p}="{_escape(ns)}"' for ns, p in prefixes.items())
    head = (
        "<?xml version='1.0' encoding='utf-8'?>\n"
        f"<soap-env:Envelope{declarations}><soap-env:Body>" + "".join(f"<{c}>" for c in containers)
    )
    tail = "".join(f"</{c}>" for c in reversed(containers)) + "</soap-env:Body></soap-env:Envelope>"
    return head, tail, fields


def render_request(shape: OperationShape, values: Mapping[str, str]) -> bytes:
    """The request envelope as bytes, from the precompiled layout, in WSDL order."""
    compiled = shape._pieces.get("compiled")
    if compiled is None:
        compiled = shape._pieces["compiled"] = _compile(shape)
    head, tail, tags = compiled
    parts = [head]
    for name, _ in shape.layout or ():
        value = values.get(name)
        if value is not None:
            opening, closing = tags[name]
            parts.append(f"{opening}{_escape(value)}{closing}")
    parts.append(tail)
    return "".join(parts).encode("utf-8")


def _input_element(envelope: etree._Element, shape: OperationShape) -> etree._Element:
    """The element holding the fields in an envelope zeep built for ``shape``
    (zeep always builds Body > operation element [> wrapper])."""
    container = envelope.find(f"{{{SOAP_ENV_NS}}}Body")[0]  # type: ignore[index]
    if shape.wrapper is not None:
        container = next(c for c in container if etree.QName(c).localname == shape.wrapper)
    return container


def build_sealed_request(
    zeep_client: Any,
    service: Any,
    shape: OperationShape,
    fields: Mapping[str, object],
    secret_key: str,
    algorithm: str,
    *,
    through_zeep: bool = False,
) -> bytes:
    """The request envelope for ``fields`` (vendor names, no seal), sealed, as bytes.

    On the precompiled path the seal is computed from the very texts that are
    rendered, so nothing is read back; through zeep (a WSDL with complex
    request fields) the seal is computed over what zeep serialized.
    """
    # Every value was checked as text or a whole number (never a bool) before this.
    values = {name: str(value) for name, value in fields.items() if value is not None}
    unknown = sorted(set(values) - shape.fields)
    if "seal" not in shape.fields:
        unknown.append("seal")
    if unknown:
        raise ConfigurationError(
            f"the WSDL's {shape.name} request has no field {', '.join(unknown)}; "
            "is it the wallet service WSDL?"
        )
    missing = sorted(shape.required - set(values) - {"seal"})
    if missing:
        raise ConfigurationError(
            f"the WSDL's {shape.name} request requires {', '.join(missing)}, "
            "which this client does not send"
        )
    if shape.layout is not None and not through_zeep:
        values["seal"] = compute_seal(values, secret_key, algorithm)
        return render_request(shape, values)
    from zeep import exceptions as zeep_exceptions

    values["seal"] = ""
    arguments = {shape.wrapper: values} if shape.wrapper else values
    try:
        envelope = zeep_client.create_message(service, shape.name, **arguments)
    except zeep_exceptions.Error as exc:
        raise ConfigurationError(f"{shape.name}: zeep could not build the request: {exc}") from None
    container = _input_element(envelope, shape)
    seal_element = next(c for c in container if etree.QName(c).localname == "seal")
    seal_element.text = compute_seal(element_values(container), secret_key, algorithm)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


@dataclass(frozen=True)
class Reply:
    """A parsed SOAP reply: the output fields as received, or a fault."""

    output: dict[str, object] | None
    fault: SoapFault | None
    root: etree._Element


_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (a parser is not thread-safe; building
    one per call cost more than parsing a reply)."""
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
    return parser


MAX_MARKUP: Final = 131072
"""Tags and attributes an answer may hold (``<`` and ``=`` counted on the bytes,
before parsing; a wallet of 2,000 cards holds about 90,000).  Parsed, each node
costs far more than its bytes (4 MiB of ``<a/>`` took 34 times its size in
memory), so this keeps memory bounded by the answer's size: at most about 8
times it (``benchmarks/memory.py``)."""


def parse_xml_safely(content: bytes) -> etree._Element:
    """Parse with no DTD, no entities, no network, and at most ``MAX_MARKUP`` nodes.

    A DTD is refused before the parser even sees it: a SOAP answer never
    needs one, and it is how XXE and entity-expansion attacks arrive.
    """
    if content.count(b"<") + content.count(b"=") > MAX_MARKUP:
        raise ResponseError(
            f"the response holds more than {MAX_MARKUP} tags and attributes; refused unparsed"
        )
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise ResponseError(
            "the response declares a DTD or entities (the shape of an XXE or entity "
            "expansion attack); refused"
        )
    try:
        root = etree.fromstring(content, _parser())
    except (etree.XMLSyntaxError, ValueError):
        raise ResponseError("the response is not well-formed XML") from None
    if root.getroottree().docinfo.internalDTD is not None:  # e.g. a UTF-16 body
        raise ResponseError("the response declares a DTD; refused")
    return root


def _qualified(code: str, element: etree._Element | None) -> str:
    """``S:Server`` as ``{namespace}Server``, by the prefixes in scope where it was
    written (no prefix, or one not in scope: the SOAP envelope's namespace, the
    faultcode's usual one)."""
    prefix, colon, local = code.rpartition(":")
    scope = element.nsmap if element is not None else {}
    namespace = scope.get(prefix) if colon else scope.get(None)
    return f"{{{namespace or SOAP_ENV_NS}}}{printable(local)}"


def parse_reply(content: bytes) -> Reply:
    """Read a SOAP 1.1 reply; raise ``ResponseError`` if it is not one."""
    root = parse_xml_safely(content)
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise ResponseError("the response is not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    first = None if body is None else next((c for c in body if isinstance(c.tag, str)), None)
    if first is None:
        raise ResponseError("the response has an empty SOAP body")
    if first.tag == f"{{{SOAP_ENV_NS}}}Fault":
        code_element = first.find("faultcode")
        code = (first.findtext("faultcode") or "").strip() or "soap:Server"
        text = (first.findtext("faultstring") or "").strip()
        fault = SoapFault(
            printable(code), printable(redact_text(text)), _qualified(code, code_element)
        )
        return Reply(output=None, fault=fault, root=root)
    output = next(
        (c for c in first if isinstance(c.tag, str) and etree.QName(c).localname == "output"),
        first,
    )
    return Reply(output=element_values(output), fault=None, root=root)


_HIDE: Final = {"seal": "[hidden]", "paymentToken": "[hidden]"}


def redacted_xml(root: etree._Element) -> str:
    """A message for DEBUG logs: card numbers masked, seals and tokens hidden."""
    clone = copy.deepcopy(root)
    for element in clone.iter():
        if not isinstance(element.tag, str) or len(element):
            continue
        name = etree.QName(element).localname
        if name in _HIDE and element.text:
            element.text = _HIDE[name]
        elif name == "cardNumber" and element.text:
            element.text = mask_pan(element.text)
    return redact_text(etree.tostring(clone, encoding="unicode"))
