"""The simulator's WSGI application: the wallet service as the vendor runs it,
and beside it the checkout, cash-management and diagnostic services that pay
with the stored cards (``payments.PaymentDesk``), on the same port and store.

It speaks the same WSDL as the client, validates every request against the
XSD, checks merchant, key version and seal, keeps wallets in a ``WalletStore``
and seals its answers.  It shares only the seal rule and the schema with the
client package, never the client itself, so it is an honest other side.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from wsgiref.util import request_uri
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml import etree

from ..seal import DEFAULT_ALGORITHM, SEAL_ALGORITHMS, compute_seal, verify_seal
from ..services import SERVICES, WALLET, Service, service_of
from ..wsdl_cache import XSD_FILE, bundled_wsdl_path
from ..xmlfields import element_values
from .faults import FaultProfile
from .payments import PaymentDesk
from .store import PaymentMean, WalletStore, mask_card

__all__ = ["DEFAULT_MERCHANT", "Merchant", "Received", "SimulatorApp"]

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
JSON_PATH: Final = "/rs-services/v2/wallet"
SOAP_PATH: Final = "/services/v2/wallet"
_NOT_HERE: Final = (
    b"Not the wallet service. It answers at /services/v2/wallet (SOAP; ?wsdl for its WSDL) "
    b"and /rs-services/v2/wallet/<function> (JSON); the payment services at "
    b"/services/v2/{checkout,cashManagement,diagnostic} and /rs-services/v2/<service>/<function>.\n"
)
JSON: Final = "application/json"
WALLET_NS: Final = "urn:sips:cn:contract:office:wallet:v2"
MAX_BODY: Final = 1 << 20

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Fields = dict[str, object]


@dataclass(frozen=True)
class Merchant:
    """A shop the simulator knows, by one key version: its id, the version, its key,
    and the days the version is accepted (``valid_from`` to ``valid_until``, both
    included; open-ended when None).  Give one ``Merchant`` per key version: a
    request sealed with a version it does not know, one not valid yet or
    expired, is answered 34, as the service does."""

    merchant_id: str
    key_version: int
    secret_key: str = field(repr=False)
    valid_from: date | None = None
    valid_until: date | None = None

    @classmethod
    def from_spec(cls, spec: str) -> Merchant:
        """``ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]`` (dates YYYY-MM-DD, either may be
        empty), the key read from the file's first line; ValueError says what is wrong."""
        match = _MERCHANT_SPEC.fullmatch(spec)
        if match is None:
            raise ValueError(
                f"expected ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL] (dates YYYY-MM-DD), got {spec!r}"
            )
        key_file = match["file"]
        try:
            with open(key_file, encoding="utf-8-sig") as handle:
                key = handle.readline().strip()
        except OSError as exc:
            raise ValueError(f"cannot read key file {key_file}: {exc.strerror}") from None
        if not key:
            raise ValueError(f"key file {key_file} is empty")
        try:
            days = [date.fromisoformat(d) if d else None for d in (match["from"], match["until"])]
        except ValueError as exc:
            raise ValueError(f"{spec!r}: {exc}") from None
        return cls(match["id"], int(match["version"]), key, days[0], days[1])

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


_MERCHANT_SPEC: Final = re.compile(
    r"(?P<id>[^:]+):(?P<version>[0-9]{1,10}):(?P<file>.+?)"
    r"(?::(?P<from>[0-9]{4}-[0-9]{2}-[0-9]{2})?:(?P<until>[0-9]{4}-[0-9]{2}-[0-9]{2})?)?"
)

# The vendor's documented simulation merchant (public test values).
DEFAULT_MERCHANT: Final = Merchant("002001000000001", 1, "002001000000001_KEY1")

DROP: Final = "drop"  # a status meaning: close the connection, answer nothing
CONNECTION_KEY: Final = "sogen_soap.connection"  # the socket, in the WSGI environ

_LOL = b'<!ENTITY lol "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
    for n in range(1, 10)
)
_HOSTILE_ANSWERS: Final = {
    "doctype": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>',
    "xxe": (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<ns:addCardResponse xmlns:ns="urn:sips:cn:contract:office:wallet:v2"><ns:output>'
        b"<ns:walletResponseCode>&xxe;</ns:walletResponseCode></ns:output></ns:addCardResponse>"
        b"</soap:Body></soap:Envelope>"
    ),
    "billion_laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [' + _LOL + b"]><lolz>&lol9;</lolz>",
}
_FORCED_CODES: Final = {"code_99": "99", "code_77": "77"}
_FIELD_IN_ERROR: Final = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z0-9_]+)'")
_EXPECTED_IN_ERROR: Final = re.compile(r"Expected is(?: one of)? \(([^)]*)\)")
_LOCAL_NAME: Final = re.compile(r"(?:\{[^}]*\})?([A-Za-z0-9_]+)")
XS: Final = "{http://www.w3.org/2001/XMLSchema}"


_UNSHOWN: Final = frozenset({"seal", "paymentToken"})
# Faults that answer before the request is processed (nothing stored, no code).
_BEFORE_PROCESSING: Final = frozenset(
    {"soap_fault", "http_503", "garbage", "drop", "xxe", "billion_laughs", "doctype"}
)


@dataclass(frozen=True)
class Received:
    """A request the simulator answered, as a test may inspect it: masked only."""

    operation: str
    merchant_wallet_id: str | None
    response_code: str | None
    fault: str | None
    fields: Mapping[str, str] = field(default_factory=dict)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"{key} given twice")
        found[key] = value
    return found


def _paris_now() -> datetime:
    """Now, at the merchant's local time: Sogenactif answers in Europe/Paris."""
    try:
        return datetime.now(ZoneInfo("Europe/Paris"))
    except ZoneInfoNotFoundError:  # pragma: no cover - no tz database
        return datetime.now().astimezone()


class _Answer(Exception):
    """Stop handling and answer with this wallet response code."""

    def __init__(self, code: str, error_field: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.error_field = error_field


def _soap_fault(code: str, text: str) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _append(parent: etree._Element, name: str, value: object, ns: str = WALLET_NS) -> None:
    if value is None:
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _append(parent, name, item, ns)
        return
    child = etree.SubElement(parent, f"{{{ns}}}{name}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _append(child, key, item, ns)
    else:
        child.text = str(value)


def _drop(environ: dict[str, Any]) -> None:
    """Close the client's connection without a word, as a crashing peer would."""
    connection = environ.get(CONNECTION_KEY)
    if connection is not None:
        with contextlib.suppress(OSError):  # already gone is fine too
            connection.shutdown(socket.SHUT_RDWR)


def _tamper(output: dict[str, object], code_field: str = "walletResponseCode") -> None:
    """Change the deepest, last data value, as a meddler in the middle would."""
    data = [k for k in output if k not in (code_field, "errorFieldName", "seal")]
    if not data:
        return
    target: Any = output
    key: Any = data[-1]
    while isinstance(target[key], (dict, list)) and target[key]:
        target = target[key]
        key = len(target) - 1 if isinstance(target, list) else list(target)[-1]
    target[key] = f"{target[key]}X"


LIST_SHAPES: Final = ("wrapped", "jaxb")
"""How a list is laid out in answers: ``wrapped`` (``<xList><x>...</x></xList>``,
the bundled WSDL) or ``jaxb`` (JAXB's default: the list element itself
repeated, the fields directly inside; repeated text for lists of strings)."""


def _jaxb_schema(xsd: bytes) -> bytes:
    """The bundled schema, its lists laid out as the ``jaxb`` shape answers them:
    the list element itself repeated (``walletPaymentMeanDataList`` holding a
    payment mean's fields; ``paymentMeanCoBadgingBrandList`` holding a brand),
    so a client generated from the served WSDL reads what it is sent."""
    root = etree.fromstring(xsd)
    types = {t.get("name"): t for t in root.iter(f"{XS}complexType")}
    output = types["getWalletDataOutput"]
    for group in output.findall(f"{XS}all"):  # a repeated element needs a sequence
        group.tag = f"{XS}sequence"
    repeated = {
        (output, "walletPaymentMeanDataList"): "tns:walletPaymentMeanData",
        (types["walletPaymentMeanData"], "paymentMeanCoBadgingBrandList"): "xs:string",
    }
    for (owner, name), kind in repeated.items():
        element = next(e for e in owner.iter(f"{XS}element") if e.get("name") == name)
        element.set("type", kind)
        element.set("maxOccurs", "unbounded")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _mean_fields(mean: PaymentMean, shape: str, newer: bool) -> Fields:
    fields: Fields = {
        "paymentMeanId": mean.payment_mean_id,
        "maskedPan": mean.masked_pan,
        "paymentMeanAlias": mean.alias,
        "panExpiryDate": mean.expiry,
        "paymentMeanBrand": mean.brand,
    }
    if newer:  # fields newer SDKs and vendor samples show
        brands = ["CB", mean.brand] if mean.brand != "CB" else ["CB"]
        actors = ["MERCHANT", "WALLET_PROVIDER"]
        fields.update(
            {
                "paymentMeanBrandSelectionStatus": "MERCHANT_SELECTION",
                "paymentMeanCoBadgingBrandList": (
                    brands if shape == "jaxb" else {"paymentMeanCoBadgingBrand": brands}
                ),
                "transactionActors": actors,
                "paymentMeanData": {"panType": "PAN", "cardProductCode": "F"},
                "pspData": {"pspId": "SIMULATED", "pspName": "sogen-soap simulator"},
            }
        )
    return fields


def _route(path: str) -> tuple[Service | None, str | None]:
    """The service a path names, and for JSON the function: ``/services/v2/<service>``
    or ``/rs-services/v2/<service>/<function>``; (None, None) for any other path."""
    for service in SERVICES:
        if path.rstrip("/") == service.soap_path:
            return service, None
        if path.startswith(service.json_path + "/"):
            return service, path[len(service.json_path) + 1 :]
    return None, None


class SimulatorApp:
    """WSGI callable: GET ``?wsdl`` / ``?xsd=...``, POST SOAP 1.1 requests."""

    def __init__(
        self,
        store: WalletStore,
        merchants: Iterable[Merchant] = (DEFAULT_MERCHANT,),
        *,
        faults: FaultProfile | None = None,
        clock: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        record: bool = False,
        shape: str = "wrapped",
        newer_fields: bool = False,
    ) -> None:
        if shape not in LIST_SHAPES:
            raise ValueError(f"shape must be one of {', '.join(LIST_SHAPES)}, not {shape!r}")
        self.store = store
        self.record = record
        self.shape = shape
        self.newer_fields = newer_fields
        self.latency = latency
        self.merchants: dict[str, dict[int, Merchant]] = {}
        for merchant in merchants:
            self.add_key(merchant)
        self.faults = faults or FaultProfile()
        self._clock = clock or _paris_now
        self._wsdl_path = Path(bundled_wsdl_path())
        folder = self._wsdl_path.parent
        xsd = (folder / XSD_FILE).read_bytes()
        self._xsd_by_shape = {"wrapped": xsd, "jaxb": _jaxb_schema(xsd)}  # what it answers
        self._parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        self._schemas: dict[str, etree.XMLSchema] = {}
        required: set[str] = set()
        for service in SERVICES:
            schema_doc = etree.parse(str(folder / f"{service.stem}.xsd"), self._parser)
            self._schemas[service.name] = etree.XMLSchema(schema_doc)
            # Request fields without minOccurs="0": the ones a "missing" error is about.
            required.update(
                str(element.get("name"))
                for element in schema_doc.iter(f"{XS}element")
                if element.get("minOccurs") != "0" and element.get("type", "").startswith("tns:")
            )
        self._required = frozenset(required)
        self.clock_offset = timedelta(0)
        """How far the simulated time runs ahead of the clock (the testing kit moves it)."""
        self.payments = PaymentDesk(store, self.now)
        self._schema_lock = threading.Lock()  # an XMLSchema is not thread-safe
        self._count_lock = threading.Lock()
        self.requests_seen = 0
        self.received: list[Received] = []
        """Every SOAP request answered, in order, masked (no card number, no seal)."""
        self._operations: dict[str, Callable[[str, Fields, str, str], Fields]] = {
            "addCard": self._add_card,
            "getWalletData": self._get_wallet_data,
            "getPaymentMeanData": self._get_payment_mean_data,
            "updatePaymentMean": self._update_payment_mean,
            "deletePaymentMean": self._delete_payment_mean,
            "signOff": self._sign_off,
            **self.payments.handlers(),
        }

    def now(self) -> datetime:
        """The simulated time: the clock, moved ahead by ``clock_offset``."""
        return self._clock() + self.clock_offset

    # ------------------------------------------------------------------ HTTP

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with self._count_lock:
            self.requests_seen += 1
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        path = environ.get("PATH_INFO", "")
        service, operation = _route(path)
        if service is None:
            # a typo in the service path must not pass unnoticed against the simulator
            return self._send(start_response, "404 Not Found", _NOT_HERE, "text/plain")
        if method == "GET" and query.lower() == "wsdl":
            return self._send(start_response, "200 OK", self._wsdl_for(environ, service))
        if method == "GET" and query == f"xsd={service.stem}.xsd":
            if service is WALLET:
                return self._send(start_response, "200 OK", self._xsd_by_shape[self.shape])
            xsd_path = self._wsdl_path.with_name(f"{service.stem}.xsd")
            return self._send(start_response, "200 OK", xsd_path.read_bytes())
        if method != "POST":
            return self._send(
                start_response, "405 Method Not Allowed", b"POST SOAP 1.1 here", "text/plain"
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return self._send(start_response, "413 Payload Too Large", b"too large", "text/plain")
        body = environ["wsgi.input"].read(length) if length else b""
        if operation is not None:
            status, payload, content_type = self.handle_json(operation, body, service)
        else:
            status, payload, content_type = self.handle(body, service)
        if status == DROP:
            _drop(environ)
            # the conventional signal for "the peer is gone": gateways stop quietly
            raise ConnectionAbortedError("connection dropped by a simulator fault")
        return self._send(start_response, status, payload, content_type)

    @staticmethod
    def _send(
        start_response: StartResponse,
        status: str,
        payload: bytes,
        content_type: str = "text/xml; charset=utf-8",
    ) -> list[bytes]:
        start_response(
            status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    def _wsdl_for(self, environ: dict[str, Any], service: Service = WALLET) -> bytes:
        """The WSDL with its address and schema location pointing back here, as CXF does."""
        base = request_uri(environ, include_query=False)
        tree = etree.parse(str(self._wsdl_path.with_name(service.wsdl_file)), self._parser)
        for address in tree.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
            address.set("location", base)
        xsd_file = f"{service.stem}.xsd"
        for imp in tree.iter("{http://www.w3.org/2001/XMLSchema}import"):
            if imp.get("schemaLocation") == xsd_file:
                imp.set("schemaLocation", f"{base}?xsd={xsd_file}")
        return etree.tostring(tree, xml_declaration=True, encoding="utf-8")

    # ------------------------------------------------------------------ SOAP

    def handle(self, body: bytes, service: Service = WALLET) -> tuple[str, bytes, str]:
        """Answer one SOAP request: (HTTP status, body, content type)."""
        xml = "text/xml; charset=utf-8"
        try:
            root = etree.fromstring(body, self._parser)
        except etree.XMLSyntaxError:
            return (
                "500 Internal Server Error",
                _soap_fault("Client", "Error reading XMLStreamReader: not well-formed XML"),
                xml,
            )
        if root.getroottree().docinfo.internalDTD is not None:
            return "500 Internal Server Error", _soap_fault("Client", "DTDs are not allowed"), xml
        if etree.QName(root).localname == "Envelope" and root.tag != f"{{{SOAP_ENV}}}Envelope":
            return (
                "500 Internal Server Error",
                _soap_fault("VersionMismatch", "Only SOAP 1.1 is supported"),
                xml,
            )
        body_el = root.find(f"{{{SOAP_ENV}}}Body")
        op_el = (
            None if body_el is None else next((c for c in body_el if isinstance(c.tag, str)), None)
        )
        if op_el is None:
            return (
                "500 Internal Server Error",
                _soap_fault("Client", "No SOAP 1.1 Envelope/Body with an operation"),
                xml,
            )
        qname = etree.QName(op_el)
        if qname.namespace != service.namespace or qname.localname not in service.operations:
            return (
                "500 Internal Server Error",
                _soap_fault("Client", f"Unexpected wrapper element {op_el.tag} found"),
                xml,
            )

        return self._process(qname.localname, op_el, as_json=False)

    def handle_json(
        self, operation: str, body: bytes, service: Service = WALLET
    ) -> tuple[str, bytes, str]:
        """Answer one JSON request to ``/rs-services/v2/wallet/<operation>``.

        The object is turned into the same request element SOAP carries, so it
        is validated, checked, stored and sealed by the very same code.
        """
        if operation not in service.operations:
            return "404 Not Found", b'{"error": "no such function"}', JSON
        ns = service.namespace
        try:
            data = json.loads(body.decode("utf-8"), object_pairs_hook=_refuse_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "400 Bad Request", b'{"error": "the request is not JSON"}', JSON
        if not isinstance(data, dict):
            return "400 Bad Request", b'{"error": "the request is not a JSON object"}', JSON
        op_el = etree.Element(f"{{{ns}}}{operation}")
        input_el = etree.SubElement(op_el, f"{{{ns}}}input")
        for name, value in data.items():
            if not _LOCAL_NAME.fullmatch(str(name)):
                return "400 Bad Request", b'{"error": "a field name is not a name"}', JSON
            child = etree.SubElement(input_el, f"{{{ns}}}{name}")
            if isinstance(value, bool):
                child.text = "true" if value else "false"
            elif isinstance(value, (str, int)):
                child.text = str(value)  # keyVersion comes as a number or as text
            elif value is not None:
                etree.SubElement(child, f"{{{ns}}}nested")  # schema-invalid: code 30
        return self._process(operation, op_el, as_json=True)

    def _process(
        self, operation: str, op_el: etree._Element, *, as_json: bool
    ) -> tuple[str, bytes, str]:
        """One request, whichever way it came: faults, checks, the store, the sealed answer."""
        xml = JSON if as_json else "text/xml; charset=utf-8"
        input_el = next((c for c in op_el if etree.QName(c).localname == "input"), op_el)
        fields = element_values(input_el)
        fault = self.faults.draw(operation)
        if fault in _BEFORE_PROCESSING:
            self._record(operation, fields, {}, fault)
        if fault == "soap_fault":  # over JSON: the 500 a Java service answers on a crash
            return (
                "500 Internal Server Error",
                b'{"error": "Fault injected by the simulator"}'
                if as_json
                else _soap_fault("Server", "Fault injected by the simulator"),
                xml,
            )
        if fault == "http_503":
            return (
                "503 Service Unavailable",
                b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                "text/html",
            )
        if fault == "garbage":
            return "200 OK", b"\x00garbage, not XML", xml
        if fault in _HOSTILE_ANSWERS:
            return "200 OK", _HOSTILE_ANSWERS[fault], xml
        if fault == "drop":
            return DROP, b"", xml

        if self.latency:
            time.sleep(self.latency)  # a network and back end that are not instant
        # The key of the request's version seals the answer (the merchant's newest one
        # for a version it does not know; none for an unknown merchant: 03).
        merchant = self._key(fields)
        algorithm = str(fields.get("sealAlgorithm") or DEFAULT_ALGORITHM)
        if algorithm not in SEAL_ALGORITHMS:  # schema-invalid: answered 30, sealed the default way
            algorithm = DEFAULT_ALGORITHM
        answer = self._answer(
            operation,
            op_el,
            fields,
            merchant,
            algorithm,
            _FORCED_CODES.get(fault or ""),
            "jaxb" if as_json else self.shape,  # JSON lists are bare arrays
        )
        output = {k: v for k, v in answer.items() if v is not None}
        self._record(operation, fields, output, fault)
        if merchant is not None and fault != "no_seal":
            output["seal"] = compute_seal(output, merchant.secret_key, algorithm)
            if fault == "wrong_seal":
                output["seal"] = compute_seal(output, merchant.secret_key + "x", algorithm)
        if fault == "tampered":
            _tamper(output, service_of(operation).code_field)
        if as_json:
            payload = json.dumps(output, ensure_ascii=False).encode("utf-8")
            if fault == "commit_drop":
                return DROP, b"", xml
            if fault == "delay":
                time.sleep(self.faults.delay)
            return "200 OK", payload, xml
        ns = service_of(operation).namespace
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "ns": ns})
        wrapper = etree.SubElement(
            etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{ns}}}{operation}Response"
        )
        _append(wrapper, "output", output, ns)
        if fault == "commit_drop":
            return DROP, b"", xml
        if fault == "delay":
            time.sleep(self.faults.delay)
        return "200 OK", etree.tostring(env, xml_declaration=True, encoding="utf-8"), xml

    def add_key(self, merchant: Merchant) -> None:
        """Accept one more key version of a merchant (a new merchant, or its next key)."""
        self.merchants.setdefault(merchant.merchant_id, {})[merchant.key_version] = merchant

    def _key(self, fields: Fields) -> Merchant | None:
        keys = self.merchants.get(str(fields.get("merchantId", "")))
        if not keys:
            return None
        try:
            return keys[int(str(fields.get("keyVersion")))]
        except (KeyError, ValueError):
            return keys[max(keys)]

    def _record(self, operation: str, fields: Fields, output: Fields, fault: str | None) -> None:
        if not self.record:  # a long-running simulator keeps no history
            return
        shown = {
            name: (mask_card(str(value)) if name == "cardNumber" else str(value))
            for name, value in fields.items()
            if name not in _UNSHOWN and not isinstance(value, (dict, list))
        }
        code = output.get(service_of(operation).code_field)
        with self._count_lock:
            self.received.append(
                Received(
                    operation=operation,
                    merchant_wallet_id=shown.get("merchantWalletId"),
                    response_code=None if code is None else str(code),
                    fault=fault,
                    fields=shown,
                )
            )

    def _answer(
        self,
        operation: str,
        op_el: etree._Element,
        fields: Fields,
        merchant: Merchant | None,
        algorithm: str,
        forced_code: str | None,
        shape: str = "wrapped",
    ) -> Fields:
        service = service_of(operation)
        try:
            self._validate(op_el, service)
            if merchant is None:
                raise _Answer("03")
            if str(fields.get("keyVersion")) != str(merchant.key_version):
                raise _Answer("34")  # a version it does not know
            moment = self.now()  # read once: a test's clock may tick per read
            if not merchant.valid_on(moment.date()):
                raise _Answer("34")  # not valid yet, or expired
            if not verify_seal(fields, str(fields.get("seal", "")), merchant.secret_key, algorithm):
                raise _Answer("34")
            prefix = service.versions[operation][:6]  # WR_WS_, IR_WS_, CR_WS_, DR_WS_
            if not str(fields["interfaceVersion"]).startswith(prefix):
                raise _Answer("30", "interfaceVersion")
            if forced_code:
                raise _Answer(forced_code)
            now = moment.isoformat(timespec="seconds")
            return {
                service.code_field: "00",
                **self._operations[operation](merchant.merchant_id, fields, now, shape),
            }
        except _Answer as answer:
            return {service.code_field: answer.code, "errorFieldName": answer.error_field}

    def _validate(self, op_el: etree._Element, service: Service = WALLET) -> None:
        """Schema check: a violation is a format error (30) naming the field."""
        try:
            with self._schema_lock:
                self._schemas[service.name].assertValid(op_el)
            return
        except etree.DocumentInvalid as invalid:
            message = str(invalid)  # the first violation
        expected = _EXPECTED_IN_ERROR.search(message)
        if expected:
            names = _LOCAL_NAME.findall(expected.group(1))
            missing = [n for n in names if n in self._required] or names
            raise _Answer("30", missing[0] if missing else None)
        named = _FIELD_IN_ERROR.search(message)
        raise _Answer("30", named.group(1) if named else None)

    # ------------------------------------------------------------ operations

    def _add_card(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        card = str(fields["cardNumber"])
        pan_type = fields.get("panType") or "PAN"
        if pan_type == "PAN" and not (card.isdigit() and 12 <= len(card) <= 19):
            raise _Answer("12", "cardNumber")
        if fields.get("paymentMeanBrand") == "UNKNOWN":
            raise _Answer("12", "paymentMeanBrand")
        mean = self.store.add_card(
            merchant_id,
            str(fields["merchantWalletId"]),
            card,
            str(fields["cardExpiryDate"]),
            str(fields["paymentMeanAlias"]) if fields.get("paymentMeanAlias") else None,
            str(fields["paymentMeanBrand"]) if fields.get("paymentMeanBrand") else None,
            now,
        )
        if mean is None:
            raise _Answer("94")
        return {
            "walletActionDateTime": now,
            "paymentMeanId": mean.payment_mean_id,
            "maskedPan": mean.masked_pan,
        }

    def _get_wallet_data(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        wallet = self.store.wallet(merchant_id, str(fields["merchantWalletId"]))
        if wallet is None:
            raise _Answer("25")
        means = [_mean_fields(m, shape, self.newer_fields) for m in wallet.payment_means]
        return {
            "walletCreationDateTime": wallet.created_at,
            "walletLastActionDateTime": wallet.last_action_at,
            "walletPaymentMeanDataList": (
                means if shape == "jaxb" else {"walletPaymentMeanData": means}
            ),
        }

    def _get_payment_mean_data(
        self, merchant_id: str, fields: Fields, now: str, shape: str
    ) -> Fields:
        mean = self.store.payment_mean(
            merchant_id, str(fields["merchantWalletId"]), str(fields["paymentMeanId"])
        )
        if mean is None:
            raise _Answer("25")
        return {"walletPaymentMeanData": _mean_fields(mean, shape, self.newer_fields)}

    def _update_payment_mean(
        self, merchant_id: str, fields: Fields, now: str, shape: str
    ) -> Fields:
        if not self.store.update_alias(
            merchant_id, str(fields["merchantWalletId"]), str(fields["paymentMeanId"]),
            str(fields.get("paymentMeanAlias") or ""), now,
        ):  # fmt: skip
            raise _Answer("25")
        return {"walletActionDateTime": now}

    def _delete_payment_mean(
        self, merchant_id: str, fields: Fields, now: str, shape: str
    ) -> Fields:
        if not self.store.delete_payment_mean(
            merchant_id, str(fields["merchantWalletId"]), str(fields["paymentMeanId"]), now
        ):
            raise _Answer("25")
        return {"walletActionDateTime": now}

    def _sign_off(self, merchant_id: str, fields: Fields, now: str, shape: str) -> Fields:
        if not self.store.sign_off(merchant_id, str(fields["merchantWalletId"])):
            raise _Answer("25")
        return {"walletActionDateTime": now}
