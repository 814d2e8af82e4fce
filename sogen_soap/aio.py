"""``AsyncWalletClient``: the wallet service for asyncio applications.

The same rules as ``WalletClient`` (they live in ``adapter.WalletCore``), sent
through ``transport.AsyncSender`` on asyncio streams: the same deadline per
call, size cap, URL rule and error classes as the sync client, and no extra
dependency.  Building a client after the first touches no file and no
network (the parsed WSDL and the TLS context are shared), so a client can be
made inside a running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .adapter import AddCardOptions, Answer, ClientOptions, Plan, R, WalletCore
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
from .transport import AsyncSender, LegacyAsyncSender, tls_settings

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Unpack

    from .payments import CreditOptions, PaymentOptions

__all__ = ["AsyncWalletClient"]


class AsyncWalletClient(WalletCore):
    """``WalletClient``'s twin for asyncio: the same options, operations and results.

    Use ``async with AsyncWalletClient(...) as client:`` so the connections are
    closed.  At most ``max_connections`` requests are on the wire at once;
    more callers wait their turn (8 measured best on 2 cores), and the wait
    counts toward their deadline.  ``http_client``, an ``httpx.AsyncClient`` of
    your own, is still accepted (yours to close; its TLS settings apply, our
    deadline and size cap too).  A client belongs to one event loop.
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey | KeyRing,
        key_version: int | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 8,
        **options: Unpack[ClientOptions],
    ) -> None:
        if (
            not isinstance(max_connections, int)
            or isinstance(max_connections, bool)
            or (max_connections < 1)
        ):
            raise ConfigurationError("max_connections must be at least 1")
        super().__init__(merchant_id, secret_key, key_version, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sender: AsyncSender | LegacyAsyncSender
        if http_client is not None:
            self._sender = LegacyAsyncSender(
                http_client, self._address, max_response_bytes=self._max_response_bytes
            )
        else:
            self._sender = AsyncSender(
                self._address,
                tls=tls_settings(options.get("ca_bundle"), options.get("client_cert"))
                if self._address.scheme == "https"
                else None,
                proxy=self._proxy,
                max_response_bytes=self._max_response_bytes,
                connect_timeout=self._connect_timeout,
                max_connections=max_connections,
            )

    async def aclose(self) -> None:
        """Close the connections (an ``http_client`` passed in stays the caller's)."""
        loop_gone = self._loop is not None and self._loop.is_closed()
        if loop_gone and isinstance(self._sender, AsyncSender):  # its connections went with it
            self._sender.forget()
        await self._sender.aclose()
        self._stop_embedded()

    async def __aenter__(self) -> AsyncWalletClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- operations

    async def add_card(
        self,
        merchant_wallet_id: str,
        card_number: str,
        card_expiry_date: str,
        *,
        reconcile: bool = False,
        after_lost_answer: bool = False,
        **optional: Unpack[AddCardOptions],
    ) -> AddCardResult:
        """See ``WalletClient.add_card``."""
        plan = self.plan_add_card(merchant_wallet_id, card_number, card_expiry_date, **optional)
        return await self._observed(
            "addCard",
            lambda: self._drive(
                self.add_card_steps(
                    plan,
                    reconcile=reconcile or after_lost_answer,
                    after_lost_answer=after_lost_answer,
                )
            ),
        )

    async def get_wallet_data(self, merchant_wallet_id: str) -> GetWalletDataResult:
        """See ``WalletClient.get_wallet_data``."""
        return await self._observed_run(self.plan_get_wallet_data(merchant_wallet_id))

    async def get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> GetPaymentMeanDataResult:
        """See ``WalletClient.get_payment_mean_data``."""
        return await self._observed_run(
            self.plan_get_payment_mean_data(merchant_wallet_id, payment_mean_id)
        )

    async def update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> UpdatePaymentMeanResult:
        """See ``WalletClient.update_payment_mean``."""
        plan = self.plan_update_payment_mean(
            merchant_wallet_id, payment_mean_id, payment_mean_alias
        )
        return await self._observed_run(plan)

    async def delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> DeletePaymentMeanResult:
        """See ``WalletClient.delete_payment_mean``."""
        return await self._observed_run(
            self.plan_delete_payment_mean(merchant_wallet_id, payment_mean_id)
        )

    async def sign_off(self, merchant_wallet_id: str) -> SignOffResult:
        """See ``WalletClient.sign_off``."""
        return await self._observed_run(self.plan_sign_off(merchant_wallet_id))

    # ------------------------------------------------------------ paying with the wallet

    async def wallet_order(
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
        return await self._stepped(plan, steps)

    async def wallet_credit_holder(
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
        return await self._stepped(plan, steps)

    async def refund(
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
        return await self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    async def cancel(
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
        return await self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    async def validate(
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
        return await self._stepped(plan, self.cash_steps(plan, reconcile=reconcile))

    async def get_transaction_data(self, transaction_reference: str) -> TransactionData:
        """A transaction as the service holds it (25: unknown reference)."""
        return await self._observed_run(self.plan_get_transaction_data(transaction_reference))

    # ------------------------------------------------------------------ sending

    async def _observed(self, operation: str, work: Callable[[], Awaitable[R]]) -> R:
        """See ``WalletClient._observed``."""
        observer = self._observer
        if observer is None:
            return await work()
        with observer.observing(operation) as finish:
            return finish(await work())

    async def _stepped(self, plan: Plan[R], steps: Generator[Plan[Any], Any, R]) -> R:
        """A call made of steps (a payment and its lookups), observed as one."""
        return await self._observed(plan.operation, lambda: self._drive(steps))

    async def _observed_run(self, plan: Plan[R]) -> R:
        if self._observer is None:
            return await self._run(plan)
        return await self._observed(plan.operation, lambda: self._run(plan))

    async def _drive(self, steps: Generator[Plan[Any], Any, R]) -> R:
        """See ``WalletClient._drive``."""
        step = next(steps)
        while True:
            try:
                result = await self._run(step)
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

    def _check_loop(self) -> None:
        """Refuse, before anything is sent, a call from an event loop this client
        does not belong to.

        Connections and the limit on them belong to the loop they were made
        in.  Once that loop is closed (``asyncio.run`` twice, a test's loop),
        the client moves to the new one; while it is still open, a call from
        another loop is refused, since both would share those connections.
        A caller's ``http_client`` cannot be moved: it stays with its first loop.
        """
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None:
            if not (self._loop.is_closed() and isinstance(self._sender, AsyncSender)):
                raise ConfigurationError(
                    "this AsyncWalletClient belongs to another event loop"
                    + ("" if self._loop.is_closed() else ", still open")
                    + "; nothing was sent. Make one client per event loop"
                )
            self._sender.forget()
        self._loop = loop

    async def _run(self, plan: Plan[R]) -> R:
        self._check_loop()
        body, headers, key = self._request(plan)
        deadline = self._new_deadline()
        attempt = 1
        while True:
            outcome: Answer | SogenSoapError
            seen = self._seen(plan, attempt, key)
            status = None
            try:
                answer = await self._sender.request(
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
            await asyncio.sleep(step)
            attempt += 1
