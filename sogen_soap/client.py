"""``WalletClient``: the wallet service from ordinary (threaded) Python.

The rules live in ``adapter.WalletCore``; this class adds only the sending
(through ``transport.SyncSender``) and the waiting between retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .adapter import DEFAULT_TIMEOUT, AddCardOptions, Answer, ClientOptions, Plan, R, WalletCore
from .credentials import SecretKey
from .errors import ConfigurationError, SogenSoapError
from .keys import KeyRing
from .payment_results import (
    CancelResult,
    RefundResult,
    TransactionData,
    ValidateResult,
    WalletCreditHolderResult,
    WalletOrderResult,
)
from .results import (
    AddCardResult,
    DeletePaymentMeanResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    SignOffResult,
    UpdatePaymentMeanResult,
)
from .transport import LegacySyncSender, SyncSender, tls_settings

if TYPE_CHECKING:
    import requests
    from typing_extensions import Unpack

    from .payments import CreditOptions, PaymentOptions

__all__ = ["DEFAULT_TIMEOUT", "WalletClient"]


class WalletClient(WalletCore):
    """A merchant's connection to the Office Server wallet service.

    Safe to share between threads for calls.  ``environment`` is ``"test"``,
    ``"prod"``, or the URL of a SOAP endpoint (a sister brand's
    ``https://<host>/services/v2/wallet``, or a local simulator).  ``wsdl`` is a
    WSDL file or a folder holding one; by default the bundled copy.
    ``retry`` says how often a *safe* failure is retried (see ``retry``);
    ``ca_bundle``, ``client_cert`` (a PEM path, or a (cert, key) pair, for
    mutual TLS) and ``proxy`` (an ``http://[user:pass@]host:port`` CONNECT
    proxy; by default ``HTTPS_PROXY``/``NO_PROXY``, read once) configure HTTPS.
    TLS verification cannot be switched off.
    ``interface_version`` applies to every operation; ``interface_versions``
    overrides it per operation; by default each operation sends its version
    from ``endpoints.INTERFACE_VERSIONS`` (WR_WS_2.55 today).

    ``timeout`` is seconds, or a (connect, answer) pair, (5, 30) by default: a
    call connects within the first and ends within the sum, however slowly
    the server sends.  ``max_response_bytes`` (4 MiB by default) caps an
    answer while it streams in.  ``pool_size`` kept-alive connections are
    reused between calls.  ``session``, a ``requests.Session`` of your own, is
    still accepted as a slower path (see ``transport.LegacySyncSender``).

    ``secret_key`` with ``key_version`` is one key; a ``KeyRing`` instead (and no
    ``key_version``) holds several versions: see ``activate_key`` and
    ``sogen_soap.keys``.  ``on_request``/``on_response`` are called with a
    redacted ``observe.Exchange`` for every HTTP exchange; with
    ``opentelemetry-api`` installed each call is a span and is counted
    (``telemetry=False`` turns it off; ``tracer_provider``/``meter_provider``
    choose providers): see ``sogen_soap.observe``.
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey | KeyRing,
        key_version: int | None = None,
        *,
        session: requests.Session | None = None,
        pool_size: int = 16,
        **options: Unpack[ClientOptions],
    ) -> None:
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 0:
            raise ConfigurationError(
                "pool_size must be a whole number of kept-alive connections, 0 or more"
            )
        super().__init__(merchant_id, secret_key, key_version, **options)
        self._sender: SyncSender | LegacySyncSender
        if session is not None:
            if options.get("ca_bundle") is not None:
                session.verify = str(options["ca_bundle"])
            cert = options.get("client_cert")
            if cert is not None:
                session.cert = cert if isinstance(cert, tuple) else str(cert)
            if options.get("proxy"):
                session.proxies.update({"https": str(options["proxy"])})
            self._sender = LegacySyncSender(  # refuses a session that does not verify
                session,
                self._address,
                max_response_bytes=self._max_response_bytes,
                connect_timeout=self._connect_timeout,
            )
        else:
            self._sender = SyncSender(
                self._address,
                tls=tls_settings(options.get("ca_bundle"), options.get("client_cert"))
                if self._address.scheme == "https"
                else None,
                proxy=self._proxy,
                max_response_bytes=self._max_response_bytes,
                connect_timeout=self._connect_timeout,
                pool_size=pool_size,
            )

    def close(self) -> None:
        """Close the kept-alive connections (a session passed in stays the caller's), and
        stop the simulator ``environment="simulator"`` started."""
        self._sender.close()
        self._stop_embedded()

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
        after_lost_answer: bool = False,
        **optional: Unpack[AddCardOptions],
    ) -> AddCardResult:
        """Enrol a card in a wallet, creating the wallet if it does not exist.

        ``card_expiry_date`` is ``YYYYMM`` (empty for a card without expiry).
        Optional fields, by keyword: ``pan_type``, ``payment_mean_alias``,
        ``payment_mean_brand``, ``payment_mean_brand_selection_status``,
        ``payment_token``, ``intermediate_service_provider_id``.  A card already
        in the wallet answers 94 (``result.duplicate``).

        If the answer is lost after the request may have left,
        ``OutcomeUnknown`` is raised, unless ``reconcile`` is true: then the
        same request is sent again and the service's own duplicate check
        settles it: a sealed 00 or a sealed 94 means the card is in the
        wallet (``result.recovered``); anything else stays ``OutcomeUnknown``.
        ``after_lost_answer`` says an earlier attempt of this very request
        lost its answer (a process killed mid-call): it is sent under the same
        rule straight away.  No card is enrolled twice, none is lost.
        """
        plan = self.plan_add_card(merchant_wallet_id, card_number, card_expiry_date, **optional)
        return self._observed(
            "addCard",
            lambda: self._drive(
                self.add_card_steps(
                    plan,
                    reconcile=reconcile or after_lost_answer,
                    after_lost_answer=after_lost_answer,
                )
            ),
        )

    def get_wallet_data(self, merchant_wallet_id: str) -> GetWalletDataResult:
        """The wallet's dates and its payment means (25 when the wallet is unknown)."""
        return self._observed_run(self.plan_get_wallet_data(merchant_wallet_id))

    def get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> GetPaymentMeanDataResult:
        """One payment mean of a wallet (25 when the wallet or the mean is unknown)."""
        return self._observed_run(
            self.plan_get_payment_mean_data(merchant_wallet_id, payment_mean_id)
        )

    def update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> UpdatePaymentMeanResult:
        """Rename a payment mean (its alias is the only thing that can change)."""
        plan = self.plan_update_payment_mean(
            merchant_wallet_id, payment_mean_id, payment_mean_alias
        )
        return self._observed_run(plan)

    def delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> DeletePaymentMeanResult:
        """Remove one payment mean from a wallet (25 when unknown)."""
        return self._observed_run(
            self.plan_delete_payment_mean(merchant_wallet_id, payment_mean_id)
        )

    def sign_off(self, merchant_wallet_id: str) -> SignOffResult:
        """Delete a wallet and all its payment means (25 when unknown)."""
        return self._observed_run(self.plan_sign_off(merchant_wallet_id))

    # ------------------------------------------------------------ paying with the wallet

    def wallet_order(
        self,
        merchant_wallet_id: str,
        payment_mean_id: str | int,
        amount: int,
        currency_code: str | int = "978",
        *,
        transaction_reference: str | None = None,
        reconcile: bool = True,
        after_lost_answer: bool = False,
        **options: Unpack[PaymentOptions],
    ) -> WalletOrderResult:
        """Charge a stored card: ``amount`` in the currency's smallest unit (an ``int``:
        1050 is 10.50 EUR), ``currency_code`` ISO 4217 numeric (978, euros).

        ``transaction_reference`` identifies the payment; without one, a fresh one
        is made (``new_transaction_reference()``; better: make it yourself and keep
        it first).  Options by keyword: ``order_channel`` (INTERNET),
        ``capture_day``, ``capture_mode``, ``payment_pattern``,
        ``initial_scheme_transaction_identifier``, ``order_id``, ``customer_id``,
        ``transaction_origin``.

        No double charge: a lost answer is settled by looking the reference up
        (``recovered``), and the request is sent again only when the service
        says it does not know it.  A reference used before answers 94
        (``duplicate``): no new payment.  ``reconcile=False`` raises
        ``OutcomeUnknown`` instead; ``after_lost_answer`` says an earlier
        attempt with this reference lost its answer (looked up first).
        """
        plan = self.plan_wallet_order(
            merchant_wallet_id,
            payment_mean_id,
            amount,
            currency_code,
            transaction_reference,
            **options,
        )
        steps = self.payment_steps(plan, reconcile=reconcile, after_lost_answer=after_lost_answer)
        return self._stepped(plan, steps)

    def wallet_credit_holder(
        self,
        merchant_wallet_id: str,
        payment_mean_id: str | int,
        amount: int,
        currency_code: str | int = "978",
        *,
        transaction_reference: str | None = None,
        reconcile: bool = True,
        after_lost_answer: bool = False,
        **options: Unpack[CreditOptions],
    ) -> WalletCreditHolderResult:
        """Credit a stored card (money to the holder), under the same rule as
        ``wallet_order``: one credit per reference, whatever is lost."""
        plan = self.plan_wallet_credit_holder(
            merchant_wallet_id,
            payment_mean_id,
            amount,
            currency_code,
            transaction_reference,
            **options,
        )
        steps = self.payment_steps(plan, reconcile=reconcile, after_lost_answer=after_lost_answer)
        return self._stepped(plan, steps)

    def refund(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        *,
        operation_origin: str | None = None,
        reconcile: bool = True,
    ) -> RefundResult:
        """Refund ``amount`` of a captured transaction (up to what remains).

        The transaction is read before (``reconcile``): a lost answer is then
        settled by reading it again, never by refunding twice."""
        plan = self.plan_refund(transaction_reference, amount, currency_code, operation_origin)
        return self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    def cancel(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        *,
        operation_origin: str | None = None,
        reconcile: bool = True,
    ) -> CancelResult:
        """Cancel ``amount`` of a transaction not yet captured (all of it: the
        transaction is then CANCELLED).  Lost answers: as ``refund``."""
        plan = self.plan_cancel(transaction_reference, amount, currency_code, operation_origin)
        return self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    def validate(
        self,
        transaction_reference: str,
        amount: int,
        currency_code: str | int = "978",
        *,
        operation_origin: str | None = None,
        reconcile: bool = True,
    ) -> ValidateResult:
        """Validate (capture) a transaction made with capture mode VALIDATION, for
        ``amount`` (at most what remains authorised).  Lost answers: as ``refund``."""
        plan = self.plan_validate(transaction_reference, amount, currency_code, operation_origin)
        return self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    def get_transaction_data(self, transaction_reference: str) -> TransactionData:
        """A transaction as the service holds it (25: unknown reference)."""
        return self._observed_run(self.plan_get_transaction_data(transaction_reference))

    # ------------------------------------------------------------------ sending

    def _observed(self, operation: str, work: Callable[[], R]) -> R:
        """One logical call, seen by the hooks and telemetry if any (else just run)."""
        observer = self._observer
        if observer is None:
            return work()
        with observer.observing(operation) as finish:
            return finish(work())

    def _stepped(self, plan: Plan[R], steps: Generator[Plan[Any], Any, R]) -> R:
        """A call made of steps (a payment and its lookups), observed as one."""
        return self._observed(plan.operation, lambda: self._drive(steps))

    def _observed_run(self, plan: Plan[R]) -> R:
        if self._observer is None:
            return self._run(plan)
        return self._observed(plan.operation, lambda: self._run(plan))

    def _drive(self, steps: Generator[Plan[Any], Any, R]) -> R:
        """Run a generator of plans (see ``add_card_steps``) to its result."""
        step = next(steps)
        while True:
            try:
                result = self._run(step)
            except SogenSoapError as error:
                try:
                    step = steps.throw(error)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                continue
            try:
                step = steps.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _run(self, plan: Plan[R]) -> R:
        body, headers, key = self._request(plan)
        deadline = self._new_deadline()
        attempt = 1
        while True:
            outcome: Answer | SogenSoapError
            seen = self._seen(plan, attempt, key)
            status = None
            try:
                answer = self._sender.request(
                    plan.operation, "POST", self._target(plan.operation), headers, body, deadline
                )
            except SogenSoapError as error:
                outcome = error
            except Exception as exc:
                outcome = self._broken_exchange(plan.operation, exc)
            else:
                status = answer.status
                outcome = self._read_answer(
                    plan.operation, answer.status, answer.reason, answer.body, key
                )
            self._seen_answer(seen, status, outcome)
            step = self._after_attempt(plan, attempt, outcome, deadline)
            if isinstance(step, Answer):
                return self._result(plan, step)
            time.sleep(step)
            attempt += 1
