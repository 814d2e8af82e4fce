"""What a client lets others see of its calls: event hooks and OpenTelemetry.

Off unless asked, and then never a card number, seal, seal string or key:

- ``on_request`` / ``on_response`` hooks (client options) get an ``Exchange``
  for every HTTP exchange, retries included: the operation, the attempt, the
  key version, and the fields with the card number masked and the seal left out.
- With ``opentelemetry-api`` installed (the ``otel`` extra), each logical call
  (its retries and its reconciliation included) is one CLIENT span named
  ``<service>/<operation>`` (``wallet/addCard``, ``checkout/walletOrder``), and
  metrics count calls, retries and reconciliations
  and time the calls.  Without a tracer or meter provider configured, the API's
  no-op ones make that cheap; ``telemetry=False`` turns it off altogether, and
  ``tracer_provider=``/``meter_provider=`` use providers of your own instead of
  the global ones.

Span and metric attributes (OpenTelemetry's RPC conventions):

- ``rpc.system.name``: ``"sogenactif_office"`` (a custom value: no registered
  one names this service);
- ``rpc.method``: ``<service>/<operation>``, e.g. ``wallet/addCard``,
  ``checkout/walletOrder``, ``cashManagement/refund``;
- ``rpc.status_code``: the code answered (``walletResponseCode``, or a payment
  service's ``responseCode``: ``"00"``, ``"94"``);
  absent when no code came (a SOAP fault, a lost answer);
- ``error.type``: only on failure: the code (``"94"``), ``"soap_fault"``, or the
  package's exception class (``"OutcomeUnknown"``, ``"ConnectionFailed"``);
- ``server.address``, ``server.port``;
- ``sogen_soap.resends`` (retries and reconciling re-sends of the call),
  ``sogen_soap.reconciled`` (a lost answer settled by sending again, or for a
  payment by looking it up),
  ``sogen_soap.key_version``.

Metrics (meter ``sogen_soap``): ``rpc.client.call.duration`` (histogram, s),
``sogen_soap.client.calls`` (by ``rpc.method``, ``sogen_soap.outcome``,
``rpc.status_code``), ``sogen_soap.client.retries`` and
``sogen_soap.client.reconciliations`` (by ``rpc.method``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypeVar

from .endpoints import Endpoint
from .errors import ConfigurationError, OutcomeUnknown
from .redact import mask_pan, redact_text
from .services import service_of

__all__ = [
    "RPC_SYSTEM",
    "Exchange",
    "Hook",
    "Observer",
    "note_reconciliation",
    "note_resend",
    "redacted_fields",
]

log = logging.getLogger("sogen_soap.observe")
_R = TypeVar("_R")

RPC_SYSTEM: Final = "sogenactif_office"
"""``rpc.system.name``: a custom value, as no registered one names this service."""

_HIDDEN: Final = frozenset({"seal", "secretKey", "paymentToken"})
_MASKED: Final = frozenset({"cardNumber"})
# Identifiers of the shop, not of a card: shown as they are (a merchant id has the
# length of a card number, which the text rule would mask).
_PLAIN: Final = frozenset({"merchantId", "keyVersion", "interfaceVersion"})


def redacted_fields(fields: Mapping[str, object]) -> Mapping[str, object]:
    """The fields of a request or answer, safe to show: seal and token left out,
    card numbers masked, any digit run that could be one masked in other text."""
    shown: dict[str, object] = {}
    for name, value in fields.items():
        if name in _HIDDEN or value is None:
            continue
        if name in _MASKED:
            shown[name] = mask_pan(str(value))
        elif name in _PLAIN:
            shown[name] = str(value)
        else:
            shown[name] = _redacted(value)
    return MappingProxyType(shown)


def _redacted(value: object) -> object:
    if isinstance(value, Mapping):
        return redacted_fields(value)
    if isinstance(value, (list, tuple)):
        return tuple(_redacted(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange of a call, as a hook sees it: nothing secret in it.

    ``request`` holds the fields sent (card number masked, no seal); once
    answered, ``status`` is the HTTP status and ``response`` the answer's fields
    (no seal), or ``error`` names the package's exception for the attempt.
    """

    operation: str
    attempt: int
    endpoint: str
    key_version: int
    request: Mapping[str, object]
    status: int | None = None
    response_code: str | None = None
    response: Mapping[str, object] | None = None
    error: str | None = None
    seconds: float | None = None


Hook = Callable[[Exchange], object]


class _Call:
    """One logical call under observation (its retries and reconciliation included)."""

    __slots__ = ("key_version", "operation", "reconciliations", "resends", "span", "started")

    def __init__(self, operation: str, span: Any) -> None:
        self.operation = operation
        self.started = time.perf_counter()
        self.resends = 0
        self.reconciliations = 0
        self.key_version: int | None = None
        self.span = span


class Finish:
    """Keeps a call's result for ``Observer.observing`` and hands it back."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: object = None

    def __call__(self, result: _R) -> _R:
        self.result = result
        return result


_CURRENT: ContextVar[_Call | None] = ContextVar("sogen_soap_call", default=None)


def _method(operation: str) -> str:
    """``<service>/<operation>``: ``wallet/addCard``, ``checkout/walletOrder``."""
    return f"{service_of(operation).name}/{operation}"


def note_resend() -> None:
    """The call in progress sends its request again (a retry)."""
    call = _CURRENT.get()
    if call is not None:
        call.resends += 1


def note_reconciliation() -> None:
    """The call in progress re-sends after a lost answer, to settle it."""
    call = _CURRENT.get()
    if call is not None:
        call.reconciliations += 1


def _opentelemetry() -> tuple[Any, Any] | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    return trace, metrics


# The API's stand-ins while no SDK is configured: spans and metrics would go nowhere.
_UNSET_PROVIDERS: Final = frozenset(
    {"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider"}
)


class _Instruments:
    def __init__(self, trace: Any, metrics: Any, tracer_provider: Any, meter_provider: Any) -> None:
        from ._version import __version__

        self._given = tracer_provider is not None or meter_provider is not None
        self.metrics = metrics
        self.trace = trace
        self.tracer = trace.get_tracer("sogen_soap", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("sogen_soap", __version__, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "rpc.client.call.duration", unit="s", description="Wallet calls, retries included"
        )
        self.calls = meter.create_counter(
            "sogen_soap.client.calls", unit="{call}", description="Wallet calls by outcome"
        )
        self.retries = meter.create_counter(
            "sogen_soap.client.retries", unit="{retry}", description="Requests sent again"
        )
        self.reconciliations = meter.create_counter(
            "sogen_soap.client.reconciliations",
            unit="{reconciliation}",
            description="Re-sends that settle a lost answer",
        )

    def active(self) -> bool:
        """Whether anything would receive a span or a metric: providers of the
        caller's, or global ones an SDK configured (checked per call: an
        application may configure them after the client is made)."""
        if self._given:
            return True
        return (
            type(self.trace.get_tracer_provider()).__name__ not in _UNSET_PROVIDERS
            or type(self.metrics.get_meter_provider()).__name__ not in _UNSET_PROVIDERS
        )


class Observer:
    """The hooks and telemetry of one client; None of it when nothing is asked for
    (``Observer.for_client`` returns None then, and the client skips it all)."""

    def __init__(
        self,
        endpoint: Endpoint,
        on_request: Hook | None,
        on_response: Hook | None,
        otel: tuple[Any, Any, Any, Any] | None,
    ) -> None:
        self._endpoint = endpoint
        self._on_request = on_request
        self._on_response = on_response
        self._otel = None if otel is None else _Instruments(*otel)
        self._base = {
            "rpc.system.name": RPC_SYSTEM,
            "server.address": endpoint.host,
            "server.port": endpoint.port,
        }

    @classmethod
    def for_client(
        cls,
        endpoint: Endpoint,
        on_request: Hook | None,
        on_response: Hook | None,
        telemetry: bool | None,
        tracer_provider: Any = None,
        meter_provider: Any = None,
    ) -> Observer | None:
        for name, hook in (("on_request", on_request), ("on_response", on_response)):
            if hook is not None and not callable(hook):
                raise ConfigurationError(f"{name} must be callable, not {type(hook).__name__}")
        otel = None if telemetry is False else _opentelemetry()
        if telemetry is True and otel is None:
            raise ConfigurationError(
                "telemetry=True needs opentelemetry-api: pip install 'sogen-soap[otel]'"
            )
        if otel is None and on_request is None and on_response is None:
            return None
        providers = None if otel is None else (*otel, tracer_provider, meter_provider)
        return cls(endpoint, on_request, on_response, providers)

    @property
    def hooked(self) -> bool:
        return self._on_request is not None or self._on_response is not None

    # ------------------------------------------------------------ a logical call

    @contextmanager
    def observing(self, operation: str) -> Iterator[Finish]:
        """One logical call, for both clients: ``with observer.observing(op) as
        finish: return finish(work())``; an exception ends it as a failure."""
        call, token = self.begin(operation)
        finish = Finish()
        if call is None:
            yield finish
            return
        try:
            yield finish
        except BaseException as exc:
            self.end(call, token, None, exc)
            raise
        self.end(call, token, finish.result, None)

    def begin(self, operation: str) -> tuple[_Call | None, object]:
        """The call's record and context token; (None, None) when nothing would see
        it (no hook, no provider): the client then just runs the call."""
        otel = self._otel is not None and self._otel.active()
        if not otel and not self.hooked:
            return None, None
        span = None
        if otel:
            assert self._otel is not None
            span = self._otel.tracer.start_span(
                _method(operation),
                kind=self._otel.trace.SpanKind.CLIENT,
                attributes={**self._base, "rpc.method": _method(operation)},
            )
        call = _Call(operation, span)
        return call, _CURRENT.set(call)

    def end(self, call: _Call, token: object, result: object, error: BaseException | None) -> None:
        _CURRENT.reset(token)  # type: ignore[arg-type]
        if self._otel is None or call.span is None:
            return
        seconds = time.perf_counter() - call.started
        code, outcome, error_type = _outcome(result, error)
        method = _method(call.operation)
        attributes: dict[str, Any] = {
            **self._base,
            "rpc.method": method,
            "sogen_soap.resends": call.resends + call.reconciliations,
            "sogen_soap.reconciled": bool(getattr(result, "recovered", False)),
        }
        if call.key_version is not None:
            attributes["sogen_soap.key_version"] = call.key_version
        if code is not None:
            attributes["rpc.status_code"] = code
        if error_type is not None:
            attributes["error.type"] = error_type
        span = call.span
        span.set_attributes(attributes)
        if error_type is not None:
            span.set_status(self._otel.trace.Status(self._otel.trace.StatusCode.ERROR))
        span.end()
        counted = {"rpc.system.name": RPC_SYSTEM, "rpc.method": method}
        by_outcome = {**counted, "sogen_soap.outcome": outcome}
        if code is not None:
            by_outcome["rpc.status_code"] = code
        if error_type is not None:
            by_outcome["error.type"] = error_type
        self._otel.duration.record(seconds, by_outcome)
        self._otel.calls.add(1, by_outcome)
        if call.resends:
            self._otel.retries.add(call.resends, counted)
        if call.reconciliations:
            self._otel.reconciliations.add(call.reconciliations, counted)

    # ------------------------------------------------------------ one exchange

    @staticmethod
    def note_key(key_version: int) -> None:
        """The call in progress was sealed with ``key_version``."""
        call = _CURRENT.get()
        if call is not None:
            call.key_version = key_version

    def sending(
        self, operation: str, attempt: int, key_version: int, fields: Mapping[str, object]
    ) -> Exchange | None:
        self.note_key(key_version)
        exchange = Exchange(
            operation=operation,
            attempt=attempt,
            endpoint=self._endpoint.url,
            key_version=key_version,
            request=redacted_fields(fields),
        )
        if self._on_request is not None:
            _call_hook(self._on_request, exchange)
        return exchange

    def answered(
        self,
        exchange: Exchange | None,
        started: float,
        status: int | None,
        output: Mapping[str, object] | None,
        error: BaseException | None,
    ) -> None:
        if exchange is None or self._on_response is None:
            return
        # each service's own code field: a payment's responseCode, a lookup's
        # getTransDataResponseCode (its responseCode is the transaction's)
        code = None if output is None else output.get(service_of(exchange.operation).code_field)
        _call_hook(
            self._on_response,
            Exchange(
                operation=exchange.operation,
                attempt=exchange.attempt,
                endpoint=exchange.endpoint,
                key_version=exchange.key_version,
                request=exchange.request,
                status=status,
                response_code=None if code is None else str(code),
                response=None if output is None else redacted_fields(output),
                error=None if error is None else type(error).__name__,
                seconds=time.perf_counter() - started,
            ),
        )


def _call_hook(hook: Hook, exchange: Exchange) -> None:
    """A hook that raises must not change the call's outcome: it is logged."""
    try:
        hook(exchange)
    except Exception as exc:
        log.warning("%s hook raised %s; ignored", exchange.operation, type(exc).__name__)


def _outcome(result: object, error: BaseException | None) -> tuple[str | None, str, str | None]:
    """(status code, outcome, error type) of a finished call."""
    if error is not None:
        outcome = "unknown" if isinstance(error, OutcomeUnknown) else "error"
        return None, outcome, type(error).__name__
    code = getattr(result, "response_code", None)
    if getattr(result, "fault", None) is not None:
        return code, "fault", "soap_fault"
    if getattr(result, "ok", False):
        return code, "ok", None
    return code, "refused", str(code)
