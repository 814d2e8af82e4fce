"""The payment services' WSDLs: fetched from the simulator and compared, per service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import clean_env, run_in_process
from hostile import nothing_left_unclosed

from sogen_soap.simulator import Simulator
from sogen_soap.wsdl_cache import fetch_wsdl
from sogen_soap.wsdl_diff import diff_wsdl


@pytest.mark.parametrize("wire", ["soap", "json"])
@pytest.mark.parametrize("service", ["checkout", "cashManagement", "diagnostic"])
def test_each_payment_wsdl_is_fetched_and_matches_the_bundled_one(
    simulator: Simulator, tmp_path: Path, service: str, wire: str
) -> None:
    """From the wallet's URL as either endpoint names it (``.../services/v2/wallet`` or
    ``.../rs-services/v2/wallet``), the service's WSDL beside it is fetched."""
    url = simulator.url
    if wire == "json":
        url = url.replace("/services/v2/wallet", "/rs-services/v2/wallet")
    path = fetch_wsdl(url, tmp_path / service, service=service)
    source = json.loads((path.parent / "SOURCE.json").read_text())
    assert source["endpoint"].endswith(f"/services/v2/{service}")
    assert [d for d in diff_wsdl(path.parent, service) if d.severity != "info"] == []
    # the wallet's WSDL is not the checkout's: compared as it, every call would break
    if service == "checkout":
        breaks = [d for d in diff_wsdl(path.parent, "wallet") if d.severity == "breaks"]
        assert {d.operation for d in breaks} >= {"addCard", "getWalletData"}


def test_a_payment_wsdl_missing_an_operation_breaks(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parent.parent / "wsdl"
    for name in ("CashManagementService.wsdl", "CashManagementService.xsd"):
        text = (bundled / name).read_text()
        if name.endswith(".wsdl"):  # the refund operation gone from the port and binding
            start = text.index('    <wsdl:operation name="refund">')
            end = text.index("</wsdl:operation>", start) + len("</wsdl:operation>")
            text = text[:start] + text[end:]
            start = text.index('    <wsdl:operation name="refund">')
            end = text.index("</wsdl:operation>", start) + len("</wsdl:operation>")
            text = text[:start] + text[end:]
        (tmp_path / name).write_text(text)
    found = diff_wsdl(tmp_path / "CashManagementService.wsdl", "cashManagement")
    assert [(d.severity, d.operation) for d in found if d.severity == "breaks"] == [
        ("breaks", "refund")
    ]


def test_wsdl_commands_take_a_service(
    simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path)
    fetched = run_in_process("wsdl", "fetch", "--environment", simulator.url, "--service",
                             "diagnostic", "--output", str(tmp_path / "d"), env=env,
                             monkeypatch=monkeypatch)  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    same = run_in_process("wsdl", "diff", str(tmp_path / "d"), "--service", "diagnostic",
                          env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert same.returncode == 0 and "works unchanged" in same.stdout
    other = run_in_process("wsdl", "diff", str(tmp_path / "d"), "--service", "checkout",
                           env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert other.returncode == 1 and "walletOrder" in other.stdout
    wrong = run_in_process("wsdl", "diff", str(tmp_path / "d"), "--service", "billing",
                           env=env, monkeypatch=monkeypatch)  # fmt: skip
    assert wrong.returncode == 2 and "--service" in wrong.stderr


def test_a_payment_wsdl_in_another_namespace_breaks(tmp_path: Path) -> None:
    """The payment services are sent from the bundled layouts: another namespace
    in the vendor's WSDL would have every call refused, and is said so."""
    bundled = Path(__file__).resolve().parent.parent / "wsdl"
    for name in ("DiagnosticService.wsdl", "DiagnosticService.xsd"):
        text = (bundled / name).read_text().replace(":diagnostic:v2", ":diagnostic:v3")
        (tmp_path / name).write_text(text)
    found = diff_wsdl(tmp_path / "DiagnosticService.wsdl", "diagnostic")
    assert [d.severity for d in found if "namespace" in d.text] == ["breaks"]


@pytest.mark.parametrize("service", ["checkout", "cashManagement", "diagnostic"])
def test_a_bundled_payment_wsdl_has_every_answer_field_typed(service: str) -> None:
    """Compared with itself, a payment WSDL shows nothing: each answer field it
    declares is one the payment results type (none left to ``extra``)."""
    from sogen_soap.services import SERVICES
    from sogen_soap.wsdl_cache import service_wsdl_path

    chosen = next(s for s in SERVICES if s.name == service)
    assert diff_wsdl(service_wsdl_path(chosen), service) == []


@pytest.mark.parametrize("suffix", ["?wsdl", "/", "/?wsdl"])
def test_a_payment_wsdl_is_found_from_the_wallet_url_however_it_ends(
    simulator: Simulator, tmp_path: Path, suffix: str
) -> None:
    """The wallet's URL pasted with its ``?wsdl``, a trailing slash, or both: the
    service beside it is the same, and so is what is fetched."""
    path = fetch_wsdl(simulator.url + suffix, tmp_path / "out", service="checkout")
    source = json.loads((path.parent / "SOURCE.json").read_text())
    base = simulator.url[: -len("/wallet")]
    assert source["endpoint"] == f"{base}/checkout"
    assert source["files"]["service.wsdl"]["url"] == f"{base}/checkout?wsdl"


def test_a_fetch_closes_its_connection_itself(simulator: Simulator, tmp_path: Path) -> None:
    """The fetch's kept-alive connection is closed when it ends, not left for the
    garbage collector (which would warn of an unclosed socket)."""
    with nothing_left_unclosed():
        fetch_wsdl(simulator.url, tmp_path / "out")
    assert (tmp_path / "out" / "service.wsdl").is_file()


def test_a_file_a_fetch_cannot_put_in_place_leaves_no_temporary_copy(
    simulator: Simulator, tmp_path: Path
) -> None:
    """Each file is written beside its place, then moved in; when the move fails (here
    a folder stands where SOURCE.json goes) the copy is removed, not left hidden."""
    out = tmp_path / "out"
    (out / "SOURCE.json").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        fetch_wsdl(simulator.url, out, force=True)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_the_wallet_wsdl_is_fetched_from_its_url_given_with_its_query(
    simulator: Simulator, tmp_path: Path
) -> None:
    path = fetch_wsdl(simulator.url + "?wsdl", tmp_path / "out")
    source = json.loads((path.parent / "SOURCE.json").read_text())
    assert source["files"]["service.wsdl"]["url"] == simulator.url + "?wsdl"
    assert sorted(source["files"]) == ["WalletService.xsd", "service.wsdl"]  # the schema: .xsd
