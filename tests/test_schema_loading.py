"""What a WSDL given with ``wsdl=`` may make the client read: files beside it, by
relative path or ``file://`` URL, regular and not too large; nothing else.  And a
caller's ``requests`` session whose adapter would not check certificates."""

from __future__ import annotations

import os
import shutil
import ssl
from pathlib import Path

import pytest
import requests

from sogen_soap import ConfigurationError, WalletClient
from sogen_soap.transport import requests_refusal
from sogen_soap.wsdl_cache import (
    MAX_DOCUMENT_BYTES,
    XSD_FILE,
    bundled_wsdl_path,
    forget_documents,
    load_document,
)

KEY = "002001000000001_KEY1"


def _folder(tmp_path: Path, location: str) -> Path:
    folder = tmp_path / "wsdl"
    folder.mkdir()
    source = Path(bundled_wsdl_path())
    shutil.copy(source.with_name(XSD_FILE), folder / XSD_FILE)
    text = source.read_text().replace(
        f'schemaLocation="{XSD_FILE}"', f'schemaLocation="{location}"'
    )
    (folder / "service.wsdl").write_text(text)
    forget_documents()
    return folder


def _client(folder: Path) -> WalletClient:
    return WalletClient("002001000000001", KEY, 1, environment="http://127.0.0.1:9/x",
                        wsdl=folder)  # fmt: skip


def test_a_schema_beside_the_wsdl_is_read(tmp_path: Path) -> None:
    folder = _folder(tmp_path, f"./{XSD_FILE}")
    with _client(folder) as client:
        assert client.plan_get_wallet_data("w").operation == "getWalletData"


@pytest.mark.parametrize("url", ["file-url-beside", "file-url-outside", "http"])
def test_a_schema_named_by_a_url_is_refused_even_beside_the_wsdl(tmp_path: Path, url: str) -> None:
    location = {
        "file-url-beside": (tmp_path / "wsdl" / XSD_FILE).as_uri(),
        "file-url-outside": (tmp_path / XSD_FILE).as_uri(),
        "http": "http://127.0.0.1:9/WalletService.xsd",
    }[url]
    folder = _folder(tmp_path, location)
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert "cannot be used: ExternalReferenceForbidden" in str(caught.value)


@pytest.mark.parametrize("where", ["outside", "link-outside"])
def test_a_schema_from_anywhere_else_is_refused(tmp_path: Path, where: str) -> None:
    outside = tmp_path / "elsewhere.xsd"
    shutil.copy(Path(bundled_wsdl_path()).with_name(XSD_FILE), outside)
    location = {"outside": "../elsewhere.xsd", "link-outside": "linked.xsd"}[where]
    folder = _folder(tmp_path, location)
    if where == "link-outside":
        os.symlink(outside, folder / "linked.xsd")
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert "outside its folder or not a regular file; refused" in str(caught.value)


def test_a_schema_beside_the_wsdl_but_too_large_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "big.xsd")
    (folder / "big.xsd").write_bytes(b" " * (MAX_DOCUMENT_BYTES + 1))
    with pytest.raises(ConfigurationError, match=f"larger than {MAX_DOCUMENT_BYTES} bytes"):
        _client(folder)


def test_a_schema_of_exactly_the_limit_is_read_as_any_other(tmp_path: Path) -> None:
    folder = _folder(tmp_path, XSD_FILE)
    xsd = (folder / XSD_FILE).read_bytes()
    (folder / XSD_FILE).write_bytes(xsd + b" " * (MAX_DOCUMENT_BYTES - len(xsd)))
    with _client(folder) as client:
        assert client.plan_sign_off("w").operation == "signOff"


@pytest.mark.parametrize(
    ("pool", "refused"),
    [
        ({"cert_reqs": "CERT_NONE"}, True),
        ({"cert_reqs": ssl.CERT_NONE}, True),
        ({"assert_hostname": False}, True),
        ({"cert_reqs": "CERT_REQUIRED"}, False),
        ({"assert_hostname": "wallet.example"}, False),
    ],
)
def test_a_session_adapter_that_skips_checks_is_named(
    pool: dict[str, object], refused: bool
) -> None:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter()
    adapter.poolmanager.connection_pool_kw.update(pool)
    session.mount("https://", adapter)
    expected = "its adapter for https:// does not check certificates" if refused else None
    assert requests_refusal(session) == expected


def test_a_folder_of_two_wsdls_is_refused_never_one_picked(tmp_path: Path) -> None:
    folder = _folder(tmp_path, XSD_FILE)
    (folder / "other.wsdl").write_text((folder / "service.wsdl").read_text())
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert str(caught.value) == f"{folder} must hold exactly one .wsdl file, found 2"
    (folder / "other.wsdl").unlink()
    (folder / "service.wsdl").unlink()
    with pytest.raises(ConfigurationError) as none:
        _client(folder)
    assert str(none.value) == f"{folder} must hold exactly one .wsdl file, found 0"


def test_a_folder_of_several_services_gives_the_wallet_s_wsdl(tmp_path: Path) -> None:
    """What ``wsdl fetch`` of every service into one folder leaves, or the bundled
    folder itself: the wallet's WSDL is the one the wallet client takes."""
    folder = tmp_path / "services"
    folder.mkdir()
    bundled = Path(bundled_wsdl_path()).parent
    for name in ("WalletService.wsdl", XSD_FILE, "CheckoutService.wsdl", "CheckoutService.xsd"):
        shutil.copy(bundled / name, folder / name)
    with _client(folder) as client:
        assert client.get_wallet_data  # made: the wallet's WSDL was chosen, not refused
    (folder / "WalletService.wsdl").unlink()  # without it, two others are no choice
    (folder / "other.wsdl").write_text((bundled / "CheckoutService.wsdl").read_text())
    forget_documents()  # the folder was read once: its first reading is kept until then
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert str(caught.value) == f"{folder} must hold exactly one .wsdl file, found 2"


def test_a_wsdl_is_parsed_once_until_forget_documents(tmp_path: Path) -> None:
    """Clients share the parsed WSDL (no file read after the first); an edited WSDL
    is read again once ``forget_documents()`` is called, as its docstring says."""
    folder = _folder(tmp_path, XSD_FILE)
    with _client(folder):
        pass
    assert load_document(folder) is load_document(str(folder))  # one parse, shared
    (folder / "service.wsdl").write_text("not a WSDL any more")
    with _client(folder) as client:  # the parse kept: the file is not read again
        assert client.plan_get_wallet_data("w").operation == "getWalletData"
    forget_documents()
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert f"WSDL {(folder / 'service.wsdl').resolve()} cannot be used" in str(caught.value)


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("cut in half", r"cannot be used: XMLSyntaxError: .*line \d+"),
        # libxml2's depth guard (256) stays on: xml_huge_tree would lift it
        ("nested 300 deep", r"cannot be used: XMLSyntaxError: .*Excessive depth"),
    ],
)
def test_a_malformed_or_too_deep_wsdl_is_refused_never_recovered(
    tmp_path: Path, damage: str, said: str
) -> None:
    """zeep's strict mode: a WSDL that is not well-formed is refused with lxml's
    first words and where, never read in recover mode (which would keep whatever
    half of it parsed and build requests from that)."""
    folder = _folder(tmp_path, XSD_FILE)
    target = folder / "service.wsdl"
    text = target.read_text()
    if damage == "cut in half":
        text = text[: len(text) // 2]
    else:
        deep = "<wsdl:documentation>" + "<x>" * 300 + "</x>" * 300 + "</wsdl:documentation>"
        text = text.replace("<wsdl:types>", deep + "<wsdl:types>", 1)
    target.write_text(text)
    with pytest.raises(ConfigurationError, match=said):
        load_document(folder)


def test_a_wsdl_without_a_service_port_is_refused_in_those_words(tmp_path: Path) -> None:
    from sogen_soap.wsdl_cache import soap_binding

    target = _folder(tmp_path, XSD_FILE) / "service.wsdl"
    text = target.read_text()
    start, end = text.index("<wsdl:service"), text.index("</wsdl:service>") + len("</wsdl:service>")
    target.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigurationError) as caught:
        soap_binding(load_document(target.parent))
    assert str(caught.value) == "the WSDL declares no SOAP service port"


@pytest.mark.parametrize("where", ["wsdl", "xsd"])
def test_a_document_type_in_a_given_wsdl_or_its_schema_is_refused(
    tmp_path: Path, where: str
) -> None:
    """No DTD is read, even an internal one declaring nothing harmful: an entity
    there could read a local file or expand without end."""
    folder = _folder(tmp_path, XSD_FILE)
    target = folder / ("service.wsdl" if where == "wsdl" else XSD_FILE)
    text = target.read_text()
    declaration, rest = text.split("?>", 1) if text.startswith("<?xml") else ("", text)
    doctype = '<!DOCTYPE x [<!ELEMENT x ANY>]>'
    target.write_text((declaration + "?>" if declaration else "") + doctype + rest)
    forget_documents()
    with pytest.raises(ConfigurationError) as caught:
        _client(folder)
    assert "cannot be used: DTDForbidden" in str(caught.value), caught.value
