"""The Office Server JSON codec: the same fields, as one JSON object per call.

The wallet service answers on two endpoints: SOAP (``/services/v2/wallet``)
and JSON (``/rs-services/v2/wallet/<function>``).  This module is the JSON
side of the seam whose SOAP side is ``envelope``: it turns checked fields
into request bytes and an answer's bytes into the same output mapping, so one
set of rules (seal, retries, reconciliation, results) serves both.

Requests carry the vendor's field names.  ``keyVersion`` is sent as a JSON
number: the data dictionary types it numeric (N10) and Worldline's Java SDK
sends a number; the vendor's JSON samples show a string, and a Jackson-based
service accepts either (the simulator does too).  It is excluded from the
seal, so its JSON type cannot change a seal.  ``sealAlgorithm`` is sent only
when it is not the default, as the vendor's samples do.

Answers are read strictly where strictness protects the seal: duplicate keys
are refused (the sealed value would be ambiguous), so are numbers or booleans
where the service sends text (``walletResponseCode``, ids, masked PANs),
floats anywhere, and anything that is not one JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from .endpoints import Endpoint
from .errors import ResponseError
from .redact import mask_pan, redact_text
from .seal import DEFAULT_ALGORITHM, compute_seal

__all__ = [
    "JSON_HEADERS",
    "build_request",
    "json_base",
    "parse_reply",
    "redacted_json",
    "soap_base",
]

JSON_HEADERS: Final = {"Content-Type": "application/json", "Accept": "application/json"}
_SOAP_PATH: Final = "/services/v2/wallet"
_JSON_PATH: Final = "/rs-services/v2/wallet"
# Fields the service sends as text: a number there is refused, not guessed at.
_TEXT_FIELDS: Final = frozenset(
    {
        "walletResponseCode", "errorFieldName", "seal", "paymentMeanId", "maskedPan",
        "paymentMeanAlias", "panExpiryDate", "paymentMeanBrand", "walletActionDateTime",
        "walletCreationDateTime", "walletLastActionDateTime", "merchantWalletId",
    }
)  # fmt: skip


def json_base(endpoint: Endpoint) -> Endpoint:
    """The JSON base for an endpoint given either way (``.../services/v2/wallet``
    and ``.../rs-services/v2/wallet`` name the same service)."""
    path = endpoint.target.split("?", 1)[0].rstrip("/")
    if path.endswith(_JSON_PATH):
        return endpoint.with_target(path)
    if path.endswith(_SOAP_PATH):
        return endpoint.with_target(path[: -len(_SOAP_PATH)] + _JSON_PATH)
    return endpoint.with_target(path or "/")


def soap_base(endpoint: Endpoint) -> Endpoint:
    """The SOAP endpoint for an endpoint given either way."""
    path = endpoint.target.split("?", 1)[0].rstrip("/")
    if path.endswith(_JSON_PATH):
        return endpoint.with_target(path[: -len(_JSON_PATH)] + _SOAP_PATH)
    return endpoint


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def build_request(fields: Mapping[str, object], secret_key: str, algorithm: str) -> bytes:
    """The request object for ``fields`` (vendor names, no seal), sealed, as bytes."""
    values: dict[str, object] = {
        name: _text(value)
        for name, value in fields.items()
        if value is not None and name not in ("keyVersion", "sealAlgorithm")
    }
    values["seal"] = compute_seal(values, secret_key, algorithm)
    values["keyVersion"] = int(str(fields["keyVersion"]))
    if algorithm != DEFAULT_ALGORITHM:
        values["sealAlgorithm"] = algorithm
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ResponseError(f"the response names {key!r} twice; a seal over it is ambiguous")
        found[key] = value
    return found


def _value(name: str, value: object) -> object:
    """A JSON value as the seal and the results see it: text, lists, mappings."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        if name in _TEXT_FIELDS:
            raise ResponseError(f"the response gives {name} as a {type(value).__name__}, not text")
        if isinstance(value, float):
            raise ResponseError(f"the response gives {name} as a fraction; refused")
        return _text(value)
    if isinstance(value, list):
        return [_value(name, item) for item in value]
    if isinstance(value, dict):
        return {key: _value(key, item) for key, item in value.items()}
    raise ResponseError(f"the response holds an unexpected value for {name}")  # pragma: no cover


def parse_reply(content: bytes) -> dict[str, object]:
    """The answer's fields, as received; ``ResponseError`` if it is not one JSON object
    (or more than 65,536 objects, arrays and values: bounded memory, as for XML)."""
    if sum(content.count(mark) for mark in (b"{", b"[", b",")) > _MAX_NODES:
        raise ResponseError(f"the response holds more than {_MAX_NODES} values; refused unparsed")
    try:
        data = json.loads(content.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except ResponseError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ResponseError("the response is not JSON") from None
    if not isinstance(data, dict):
        raise ResponseError("the response is not a JSON object")
    return {name: _value(name, value) for name, value in data.items()}


_HIDDEN: Final = {"seal": "[hidden]", "paymentToken": "[hidden]"}
_MAX_NODES: Final = 65536  # objects, arrays and values: as envelope.MAX_MARKUP for XML


def redacted_json(data: Mapping[str, object]) -> str:
    """A request or answer for DEBUG logs: card numbers masked, seals and tokens hidden."""
    shown = {
        name: _HIDDEN.get(name, mask_pan(str(value)) if name == "cardNumber" else value)
        for name, value in data.items()
    }
    return redact_text(json.dumps(shown, ensure_ascii=False))
