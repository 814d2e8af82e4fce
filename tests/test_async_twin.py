"""The async client is the sync client's twin over the whole failure table.

Every operation meets every fault kind of the simulator once, first through
``WalletClient``, then through ``AsyncWalletClient`` against a fresh simulator in
the same state; what each reports (the result's code and flags, or the
exception's type, reason and words), what the response hook saw, what the
service received and what it holds afterwards must be the same.  A rule kept
by one client and not the other (a retry, a reconciliation, a lost answer
called "not sent") shows here as a difference, whichever rule it is: the async
client has no behaviour of its own.

``delay`` is left out: it costs the whole deadline per call, and both clients'
deadlines are pinned in ``test_hostile.py`` and ``test_async.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import requests
from conftest import OTHER_PAN, TEST_PAN

from sogen_soap import SogenSoapError
from sogen_soap.observe import Exchange
from sogen_soap.simulator.faults import FAULT_KINDS
from sogen_soap.testing import SimulatedWallet, simulated_wallet

# (the operation the fault is put on, the call) for each of the client's functions
CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "get_wallet_data": ("getWalletData", lambda c: c.get_wallet_data("w1")),
    "get_payment_mean_data": ("getPaymentMeanData", lambda c: c.get_payment_mean_data("w1", "1")),
    "add_card": ("addCard", lambda c: c.add_card("w1", OTHER_PAN, "203012")),
    "add_card_reconciled": (
        "addCard", lambda c: c.add_card("w1", OTHER_PAN, "203012", reconcile=True),
    ),
    "update_payment_mean": ("updatePaymentMean", lambda c: c.update_payment_mean("w1", "1", "a")),
    "delete_payment_mean": ("deletePaymentMean", lambda c: c.delete_payment_mean("w1", "1")),
    "sign_off": ("signOff", lambda c: c.sign_off("w1")),
    "wallet_order": (
        "walletOrder", lambda c: c.wallet_order("w1", "1", 1200, transaction_reference="t1"),
    ),
    "wallet_order_not_reconciled": (
        "walletOrder",
        lambda c: c.wallet_order("w1", "1", 1200, transaction_reference="t1", reconcile=False),
    ),
    "wallet_order_after_lost_answer": (
        "walletOrder",
        lambda c: c.wallet_order("w1", "1", 1000, transaction_reference="t0",
                                 after_lost_answer=True),
    ),
    "wallet_credit_holder": (
        "walletCreditHolder",
        lambda c: c.wallet_credit_holder("w1", "1", 500, transaction_reference="c1",
                                         order_channel="MOTO", operation_origin="BO"),
    ),
    "wallet_credit_holder_not_reconciled": (
        "walletCreditHolder",
        lambda c: c.wallet_credit_holder("w1", "1", 500, transaction_reference="c1",
                                         reconcile=False),
    ),
    "wallet_credit_holder_after_lost_answer": (
        "walletCreditHolder",
        lambda c: c.wallet_credit_holder("w1", "1", 500, transaction_reference="c1",
                                         after_lost_answer=True),
    ),
    "refund": ("refund", lambda c: c.refund("t0", 300, operation_origin="BO")),
    "refund_not_reconciled": ("refund", lambda c: c.refund("t0", 300, reconcile=False)),
    "validate": ("validate", lambda c: c.validate("t2", 800, operation_origin="BO")),
    "validate_not_reconciled": ("validate", lambda c: c.validate("t2", 800, reconcile=False)),
    "cancel": ("cancel", lambda c: c.cancel("t3", 400, operation_origin="BO")),
    "cancel_not_reconciled": ("cancel", lambda c: c.cancel("t3", 400, reconcile=False)),
    "get_transaction_data": ("getTransactionData", lambda c: c.get_transaction_data("t0")),
    "add_card_after_lost_answer": (
        "addCard", lambda c: c.add_card("w1", TEST_PAN, "203012", after_lost_answer=True),
    ),
}  # fmt: skip
# every fault kind, and none (the plain answer is compared too)
KINDS = ["none", *sorted(set(FAULT_KINDS) - {"delay"})]


def _prepared(kit: SimulatedWallet, operation: str, kind: str) -> None:
    """One card in wallet w1 (id 1); a captured charge t0 of 1000, a charge t2 held
    for validation and a charge t3 not captured yet; then the fault."""
    with kit.client() as client:
        assert client.add_card("w1", TEST_PAN, "203012").payment_mean_id == "1"
        assert client.wallet_order("w1", "1", 1000, transaction_reference="t0").ok
        assert client.wallet_order("w1", "1", 800, transaction_reference="t2",
                                   capture_mode="VALIDATION", capture_day=5).ok  # fmt: skip
        assert client.wallet_order("w1", "1", 1000, transaction_reference="t3",
                                   capture_day=5).ok  # fmt: skip
    kit.advance(days=2)
    if kind != "none":
        kit.fail_next(operation, kind)


def _said(outcome: object, url: str) -> tuple[object, ...]:
    """What a caller sees, with the simulator's own address taken out."""
    if isinstance(outcome, SogenSoapError):
        return ("raised", type(outcome).__name__, getattr(outcome, "reason", None),
                str(outcome).replace(url.split("/services/")[0], "SERVICE"))  # fmt: skip
    fields = (
        "response_code",
        "ok",
        "recovered",
        "duplicate",
        "temporary",
        "seal_verified",
        "payment_mean_id",
        "masked_pan",
        "new_amount",
        "new_status",
        "reconciliation",
    )
    return ("returned", type(outcome).__name__,
            *(getattr(outcome, name, None) for name in fields),
            None if getattr(outcome, "fault", None) is None else outcome.fault.code)  # type: ignore[attr-defined]  # fmt: skip


def _hooked(seen: list[Exchange]) -> list[tuple[object, ...]]:
    """What the response hook saw of each exchange (the seconds aside)."""
    return [(e.operation, e.attempt, e.key_version, e.status, e.response_code, e.error,
             None if e.response is None else sorted(e.response)) for e in seen]  # fmt: skip


def _sent(kit: SimulatedWallet, since: int) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Each request the service received: its function and every field (masked), so
    an option one client passes on and the other drops shows here."""
    return [(r.operation, tuple(sorted(r.fields.items()))) for r in kit.requests[since:]]


def _held(kit: SimulatedWallet) -> tuple[object, ...]:
    return (
        tuple((m.payment_mean_id, m.masked_pan, m.alias) for m in kit.wallet("w1")),
        tuple((t.transaction_reference, t.status, t.current_amount) for t in kit.transactions()),
    )


def _sync(
    name: str, kind: str, wire: str = "soap", session: requests.Session | None = None
) -> tuple[object, ...]:
    """What the sync client reports, over ``wire``, through the built-in sender or a
    caller's own ``session`` (the legacy sender)."""
    operation, call = CALLS[name]
    with simulated_wallet() as kit:
        _prepared(kit, operation, kind)
        since = len(kit.requests)
        seen: list[Exchange] = []
        with kit.client(on_response=seen.append, transport=wire, session=session) as client:
            try:
                outcome = call(client)
            except SogenSoapError as error:
                outcome = error
        sent = _sent(kit, since)
        return _said(outcome, kit.url), sent, _held(kit), _hooked(seen)


def _async(name: str, kind: str) -> tuple[object, ...]:
    operation, call = CALLS[name]

    seen: list[Exchange] = []

    async def run(kit: SimulatedWallet) -> object:
        async with kit.async_client(on_response=seen.append) as client:
            try:
                return await call(client)
            except SogenSoapError as error:
                return error

    with simulated_wallet() as kit:
        _prepared(kit, operation, kind)
        since = len(kit.requests)
        outcome = asyncio.run(run(kit))
        sent = _sent(kit, since)
        return _said(outcome, kit.url), sent, _held(kit), _hooked(seen)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(CALLS))
def test_the_async_client_reports_every_fault_as_the_sync_client_does(name: str, kind: str) -> None:
    expected = _sync(name, kind)
    assert expected[1], "the call reached the service"
    assert _async(name, kind) == expected


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "soap_fault"])
@pytest.mark.parametrize("name", list(CALLS))
def test_the_json_wire_keeps_the_soap_wire_s_rules(name: str, kind: str) -> None:
    """The same table over the JSON transport: the same kind of outcome, the same
    requests and the same state at the service (words may name the wire: "not XML"
    or "not JSON").  A SOAP fault has no JSON form: there a 500 is an HTTP error
    (``test_json.py``)."""
    soap_said, soap_sent, soap_held, _ = _sync(name, kind)
    json_said, json_sent, json_held, _ = _sync(name, kind, "json")
    # the functions called, not every field: JSON leaves the default sealAlgorithm out
    functions = [[operation for operation, _ in sent] for sent in (json_sent, soap_sent)]
    assert (json_said[:3], functions[0], json_held) == (soap_said[:3], functions[1], soap_held)
    if soap_said[0] == "returned":
        assert json_said[:-1] == soap_said[:-1]  # every field but the fault's code


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", list(CALLS))
def test_a_caller_s_requests_session_reports_every_fault_as_the_built_in_sender(
    name: str, kind: str
) -> None:
    """The slower path kept for callers' own sessions has no rules of its own either:
    the same outcome, in the same words, the same requests and the same state."""
    with requests.Session() as session:
        assert _sync(name, kind, session=session) == _sync(name, kind)
