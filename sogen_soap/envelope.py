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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree
from zeep import exceptions as zeep_exceptions
from zeep.loader import parse_xml
from zeep.xsd import AnySimpleType

from .errors import ConfigurationError, ResponseError
from .redact import mask_pan, redact_text
from .results import SoapFault
from .seal import compute_seal
from .wsdl_cache import zeep_settings
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
]

SOAP_ENV_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_SETTINGS: Final = zeep_settings()


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


def _children(xsd_type: Any) -> list[tuple[str, Any]]:
    return list(getattr(xsd_type, "elements", None) or [])


def operation_shape(binding: Any, name: str) -> OperationShape:
    """Read ``name``'s request layout from a zeep binding."""
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
    return OperationShape(
        name=name,
        wrapper=wrapper,
        fields=names,
        required=required,
        soap_action=operation.soapaction or "",
        body_qname=operation.input.body.qname.text,
        wrapper_qname=body_elements[0][1].qname.text if wrapper else None,
        layout=tuple((field, element.qname.text) for field, element in elements)
        if simple
        else None,
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def render_request(shape: OperationShape, values: Mapping[str, object]) -> etree._Element:
    """The request envelope, rendered from the precompiled layout."""
    assert shape.layout is not None
    envelope = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap-env": SOAP_ENV_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV_NS}}}Body")
    container = etree.SubElement(body, shape.body_qname)
    if shape.wrapper_qname is not None:
        container = etree.SubElement(container, shape.wrapper_qname)
    for name, qname in shape.layout:
        if name in values:
            etree.SubElement(container, qname).text = _text(values[name])
    return envelope


def _input_element(envelope: etree._Element, shape: OperationShape) -> etree._Element:
    body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
    if body is None or len(body) == 0:
        raise ConfigurationError(f"{shape.name}: zeep built an envelope without a body")
    container = body[0]
    if shape.wrapper is not None:
        inner = next((c for c in container if etree.QName(c).localname == shape.wrapper), None)
        if inner is None:
            raise ConfigurationError(f"{shape.name}: no <{shape.wrapper}> in the request")
        container = inner
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
) -> etree._Element:
    """The request envelope for ``fields`` (vendor names, no seal), sealed."""
    values = {name: value for name, value in fields.items() if value is not None}
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
    values["seal"] = ""
    if shape.layout is not None and not through_zeep:
        envelope = render_request(shape, values)
    else:
        arguments = {shape.wrapper: values} if shape.wrapper else values
        try:
            envelope = zeep_client.create_message(service, shape.name, **arguments)
        except zeep_exceptions.Error as exc:
            raise ConfigurationError(
                f"{shape.name}: zeep could not build the request: {exc}"
            ) from None
    container = _input_element(envelope, shape)
    seal_element = next(c for c in container if etree.QName(c).localname == "seal")
    seal_element.text = compute_seal(element_values(container), secret_key, algorithm)
    return envelope


@dataclass(frozen=True)
class Reply:
    """A parsed SOAP reply: the output fields as received, or a fault."""

    output: dict[str, object] | None
    fault: SoapFault | None
    root: etree._Element


def parse_xml_safely(content: bytes) -> etree._Element:
    """Parse with zeep's hardening: no DTD, no entities, no network.

    A DTD is refused before the parser even sees it: a SOAP answer never
    needs one, and it is how XXE and entity-expansion attacks arrive.
    """
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise ResponseError(
            "the response declares a DTD or entities (the shape of an XXE or entity "
            "expansion attack); refused"
        )
    try:
        # zeep annotates ``content`` as str; lxml wants the undecoded bytes.
        root: etree._Element = parse_xml(content, None, settings=_SETTINGS)  # type: ignore[arg-type]
        return root
    except zeep_exceptions.DTDForbidden:
        raise ResponseError("the response declares a DTD; refused") from None
    except zeep_exceptions.EntitiesForbidden:
        raise ResponseError("the response declares XML entities; refused") from None
    except zeep_exceptions.ExternalReferenceForbidden:
        raise ResponseError("the response refers to an external resource; refused") from None
    except (zeep_exceptions.XMLSyntaxError, etree.XMLSyntaxError, ValueError):
        raise ResponseError("the response is not well-formed XML") from None


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
        code = (first.findtext("faultcode") or "").strip() or "soap:Server"
        text = (first.findtext("faultstring") or "").strip()
        return Reply(output=None, fault=SoapFault(code, redact_text(text)), root=root)
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
