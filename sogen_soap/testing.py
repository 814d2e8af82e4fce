"""A testing kit for code that uses sogen-soap: the simulator as pytest fixtures.

Installing the package is all it takes: this module is a pytest plugin
(registered through the ``pytest11`` entry point) that defines two fixtures,
and nothing starts until a test asks for one.

- ``wallet_simulator``: a running simulator (started once per session),
  with a fresh, empty store for every test.  See ``SimulatedWallet``.
- ``wallet_client``: a ``WalletClient`` bound to it, closed after the test.

Without pytest (unittest, another framework, a script)::

    with simulated_wallet() as sim:
        with sim.client() as client:
            client.add_card("w", "4100000000000000", "203012")
        assert sim.wallet("w")[0].masked_pan == "4100##########00"

Everything a test can see is masked: no full card number in ``requests``,
``wallet()`` or any repr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .aio import AsyncWalletClient
    from .client import WalletClient
    from .simulator import Simulator
    from .simulator.app import Received

__all__ = ["SimulatedWallet", "StoredPaymentMean", "StoredTransaction", "simulated_wallet"]


@dataclass(frozen=True)
class StoredPaymentMean:
    """A payment mean as the simulated service holds it (masked).

    Its fields also go by the names results give them (``PaymentMean``):
    ``pan_expiry_date``, ``payment_mean_alias``, ``payment_mean_brand``.
    """

    payment_mean_id: str
    masked_pan: str
    expiry: str
    alias: str | None
    brand: str

    @property
    def pan_expiry_date(self) -> str:
        return self.expiry

    @property
    def payment_mean_alias(self) -> str | None:
        return self.alias

    @property
    def payment_mean_brand(self) -> str:
        return self.brand


@dataclass(frozen=True)
class StoredTransaction:
    """A payment as the simulated service holds it (masked card, amounts in cents)."""

    transaction_reference: str
    kind: str
    """``"order"`` (a charge, ``walletOrder``) or ``"credit"`` (``walletCreditHolder``)."""
    merchant_wallet_id: str
    payment_mean_id: str
    status: str
    origin_amount: int
    current_amount: int
    currency_code: str
    response_code: str
    masked_pan: str
    payment_pattern: str | None
    scheme_transaction_identifier: str | None
    initial_scheme_transaction_identifier: str | None
    last_operation_name: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> StoredTransaction:
        return cls(
            transaction_reference=data["reference"],
            kind=data["kind"],
            merchant_wallet_id=data["wallet_id"],
            payment_mean_id=data["payment_mean_id"],
            status=data["status"],
            origin_amount=data["origin_amount"],
            current_amount=data["current_amount"],
            currency_code=data["currency"],
            response_code=data["response_code"],
            masked_pan=data["masked_pan"],
            payment_pattern=data["pattern"],
            scheme_transaction_identifier=data["scheme_id"],
            initial_scheme_transaction_identifier=data["initial_scheme_id"],
            last_operation_name=data["last_op"],
        )


class SimulatedWallet:
    """A simulated wallet service for one test: its address, its merchant, its state.

    ``fail_next(operation, kind, times=1)`` makes the next call(s) of that
    operation misbehave; the kinds are the simulator's
    (``sogen_soap.simulator.FAULT_KINDS``): ``"drop"`` (lost before it was
    processed), ``"commit_drop"`` (done, then the answer lost), ``"delay"``,
    ``"code_99"``, ``"wrong_seal"``, ``"soap_fault"``, ``"http_503"``, ...
    """

    def __init__(self, simulator: Simulator) -> None:
        from .simulator import DEFAULT_MERCHANT

        self._simulator = simulator
        self.merchant_id = DEFAULT_MERCHANT.merchant_id
        self.key_version = DEFAULT_MERCHANT.key_version
        self.secret_key = DEFAULT_MERCHANT.secret_key

    def __repr__(self) -> str:
        return f"SimulatedWallet(url={self.url!r}, merchant_id={self.merchant_id!r})"

    @property
    def url(self) -> str:
        return self._simulator.url

    def client(self, **options: Any) -> WalletClient:
        """A ``WalletClient`` bound to this simulator (yours to close, or use ``with``).

        Retries wait milliseconds, not the production backoff, and a lost
        answer is given up on after 2 s, so failure tests stay fast; pass
        ``retry=`` or ``timeout=`` to choose otherwise.
        """
        from .client import WalletClient

        keys = options.pop("keys", None)
        if keys is not None:  # a KeyRing of this merchant's versions (see add_key)
            return WalletClient(self.merchant_id, keys, **self._defaults(options))
        return WalletClient(
            self.merchant_id, self.secret_key, self.key_version, **self._defaults(options)
        )

    def async_client(self, **options: Any) -> AsyncWalletClient:
        """An ``AsyncWalletClient`` bound to this simulator (use ``async with``)."""
        from .aio import AsyncWalletClient

        keys = options.pop("keys", None)
        if keys is not None:
            return AsyncWalletClient(self.merchant_id, keys, **self._defaults(options))
        return AsyncWalletClient(
            self.merchant_id, self.secret_key, self.key_version, **self._defaults(options)
        )

    def add_key(
        self,
        version: int,
        secret_key: str,
        *,
        valid_from: date | str | None = None,
        valid_until: date | str | None = None,
    ) -> None:
        """Make the service accept key ``version`` of this merchant too, from
        ``valid_from`` to ``valid_until`` (both days included; open-ended when None).
        A request sealed with a version it does not know, or outside its days, is
        answered 34.  ``client(keys=KeyRing(...))`` gives a client holding several.
        ``reset()`` forgets the added versions."""
        from .keys import parse_day
        from .simulator import Merchant

        self._simulator.app.add_key(
            Merchant(
                self.merchant_id,
                version,
                secret_key,
                parse_day(valid_from, "valid_from"),
                parse_day(valid_until, "valid_until"),
            )
        )

    def _defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        from .retry import RetryPolicy

        options.setdefault("environment", self.url)
        options.setdefault("retry", RetryPolicy(attempts=3, base_delay=0.005))
        options.setdefault("timeout", 2.0)
        return options

    def fail_next(self, operation: str, kind: str, times: int = 1) -> None:
        """The next ``times`` calls of ``operation`` (``"addCard"``, ``"walletOrder"``,
        ``"refund"``, ...: any function of the four services) get fault ``kind``."""
        from .services import SERVICES

        names = [op for service in SERVICES for op in service.operations]
        if operation not in names:
            raise ValueError(f"unknown operation {operation!r}; one of {', '.join(names)}")
        self._simulator.app.faults.fail_next(operation, kind, times)

    def wallet(self, wallet_id: str) -> tuple[StoredPaymentMean, ...]:
        """The payment means stored in ``wallet_id``, in id order; empty if it does not exist."""
        stored = self._simulator.store.wallet(self.merchant_id, wallet_id)
        if stored is None:
            return ()
        return tuple(
            StoredPaymentMean(m.payment_mean_id, m.masked_pan, m.expiry, m.alias, m.brand)
            for m in stored.payment_means
        )

    def transactions(self) -> tuple[StoredTransaction, ...]:
        """Every payment the service holds (charges and credits, refused ones too), in
        the order they were made, as they stand at the simulated time (masked)."""
        desk = self._simulator.app.payments
        return tuple(
            StoredTransaction.of(desk.current(data))
            for data in self._simulator.store.payments(self.merchant_id)
        )

    def transaction(self, transaction_reference: str) -> StoredTransaction | None:
        """One payment by its reference, or None when the service does not hold it."""
        data = self._simulator.store.payment(self.merchant_id, transaction_reference)
        if data is None:
            return None
        return StoredTransaction.of(self._simulator.app.payments.current(data))

    def advance(self, *, days: float = 0, hours: float = 0) -> None:
        """Move the simulated time ahead (captures fall due after their capture day;
        key validity windows follow it too).  ``reset()`` puts it back."""
        from datetime import timedelta

        if days < 0 or hours < 0:
            raise ValueError("time only moves ahead")
        self._simulator.app.clock_offset += timedelta(days=days, hours=hours)

    @property
    def requests(self) -> list[Received]:
        """The requests received, in order: ``.operation``, ``.merchant_wallet_id``,
        ``.response_code`` (None when a fault answered first), ``.fault``, ``.fields`` (masked)."""
        return list(self._simulator.app.received)

    def reset(self) -> None:
        """A fresh, empty service: no wallets, no scripted faults, no requests seen."""
        self._simulator.store.clear()
        self._simulator.app.faults.clear()
        self._simulator.app.received.clear()
        from datetime import timedelta

        self._simulator.app.clock_offset = timedelta(0)
        from .simulator import DEFAULT_MERCHANT

        self._simulator.app.merchants = {}
        self._simulator.app.add_key(DEFAULT_MERCHANT)


@contextmanager
def simulated_wallet() -> Iterator[SimulatedWallet]:
    """A simulated wallet service on loopback for the duration of the block."""
    from .simulator import FaultProfile, Simulator

    with Simulator(faults=FaultProfile(delay=3.0), record=True) as simulator:
        yield SimulatedWallet(simulator)


try:
    import pytest
except ImportError:  # pragma: no cover - the kit works without pytest too
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def _sogen_soap_simulator() -> Iterator[SimulatedWallet]:
        with simulated_wallet() as simulated:
            yield simulated

    @pytest.fixture
    def wallet_simulator(_sogen_soap_simulator: SimulatedWallet) -> Iterator[SimulatedWallet]:
        """A simulated wallet service, empty at the start of the test."""
        _sogen_soap_simulator.reset()
        yield _sogen_soap_simulator
        _sogen_soap_simulator.reset()

    @pytest.fixture
    def wallet_client(wallet_simulator: SimulatedWallet) -> Iterator[WalletClient]:
        """A ``WalletClient`` bound to ``wallet_simulator``."""
        with wallet_simulator.client() as client:
            yield client
