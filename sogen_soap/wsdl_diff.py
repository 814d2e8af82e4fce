"""Comparing a merchant's downloaded WSDL with the bundled one, in the client's terms.

The bundled WSDL is a reconstruction; the vendor's may differ.  What matters
is not every schema detail but what the client would do with it: an
operation it calls that is missing, a request field it sends that the WSDL
lacks, a required field it does not send (each would break or change a call),
and, for information, response fields it does not type (kept in
``result.extra``), another namespace or endpoint, a list laid out the JAXB way
(read either way).  ``sogen-soap wsdl diff PATH`` prints each with what it
means and exits 0 when the client works unchanged, 1 when it would not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from .endpoints import ENVIRONMENTS
from .services import SERVICES, WALLET, Service
from .wsdl_cache import bundled_shapes, load_document, soap_binding

__all__ = ["Difference", "diff_wsdl"]

BREAKS: Final = "breaks"
CHANGES: Final = "changes"
INFO: Final = "info"

# Response fields the client types (anything else is kept in ``extra``).
_TYPED_OUTPUT: Final = frozenset(
    {
        "walletResponseCode", "errorFieldName", "seal", "walletActionDateTime", "paymentMeanId",
        "maskedPan", "walletCreationDateTime", "walletLastActionDateTime",
        "walletPaymentMeanDataList", "walletPaymentMeanData", "paymentMeanAlias",
        "panExpiryDate", "paymentMeanBrand", "paymentMeanBrandSelectionStatus",
        "paymentMeanCoBadgingBrandList", "paymentMeanCoBadgingBrand", "transactionActors",
        "mandateId", "issuerWalletId", "issuerWalletType",
    }
)  # fmt: skip


def _typed_output(service: Service) -> frozenset[str]:
    if service is WALLET:
        return _TYPED_OUTPUT
    from .payments import TYPED_FIELDS

    return TYPED_FIELDS


# Request fields the client sends on every call of an operation.
_ALWAYS_SENT: Final = frozenset({"merchantId", "interfaceVersion", "keyVersion", "seal"})


@dataclass(frozen=True)
class Difference:
    """One difference: ``severity`` is ``breaks``, ``changes`` or ``info``."""

    severity: str
    operation: str | None
    text: str

    def __str__(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        return f"[{self.severity}] {where}{self.text}"


def _elements(xsd_type: Any) -> list[tuple[str, Any]]:
    return list(getattr(xsd_type, "elements", None) or [])


def _fields(body_type: Any) -> dict[str, Any]:
    """The fields inside the single wrapper (``input``/``output``), or the body's own."""
    elements = _elements(body_type)
    if len(elements) == 1 and _elements(elements[0][1].type):
        elements = _elements(elements[0][1].type)
    return dict(elements)


def _nested(fields: dict[str, Any], seen: frozenset[str] = frozenset()) -> Iterable[str]:
    for name, element in fields.items():
        yield name
        inner = _elements(element.type)
        if inner and name not in seen:
            yield from _nested(dict(inner), seen | {name})


def _jaxb_lists(fields: dict[str, Any]) -> Iterable[tuple[str, bool]]:
    """Each ``...List`` that repeats itself (JAXB layout) at any depth, and whether it
    holds fields (a payment mean's) or one value (a brand)."""
    for name, element in fields.items():
        inner = dict(_elements(element.type))
        if name.endswith("List") and getattr(element, "max_occurs", 1) != 1:
            yield name, bool(inner)
        if inner:
            yield from _jaxb_lists(inner)


def diff_wsdl(location: str | os.PathLike[str], service: str = "wallet") -> list[Difference]:
    """How the WSDL at ``location`` (a file or a folder) differs, for this client, from
    the bundled WSDL of ``service`` (``wallet``, ``checkout``, ``cashManagement`` or
    ``diagnostic``)."""
    known = {s.name: s for s in SERVICES}
    if service not in known:
        from .errors import ConfigurationError

        raise ConfigurationError(f"service must be one of {', '.join(known)}, not {service!r}")
    chosen = known[service]
    operations = chosen.operations
    document = load_document(location)  # ConfigurationError naming the file if unusable
    binding = soap_binding(document)
    bundled = bundled_shapes()
    theirs_ops = set(binding._operations)  # zeep has no public list of them
    found: list[Difference] = []
    for name in operations:
        if name not in theirs_ops:
            found.append(Difference(BREAKS, name, f"missing: client calls of {name} would fail"))
            continue
        operation = binding.get(name)
        sent = bundled[name].fields
        theirs_in = _fields(operation.input.body.type)
        for field in sorted(sent - set(theirs_in)):
            if field in _ALWAYS_SENT or field in bundled[name].required:
                found.append(
                    Difference(BREAKS, name, f"request field {field} is not in this WSDL: "
                               "the client sends it on every call, so every call would fail")
                )  # fmt: skip
            else:
                found.append(
                    Difference(CHANGES, name, f"request field {field} is not in this WSDL: "
                               "a call that passes it would be refused before sending")
                )  # fmt: skip
        for field in sorted(set(theirs_in) - sent):
            element = theirs_in[field]
            if element.min_occurs >= 1:
                found.append(
                    Difference(BREAKS, name, f"this WSDL requires request field {field}, "
                               "which the client does not send: calls would be refused")
                )  # fmt: skip
            else:
                found.append(
                    Difference(INFO, name, f"optional request field {field} is new; "
                               "the client never sends it")
                )  # fmt: skip
        if operation.output is not None:
            theirs_out = _fields(operation.output.body.type)
            for field in sorted(set(_nested(theirs_out)) - _typed_output(chosen)):
                found.append(
                    Difference(INFO, name, f"response field {field} is not typed by the "
                               "client: it is kept in result.extra (or the payment mean's)")
                )  # fmt: skip
            for field, holds_fields in sorted(set(_jaxb_lists(theirs_out))):
                inside = "the fields directly inside" if holds_fields else "one value each"
                found.append(
                    Difference(INFO, name, f"{field} repeats with {inside} (JAXB layout): "
                               "the client reads both layouts")
                )  # fmt: skip
    for name in sorted(theirs_ops - set(operations)):
        found.append(Difference(INFO, name, "an operation this client does not call"))
    namespace = (
        binding.get(operations[0]).input.body.qname.namespace
        if (operations[0] in theirs_ops)
        else None
    )
    if namespace and namespace != chosen.namespace and chosen is WALLET:
        found.append(
            Difference(INFO, None, f"namespace {namespace}: the client takes every name from "
                       "the loaded WSDL, so it works unchanged with wsdl=")
        )  # fmt: skip
    elif namespace and namespace != chosen.namespace:  # payments use the bundled WSDLs
        found.append(
            Difference(BREAKS, None, f"namespace {namespace}: the client sends "
                       f"{chosen.namespace} (the bundled WSDL's), so every call would fail")
        )  # fmt: skip
    for declared in document.services.values():
        for port in declared.ports.values():
            address = getattr(port, "binding_options", {}).get("address")
            known_addresses = {
                url.replace(WALLET.soap_path, chosen.soap_path) for url in ENVIRONMENTS.values()
            }
            if address and address not in known_addresses:
                found.append(
                    Difference(INFO, None, f"endpoint {address}: not a known environment; "
                               "pass it as environment= (the WSDL's address is not used)")
                )  # fmt: skip
    rank = {BREAKS: 0, CHANGES: 1, INFO: 2}
    return sorted(found, key=lambda d: rank[d.severity])  # what breaks first
