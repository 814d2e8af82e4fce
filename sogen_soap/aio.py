"""``AsyncWalletClient``: the wallet service for asyncio applications.

The same rules as ``WalletClient`` (they live in ``adapter.WalletCore``), sent
through zeep's ``AsyncClient`` and ``AsyncTransport`` over one
``httpx.AsyncClient`` with explicit timeouts.  Building a client after the
first touches no file and no network: the parsed WSDL and the TLS context
are shared, so a client can be made inside a running event loop.

Needs ``httpx``: ``pip install "sogen-soap[async]"``.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
import zeep
from zeep.transports import AsyncTransport

from ._version import __version__
from .adapter import AddCardOptions, Answer, ClientOptions, Plan, R, WalletCore, connect_and_read
from .credentials import SecretKey
from .errors import ConfigurationError, OutcomeUnknown, SogenSoapError
from .results import (
    AddCardResult,
    DeletePaymentMeanResult,
    GetPaymentMeanDataResult,
    GetWalletDataResult,
    SignOffResult,
    UpdatePaymentMeanResult,
)
from .transport import ssl_context, translate_httpx
from .wsdl_cache import zeep_settings

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AsyncWalletClient"]


class _Transport(AsyncTransport):
    """zeep's AsyncTransport over our httpx client.

    zeep's constructor would also build a synchronous httpx client for WSDL
    downloads, loading a CA bundle on the event loop; the WSDL is already
    parsed, so that one is never made.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._close_session = False
        self.cache = None
        self.load_timeout = None
        self.operation_timeout = None
        self.client = client
        self.wsdl_client = None
        self.logger = logging.getLogger("zeep.transports")


class AsyncWalletClient(WalletCore):
    """``WalletClient``'s twin for asyncio: the same options, operations and results.

    Use ``async with AsyncWalletClient(...) as client:`` so the HTTP connections
    are closed.  ``http_client`` may be an ``httpx.AsyncClient`` of your own
    (then it is yours to close, and its timeouts and TLS settings apply).

    At most ``max_connections`` requests are on the wire at once; more callers
    wait their turn here.  httpcore's pool scans every connection for every
    waiting request, so a small pool with a queue in front is several times
    cheaper in CPU than a large pool (8 measured best on 2 cores).  A client
    belongs to one event loop.
    """

    def __init__(
        self,
        merchant_id: str,
        secret_key: str | SecretKey,
        key_version: int,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 8,
        **options: Unpack[ClientOptions],
    ) -> None:
        if max_connections < 1:
            raise ConfigurationError("max_connections must be at least 1")
        self._given_client = http_client
        self._options = options
        self._max_connections = max_connections
        self._gate = asyncio.Semaphore(max_connections)
        super().__init__(merchant_id, secret_key, key_version, **options)

    def _zeep_client(self, document: Any) -> Any:
        client = self._given_client
        if client is None:
            connect, read = connect_and_read(self._timeout)
            cert = self._options.get("client_cert")
            cert_file, key_file = cert if isinstance(cert, tuple) else (cert, None)
            ca_bundle = self._options.get("ca_bundle")
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(read, connect=connect),
                verify=ssl_context(
                    None if ca_bundle is None else str(ca_bundle),
                    None if cert_file is None else str(cert_file),
                    None if key_file is None else str(key_file),
                ),
                proxy=self._options.get("proxy"),
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                follow_redirects=False,
                headers={"User-Agent": f"sogen-soap/{__version__}"},
            )
        self._transport = _Transport(client)
        return zeep.AsyncClient(document, transport=self._transport, settings=zeep_settings())  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        """Close the HTTP connections (an ``http_client`` passed in stays the caller's)."""
        if self._given_client is None:
            await self._transport.aclose()  # type: ignore[no-untyped-call]

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
        **optional: Unpack[AddCardOptions],
    ) -> AddCardResult:
        """See ``WalletClient.add_card``."""
        plan = self.plan_add_card(merchant_wallet_id, card_number, card_expiry_date, **optional)
        steps = self.add_card_steps(plan, reconcile=reconcile)
        step = next(steps)
        while True:
            try:
                result = await self._run(step)
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

    async def get_wallet_data(self, merchant_wallet_id: str) -> GetWalletDataResult:
        """See ``WalletClient.get_wallet_data``."""
        return await self._run(self.plan_get_wallet_data(merchant_wallet_id))

    async def get_payment_mean_data(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> GetPaymentMeanDataResult:
        """See ``WalletClient.get_payment_mean_data``."""
        return await self._run(self.plan_get_payment_mean_data(merchant_wallet_id, payment_mean_id))

    async def update_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int, payment_mean_alias: str
    ) -> UpdatePaymentMeanResult:
        """See ``WalletClient.update_payment_mean``."""
        plan = self.plan_update_payment_mean(
            merchant_wallet_id, payment_mean_id, payment_mean_alias
        )
        return await self._run(plan)

    async def delete_payment_mean(
        self, merchant_wallet_id: str, payment_mean_id: str | int
    ) -> DeletePaymentMeanResult:
        """See ``WalletClient.delete_payment_mean``."""
        return await self._run(self.plan_delete_payment_mean(merchant_wallet_id, payment_mean_id))

    async def sign_off(self, merchant_wallet_id: str) -> SignOffResult:
        """See ``WalletClient.sign_off``."""
        return await self._run(self.plan_sign_off(merchant_wallet_id))

    # ------------------------------------------------------------------ sending

    async def _run(self, plan: Plan[R]) -> R:
        body, headers = self._request(plan)
        attempt = 1
        while True:
            outcome: Any
            try:
                outcome = await self._post(plan.operation, body, headers)
            except SogenSoapError as error:
                outcome = error
            step = self._after_attempt(plan, attempt, outcome)
            if isinstance(step, Answer):
                return plan.convert(step)
            await asyncio.sleep(step)
            attempt += 1

    async def _post(self, operation: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            async with self._gate:
                response = await self._transport.post(self._endpoint, body, headers)  # type: ignore[no-untyped-call]
        except httpx.HTTPError as exc:
            raise translate_httpx(exc, operation, self._endpoint) from None
        return self._interpret(
            operation, response.status_code, response.reason_phrase, response.content
        )
