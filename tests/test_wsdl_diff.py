"""``sogen-soap wsdl diff``: a downloaded WSDL compared in the client's terms."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from cli_support import clean_env, run

from sogen_soap.wsdl_cache import XSD_FILE, bundled_wsdl_path, forget_documents
from sogen_soap.wsdl_diff import BREAKS, diff_wsdl


def _variant(tmp_path: Path, xsd_edit: tuple[str, str] | None = None,
             wsdl_edit: tuple[str, str] | None = None) -> Path:  # fmt: skip
    folder = tmp_path / "downloaded"
    folder.mkdir()
    source = Path(bundled_wsdl_path())
    wsdl = source.read_text()
    xsd = source.with_name(XSD_FILE).read_text()
    if xsd_edit:
        assert xsd_edit[0] in xsd
        xsd = xsd.replace(xsd_edit[0], xsd_edit[1], 1)
    if wsdl_edit:
        wsdl = re.sub(wsdl_edit[0], wsdl_edit[1], wsdl, flags=re.S)
    (folder / "service.wsdl").write_text(wsdl)
    (folder / XSD_FILE).write_text(xsd)
    forget_documents()
    return folder


def _diff(folder: Path, tmp_path: Path) -> tuple[int, str]:
    done = run("wsdl", "diff", str(folder), env=clean_env(tmp_path))
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout


def test_the_same_wsdl_works_unchanged(tmp_path: Path) -> None:
    shutil.copytree(Path(bundled_wsdl_path()).parent, tmp_path / "same",
                    ignore=shutil.ignore_patterns("*.py", "*.json", "__pycache__"))  # fmt: skip
    status, out = _diff(tmp_path / "same", tmp_path)
    assert status == 0, out
    assert "works unchanged" in out and "[breaks]" not in out


def test_an_added_optional_response_field_is_listed_and_harmless(tmp_path: Path) -> None:
    folder = _variant(tmp_path, xsd_edit=(
        '<xs:complexType name="addCardOutput">\n    <xs:all>',
        '<xs:complexType name="addCardOutput">\n    <xs:all>\n'
        '      <xs:element name="loyaltyPoints" type="xs:string" minOccurs="0"/>',
    ))  # fmt: skip
    status, out = _diff(folder, tmp_path)
    assert status == 0, out
    assert "[info] addCard: response field loyaltyPoints" in out and "result.extra" in out


def test_a_renamed_request_field_breaks_and_is_named(tmp_path: Path) -> None:
    folder = _variant(tmp_path, xsd_edit=(
        '<xs:element name="cardNumber" type="tns:cardNumberType"/>',
        '<xs:element name="cardNum" type="tns:cardNumberType"/>',
    ))  # fmt: skip
    status, out = _diff(folder, tmp_path)
    assert status == 1, out
    assert "[breaks] addCard: request field cardNumber is not in this WSDL" in out
    assert "[breaks] addCard: this WSDL requires request field cardNum" in out
    found = diff_wsdl(folder)
    assert {d.operation for d in found if d.severity == BREAKS} == {"addCard"}


def test_a_missing_operation_breaks(tmp_path: Path) -> None:
    folder = _variant(tmp_path, wsdl_edit=(
        r'<wsdl:operation name="signOff">.*?</wsdl:operation>', "",
    ))  # fmt: skip
    status, out = _diff(folder, tmp_path)
    assert status == 1, out
    assert "[breaks] signOff: missing" in out


def test_a_file_that_is_not_a_wsdl_is_bad_input(tmp_path: Path) -> None:
    bogus = tmp_path / "x.wsdl"
    bogus.write_text("not xml")
    status, _ = _diff(bogus, tmp_path)
    assert status == 2


@pytest.mark.parametrize("flag", ["--json"])
def test_json_output_lists_the_differences(flag: str, tmp_path: Path) -> None:
    import json

    folder = _variant(
        tmp_path, wsdl_edit=(r'<wsdl:operation name="signOff">.*?</wsdl:operation>', "")
    )
    done = run("wsdl", "diff", str(folder), flag, env=clean_env(tmp_path))
    assert done.returncode == 1
    assert {"severity": "breaks", "operation": "signOff"}.items() <= json.loads(done.stdout)[
        0
    ].items()


# ---- every kind of difference, in-process, with its exact words


# What the bundled WSDL says of itself: the response fields kept in ``extra``.
BUNDLED = [
    f"[info] {op}: response field {field} is not typed by the client: it is kept in "
    "result.extra (or the payment mean's)"
    for op in ("getWalletData", "getPaymentMeanData")
    for field in ("paymentMeanData", "pspData")
]


def _texts(folder: Path) -> list[str]:
    """The differences beyond those of the bundled WSDL with itself, in order."""
    return [str(d) for d in diff_wsdl(folder) if str(d) not in BUNDLED]


def test_the_bundled_wsdl_against_itself_differs_in_nothing_that_matters(tmp_path: Path) -> None:
    assert [str(d) for d in diff_wsdl(_variant(tmp_path))] == BUNDLED


def test_a_dropped_optional_request_field_changes_the_calls_that_pass_it(tmp_path: Path) -> None:
    folder = _variant(tmp_path, xsd_edit=(
        '      <xs:element name="paymentMeanAlias" type="tns:paymentMeanAliasType" minOccurs="0"/>\n'
        '      <xs:element name="paymentMeanBrand" type="tns:paymentMeanBrandType" minOccurs="0"/>',
        '      <xs:element name="paymentMeanBrand" type="tns:paymentMeanBrandType" minOccurs="0"/>',
    ))  # fmt: skip
    assert _texts(folder) == [
        "[changes] addCard: request field paymentMeanAlias is not in this WSDL: a call that "
        "passes it would be refused before sending"
    ]


def test_a_dropped_field_the_client_always_sends_breaks(tmp_path: Path) -> None:
    folder = _variant(tmp_path, xsd_edit=(
        '      <xs:element name="sealAlgorithm" type="tns:sealAlgorithmType" minOccurs="0"/>\n'
        '      <xs:element name="intermediateServiceProviderId" type="tns:intermediateServiceProviderIdType" minOccurs="0"/>\n'
        '      <xs:element name="merchantWalletId" type="tns:merchantWalletIdType"/>\n'
        '      <xs:element name="cardNumber"',
        '      <xs:element name="sealAlgorithm" type="tns:sealAlgorithmType" minOccurs="0"/>\n'
        '      <xs:element name="intermediateServiceProviderId" type="tns:intermediateServiceProviderIdType" minOccurs="0"/>\n'
        '      <xs:element name="cardNumber"',
    ))  # fmt: skip
    assert _texts(folder) == [
        "[breaks] addCard: request field merchantWalletId is not in this WSDL: the client "
        "sends it on every call, so every call would fail"
    ]


def test_new_request_fields_break_when_required_and_inform_when_optional(tmp_path: Path) -> None:
    folder = _variant(tmp_path, xsd_edit=(
        '      <xs:element name="paymentToken" type="tns:paymentTokenType" minOccurs="0"/>\n'
        '    </xs:all>\n  </xs:complexType>\n\n  <xs:complexType name="getWalletDataRequest">',
        '      <xs:element name="paymentToken" type="tns:paymentTokenType" minOccurs="0"/>\n'
        '      <xs:element name="zRequired" type="xs:string"/>\n'
        '      <xs:element name="aOptional" type="xs:string" minOccurs="0"/>\n'
        '    </xs:all>\n  </xs:complexType>\n\n  <xs:complexType name="getWalletDataRequest">',
    ))  # fmt: skip
    assert _texts(folder) == [  # what breaks first, then the rest
        "[breaks] addCard: this WSDL requires request field zRequired, which the client does "
        "not send: calls would be refused",
        "[info] addCard: optional request field aOptional is new; the client never sends it",
    ]
    found = [d for d in diff_wsdl(folder) if str(d) not in BUNDLED]
    assert [(d.severity, d.operation) for d in found] == [(BREAKS, "addCard"), ("info", "addCard")]


def test_an_operation_the_client_does_not_call_is_information(tmp_path: Path) -> None:
    folder = _variant(tmp_path, wsdl_edit=(
        r'(<wsdl:operation name="signOff">\s*<wsdl:input name="signOff" message="tns:signOff"/>'
        r'\s*<wsdl:output name="signOffResponse" message="tns:signOffResponse"/>\s*</wsdl:operation>)',
        r'\1<wsdl:operation name="signOffAll"><wsdl:input name="signOff" message="tns:signOff"/>'
        r'<wsdl:output name="signOffResponse" message="tns:signOffResponse"/></wsdl:operation>',
    ))  # fmt: skip
    binding = (
        r'(<wsdl:operation name="signOff">\s*<soap:operation soapAction="" style="document"/>'
        r".*?</wsdl:operation>)"
    )
    text = (folder / "service.wsdl").read_text()
    block = re.search(binding, text, flags=re.S)
    assert block is not None
    extra = block.group(1).replace('name="signOff"', 'name="signOffAll"', 1)
    (folder / "service.wsdl").write_text(text.replace(block.group(1), block.group(1) + extra))
    forget_documents()
    assert _texts(folder) == ["[info] signOffAll: an operation this client does not call"]


def test_another_namespace_and_an_unknown_address_are_information(tmp_path: Path) -> None:
    other = "urn:example:wallet:v9"
    folder = _variant(tmp_path)
    for name in ("service.wsdl", XSD_FILE):
        path = folder / name
        path.write_text(path.read_text().replace("urn:sips:cn:contract:office:wallet:v2", other))
    wsdl = folder / "service.wsdl"
    wsdl.write_text(wsdl.read_text().replace(
        "https://office-server-sogenactif.test.sips-services.com/services/v2/wallet",
        "https://wallet.example.test/services/v2/wallet",
    ))  # fmt: skip
    forget_documents()
    assert _texts(folder) == [
        f"[info] namespace {other}: the client takes every name from the loaded WSDL, so it "
        "works unchanged with wsdl=",
        "[info] endpoint https://wallet.example.test/services/v2/wallet: not a known "
        "environment; pass it as environment= (the WSDL's address is not used)",
    ]


def test_a_jaxb_list_layout_is_information(tmp_path: Path) -> None:
    from sogen_soap.simulator.app import _jaxb_schema

    folder = _variant(tmp_path)
    xsd = folder / XSD_FILE
    xsd.write_text(_jaxb_schema(xsd.read_bytes()).decode())
    forget_documents()
    texts = _texts(folder)
    assert (
        "[info] getWalletData: walletPaymentMeanDataList repeats with the fields directly "
        "inside (JAXB layout): the client reads both layouts"
    ) in texts
    assert (  # the brand list inside each payment mean: found at its depth too
        "[info] getWalletData: paymentMeanCoBadgingBrandList repeats with one value each "
        "(JAXB layout): the client reads both layouts"
    ) in texts
    assert all(t.startswith("[info] ") for t in texts)


def test_a_service_it_does_not_know_is_named_with_those_it_does() -> None:
    from sogen_soap import ConfigurationError

    with pytest.raises(ConfigurationError) as caught:
        diff_wsdl(bundled_wsdl_path(), "wallets")
    assert str(caught.value) == (
        "service must be one of wallet, checkout, cashManagement, diagnostic, not 'wallets'"
    )


def test_changes_come_before_information_and_a_missing_operation_says_so(
    tmp_path: Path,
) -> None:
    """The order is what breaks, then what changes some calls, then information,
    whatever order the operations come in (the information here is addCard's, the
    change getWalletData's)."""
    folder = _variant(tmp_path, xsd_edit=(
        '      <xs:element name="paymentToken" type="tns:paymentTokenType" minOccurs="0"/>\n'
        '    </xs:all>\n  </xs:complexType>\n\n  <xs:complexType name="getWalletDataRequest">',
        '      <xs:element name="paymentToken" type="tns:paymentTokenType" minOccurs="0"/>\n'
        '      <xs:element name="aOptional" type="xs:string" minOccurs="0"/>\n'
        '    </xs:all>\n  </xs:complexType>\n\n  <xs:complexType name="getWalletDataRequest">',
    ), wsdl_edit=(r'<wsdl:operation name="signOff">.*?</wsdl:operation>', ""))  # fmt: skip
    xsd = folder / XSD_FILE
    text = xsd.read_text()
    start = text.index('<xs:complexType name="getWalletDataRequest">')
    optional = (
        '      <xs:element name="intermediateServiceProviderId" '
        'type="tns:intermediateServiceProviderIdType" minOccurs="0"/>\n'
    )
    assert optional in text[start:]
    xsd.write_text(text[:start] + text[start:].replace(optional, "", 1))
    forget_documents()
    texts = _texts(folder)
    assert [t.split("]")[0] + "]" for t in texts] == ["[breaks]", "[changes]", "[info]"], texts
    assert texts[0] == "[breaks] signOff: missing: client calls of signOff would fail"
    assert texts[1].startswith("[changes] getWalletData: ")
    assert texts[2].startswith("[info] addCard: ")
