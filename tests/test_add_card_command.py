"""``sogen-soap add-card``: each flag reaches the request the service receives (the
simulator's record, card numbers masked), through the command's own ``main()``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import merchant_env, run_in_process
from conftest import MERCHANT, TEST_PAN

from sogen_soap.simulator import Simulator


@pytest.mark.parametrize(
    ("flags", "sent"),
    [
        (["--no-expiry"], {"cardExpiryDate": None}),
        (["--expiry", "203012"], {"cardExpiryDate": "203012"}),
        (["--expiry", "203012", "--alias", "home"], {"paymentMeanAlias": "home"}),
        (["--expiry", "203012", "--brand", "VISA"], {"paymentMeanBrand": "VISA"}),
        (["--expiry", "203012", "--pan-type", "PAN"], {"panType": "PAN"}),
        (["--expiry", "203012"], {"paymentMeanAlias": None, "paymentMeanBrand": None,
                                  "panType": None}),  # not given: not sent
    ],
)  # fmt: skip
def test_each_add_card_flag_reaches_the_request(
    flags: list[str], sent: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Simulator(record=True) as sim:
        done = run_in_process("add-card", "--wallet", "w", "--card", "-", *flags,
                              env=merchant_env(tmp_path, sim.url), monkeypatch=monkeypatch,
                              stdin=TEST_PAN + "\n")  # fmt: skip
        (request,) = sim.app.received
        stored = sim.store.has_card(MERCHANT.merchant_id, "w", TEST_PAN)
    assert done.returncode == 0, done.stderr
    assert request.operation == "addCard" and stored
    assert request.fields["cardNumber"] == "4100##########00"
    assert {name: request.fields.get(name) or None for name in sent} == sent
