"""The cached WSDL: a valid schema, the six operations, offline loading,
and the same field rules as the client's validation."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import zeep
from conftest import MERCHANT, NetworkBlocked
from lxml import etree

from sogen_soap import WalletClient
from sogen_soap.errors import ConfigurationError, InvalidFieldError
from sogen_soap.simulator import Simulator
from sogen_soap.validation import FIELD_RULES, check_field
from sogen_soap.wsdl_cache import XSD_FILE, bundled_wsdl_path, load_document

XS = "{http://www.w3.org/2001/XMLSchema}"
OPERATIONS = {
    "addCard",
    "getWalletData",
    "getPaymentMeanData",
    "updatePaymentMean",
    "deletePaymentMean",
    "signOff",
}


def _xsd_path() -> Path:
    return Path(bundled_wsdl_path()).with_name(XSD_FILE)


def test_the_schema_is_valid_xml_schema() -> None:
    etree.XMLSchema(etree.parse(str(_xsd_path())))


def test_the_network_really_is_blocked_for_tests() -> None:
    # OSError and the message, not the class: under mutmut, conftest is imported twice
    with pytest.raises(OSError, match=r"test tried to (resolve|reach)") as caught:
        socket.create_connection(("192.0.2.1", 443), timeout=1)
    assert type(caught.value).__name__ == NetworkBlocked.__name__


def test_the_wsdl_loads_with_every_wallet_operation_and_no_network() -> None:
    document = load_document()
    (binding,) = document.bindings.values()
    assert set(binding._operations) == OPERATIONS
    (service,) = document.services.values()
    assert service.name == "WalletServiceImplService"
    assert list(service.ports) == ["cnv2WalletServiceImplPort"]


def test_a_client_is_built_without_any_network_access() -> None:
    client = WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, environment="prod")
    assert client.endpoint == "https://office-server.sogenactif.com/services/v2/wallet"


def test_messages_follow_the_vendor_wrapper_convention() -> None:
    client = zeep.Client(load_document())
    operation = client.service._binding.get("getWalletData")
    body = operation.input.body
    assert body.qname == "{urn:sips:cn:contract:office:wallet:v2}getWalletData"
    assert [name for name, _ in body.type.elements] == ["input"]
    assert operation.output.body.qname.localname == "getWalletDataResponse"
    assert operation.soapaction == ""


def test_the_wsdl_refers_to_no_remote_schema() -> None:
    text = Path(bundled_wsdl_path()).read_text()
    assert re.findall(r'schemaLocation="([^"]+)"', text) == [XSD_FILE]


def test_a_wsdl_importing_a_remote_schema_is_refused_not_fetched(tmp_path: Path) -> None:
    wsdl = (
        Path(bundled_wsdl_path())
        .read_text()
        .replace(f'schemaLocation="{XSD_FILE}"', 'schemaLocation="https://example.invalid/x.xsd"')
    )
    (tmp_path / "remote.wsdl").write_text(wsdl)
    with pytest.raises(ConfigurationError, match=r"remote\.wsdl.*ExternalReferenceForbidden"):
        load_document(tmp_path / "remote.wsdl")


@pytest.mark.parametrize("url", ["https://example.invalid/x.xsd", "file:///etc/passwd"])
def test_the_schema_loader_refuses_a_url_itself(tmp_path: Path, url: str) -> None:
    """zeep refuses external references first (above); the loader behind it refuses a
    URL on its own too, naming it, so a zeep that lets one through still reads
    nothing but files in the WSDL's folder (run from inside that folder, where a URL
    read as a relative path would land)."""
    from sogen_soap.wsdl_cache import _confined_transport

    (tmp_path / "x.xsd").write_text("<x/>")
    loader = _confined_transport(str(tmp_path))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        with pytest.raises(ConfigurationError) as caught:
            loader.load(url)
    assert str(caught.value) == f"refers to {url}; only files beside the WSDL are read"


def test_a_wsdl_given_by_a_link_reads_its_schema_where_the_wsdl_lives(tmp_path: Path) -> None:
    """A deployment links the WSDL into its config folder: the WSDL is read where
    it lives, and its schema beside it there (not beside the link)."""
    import shutil

    real = tmp_path / "release"
    real.mkdir()
    for name in (Path(bundled_wsdl_path()).name, XSD_FILE):
        shutil.copy(Path(bundled_wsdl_path()).with_name(name), real / name)
    config = tmp_path / "config"
    config.mkdir()
    (config / "wallet.wsdl").symlink_to(real / Path(bundled_wsdl_path()).name)
    document = load_document(config / "wallet.wsdl")
    ports = [port for service in document.services.values() for port in service.ports.values()]
    assert any("addCard" in port.binding._operations for port in ports)


def test_a_missing_wsdl_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no WSDL"):
        load_document(tmp_path / "nothing.wsdl")


def _schemas() -> list[etree._ElementTree]:
    """The wallet's XSD and the payment services' beside it."""
    return [etree.parse(str(path)) for path in sorted(_xsd_path().parent.glob("*.xsd"))]


def _facets() -> dict[str, dict[str, object]]:
    """Simple type name -> its facets, read from the XSDs (one name, one meaning)."""
    facets: dict[str, dict[str, object]] = {}
    simples = [simple for schema in _schemas() for simple in schema.iter(f"{XS}simpleType")]
    for simple in simples:
        restriction = simple.find(f"{XS}restriction")
        assert restriction is not None
        found: dict[str, object] = {
            "enumeration": tuple(e.get("value") for e in restriction.findall(f"{XS}enumeration"))
        }
        for facet in ("maxLength", "minLength", "pattern"):
            element = restriction.find(f"{XS}{facet}")
            if element is not None:
                found[facet] = element.get("value")
        facets[str(simple.get("name"))] = found
    return facets


def _request_field_types() -> dict[str, str]:
    types: dict[str, str] = {}
    complex_types = [c for schema in _schemas() for c in schema.iter(f"{XS}complexType")]
    for complex_type in complex_types:
        if str(complex_type.get("name", "")).endswith("Request"):
            for element in complex_type.iter(f"{XS}element"):
                types[str(element.get("name"))] = str(element.get("type")).split(":")[-1]
    return types


@pytest.mark.parametrize("field", sorted(FIELD_RULES))
def test_client_rules_agree_with_the_schema(field: str) -> None:
    rule = FIELD_RULES[field]
    type_name = _request_field_types()[field]
    facets = _facets().get(type_name)
    if facets is None:  # keyVersion: xs:long bounded by minInclusive/maxInclusive
        assert field == "keyVersion"
        schema = etree.parse(str(Path(bundled_wsdl_path()).with_name(XSD_FILE)))
        bounds = {
            etree.QName(e).localname: int(str(e.get("value")))
            for e in schema.iter()
            if etree.QName(e).localname in ("minInclusive", "maxInclusive")
        }
        low, high = bounds["minInclusive"], bounds["maxInclusive"]
        for good in (low, high):
            assert check_field("keyVersion", good) == str(good)
        for bad in (low - 1, high + 1, -1):
            with pytest.raises(InvalidFieldError):
                check_field("keyVersion", bad)
        return
    enumeration = facets["enumeration"]
    if enumeration:
        allowed = set(enumeration) - ({"UNKNOWN"} if field == "paymentMeanBrand" else set())
        assert set(rule.choices) == allowed
        return
    if "maxLength" in facets:
        assert rule.max_length == int(str(facets["maxLength"]))
    if "pattern" in facets:
        assert rule.pattern == facets["pattern"]


def _shape_of(tree: etree._Element) -> list[tuple[str, str]]:
    return [(str(e.tag), e.text or "") for e in tree.iter() if isinstance(e.tag, str)]


@pytest.mark.parametrize("wsdl", ["bundled", "variant"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_the_precompiled_request_is_the_one_zeep_would_build(operation: str, wsdl: str) -> None:
    from sogen_soap.envelope import build_sealed_request, operation_shape

    location = None if wsdl == "bundled" else Path(__file__).parent / "data" / "variant"
    client = WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=location)
    shape = operation_shape(client._binding, operation)
    assert shape.layout is not None, "every wallet request is made of simple fields"
    fields = {
        "merchantId": MERCHANT.merchant_id,
        "interfaceVersion": "WR_WS_2.55",
        "keyVersion": 1,
        "sealAlgorithm": "HMAC-SHA-256",
        "merchantWalletId": "w",
        "paymentMeanId": "2",
        "cardNumber": "4100000000000000",
        "cardExpiryDate": "",
        "paymentMeanAlias": "a",
    }
    fields = {k: v for k, v in fields.items() if k in shape.fields}
    args = (client._zeep, client._service, shape, fields, MERCHANT.secret_key, "HMAC-SHA-256")
    fast = build_sealed_request(*args)
    by_zeep = build_sealed_request(*args, through_zeep=True)
    assert _shape_of(etree.fromstring(fast)) == _shape_of(etree.fromstring(by_zeep))


def test_the_compiled_layouts_shipped_are_what_zeep_reads_from_the_bundled_wsdl() -> None:
    """Regenerate with: python -c "import json; from sogen_soap.wsdl_cache import *;
    print(json.dumps(compile_shapes(load_document()), indent=1, sort_keys=True))"
    > wsdl/WalletService.shapes.json"""
    import json

    from sogen_soap.wsdl_cache import SHAPES_FILE, compile_shapes

    shipped = json.loads(Path(bundled_wsdl_path()).with_name(SHAPES_FILE).read_text())
    assert shipped == json.loads(json.dumps(compile_shapes(load_document())))
    assert set(shipped) == set(OPERATIONS)
    assert all(shape["layout"] for shape in shipped.values())


def test_each_payment_service_s_shipped_layouts_are_its_own_operations_as_zeep_reads_them() -> None:
    """compile_shapes(document, operations) compiles the operations named, from that
    service's own WSDL (the wallet's are only the default)."""
    import json

    from sogen_soap.services import SERVICES
    from sogen_soap.wsdl_cache import compile_shapes, service_wsdl_path

    for service in SERVICES[1:]:
        path = Path(service_wsdl_path(service))
        shipped = json.loads(path.with_name(path.stem + ".shapes.json").read_text())
        compiled = compile_shapes(load_document(path), service.operations)
        assert set(compiled) == set(service.operations), service.name
        assert shipped == json.loads(json.dumps(compiled)), service.name


def test_the_bundled_layouts_load_as_zeep_reads_them() -> None:
    """What a client uses (read from the JSON file) is what zeep reads from the WSDL,
    field for field; and a layout-less shape survives the JSON round trip."""
    import dataclasses

    from sogen_soap.envelope import operation_shape, shape_from_json, shape_to_json
    from sogen_soap.services import SERVICES
    from sogen_soap.wsdl_cache import bundled_shapes, service_wsdl_path, soap_binding

    by_zeep = {}
    for service in SERVICES:  # the wallet's and the three payment services'
        binding = soap_binding(load_document(service_wsdl_path(service)))
        by_zeep.update({name: operation_shape(binding, name) for name in service.operations})
    assert len(by_zeep) == 12
    assert bundled_shapes.__wrapped__() == by_zeep
    for shape in by_zeep.values():
        bare = dataclasses.replace(shape, layout=None)
        assert shape_from_json(shape_to_json(bare)) == bare


def test_a_one_shot_command_does_not_import_zeep_or_requests() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from sogen_soap.cli.main import main; "
        "from sogen_soap import WalletClient; "
        "WalletClient('002001000000001', 'k', 1, environment='http://127.0.0.1:9/x'); "
        "print(sorted(m for m in ('zeep', 'requests', 'httpx') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("alias", ["Tom & Jerry", "<b>card</b>", "a>b", "line\rbreak", "plain"])
def test_the_precompiled_request_escapes_text_as_zeep_does(alias: str) -> None:
    from sogen_soap.envelope import build_sealed_request

    client = WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1)
    shape = client._shape("updatePaymentMean")
    fields = {
        "merchantId": MERCHANT.merchant_id,
        "interfaceVersion": "WR_WS_2.55",
        "keyVersion": 1,
        "sealAlgorithm": "HMAC-SHA-256",
        "merchantWalletId": "w",
        "paymentMeanId": "2",
        "paymentMeanAlias": alias,
    }
    args = (client._zeep, client._service, shape, fields, MERCHANT.secret_key, "HMAC-SHA-256")
    fast = build_sealed_request(*args)
    assert _shape_of(etree.fromstring(fast)) == _shape_of(
        etree.fromstring(build_sealed_request(*args, through_zeep=True))
    )
    assert any(e.text == alias for e in etree.fromstring(fast).iter())


def test_layouts_of_an_unwrapped_or_complex_request_are_read_as_they_are() -> None:
    """A WSDL whose addCard carries its fields directly (no wrapper, no soapAction)
    and whose getWalletData has a complex field (rendered by zeep, not precompiled)."""
    from sogen_soap.envelope import build_sealed_request, operation_shape
    from sogen_soap.wsdl_cache import soap_binding

    location = Path(__file__).parent / "data" / "flat" / "Wallet.wsdl"
    binding = soap_binding(load_document(str(location)))
    add = operation_shape(binding, "addCard")
    assert (add.wrapper, add.wrapper_qname, add.soap_action) == (None, None, "")
    assert add.body_qname == "{urn:sips:cn:contract:office:wallet:v2}addCard"
    assert add.layout is not None and add.layout[0][0] == "paymentToken"
    assert {"cardNumber", "cardExpiryDate", "merchantWalletId", "seal"} <= add.required
    assert "paymentToken" in add.fields and "paymentToken" not in add.required
    read = operation_shape(binding, "getWalletData")
    assert read.wrapper == "input" and read.soap_action == "urn:getWalletData"
    assert read.layout is None and "filter" in read.fields  # not all simple: through zeep
    with pytest.raises(ConfigurationError) as caught:
        operation_shape(binding, "nope")
    assert str(caught.value) == "the WSDL has no operation 'nope'"
    client = WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=location)
    fields = {"merchantId": MERCHANT.merchant_id, "interfaceVersion": "WR_WS_2.55",
              "keyVersion": 1, "merchantWalletId": "w", "cardNumber": "4100000000000000",
              "cardExpiryDate": ""}  # fmt: skip
    args = (client._zeep, client._service, add, fields, MERCHANT.secret_key, "HMAC-SHA-256")
    fast = etree.fromstring(build_sealed_request(*args))
    by_zeep = etree.fromstring(build_sealed_request(*args, through_zeep=True))
    assert _shape_of(fast) == _shape_of(by_zeep)
    body = fast.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None and [etree.QName(c).localname for c in body] == ["addCard"]


def test_a_repeated_simple_field_is_rendered_by_zeep_not_precompiled(tmp_path: Path) -> None:
    """A layout renders one element per field: a field the WSDL lets repeat
    (maxOccurs above 1), simple or not, sends the request through zeep."""
    from sogen_soap.envelope import operation_shape
    from sogen_soap.wsdl_cache import soap_binding

    flat = (Path(__file__).parent / "data" / "flat" / "Wallet.wsdl").read_text(encoding="utf-8")
    complex_filter = '<xsd:element name="filter" type="w:paymentMeanCoBadgingBrandListType" '
    assert flat.count(complex_filter) == 1
    repeated = flat.replace(
        complex_filter, '<xsd:element name="filter" type="xsd:string" maxOccurs="unbounded" '
    )
    (tmp_path / "Wallet.wsdl").write_text(repeated, encoding="utf-8")
    binding = soap_binding(load_document(str(tmp_path / "Wallet.wsdl")))
    read = operation_shape(binding, "getWalletData")
    assert "filter" in read.fields and "filter" not in read.required
    assert read.layout is None
    assert operation_shape(binding, "signOff").layout is not None  # single fields only


def _edited_wsdl(folder: Path, old: str, new: str) -> Path:
    """A copy of the bundled WSDL whose schema has ``old`` replaced by ``new``."""
    wsdl = Path(bundled_wsdl_path())
    schema = wsdl.with_name(XSD_FILE).read_text(encoding="utf-8")
    assert schema.count(old) >= 1
    (folder / XSD_FILE).write_text(schema.replace(old, new, 1), encoding="utf-8")
    (folder / wsdl.name).write_text(wsdl.read_text(encoding="utf-8"), encoding="utf-8")
    return folder / wsdl.name


GET_WALLET = """<xs:complexType name="getWalletDataRequest">
    <xs:all>"""
SEAL_ELEMENT = '<xs:element name="seal" type="tns:sealType"/>'
# getWalletData's seal: the last seal element before getPaymentMeanDataRequest
GET_WALLET_SEAL = (
    SEAL_ELEMENT
    + """
      <xs:element name="sealAlgorithm" type="tns:sealAlgorithmType" minOccurs="0"/>
      <xs:element name="intermediateServiceProviderId" """
    + """type="tns:intermediateServiceProviderIdType" minOccurs="0"/>
      <xs:element name="merchantWalletId" type="tns:merchantWalletIdType"/>
    </xs:all>
  </xs:complexType>

  <xs:complexType name="getPaymentMeanDataRequest">"""
)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (GET_WALLET_SEAL, GET_WALLET_SEAL.replace(SEAL_ELEMENT, ""),
         "the WSDL's getWalletData request has no field seal; is it the wallet service WSDL?"),
        (GET_WALLET_SEAL, GET_WALLET_SEAL.replace(SEAL_ELEMENT, "").replace(
            '<xs:element name="merchantWalletId" type="tns:merchantWalletIdType"/>', ""),
         "the WSDL's getWalletData request has no field merchantWalletId, seal; "
         "is it the wallet service WSDL?"),
        (GET_WALLET, GET_WALLET + '\n      <xs:element name="channel" type="xs:string"/>',
         "the WSDL's getWalletData request requires channel, which this client does not send"),
    ],
    ids=["no seal", "no wallet id and no seal", "a required field unknown here"],
)  # fmt: skip
def test_a_wsdl_whose_request_this_client_cannot_fill_is_refused_before_sending(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    wsdl = _edited_wsdl(tmp_path, old, new)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/services/v2/wallet"  # nobody there
        with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=wsdl,
                          environment=url) as client:  # fmt: skip
            with pytest.raises(ConfigurationError) as caught:
                client.get_wallet_data("w")
    assert str(caught.value) == message


def test_a_request_built_by_zeep_is_sealed_with_the_algorithm_asked_for() -> None:
    """The zeep path (a request with a complex field): its seal is HMAC-SHA-512 over
    the values in the vendor's order, recomputed here by hand."""
    import hashlib
    import hmac

    from sogen_soap.envelope import build_sealed_request, operation_shape
    from sogen_soap.wsdl_cache import soap_binding

    location = Path(__file__).parent / "data" / "flat" / "Wallet.wsdl"
    read = operation_shape(soap_binding(load_document(str(location))), "getWalletData")
    assert read.layout is None
    client = WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=location)
    fields = {"merchantId": MERCHANT.merchant_id, "interfaceVersion": "WR_WS_2.55",
              "keyVersion": 1, "sealAlgorithm": "HMAC-SHA-512",
              "merchantWalletId": "w"}  # fmt: skip
    args = (client._zeep, client._service, read, fields, MERCHANT.secret_key, "HMAC-SHA-512")
    sent = etree.fromstring(build_sealed_request(*args))
    seal = next(e.text for e in sent.iter() if etree.QName(e).localname == "seal")
    # interfaceVersion, merchantId, merchantWalletId (keyVersion, sealAlgorithm excluded)
    data = ("WR_WS_2.55" + MERCHANT.merchant_id + "w").encode()
    assert seal == hmac.new(MERCHANT.secret_key.encode(), data, hashlib.sha512).hexdigest()


def test_a_request_zeep_has_to_build_reaches_the_service_sealed(simulator: Simulator) -> None:
    """The flat WSDL's getWalletData has a complex field: built by zeep, not precompiled,
    and still read and sealed as the service expects."""
    location = Path(__file__).parent / "data" / "flat" / "Wallet.wsdl"
    with WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1, wsdl=location,
                      environment=simulator.url) as client:  # fmt: skip
        assert client._shape("getWalletData").layout is None
        result = client.get_wallet_data("w")
    assert (result.response_code, result.seal_verified) == ("25", True)
    assert simulator.requests_seen == 1


def test_no_named_type_shares_its_name_with_a_global_element() -> None:
    """The rule code generators need (wsimport, xjc, .NET's): a type and a global
    element of one name become two classes of one name.  Checked here on the
    bundled schema and the simulator's served one; ``tox -e interop-java``
    runs wsimport itself."""
    from lxml import etree

    from sogen_soap.simulator import Simulator
    from sogen_soap.wsdl_cache import bundled_wsdl_path

    xs = "{http://www.w3.org/2001/XMLSchema}"
    bundled = etree.parse(str(Path(bundled_wsdl_path()).with_name("WalletService.xsd")))
    with Simulator() as sim:
        import urllib.request

        with urllib.request.urlopen(f"{sim.url}?xsd=WalletService.xsd", timeout=5) as answer:  # noqa: S310
            served = etree.fromstring(answer.read())
    for schema in (bundled.getroot(), served):
        types = {t.get("name") for t in schema.iter(f"{xs}complexType", f"{xs}simpleType")}
        elements = {e.get("name") for e in schema.findall(f"{xs}element")}
        assert types - {None} and elements
        assert types & elements == set()


@pytest.mark.parametrize(
    ("environment", "folder"),
    [
        ("https://office-server.test.sips-services.com/services/v2/wallet",
         "office-server.test.sips-services.com"),
        ("https://127.0.0.1:8443/services/v2/wallet", "127.0.0.1_8443"),
        ("https://[::1]:8443/services/v2/wallet", "__1_8443"),
        ("https://[2001:db8::1]/services/v2/wallet", "2001_db8__1"),
        ("simulator", "simulator"),
    ],
)  # fmt: skip
def test_each_environment_s_wsdl_is_cached_in_a_folder_named_after_its_host(
    environment: str, folder: str
) -> None:
    """``wsdl fetch``'s default folder: one per host and port, a name any file
    system takes (no colon, no bracket), under the per-user cache."""
    from sogen_soap.wsdl_cache import default_cache_dir

    path = default_cache_dir(environment)
    assert path.name == folder
    assert path.parent.name == "wsdl" and path.parent.parent.name == "sogen-soap"
