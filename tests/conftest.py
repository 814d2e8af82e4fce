"""Shared fixtures: a real simulator on loopback, and no network beyond it.

Every test runs with sockets to anything but loopback refused, so a test that
passes proves the code under it needed no network (zeep's own suite does the
same).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sogen_soap import RetryPolicy, WalletClient, keys
from sogen_soap.simulator import DEFAULT_MERCHANT, Simulator, app
from sogen_soap.testing import SimulatedWallet

pytest_plugins = ["pytester"]  # the testing kit's tests run merchant test files

TEST_PAN = "4100000000000000"  # the vendor's documented VISA test card
OTHER_PAN = "5100000000000000"  # the vendor's documented MASTERCARD test card
MERCHANT = DEFAULT_MERCHANT
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01)  # the default policy, shorter waits


def simulator_today() -> date:
    """The simulator's day, for its key windows: it keeps the service's time
    (Europe/Paris), which is a day ahead of a UTC machine's date before midnight UTC."""
    return datetime.now(ZoneInfo("Europe/Paris")).date()


CLIENT_DAY = datetime.now(timezone.utc).date()
"""The client key ring's day when the tests were collected: it counts days in UTC."""
SIMULATOR_DAY = simulator_today()
"""The simulator's day when the tests were collected."""


@pytest.fixture
def held_days(monkeypatch: pytest.MonkeyPatch) -> None:
    """Holds the key ring's and the simulator's calendars on CLIENT_DAY and
    SIMULATOR_DAY for the test.  Tests write dates at collection and the clocks
    read them minutes later: a run that crosses midnight (UTC for the ring, Paris
    for the simulator) failed 15 key-window tests in CI.  Only the date is held;
    the time of day keeps moving."""
    monkeypatch.setattr(keys, "_today", lambda: CLIENT_DAY)

    def paris_now() -> datetime:
        return datetime.combine(SIMULATOR_DAY, datetime.now(ZoneInfo("Europe/Paris")).timetz())

    monkeypatch.setattr(app, "_paris_now", paris_now)


class NetworkBlocked(OSError):
    pass


def _is_loopback_address(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback_address(address):
            raise NetworkBlocked(f"test tried to reach {address!r}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback_address(address):
            raise NetworkBlocked(f"test tried to reach {address!r}")
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _is_loopback_address((host,)):
            raise NetworkBlocked(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


@pytest.fixture
def kit(wallet_simulator: SimulatedWallet) -> SimulatedWallet:
    """The testing kit's own fixture (its pytest plugin), as these tests name it: one
    simulated service for the session, empty at the start of each test."""
    return wallet_simulator


@pytest.fixture
def client(simulator: Simulator) -> Iterator[WalletClient]:
    with WalletClient(
        MERCHANT.merchant_id,
        MERCHANT.secret_key,
        MERCHANT.key_version,
        environment=simulator.url,
        retry=FAST_RETRY,
    ) as wallet_client:
        yield wallet_client


def record_answers(sim: Simulator) -> list[bytes]:
    """Every SOAP answer ``sim`` gives from now on, as sent (for checks made by hand)."""
    answers: list[bytes] = []
    real_handle = sim.app.handle

    def recording(body: bytes, *service: Any) -> tuple[str, bytes, str]:
        status, payload, kind = real_handle(body, *service)
        answers.append(payload)
        return status, payload, kind

    sim.app.handle = recording  # type: ignore[method-assign]
    return answers


@pytest.fixture
def received(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The SOAP request bodies the simulator receives, in order."""
    bodies: list[bytes] = []
    real_handle = simulator.app.handle

    def recording(body: bytes, *service: Any) -> tuple[str, bytes, str]:
        bodies.append(body)
        return real_handle(body, *service)

    monkeypatch.setattr(simulator.app, "handle", recording)
    return bodies


def input_fields(body: bytes) -> dict[str, str]:
    """The <input> fields of a recorded request, by local name."""
    from lxml import etree

    root = etree.fromstring(body)
    inputs = [e for e in root.iter() if etree.QName(e).localname == "input"]
    assert len(inputs) == 1
    return {etree.QName(e).localname: e.text or "" for e in inputs[0]}


def read_wallet(url: str, *, asynchronous: bool = False, **options: Any) -> Any:
    """One getWalletData to ``url``, sync or async, never retried (a failure is seen
    as it is); ``options`` go to the client."""
    import asyncio

    from sogen_soap import AsyncWalletClient

    options = {"retry": RetryPolicy(attempts=1), **options}
    merchant = (MERCHANT.merchant_id, MERCHANT.secret_key, MERCHANT.key_version)
    if not asynchronous:
        with WalletClient(*merchant, environment=url, **options) as client:
            return client.get_wallet_data("w")

    async def main() -> Any:
        async with AsyncWalletClient(*merchant, environment=url, **options) as client:
            return await client.get_wallet_data("w")

    return asyncio.run(main())
