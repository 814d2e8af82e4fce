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
