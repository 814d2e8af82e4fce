"""Payment answers the simulator never gives, sealed right by a server written here.

The simulator's lookups always carry ``originAmount``, its validations always
start from a transaction waiting for one, and its amounts are ASCII.  A real
service (or a newer one) may differ, and the rule still holds: a sealed answer
settles a change only when it says this very change; anything else is said,
never guessed.  The server answers the JSON endpoints by function, from a
script, and seals by hand (names sorted ignoring case, values joined, HMAC-SHA256).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from conftest import FAST_RETRY, MERCHANT
from hostile import HostileServer

from sogen_soap import OutcomeUnknown, ResponseError, WalletClient

LOST = None  # a 500 without a body: the answer to a change is lost
Answers = dict[str, list[dict[str, str] | None]]  # per JSON function, its answers in turn


def _sealed(fields: dict[str, str]) -> bytes:
    text = "".join(fields[name] for name in sorted(fields, key=str.lower))
    seal = hmac.new(MERCHANT.secret_key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return json.dumps({**fields, "seal": seal}, ensure_ascii=False).encode()


class _Script:
    """Per JSON function, the answers to give in turn; what was asked, in order."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        function = request.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
        with self._lock:
            self.asked.append(function)
            answer = self.answers[function].pop(0)
        if answer is None:
            head = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
            conn.sendall(head + b"Connection: close\r\n\r\n")
            return
        body = _sealed(answer)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )


Against = Callable[[Answers], tuple[_Script, WalletClient]]


@pytest.fixture
def against() -> Iterator[Against]:
    """A scripted server and a JSON client of it, both closed when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(answers: Answers) -> tuple[_Script, WalletClient]:
            script = _Script(answers)
            server = stack.enter_context(HostileServer(script))
            client = stack.enter_context(WalletClient(
                MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment=server.url,
                transport="json", retry=FAST_RETRY, timeout=5,
            ))  # fmt: skip
            return script, client

        yield start


def _found(**fields: str) -> dict[str, str]:
    return {"getTransDataResponseCode": "00", "transactionReference": "ref1", **fields}


def _lost_validation(before: str, after: str) -> Answers:
    """A transaction of 1000 read in status ``before``, a validation whose answer is
    lost, and the transaction read again in status ``after``, still at 1000."""
    amounts = {"currentAmount": "1000", "originAmount": "1000"}
    return {
        "getTransactionData": [
            _found(transactionStatus=before, **amounts),
            _found(transactionStatus=after, **amounts),
        ],
        "validate": [LOST],
    }


def test_an_amount_in_other_digits_is_refused_not_read(
    against: Against,
) -> None:
    # 1000 in Arabic-Indic digits: digits to str.isdigit() and 1000 to int(), yet not a
    # whole number as the data dictionary writes one (N12: ASCII digits)
    arabic = "\u0661\u0660\u0660\u0660"
    _, client = against({"getTransactionData": [_found(originAmount=arabic)]})
    with pytest.raises(ResponseError) as caught:
        client.get_transaction_data("ref1")
    assert "originAmount is not a whole number" in str(caught.value)


def test_a_lookup_without_its_origin_amount_settles_a_lost_charge(
    against: Against,
) -> None:
    # Nothing in the lookup says another amount: the same reference and currency settle it.
    script, client = against({
        "walletOrder": [LOST],
        "getTransactionData": [_found(responseCode="00", currencyCode="978",
                                      authorisationId="A1", transactionStatus="TO_CAPTURE")],
    })  # fmt: skip
    paid = client.wallet_order("w1", 1, 1000, transaction_reference="ref1")
    assert script.asked == ["walletOrder", "getTransactionData"]
    assert (paid.ok, paid.recovered, paid.response_code) == (True, True, "00")
    assert paid.authorisation_id == "A1" and paid.reconciliation is None


def test_a_lookup_in_another_currency_is_another_payment(
    against: Against,
) -> None:
    _, client = against({
        "walletOrder": [LOST],
        "getTransactionData": [_found(responseCode="00", currencyCode="840",
                                      authorisationId="A1")],
    })  # fmt: skip
    paid = client.wallet_order("w1", 1, 1000, transaction_reference="ref1")
    assert (paid.ok, paid.duplicate, paid.recovered, paid.authorisation_id) == (
        False, True, False, None,
    )  # fmt: skip
    assert paid.reconciliation == (
        "the reference belongs to another payment (None in currency 840); this one was not made"
    )


def test_a_validation_of_a_transaction_that_was_not_waiting_stays_unknown(
    against: Against,
) -> None:
    # Captured since, at this amount: not this validation's doing (it was not waiting for one).
    script, client = against(_lost_validation("TO_CAPTURE", "CAPTURED"))
    with pytest.raises(OutcomeUnknown) as caught:
        client.validate("ref1", 1000)
    assert script.asked == ["getTransactionData", "validate", "getTransactionData"]
    assert caught.value.reason == "unresolved"
    assert "status TO_CAPTURE -> CAPTURED" in str(caught.value)


def test_a_validation_of_a_waiting_transaction_is_settled_by_its_capture(
    against: Against,
) -> None:
    script, client = against(_lost_validation("TO_VALIDATE", "TO_CAPTURE"))
    done = client.validate("ref1", 1000)
    assert script.asked == ["getTransactionData", "validate", "getTransactionData"]
    assert (done.ok, done.recovered, done.new_status, done.new_amount) == (
        True, True, "TO_CAPTURE", 1000,
    )  # fmt: skip
    assert dict(done.extra) == {}
