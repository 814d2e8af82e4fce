"""``WalletClient``: the wallet service from ordinary (threaded) Python.

The rules live in ``adapter.WalletCore``; this class adds only the sending,
over one ``requests`` session, and the waiting between retries.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests

from .adapter import DEFAULT_TIMEOUT, AddCardOptions, Answer, ClientOptions, Plan, R, WalletCore
from .credentials import SecretKey
from .errors import OutcomeUnknown, SogenSoapError
from .results import (
    AddCardResult,
    DeletePaymentMeanResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    SignOffResult,
    UpdatePaymentMeanResult,
)
from .transport import configure_tls, new_session, translate

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DEFAULT_TIMEOUT", "WalletClient"]


class WalletClient(WalletCore):
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
    from ``endpoints.INTERFACE_VERSIONS`` (WR_WS_2.55 today).  ``timeout`` is
    seconds, or a (connect, read) pair; 5 and 30 by default.
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey,
        key_version: int,
        *,
        session: requests.Session | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(merchant_id, secret_key, key_version, **options)
        self._owns_session = session is None
        self._session = session if session is not None else new_session(self._endpoint)
        configure_tls(
            self._session,
            ca_bundle=options.get("ca_bundle"),
            client_cert=options.get("client_cert"),
            proxy=options.get("proxy"),
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
        reconcile: bool = False,
        **optional: Unpack[AddCardOptions],
    ) -> AddCardResult:
        """Enrol a card in a wallet, creating the wallet if it does not exist.

        ``card_expiry_date`` is ``YYYYMM`` (empty for a card without expiry).
        Optional fields, by keyword: ``pan_type``, ``payment_mean_alias``,
        ``payment_mean_brand``, ``payment_mean_brand_selection_status``,
        ``payment_token``, ``intermediate_service_provider_id``.  A card already
        in the wallet answers 94 (``result.duplicate``).

        If the answer is lost after the request went out, ``OutcomeUnknown`` is
        raised, unless ``reconcile`` is true: then the wallet is read back, and
        if it holds a card with the same masked PAN and expiry the result is
        returned with ``recovered`` set; if not, the request is sent once more
        (and a 94 to it also counts as recovered).  No card is enrolled twice.
        """
        plan = self.plan_add_card(merchant_wallet_id, card_number, card_expiry_date, **optional)
        steps = self.add_card_steps(plan, reconcile=reconcile)
        step = next(steps)
        while True:
            try:
                result = self._run(step)
            except OutcomeUnknown as lost:
                try:
                    step = steps.throw(lost)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                step = steps.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def get_wallet_data(self, merchant_wallet_id: str) -> GetWalletDataResult:
        """The wallet's dates and its payment means (25 when the wallet is unknown)."""
        return self._run(self.plan_get_wallet_data(merchant_wallet_id))

    def get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> GetPaymentMeanDataResult:
        """One payment mean of a wallet (25 when the wallet or the mean is unknown)."""
        return self._run(self.plan_get_payment_mean_data(merchant_wallet_id, payment_mean_id))

    def update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> UpdatePaymentMeanResult:
        """Rename a payment mean (its alias is the only thing that can change)."""
        plan = self.plan_update_payment_mean(
            merchant_wallet_id, payment_mean_id, payment_mean_alias
        )
        return self._run(plan)

    def delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> DeletePaymentMeanResult:
        """Remove one payment mean from a wallet (25 when unknown)."""
        return self._run(self.plan_delete_payment_mean(merchant_wallet_id, payment_mean_id))

    def sign_off(self, merchant_wallet_id: str) -> SignOffResult:
        """Delete a wallet and all its payment means (25 when unknown)."""
        return self._run(self.plan_sign_off(merchant_wallet_id))

    # ------------------------------------------------------------------ sending

    def _run(self, plan: Plan[R]) -> R:
        body, headers = self._request(plan)
        attempt = 1
        while True:
            outcome: Any
            try:
                outcome = self._post(plan.operation, body, headers)
            except SogenSoapError as error:
                outcome = error
            step = self._after_attempt(plan, attempt, outcome)
            if isinstance(step, Answer):
                return plan.convert(step)
            time.sleep(step)
            attempt += 1

    def _post(self, operation: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            response = self._session.post(
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
        return self._interpret(
            operation, response.status_code, response.reason or "", response.content
        )
