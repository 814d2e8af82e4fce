"""The service adapter's rules, shared by the sync and the async client.

Everything here is I/O-free: checking fields (nothing is sent if one is
bad), turning each operation into a *plan* (its fields and how to read its
answer), rendering and sealing the envelope from the WSDL's layout, reading a
reply leniently and verifying its seal, deciding after each attempt whether
to retry, give up or report an unknown outcome, and reconciling a lost
enrolment.  ``WalletClient`` and ``AsyncWalletClient`` only add the sending
and the waiting, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Generic, TypedDict, TypeVar

from .credentials import SecretKey, secret_key_from_env
from .endpoints import parse_endpoint
from .envelope import (
    OperationShape,
    build_sealed_request,
    operation_shape,
    parse_reply,
    parse_xml_safely,
    redacted_xml,
)
from .errors import (
    ConfigurationError,
    ConnectionDropped,
    ConnectionFailed,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseError,
    ResponseTimeout,
    ResponseTooLarge,
    SealVerificationError,
    SogenSoapError,
    TransportError,
    UnreadableOutcome,
    UnverifiedOutcome,
)
from .json_codec import JSON_HEADERS, json_base, redacted_json, soap_base
from .json_codec import build_request as build_json_request
from .json_codec import parse_reply as parse_json_reply
from .keys import KeyRing, KeyVersion, keys_from_env
from .observe import Exchange, Hook, Observer, note_reconciliation, note_resend
from .parsing import list_items, parse_datetime, payment_mean, text_or_none, unmodeled
from .payments import PaymentPlans
from .redact import install_log_redaction, mask_pan
from .results import (
    AddCardResult,
    DeletePaymentMeanResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    SignOffResult,
    SoapFault,
    UpdatePaymentMeanResult,
    WalletActionResult,
)
from .retry import READ_ONLY_OPERATIONS, RetryPolicy, retryable
from .seal import DEFAULT_ALGORITHM, verified_order
from .services import PAYMENT_OPERATIONS, SERVICES, WALLET, service_of
from .transport import DEFAULT_MAX_RESPONSE_BYTES, Deadline, Proxy, environment_proxy
from .validation import check_card_number, check_field
from .wsdl_cache import bundled_shapes, load_document, soap_binding, zeep_settings

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

__all__ = [
    "DEFAULT_TIMEOUT",
    "AddCardOptions",
    "Answer",
    "ClientOptions",
    "Plan",
    "Timeout",
    "WalletCore",
]

log = logging.getLogger("sogen_soap")
wire_log = logging.getLogger("sogen_soap.wire")

WIRES: Final = ("soap", "json")
"""The two ways to talk to the service: the SOAP endpoint, or the JSON one."""

DEFAULT_TIMEOUT: Final = (5.0, 30.0)
"""(connect, answer) seconds: a call connects within the first and ends
within their sum, whatever the server does (see ``deadline_seconds``)."""

# Response fields that say how the call went rather than carry wallet data.
_STATUS_FIELDS: Final = frozenset({"walletResponseCode", "errorFieldName", "seal"})

Timeout = float | tuple[float, float]
R = TypeVar("R")
_Action = TypeVar("_Action", bound=WalletActionResult)


class AddCardOptions(TypedDict, total=False):
    """The optional fields of addCard, by their snake_case names."""

    pan_type: str | None
    payment_mean_alias: str | None
    payment_mean_brand: str | None
    payment_mean_brand_selection_status: str | None
    payment_token: str | None
    intermediate_service_provider_id: str | None


class ClientOptions(TypedDict, total=False):
    """The options both clients take (see ``WalletClient``)."""

    environment: str
    interface_version: str | None
    interface_versions: Mapping[str, str] | None
    seal_algorithm: str
    timeout: Timeout
    wsdl: str | os.PathLike[str] | None
    intermediate_service_provider_id: str | None
    retry: RetryPolicy | None
    ca_bundle: str | os.PathLike[str] | None
    client_cert: str | os.PathLike[str] | tuple[str, str] | None
    proxy: str | None
    max_response_bytes: int
    transport: str
    on_request: Hook | None
    on_response: Hook | None
    telemetry: bool | None
    tracer_provider: Any
    meter_provider: Any


@dataclass(frozen=True)
class Answer:
    """A reply that was read and checked: its output fields as received, or a fault."""

    output: Mapping[str, object]
    fault: SoapFault | None
    seal_verified: bool
    seal_order: str | None = None
    key_version: int | None = None
    hint: str | None = None
    code_field: str = "walletResponseCode"
    """The output field holding the service's code (``responseCode`` for payments)."""

    def common(self) -> dict[str, Any]:
        return {
            "key_version": self.key_version,
            "hint": self.hint,
            "response_code": text_or_none(self.output.get(self.code_field)),
            "error_field_name": text_or_none(self.output.get("errorFieldName")),
            "fault": self.fault,
            "seal_verified": self.seal_verified,
            "seal_order": self.seal_order,
        }


@dataclass(frozen=True)
class Plan(Generic[R]):
    """One call to make: the operation, its checked fields, how to read the answer."""

    operation: str
    fields: dict[str, object]
    convert: Callable[[Answer], R]


def snake_to_field(name: str) -> str:
    """``pan_type`` -> ``panType``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _attempted(fields: Mapping[str, object]) -> dict[str, str]:
    """What a call asked for, safe to show: no card number, no token."""
    shown = {
        name: str(fields[name])
        for name in (
            "merchantWalletId", "paymentMeanId", "cardExpiryDate", "paymentMeanAlias",
            "transactionReference", "amount", "operationAmount", "currencyCode",
        )
        if fields.get(name) is not None
    }  # fmt: skip
    if fields.get("cardNumber") is not None:
        shown["maskedPan"] = mask_pan(str(fields["cardNumber"]))
    return shown


def _key_ring(secret_key: str | SecretKey | KeyRing, key_version: int | None) -> KeyRing:
    """One key and its version, or a ring of them; never both kinds at once."""
    if isinstance(secret_key, KeyRing):
        if key_version is not None:
            raise ConfigurationError(
                "key_version is for a single secret key; a KeyRing names its active "
                "version itself (KeyRing(..., active=N) or client.activate_key(N))"
            )
        return secret_key
    if key_version is None:
        raise ConfigurationError("key_version is needed with a single secret key")
    return KeyRing.single(secret_key, int(check_field("keyVersion", key_version)))


def _check_timeout(timeout: object) -> Timeout:
    parts = timeout if isinstance(timeout, tuple) else (timeout,)
    if not 1 <= len(parts) <= 2 or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and p > 0 and math.isfinite(p)
        for p in parts
    ):
        raise ConfigurationError(
            "timeout must be a positive number of seconds or a (connect, read) pair"
        )
    return timeout  # type: ignore[return-value]


def _check_max_bytes(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
        raise ConfigurationError("max_response_bytes must be a whole number of at least 1024")
    return value


def connect_and_read(timeout: Timeout) -> tuple[float, float]:
    return timeout if isinstance(timeout, tuple) else (timeout, timeout)


def deadline_seconds(timeout: Timeout) -> float:
    """How long one call may take in all: ``t`` for a number, ``c + r`` for a pair.

    The deadline covers connecting, sending, the headers and the whole body,
    and the retries of that call; a dripping server cannot stretch it.
    """
    return float(sum(timeout)) if isinstance(timeout, tuple) else float(timeout)


_WALLET_READS: Final = 3
"""Reads of the wallet, after a reconciling 94, to learn the card's id."""

# A failure of a change after its request may have left: the outcome is unknown.
_LOST: Final = (ResponseTimeout, ConnectionDropped, ResponseTooLarge)
_LOST_REASONS: Final = {
    ResponseTimeout: "timeout",
    ConnectionDropped: "dropped",
    ResponseTooLarge: "too_large",
    HTTPStatusError: "http_status",
    SealVerificationError: "unverified",
    ResponseError: "unreadable",
}


def _answer_lost(error: SogenSoapError) -> bool:
    """Whether a change may have been made although no usable answer says so.

    Anything after the request left counts: a lost or cut answer, a 5xx, and
    an answer that came but cannot be read or trusted (the service may have
    stored the card and then sent something broken)."""
    if isinstance(error, HTTPStatusError):
        return error.status_code >= 500
    return isinstance(error, (*_LOST, ResponseError))


def _unreadable(operation: str, exc: Exception) -> ResponseError:
    """An answer that came but raised something foreign while it was read."""
    return ResponseError(f"{operation}: the answer could not be read ({type(exc).__name__})")


def _reason(error: SogenSoapError) -> str:
    return next((r for kind, r in _LOST_REASONS.items() if isinstance(error, kind)), "dropped")


# -------------------------------------------------------------------- results


_UNSEALABLE: Final = frozenset({"03", "34"})
"""Codes a service cannot seal: the merchant is unknown, or the key is not its."""


def _changes_money(operation: str) -> bool:
    return operation in PAYMENT_OPERATIONS and operation not in READ_ONLY_OPERATIONS


def _known(*names: str) -> frozenset[str]:  # pragma: no mutate block
    return _STATUS_FIELDS | frozenset(names)


_ADD_CARD_FIELDS: Final = _known("walletActionDateTime", "paymentMeanId", "maskedPan")
_WALLET_FIELDS: Final = _known(
    "walletCreationDateTime", "walletLastActionDateTime", "walletPaymentMeanDataList"
)
_MEAN_FIELDS: Final = _known("walletPaymentMeanData")
_ACTION_FIELDS: Final = _known("walletActionDateTime")


def add_card_result(answer: Answer) -> AddCardResult:
    return AddCardResult(
        **answer.common(),
        wallet_action_datetime=parse_datetime(answer.output.get("walletActionDateTime")),
        payment_mean_id=text_or_none(answer.output.get("paymentMeanId")),
        masked_pan=text_or_none(answer.output.get("maskedPan")),
        extra=unmodeled(answer.output, _ADD_CARD_FIELDS),
    )


def wallet_data_result(answer: Answer) -> GetWalletDataResult:
    out = answer.output
    items = list_items(
        out.get("walletPaymentMeanDataList"),
        "walletPaymentMeanData",
        list_name="walletPaymentMeanDataList",
        operation="getWalletData",
    )
    extra = unmodeled(out, _WALLET_FIELDS)
    common = answer.common()
    if not items and common["response_code"] == "00":
        nested = sorted(k for k, v in extra.items() if not isinstance(v, str))
        if nested:  # a list under a name the client does not know: never "an empty wallet"
            raise ResponseError(
                f"getWalletData: no walletPaymentMeanDataList, but {', '.join(nested)}, which "
                "the client cannot read as the wallet's payment means; not read"
            )
    means = (payment_mean(v) for v in items)
    return GetWalletDataResult(
        **common,
        wallet_creation_datetime=parse_datetime(out.get("walletCreationDateTime")),
        wallet_last_action_datetime=parse_datetime(out.get("walletLastActionDateTime")),
        payment_means=tuple(m for m in means if m is not None),
        extra=extra,
    )


def payment_mean_result(answer: Answer) -> GetPaymentMeanDataResult:
    return GetPaymentMeanDataResult(
        **answer.common(),
        payment_mean=payment_mean(answer.output.get("walletPaymentMeanData")),
        extra=unmodeled(answer.output, _MEAN_FIELDS),
    )


def _action_result(result: type[_Action]) -> Callable[[Answer], _Action]:
    def convert(answer: Answer) -> _Action:
        return result(
            **answer.common(),
            wallet_action_datetime=parse_datetime(answer.output.get("walletActionDateTime")),
            extra=unmodeled(answer.output, _ACTION_FIELDS),
        )

    return convert


class WalletCore(PaymentPlans):
    """The rules of a wallet client, without the I/O.  See ``WalletClient``.

    The payment services' plans and steps come from ``PaymentPlans``: the same
    core sends them, each to its service's endpoint on the same host."""

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey | KeyRing,
        key_version: int | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        unknown = sorted(set(options) - set(ClientOptions.__annotations__))
        if unknown:
            raise TypeError(f"unexpected option {', '.join(unknown)}")
        self._merchant_id = check_field("merchantId", merchant_id)
        self._keys = _key_ring(secret_key, key_version)
        self._interface_versions = self._versions(
            options.get("interface_version"), options.get("interface_versions")
        )
        self._seal_algorithm = check_field(
            "sealAlgorithm", options.get("seal_algorithm", DEFAULT_ALGORITHM)
        )
        isp = options.get("intermediate_service_provider_id")
        self._isp_id = None if isp is None else check_field("intermediateServiceProviderId", isp)
        self._timeout = _check_timeout(options.get("timeout", DEFAULT_TIMEOUT))
        self._deadline_seconds = deadline_seconds(self._timeout)
        self._connect_timeout = connect_and_read(self._timeout)[0]
        self._wire = options.get("transport", "soap")
        if self._wire not in WIRES:
            raise ConfigurationError(
                f"transport must be one of {', '.join(WIRES)}, not {self._wire!r}"
            )
        environment = options.get("environment", "test")
        self._embedded: Any = None
        if environment == "simulator":
            # An in-memory simulator owned by this client, stopped with it: it knows the
            # simulation merchant only, and answers other credentials 03 or 34.
            from .simulator import Simulator

            self._embedded = Simulator().start()
            environment = self._embedded.url
        address = parse_endpoint(environment)
        # One service, two endpoints: a URL given either way is mapped by its path.
        self._address = json_base(address) if self._wire == "json" else soap_base(address)
        self._endpoint = self._address.url
        self._targets = self._service_targets()
        self._max_response_bytes = _check_max_bytes(
            options.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)
        )
        proxy = options.get("proxy") or environment_proxy(self._address)
        self._proxy = None if proxy is None else Proxy.from_url(proxy)
        self._retry = options.get("retry") or RetryPolicy()
        self._observer = Observer.for_client(
            self._address,
            options.get("on_request"),
            options.get("on_response"),
            options.get("telemetry"),
            options.get("tracer_provider"),
            options.get("meter_provider"),
        )
        self._retries = 0
        self._retries_lock = threading.Lock()
        install_log_redaction()

        self._wsdl = options.get("wsdl")
        if self._wsdl is None:
            # The bundled WSDL's layouts are compiled ahead: no zeep, no parse.
            self._shapes: dict[str, OperationShape] = dict(bundled_shapes())
        else:
            load_document(self._wsdl)  # a WSDL that cannot be used is refused now, named
            self._shapes = {}

    @functools.cached_property
    def _zeep(self) -> Any:
        """zeep's client for the WSDL: only for a WSDL whose requests need zeep."""
        import zeep

        return zeep.Client(load_document(self._wsdl), settings=zeep_settings())  # type: ignore[no-untyped-call]

    @functools.cached_property
    def _binding(self) -> Any:
        return soap_binding(load_document(self._wsdl))

    @functools.cached_property
    def _service(self) -> Any:
        return self._zeep.create_service(self._binding.name, self._endpoint)

    @staticmethod
    def _versions(version: str | None, per_operation: Mapping[str, str] | None) -> dict[str, str]:
        """Each operation's interfaceVersion: the defaults of ``services``;
        ``interface_version`` for every wallet operation; ``interface_versions``
        per operation, of any service.  Each must carry its service's prefix
        (WR_WS_ for the wallet, IR_WS_ checkout, CR_WS_ cash management, DR_WS_
        diagnostic): a wallet version sent to the checkout is refused here."""
        versions = {op: v for service in SERVICES for op, v in service.versions.items()}
        if version is not None:
            versions.update(dict.fromkeys(WALLET.operations, version))
        unknown = sorted(set(per_operation or ()) - set(versions))
        if unknown:
            raise ConfigurationError(
                f"interface_versions names no operation of the services: {', '.join(unknown)}"
            )
        versions.update(per_operation or {})
        checked = {}
        for op, v in versions.items():
            text = check_field("interfaceVersion", v, "interface_version")
            prefix = service_of(op).versions[op][:6]
            if not text.startswith(prefix):
                raise ConfigurationError(
                    f"interface version {text!r} is not one of {op}'s: its service takes "
                    f"{prefix}... (e.g. {service_of(op).versions[op]})"
                )
            checked[op] = text
        return checked

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """Build from ``SOGEN_MERCHANT_ID``, ``SOGEN_KEY_VERSION``, ``SOGEN_SECRET_KEY``
        (or ``SOGEN_SECRET_KEY_FILE``) and ``SOGEN_ENVIRONMENT``; or, for a key ring,
        ``SOGEN_KEYS`` (``VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]``, comma-separated)
        with ``SOGEN_KEY_VERSION`` naming the active version if the dates do not."""
        env = os.environ if environ is None else environ
        options.setdefault("environment", env.get("SOGEN_ENVIRONMENT") or "test")
        ring = keys_from_env(env)
        if ring is not None:
            if not env.get("SOGEN_MERCHANT_ID"):
                raise ConfigurationError("set SOGEN_MERCHANT_ID")
            return cls(env["SOGEN_MERCHANT_ID"], ring, **options)
        missing = [n for n in ("SOGEN_MERCHANT_ID", "SOGEN_KEY_VERSION") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"set {' and '.join(missing)}")
        return cls(
            env["SOGEN_MERCHANT_ID"],
            secret_key_from_env(env),
            int(check_field("keyVersion", env["SOGEN_KEY_VERSION"])),
            **options,
        )

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def _stop_embedded(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    def _new_deadline(self) -> Deadline:
        return Deadline(self._deadline_seconds)

    @property
    def merchant_id(self) -> str:
        return self._merchant_id

    @property
    def keys(self) -> KeyRing:
        """The merchant's key versions, and which one seals new requests."""
        return self._keys

    @property
    def key_version(self) -> int:
        """The version that seals the next request."""
        return self._keys.active.version

    def activate_key(self, version: int) -> None:
        """Seal new requests with key ``version`` (one of ``keys``), from the next call
        on, in every thread; calls in flight keep the key they were sealed with and
        their answers are verified with it.  No restart."""
        self._keys.activate(version)

    @property
    def retries_made(self) -> int:
        """How many times a call was sent again under the retry policy, so far."""
        return self._retries

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(merchant_id={self._merchant_id!r}, "
            f"key_version={self._keys.active.version}, endpoint={self._endpoint!r})"
        )

    # ------------------------------------------------------------- plans

    def plan_add_card(
        self,
        merchant_wallet_id: str,
        card_number: str,
        card_expiry_date: str,
        **options: Unpack[AddCardOptions],
    ) -> Plan[AddCardResult]:
        unknown = sorted(set(options) - set(AddCardOptions.__annotations__))
        if unknown:
            raise TypeError(f"add_card() got unexpected keyword {', '.join(unknown)}")
        optional = {snake_to_field(name): value for name, value in options.items()}
        fields: dict[str, object] = {
            "merchantWalletId": check_field("merchantWalletId", merchant_wallet_id),
            "cardExpiryDate": check_field("cardExpiryDate", card_expiry_date),
        }
        fields.update(
            {
                name: check_field(name, value)
                for name, value in optional.items()
                if value is not None
            }
        )
        fields["cardNumber"] = check_card_number(card_number, options.get("pan_type"))
        return Plan("addCard", fields, add_card_result)

    def plan_get_wallet_data(self, merchant_wallet_id: str) -> Plan[GetWalletDataResult]:
        return Plan("getWalletData", self._wallet(merchant_wallet_id), wallet_data_result)

    def plan_get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> Plan[GetPaymentMeanDataResult]:
        fields = self._wallet(merchant_wallet_id, payment_mean_id)
        return Plan("getPaymentMeanData", fields, payment_mean_result)

    def plan_update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> Plan[UpdatePaymentMeanResult]:
        fields = self._wallet(merchant_wallet_id, payment_mean_id)
        fields["paymentMeanAlias"] = check_field("paymentMeanAlias", payment_mean_alias)
        return Plan("updatePaymentMean", fields, _action_result(UpdatePaymentMeanResult))

    def plan_delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> Plan[DeletePaymentMeanResult]:
        fields = self._wallet(merchant_wallet_id, payment_mean_id)
        return Plan("deletePaymentMean", fields, _action_result(DeletePaymentMeanResult))

    def plan_sign_off(self, merchant_wallet_id: str) -> Plan[SignOffResult]:
        fields = self._wallet(merchant_wallet_id)
        return Plan("signOff", fields, _action_result(SignOffResult))

    @staticmethod
    def _wallet(
        merchant_wallet_id: str, payment_mean_id: str | int | None = None
    ) -> dict[str, object]:
        fields: dict[str, object] = {
            "merchantWalletId": check_field("merchantWalletId", merchant_wallet_id)
        }
        if payment_mean_id is not None:
            fields["paymentMeanId"] = check_field("paymentMeanId", payment_mean_id)
        return fields

    # ------------------------------------------------------------- one call

    def _shape(self, operation: str) -> OperationShape:
        shape = self._shapes.get(operation)
        if shape is None and operation in PAYMENT_OPERATIONS:
            # a WSDL given by the caller is the wallet's; payments use the bundled ones
            shape = self._shapes[operation] = bundled_shapes()[operation]
        if shape is None:
            shape = self._shapes[operation] = operation_shape(self._binding, operation)
        return shape

    def _service_targets(self) -> dict[str, str]:
        """Each service's path on the endpoint's host: the wallet's as given; the
        others beside it (``.../services/v2/wallet`` -> ``.../services/v2/checkout``,
        and the same for JSON).  A path that names no wallet service is taken
        as the prefix all services hang from."""
        path = self._address.target.split("?", 1)[0].rstrip("/")
        wallet_path = WALLET.json_path if self._wire == "json" else WALLET.soap_path
        prefix = path[: -len(wallet_path)] if path.endswith(wallet_path) else path
        targets = {WALLET.name: self._address.target}
        for service in SERVICES[1:]:
            own = service.json_path if self._wire == "json" else service.soap_path
            targets[service.name] = prefix + own
        return targets

    def _endpoint_of(self, operation: str) -> str:
        """The URL a call of ``operation`` goes to, as errors name it (a payment's is
        its own service's, not the wallet's)."""
        return self._address.with_target(self._target(operation)).url

    def _target(self, operation: str) -> str:
        """Where the request goes: the service's SOAP endpoint, or
        ``<its JSON base>/<function>``."""
        target = self._targets[service_of(operation).name]
        if self._wire == "json":
            return f"{target.rstrip('/')}/{operation}"
        return target

    def _request(self, plan: Plan[Any]) -> tuple[bytes, dict[str, str], KeyVersion]:
        """The sealed request body, its HTTP headers, and the key version that sealed
        it (its answer is verified with the same one, whatever is active by then).
        An expired key is refused here, before anything is sent."""
        key = self._keys.for_request()
        common: dict[str, object] = {
            "merchantId": self._merchant_id,
            "interfaceVersion": self._interface_versions[plan.operation],
            "keyVersion": key.version,
            "sealAlgorithm": self._seal_algorithm,
            "intermediateServiceProviderId": self._isp_id,
        }
        if self._wire == "json":
            fields = {k: v for k, v in {**common, **plan.fields}.items() if v is not None}
            body = build_json_request(fields, key.secret_key.reveal(), self._seal_algorithm)
            if wire_log.isEnabledFor(logging.DEBUG):
                wire_log.debug(
                    "%s request to %s:\n%s",
                    plan.operation,
                    self._endpoint_of(plan.operation),
                    redacted_json(json.loads(body)),
                )
            return body, dict(JSON_HEADERS), key
        shape = self._shape(plan.operation)
        zeep_needed = shape.layout is None
        body = build_sealed_request(
            self._zeep if zeep_needed else None,
            self._service if zeep_needed else None,
            shape,
            {**common, **plan.fields},
            key.secret_key.reveal(),
            self._seal_algorithm,
        )
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug(
                "%s request to %s:\n%s",
                plan.operation,
                self._endpoint_of(plan.operation),
                redacted_xml(parse_xml_safely(body)),
            )
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{shape.soap_action}"',
        }
        return body, headers, key

    def _http_error(self, operation: str, status: int, reason: str) -> HTTPStatusError:
        kind = "JSON" if self._wire == "json" else "SOAP"
        where = self._endpoint_of(operation)
        return HTTPStatusError(
            f"{operation}: HTTP {status} {reason} from {where} "
            f"without a {kind} answer".replace("  ", " "),
            status_code=status,
            operation=operation,
            endpoint=where,
        )

    def _interpret_json(
        self, operation: str, status: int, reason: str, content: bytes, key: KeyVersion
    ) -> Answer:
        if content.lstrip()[:1] != b"{":
            if status != 200:
                raise self._http_error(operation, status, reason)
            raise ResponseError(f"{operation}: the response is not JSON")
        try:
            output = parse_json_reply(content)
        except ResponseError as exc:
            if status != 200:
                raise self._http_error(operation, status, reason) from None
            raise ResponseError(f"{operation}: {exc}") from None
        if status != 200:
            raise self._http_error(operation, status, reason)
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug("%s response (HTTP %s):\n%s", operation, status, redacted_json(output))
        return self._checked(operation, output, key)

    def _interpret(
        self, operation: str, status: int, reason: str, content: bytes, key: KeyVersion
    ) -> Answer:
        """Read an HTTP answer: a checked reply, or the package's exception."""
        if self._wire == "json":
            return self._interpret_json(operation, status, reason, content, key)
        if content.lstrip()[:1] != b"<":
            if status != 200:
                raise self._http_error(operation, status, reason)
            raise ResponseError(f"{operation}: the response is not XML")
        try:
            reply = parse_reply(content)
        except ResponseError as exc:
            if status != 200:
                raise self._http_error(operation, status, reason) from None
            raise ResponseError(f"{operation}: {exc}") from None
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug(
                "%s response (HTTP %s):\n%s", operation, status, redacted_xml(reply.root)
            )
        if reply.fault is not None:
            return Answer(
                output={}, fault=reply.fault, seal_verified=False, key_version=key.version
            )
        if status != 200 or reply.output is None:
            raise self._http_error(operation, status, reason)  # built only when raised
        return self._checked(operation, reply.output, key)

    def _checked(self, operation: str, output: dict[str, object], key: KeyVersion) -> Answer:
        """Verify the response seal with the key its request was sealed with; refuse
        what must not be trusted unverified."""
        code_field = service_of(operation).code_field
        code = output.get(code_field)
        if not isinstance(code, str) or not code:
            raise ResponseError(f"{operation}: the response carries no {code_field}")
        seal = output.get("seal")
        order = (
            verified_order(output, seal, key.secret_key.reveal(), self._seal_algorithm)
            if isinstance(seal, str) and seal
            else None
        )
        verified = order is not None
        if verified:
            self._keys.proven(key.version)
        carries_data = any(
            value not in (None, "")
            for name, value in output.items()
            if name not in _STATUS_FIELDS and name != code_field
        )
        # An unsealed answer is taken only when it claims nothing was done: a refusal
        # without data.  Money never moves on one: for a payment, anything unsealed
        # but "unknown merchant" (03) and "wrong key" (34), which cannot be sealed,
        # is a lost answer, settled by the sealed lookup.
        if not verified and (
            code == "00" or carries_data or (_changes_money(operation) and code not in _UNSEALABLE)
        ):
            state = "wrong" if isinstance(seal, str) and seal else "missing"
            raise SealVerificationError(
                f"{operation}: the response seal is {state} (code {code}, key version "
                f"{key.version}); the response was not used. Check the secret key and key "
                "version, or the path to the service."
            )
        hint = self._keys.hint_for_34(key.version) if code == "34" else None
        return Answer(
            output=output,
            fault=None,
            seal_verified=verified,
            seal_order=order,
            key_version=key.version,
            hint=hint,
            code_field=code_field,
        )

    def _after_attempt(
        self,
        plan: Plan[Any],
        attempt: int,
        outcome: Answer | SogenSoapError,
        deadline: Deadline | None = None,
    ) -> Answer | float:
        """The answer to return, or the seconds to wait before sending again.

        Raises the failure when it is final, as ``OutcomeUnknown`` when a change
        may have been made and its answer was lost.  A retry happens only
        while the call's deadline leaves time for it.
        """
        operation = plan.operation
        last = attempt >= self._retry.attempts
        if isinstance(outcome, SogenSoapError):
            if not last and retryable(outcome, operation):
                delay = self._retry_delay(operation, attempt, type(outcome).__name__, deadline)
                if delay is not None:
                    return delay
            raise self._final(plan, outcome)
        temporary = outcome.fault is None and outcome.output.get(outcome.code_field) == "99"
        # A payment's 99 is settled by its steps (looked up, never sent blindly again).
        if temporary and not last and not _changes_money(operation):
            delay = self._retry_delay(operation, attempt, "code 99", deadline)
            if delay is not None:
                return delay
        if log.isEnabledFor(logging.DEBUG):
            code = outcome.fault.code if outcome.fault else outcome.output.get(outcome.code_field)
            card = plan.fields.get("cardNumber")
            log.debug(
                "%s %s -> %s (wallet %s%s)",
                operation,
                self._endpoint_of(operation),
                code,
                plan.fields.get("merchantWalletId", "-"),
                f", card {mask_pan(str(card))}" if card else "",
            )
        return outcome

    def _final(self, plan: Plan[Any], error: SogenSoapError) -> SogenSoapError:
        """What to raise for a failure no retry will mend: for a change whose
        request may have left, ``OutcomeUnknown``."""
        if plan.operation in READ_ONLY_OPERATIONS or not _answer_lost(error):
            return error
        kind = (
            UnverifiedOutcome
            if isinstance(error, SealVerificationError)
            else UnreadableOutcome
            if isinstance(error, ResponseError) and not isinstance(error, TransportError)
            else OutcomeUnknown
        )
        return kind(
            f"{error}; the request was sent, so its outcome is unknown",
            reason=_reason(error),
            attempted=_attempted(plan.fields),
            operation=plan.operation,
            endpoint=self._endpoint_of(plan.operation),
        )

    def _read_answer(
        self, operation: str, status: int, reason: str, content: bytes, key: KeyVersion
    ) -> Answer | SogenSoapError:
        """An HTTP answer read and checked, or the package's exception for it.

        Whatever reading it raises (a lone surrogate, nesting past Python's
        limit, a bug of ours) is an answer that came and cannot be read: the
        package's ``ResponseError``, never a foreign exception, so a change
        is reported as an unknown outcome and reconciled."""
        try:
            return self._interpret(operation, status, reason, content, key)
        except SogenSoapError as error:
            return error
        except Exception as exc:
            return _unreadable(operation, exc)

    def _broken_exchange(self, operation: str, exc: Exception) -> ConnectionDropped:
        """A sender failed in a way it does not name: the request may have left."""
        where = self._endpoint_of(operation)
        return ConnectionDropped(
            f"{operation}: the exchange with {where} failed "
            f"({type(exc).__name__}) after the request may have left",
            operation=operation,
            endpoint=where,
        )

    def _result(self, plan: Plan[R], answer: Answer) -> R:
        """The typed result of a checked answer; a failure to type it is the package's."""
        try:
            return plan.convert(answer)
        except SogenSoapError as error:
            raise self._final(plan, error) from None
        except Exception as exc:
            raise self._final(plan, _unreadable(plan.operation, exc)) from None

    def _seen(
        self, plan: Plan[Any], attempt: int, key: KeyVersion
    ) -> tuple[Observer, Exchange | None, float] | None:
        """An exchange about to be sent, shown to the hooks (redacted); None when
        no hook looks (the call's span still learns its key version)."""
        observer = self._observer
        if observer is None:
            return None
        if not observer.hooked:
            observer.note_key(key.version)
            return None
        fields = {"merchantId": self._merchant_id, **plan.fields}
        return (
            observer,
            observer.sending(plan.operation, attempt, key.version, fields),
            (time.perf_counter()),
        )

    @staticmethod
    def _seen_answer(
        seen: tuple[Observer, Exchange | None, float] | None,
        status: int | None,
        outcome: Answer | SogenSoapError,
    ) -> None:
        if seen is None:
            return
        observer, exchange, started = seen
        if isinstance(outcome, Answer):
            output: Mapping[str, object] | None = outcome.output
            if outcome.fault is not None:
                output = {"faultcode": outcome.fault.code, "faultstring": outcome.fault.message}
            observer.answered(exchange, started, status, output, None)
        else:
            observer.answered(exchange, started, status, None, outcome)

    def _retry_delay(
        self, operation: str, attempt: int, why: str, deadline: Deadline | None = None
    ) -> float | None:
        """The wait before the next attempt, or None when the deadline leaves no room."""
        delay = self._retry.delay(attempt)
        if deadline is not None and deadline.remaining() <= delay + 0.05:
            return None
        with self._retries_lock:
            self._retries += 1
        note_resend()
        log.info("%s: %s, retry %d in %.2f s", operation, why, attempt, delay)
        return delay

    # ------------------------------------------------------------- reconciling

    def add_card_steps(
        self, plan: Plan[AddCardResult], *, reconcile: bool, after_lost_answer: bool = False
    ) -> Generator[Plan[Any], Any, AddCardResult]:
        """addCard, reconciled after a lost answer, as the calls it needs.

        Written once for both clients: it yields each plan to run and is sent
        its result, or has the exception thrown in.

        The rule: after a lost answer (a timeout, a cut or unreadable answer,
        a 5xx, or a SOAP fault, which a service may send after it stored the
        card), send the same request again and trust only the service's own
        duplicate check on the full card number.  A sealed 00 (the first
        never arrived) or a sealed 94 (it did, or the card was there before)
        both mean the card is in the wallet; ``_identified`` says which
        payment mean it is, never by guessing.  Anything unsealed, or a
        re-send that is lost too (twice), leaves the outcome unknown:
        ``OutcomeUnknown``.
        """
        if not after_lost_answer:
            try:
                first: AddCardResult = yield plan
            except OutcomeUnknown:
                if not reconcile:
                    raise
            else:
                if first.fault is None:
                    return first
                if not reconcile:
                    raise self._unresolved(plan, None, first, sent_again=False)
        cause: SogenSoapError | AddCardResult | None = None
        for _ in range(2):
            note_reconciliation()
            try:
                result: AddCardResult = yield plan
            except (OutcomeUnknown, ConnectionFailed) as again:
                cause = again
                continue
            except SogenSoapError as broken:  # an answer no reading can trust
                raise self._unresolved(plan, broken) from None
            if result.fault is not None:
                cause = result
                continue
            if result.seal_verified and result.response_code == "00":
                return replace(result, recovered=True)
            if result.seal_verified and result.duplicate:
                return (yield from self._identified(plan, result))
            if result.temporary:
                cause = None
                continue
            raise self._unresolved(plan, None, result)
        if isinstance(cause, AddCardResult):
            raise self._unresolved(plan, None, cause)
        raise self._unresolved(plan, cause)

    def _identified(
        self, plan: Plan[AddCardResult], result: AddCardResult
    ) -> Generator[Plan[Any], Any, AddCardResult]:
        """A sealed 94 to the re-send: the card is in the wallet.  Which payment mean is it?

        The service keeps one payment mean per card number in a wallet, shown
        masked as ``mask_pan`` of that number.  So when the wallet, read (sealed)
        after the 94, holds exactly one payment mean with this card's mask, that
        one is this card, whatever its expiry or alias.  With two or more (two
        cards can share first 4, last 2 and length) or none, no id is given:
        expiry and alias do not tell cards apart (an earlier enrolment or
        another row may have set either), so nothing is guessed.

        When that one payment mean holds another expiry (or another alias, where
        both have one), this request did not store it: the card was there
        before, and the answer is the duplicate (94) it is, with the card's id.
        """
        masked = mask_pan(str(plan.fields["cardNumber"]))
        expiry = str(plan.fields["cardExpiryDate"])
        alias = plan.fields.get("paymentMeanAlias")
        wallet_id = plan.fields["merchantWalletId"]
        wallet: GetWalletDataResult | None = None
        for _ in range(_WALLET_READS):  # a read: safe to try again
            try:
                wallet = yield self.plan_get_wallet_data(str(wallet_id))
                break
            except SogenSoapError:
                continue
        same = [] if wallet is None else [m for m in wallet.payment_means if m.masked_pan == masked]
        settled = replace(result, masked_pan=result.masked_pan or masked)
        if wallet is None or not wallet.ok:
            why = "the wallet could not be read to learn its payment mean id"
        elif len(same) != 1:
            why = (
                f"its payment mean id cannot be told: {len(same)} payment means of the "
                f"wallet show {masked}"
            )
        else:
            mean = same[0]
            stored_alias = mean.payment_mean_alias
            earlier = (mean.pan_expiry_date or "") != expiry or (
                alias is not None and stored_alias is not None and stored_alias != alias
            )
            if earlier:
                log.info(
                    "addCard %s: lost answer settled by sending again (94: card %s was in the "
                    "wallet before, as payment mean %s)",
                    wallet_id,
                    masked,
                    mean.payment_mean_id,
                )
                return replace(
                    settled,
                    payment_mean_id=mean.payment_mean_id,
                    reconciliation=(
                        f"the card was in the wallet before this request, stored with expiry "
                        f"{mean.pan_expiry_date or 'none'} as payment mean {mean.payment_mean_id}"
                    ),
                )
            log.info(
                "addCard %s: lost answer settled by sending again (94: card %s is in the "
                "wallet, payment mean %s)",
                wallet_id,
                masked,
                mean.payment_mean_id,
            )
            return replace(settled, recovered=True, payment_mean_id=mean.payment_mean_id)
        log.info(
            "addCard %s: lost answer settled by sending again (94: card %s is in the wallet); %s",
            wallet_id,
            masked,
            why,
        )
        return replace(
            settled,
            recovered=True,
            payment_mean_id=None,
            reconciliation=f"recovered after a lost answer; {why}",
        )

    def _unresolved(
        self,
        plan: Plan[AddCardResult],
        cause: SogenSoapError | None,
        result: AddCardResult | None = None,
        *,
        sent_again: bool = True,
    ) -> OutcomeUnknown:
        wallet_id = plan.fields["merchantWalletId"]
        masked = mask_pan(str(plan.fields["cardNumber"]))
        if not sent_again and result is not None:
            return OutcomeUnknown(
                f"addCard: the service answered {result.message!r}, which it may send after "
                f"storing the card: whether card {masked} is in wallet {wallet_id} is unknown. "
                "Send it again with reconcile=True (a 94 means it is there), or run "
                f"sogen-soap wallet --wallet {wallet_id}",
                reason="fault",
                attempted=_attempted(plan.fields),
                operation="addCard",
                endpoint=self._endpoint_of("addCard"),
            )
        if result is not None:
            why = f"sending again answered {result.message!r}"
        elif cause is not None:
            why = f"sending again failed ({type(cause).__name__}: {cause})"
        else:
            why = "sending again kept being answered 99"
        return OutcomeUnknown(
            f"addCard: the answer was lost and {why}; whether card {masked} is in wallet "
            f"{wallet_id} is unknown. Run the same add-card again (a 94 means it is there) "
            f"or look: sogen-soap wallet --wallet {wallet_id}",
            reason="unresolved",
            attempted=_attempted(plan.fields),
            operation="addCard",
            endpoint=self._endpoint_of("addCard"),
        )
