"""The service adapter: validates, seals, sends, verifies, flattens.

``WalletClient`` owns one zeep client built from the shared parsed WSDL and
one ``requests`` session.  Every call goes the same way: check the fields
(nothing is sent if one is bad), let zeep build the envelope from the WSDL,
seal what was serialized, POST it, read the reply leniently, verify its seal,
and hand back a typed result.  Faults and response codes become results;
only broken plumbing raises, and only this package's exceptions.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Final, TypeVar

import requests
import zeep
from lxml import etree

from .credentials import SecretKey, secret_key_from_env
from .endpoints import INTERFACE_VERSIONS, OPERATIONS, resolve_endpoint
from .envelope import (
    OperationShape,
    build_sealed_request,
    operation_shape,
    parse_reply,
    redacted_xml,
)
from .errors import (
    ConfigurationError,
    ConnectionDropped,
    HTTPStatusError,
    OutcomeUnknown,
    ResponseError,
    ResponseTimeout,
    SealVerificationError,
    SogenSoapError,
)
from .parsing import items, parse_datetime, payment_mean, text_or_none
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
from .seal import DEFAULT_ALGORITHM, verify_seal
from .transport import configure_tls, new_session, translate
from .validation import check_card_number, check_field
from .wsdl_cache import load_document, zeep_settings

__all__ = ["DEFAULT_TIMEOUT", "WalletClient"]

log = logging.getLogger("sogen_soap")
wire_log = logging.getLogger("sogen_soap.wire")

DEFAULT_TIMEOUT: Final = (5.0, 30.0)
"""(connect, read) seconds: every call is bounded, unlike zeep's default."""

# Response fields that say how the call went rather than carry wallet data.
_STATUS_FIELDS: Final = frozenset({"walletResponseCode", "errorFieldName", "seal"})

Timeout = float | tuple[float, float]
_Action = TypeVar("_Action", bound=WalletActionResult)


def _attempted(fields: Mapping[str, object]) -> dict[str, str]:
    """What a call asked for, safe to show: no card number, no token."""
    shown = {
        name: str(fields[name])
        for name in ("merchantWalletId", "paymentMeanId", "cardExpiryDate", "paymentMeanAlias")
        if fields.get(name) is not None
    }
    if fields.get("cardNumber") is not None:
        shown["maskedPan"] = mask_pan(str(fields["cardNumber"]))
    return shown


@dataclass(frozen=True)
class _Answer:
    output: Mapping[str, object]
    fault: SoapFault | None
    seal_verified: bool

    def common(self) -> dict[str, Any]:
        return {
            "response_code": text_or_none(self.output.get("walletResponseCode")),
            "error_field_name": text_or_none(self.output.get("errorFieldName")),
            "fault": self.fault,
            "seal_verified": self.seal_verified,
        }


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


class WalletClient:
    """A merchant's connection to the Office Server wallet service.

    Safe to share between threads for calls.  ``environment`` is ``"test"``,
    ``"prod"``, or the URL of a SOAP endpoint (a sister brand's
    ``https://<host>/services/v2/wallet``, or a local simulator).  ``wsdl`` is a
    WSDL file or a folder holding one; by default the bundled copy.
    ``retry`` says how often a *safe* failure is retried (see ``retry``);
    ``ca_bundle``, ``client_cert`` (a PEM path, or a (cert, key) pair, for
    mutual TLS) and ``proxy`` configure the HTTPS session, which may also be
    passed in whole as ``session``.  TLS verification cannot be switched off.
    ``interface_version`` applies to every operation; ``interface_versions``
    overrides it per operation; by default each operation sends its version
    from ``endpoints.INTERFACE_VERSIONS`` (WR_WS_2.55 today).
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey,
        key_version: int,
        *,
        environment: str = "test",
        interface_version: str | None = None,
        interface_versions: Mapping[str, str] | None = None,
        seal_algorithm: str = DEFAULT_ALGORITHM,
        timeout: Timeout = DEFAULT_TIMEOUT,
        wsdl: str | os.PathLike[str] | None = None,
        intermediate_service_provider_id: str | None = None,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        ca_bundle: str | os.PathLike[str] | None = None,
        client_cert: str | os.PathLike[str] | tuple[str, str] | None = None,
        proxy: str | None = None,
    ) -> None:
        self._merchant_id = check_field("merchantId", merchant_id)
        self._key_version = int(check_field("keyVersion", key_version))
        versions = dict(INTERFACE_VERSIONS)
        if interface_version is not None:
            versions = dict.fromkeys(OPERATIONS, interface_version)
        unknown = sorted(set(interface_versions or ()) - set(OPERATIONS))
        if unknown:
            raise ConfigurationError(
                f"interface_versions names no wallet operation: {', '.join(unknown)}"
            )
        versions.update(interface_versions or {})
        self._interface_versions = {
            op: check_field("interfaceVersion", version, "interface_version")
            for op, version in versions.items()
        }
        self._seal_algorithm = check_field("sealAlgorithm", seal_algorithm)
        self._isp_id = (
            None
            if intermediate_service_provider_id is None
            else check_field("intermediateServiceProviderId", intermediate_service_provider_id)
        )
        self._secret = secret_key if isinstance(secret_key, SecretKey) else SecretKey(secret_key)
        self._timeout = _check_timeout(timeout)
        self._endpoint = resolve_endpoint(environment)
        self._owns_session = session is None
        self._session = session if session is not None else new_session(self._endpoint)
        configure_tls(self._session, ca_bundle=ca_bundle, client_cert=client_cert, proxy=proxy)
        self._retry = retry if retry is not None else RetryPolicy()
        self._retries = 0
        self._retries_lock = threading.Lock()
        install_log_redaction()

        document = load_document(wsdl)
        self._zeep = zeep.Client(document, settings=zeep_settings())  # type: ignore[no-untyped-call]
        binding = self._soap_binding(document)
        self._service = self._zeep.create_service(binding.name, self._endpoint)  # type: ignore[no-untyped-call]
        self._binding = binding
        self._shapes: dict[str, OperationShape] = {}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> WalletClient:
        """Build from ``SOGEN_MERCHANT_ID``, ``SOGEN_KEY_VERSION``, ``SOGEN_SECRET_KEY``
        (or ``SOGEN_SECRET_KEY_FILE``) and ``SOGEN_ENVIRONMENT``."""
        env = os.environ if environ is None else environ
        missing = [n for n in ("SOGEN_MERCHANT_ID", "SOGEN_KEY_VERSION") if not env.get(n)]
        if missing:
            raise ConfigurationError(f"set {' and '.join(missing)}")
        options.setdefault("environment", env.get("SOGEN_ENVIRONMENT") or "test")
        return cls(
            env["SOGEN_MERCHANT_ID"],
            secret_key_from_env(env),
            int(check_field("keyVersion", env["SOGEN_KEY_VERSION"])),
            **options,
        )

    @staticmethod
    def _soap_binding(document: Any) -> Any:
        for service in document.services.values():
            for port in service.ports.values():
                if port.binding is not None and hasattr(port.binding, "get"):
                    return port.binding
        raise ConfigurationError("the WSDL declares no SOAP service port")

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def merchant_id(self) -> str:
        return self._merchant_id

    @property
    def retries_made(self) -> int:
        """How many times a call was sent again under the retry policy, so far."""
        return self._retries

    def __repr__(self) -> str:
        return (
            f"WalletClient(merchant_id={self._merchant_id!r}, key_version={self._key_version}, "
            f"endpoint={self._endpoint!r})"
        )

    def close(self) -> None:
        """Close the HTTP connections (a session passed in stays the caller's)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> WalletClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- operations

    def add_card(
        self,
        merchant_wallet_id: str,
        card_number: str,
        card_expiry_date: str,
        *,
        pan_type: str | None = None,
        payment_mean_alias: str | None = None,
        payment_mean_brand: str | None = None,
        payment_mean_brand_selection_status: str | None = None,
        payment_token: str | None = None,
        intermediate_service_provider_id: str | None = None,
        reconcile: bool = False,
    ) -> AddCardResult:
        """Enrol a card in a wallet, creating the wallet if it does not exist.

        ``card_expiry_date`` is ``YYYYMM`` (empty for a card without expiry).
        A card already in the wallet answers 94 (``result.duplicate``).

        If the answer is lost after the request went out, ``OutcomeUnknown`` is
        raised, unless ``reconcile`` is true: then the wallet is read back, and
        if it holds a card with the same masked PAN and expiry the result is
        returned with ``recovered`` set; if not, the request is sent once more
        (and a 94 to it also counts as recovered).  No card is enrolled twice.
        """
        optional = {
            "panType": pan_type,
            "paymentMeanAlias": payment_mean_alias,
            "paymentMeanBrand": payment_mean_brand,
            "paymentMeanBrandSelectionStatus": payment_mean_brand_selection_status,
            "paymentToken": payment_token,
            "intermediateServiceProviderId": intermediate_service_provider_id,
        }
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
        fields["cardNumber"] = check_card_number(card_number, pan_type)
        try:
            return self._add_card_result(self._call("addCard", fields))
        except OutcomeUnknown:
            if not reconcile:
                raise
            return self._reconcile_add_card(fields)

    @staticmethod
    def _add_card_result(answer: _Answer, *, recovered: bool = False) -> AddCardResult:
        return AddCardResult(
            **answer.common(),
            wallet_action_datetime=parse_datetime(answer.output.get("walletActionDateTime")),
            payment_mean_id=text_or_none(answer.output.get("paymentMeanId")),
            masked_pan=text_or_none(answer.output.get("maskedPan")),
            recovered=recovered,
        )

    def _reconcile_add_card(self, fields: dict[str, object]) -> AddCardResult:
        """After a lost answer: is the card there?  If not, send once more."""
        wallet_id = str(fields["merchantWalletId"])
        masked = mask_pan(str(fields["cardNumber"]))
        expiry = str(fields["cardExpiryDate"])
        for read_back in (1, 2):
            wallet = self.get_wallet_data(wallet_id)
            found = next(
                (
                    mean
                    for mean in wallet.payment_means
                    if mean.masked_pan == masked and (mean.pan_expiry_date or "") == expiry
                ),
                None,
            )
            if wallet.ok and found is not None:
                log.info(
                    "addCard %s: lost answer reconciled, card %s is in the wallet",
                    wallet_id,
                    masked,
                )
                return AddCardResult(
                    response_code="00",
                    seal_verified=wallet.seal_verified,
                    payment_mean_id=found.payment_mean_id,
                    masked_pan=found.masked_pan,
                    recovered=True,
                )
            if read_back == 2:
                break
            try:
                result = self._add_card_result(self._call("addCard", fields))
            except OutcomeUnknown:
                continue  # lost again: read back once more
            return replace(result, recovered=True) if result.duplicate else result
        raise OutcomeUnknown(
            f"addCard: the answer was lost twice and wallet {wallet_id} does not show card "
            f"{masked}; its outcome is unknown",
            reason="unresolved",
            attempted=_attempted(fields),
            operation="addCard",
            endpoint=self._endpoint,
        )

    def get_wallet_data(self, merchant_wallet_id: str) -> GetWalletDataResult:
        """The wallet's dates and its payment means (25 when the wallet is unknown)."""
        answer = self._call("getWalletData", self._wallet(merchant_wallet_id))
        out = answer.output
        means = (
            payment_mean(v)
            for v in items(out.get("walletPaymentMeanDataList"), "walletPaymentMeanData")
        )
        return GetWalletDataResult(
            **answer.common(),
            wallet_creation_datetime=parse_datetime(out.get("walletCreationDateTime")),
            wallet_last_action_datetime=parse_datetime(out.get("walletLastActionDateTime")),
            payment_means=tuple(m for m in means if m is not None),
        )

    def get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> GetPaymentMeanDataResult:
        """One payment mean of a wallet (25 when the wallet or the mean is unknown)."""
        answer = self._call("getPaymentMeanData", self._wallet(merchant_wallet_id, payment_mean_id))
        return GetPaymentMeanDataResult(
            **answer.common(),
            payment_mean=payment_mean(answer.output.get("walletPaymentMeanData")),
        )

    def update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> UpdatePaymentMeanResult:
        """Rename a payment mean (its alias is the only thing that can change)."""
        fields = self._wallet(merchant_wallet_id, payment_mean_id)
        fields["paymentMeanAlias"] = check_field("paymentMeanAlias", payment_mean_alias)
        return self._action(UpdatePaymentMeanResult, "updatePaymentMean", fields)

    def delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> DeletePaymentMeanResult:
        """Remove one payment mean from a wallet (25 when unknown)."""
        return self._action(
            DeletePaymentMeanResult,
            "deletePaymentMean",
            self._wallet(merchant_wallet_id, payment_mean_id),
        )

    def sign_off(self, merchant_wallet_id: str) -> SignOffResult:
        """Delete a wallet and all its payment means (25 when unknown)."""
        return self._action(SignOffResult, "signOff", self._wallet(merchant_wallet_id))

    # ------------------------------------------------------------------ plumbing

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

    def _action(self, result: type[_Action], operation: str, fields: dict[str, object]) -> _Action:
        answer = self._call(operation, fields)
        return result(
            **answer.common(),
            wallet_action_datetime=parse_datetime(answer.output.get("walletActionDateTime")),
        )

    def _shape(self, operation: str) -> OperationShape:
        shape = self._shapes.get(operation)
        if shape is None:
            shape = self._shapes[operation] = operation_shape(self._binding, operation)
        return shape

    def _call(self, operation: str, fields: dict[str, object]) -> _Answer:
        shape = self._shape(operation)
        common: dict[str, object] = {
            "merchantId": self._merchant_id,
            "interfaceVersion": self._interface_versions[operation],
            "keyVersion": self._key_version,
            "sealAlgorithm": self._seal_algorithm,
            "intermediateServiceProviderId": self._isp_id,
        }
        envelope = build_sealed_request(
            self._zeep,
            self._service,
            shape,
            {**common, **fields},
            self._secret.reveal(),
            self._seal_algorithm,
        )
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug(
                "%s request to %s:\n%s", operation, self._endpoint, redacted_xml(envelope)
            )
        body = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        started = time.perf_counter()
        answer = self._send_with_retries(operation, shape, body, fields)
        if not log.isEnabledFor(logging.DEBUG):  # skip building the line on the hot path
            return answer
        log.debug(
            "%s %s -> %s in %.1f ms (wallet %s%s)",
            operation,
            self._endpoint,
            answer.fault.code if answer.fault else answer.output.get("walletResponseCode"),
            (time.perf_counter() - started) * 1000,
            fields.get("merchantWalletId", "-"),
            f", card {mask_pan(str(fields['cardNumber']))}" if "cardNumber" in fields else "",
        )
        return answer

    def _send_with_retries(
        self, operation: str, shape: OperationShape, body: bytes, fields: Mapping[str, object]
    ) -> _Answer:
        for attempt in range(1, self._retry.attempts + 1):
            last = attempt == self._retry.attempts
            try:
                answer = self._interpret(operation, self._post(operation, shape, body))
            except SogenSoapError as error:
                if not last and retryable(error, operation):
                    self._wait_before_retry(operation, attempt, type(error).__name__)
                    continue
                if operation not in READ_ONLY_OPERATIONS and isinstance(
                    error, (ResponseTimeout, ConnectionDropped)
                ):
                    raise OutcomeUnknown(
                        str(error),
                        reason="timeout" if isinstance(error, ResponseTimeout) else "dropped",
                        attempted=_attempted(fields),
                        operation=operation,
                        endpoint=self._endpoint,
                    ) from None
                raise
            temporary = answer.fault is None and answer.output.get("walletResponseCode") == "99"
            if temporary and not last:
                self._wait_before_retry(operation, attempt, "code 99")
                continue
            return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _wait_before_retry(self, operation: str, attempt: int, why: str) -> None:
        delay = self._retry.delay(attempt)
        with self._retries_lock:
            self._retries += 1
        log.info("%s: %s, retry %d in %.2f s", operation, why, attempt, delay)
        time.sleep(delay)

    def _post(self, operation: str, shape: OperationShape, body: bytes) -> requests.Response:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{shape.soap_action}"',
        }
        try:
            return self._session.post(
                self._endpoint,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                # explicit, because requests lets REQUESTS_CA_BUNDLE override a
                # session's own CA setting when the session trusts the environment
                verify=self._session.verify,
            )
        except requests.RequestException as exc:
            raise translate(exc, operation, self._endpoint) from None

    def _interpret(self, operation: str, response: requests.Response) -> _Answer:
        status = response.status_code
        content = response.content
        where = {"operation": operation, "endpoint": self._endpoint}
        http_error = HTTPStatusError(
            f"{operation}: HTTP {status} {response.reason or ''} from {self._endpoint} "
            "without a SOAP answer".replace("  ", " "),
            status_code=status,
            **where,
        )
        if content.lstrip()[:1] != b"<":
            if status != 200:
                raise http_error
            raise ResponseError(f"{operation}: the response is not XML")
        try:
            reply = parse_reply(content)
        except ResponseError as exc:
            if status != 200:
                raise http_error from None
            raise ResponseError(f"{operation}: {exc}") from None
        if wire_log.isEnabledFor(logging.DEBUG):
            wire_log.debug(
                "%s response (HTTP %s):\n%s", operation, status, redacted_xml(reply.root)
            )
        if reply.fault is not None:
            return _Answer(output={}, fault=reply.fault, seal_verified=False)
        if status != 200 or reply.output is None:
            raise http_error
        return self._checked(operation, reply.output)

    def _checked(self, operation: str, output: dict[str, object]) -> _Answer:
        """Verify the response seal; refuse what must not be trusted unverified."""
        code = output.get("walletResponseCode")
        if not isinstance(code, str) or not code:
            raise ResponseError(f"{operation}: the response carries no walletResponseCode")
        seal = output.get("seal")
        verified = (
            isinstance(seal, str)
            and bool(seal)
            and verify_seal(output, seal, self._secret.reveal(), self._seal_algorithm)
        )
        carries_data = any(
            value not in (None, "") for name, value in output.items() if name not in _STATUS_FIELDS
        )
        if not verified and (code == "00" or carries_data):
            state = "wrong" if isinstance(seal, str) and seal else "missing"
            raise SealVerificationError(
                f"{operation}: the response seal is {state} (code {code}); the response was "
                "not used. Check the secret key and key version, or the path to the service."
            )
        return _Answer(output=output, fault=None, seal_verified=verified)
