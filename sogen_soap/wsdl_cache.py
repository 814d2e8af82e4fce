"""Finding, parsing and refreshing the wallet WSDL.

Parsing the WSDL costs tens of milliseconds; building a zeep client from an
already parsed ``Document`` costs well under one.  So each WSDL file is parsed
once and every client shares the result.  Loading never touches the network:
``forbid_external`` makes any http(s) import an error, and the bundled WSDL
imports its schema by a relative path.

``fetch_wsdl`` downloads an environment's ``?wsdl`` and every schema it
imports into a folder, rewriting the locations to the local files, so a
merchant can run on the vendor's own WSDL, still offline at run time.  It is
bounded like a call: same origin only, no redirects, at most
``MAX_DOCUMENTS`` documents of ``MAX_DOCUMENT_BYTES`` each, one deadline for
the whole fetch, and it writes only into an empty (or new) folder unless
told ``force``, and then only the files it fetched.

Loading a WSDL reads only regular files inside the WSDL's own folder: a
``schemaLocation`` of ``/etc/passwd`` or ``/dev/zero`` is refused, and every
problem is a ``ConfigurationError`` naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urljoin, urlsplit

from lxml import etree

from .endpoints import Endpoint, parse_endpoint, parse_url
from .errors import ConfigurationError, HTTPStatusError, ResponseError, SogenSoapError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .envelope import OperationShape
    from .services import Service

__all__ = [
    "SOURCE_FILE",
    "WSDL_FILE",
    "XSD_FILE",
    "bundled_shapes",
    "bundled_wsdl_path",
    "compile_shapes",
    "default_cache_dir",
    "fetch_wsdl",
    "forget_documents",
    "load_document",
    "service_wsdl_path",
    "zeep_settings",
]

WSDL_FILE: Final = "WalletService.wsdl"
XSD_FILE: Final = "WalletService.xsd"
SOURCE_FILE: Final = "SOURCE.json"
_XS: Final = "http://www.w3.org/2001/XMLSchema"
_WSDL: Final = "http://schemas.xmlsoap.org/wsdl/"
# (element, attribute) pairs through which a WSDL pulls in other documents.
_REFERENCES: Final = (
    (f"{{{_XS}}}import", "schemaLocation"),
    (f"{{{_XS}}}include", "schemaLocation"),
    (f"{{{_XS}}}redefine", "schemaLocation"),
    (f"{{{_WSDL}}}import", "location"),
)
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}")
MAX_DOCUMENTS: Final = 32
MAX_DOCUMENT_BYTES: Final = 4 * 1024 * 1024


def zeep_settings() -> Any:
    """zeep's XML hardening, all on: no DTDs, no entities, no network imports."""
    from zeep import Settings

    return Settings(
        strict=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


@functools.lru_cache(maxsize=1)
def bundled_wsdl_path() -> str:
    """Path of the WSDL shipped with the package (installed as ``sogen_soap.wsdl``)."""
    here = Path(__file__).resolve().parent
    for folder in (here / "wsdl", here.parent / "wsdl"):  # installed; a source checkout
        if (folder / WSDL_FILE).is_file():
            return str(folder / WSDL_FILE)
    from importlib import resources  # a zip or another loader

    return str(resources.files("sogen_soap.wsdl") / WSDL_FILE)


def _resolve(location: str | os.PathLike[str] | None) -> str:
    if location is None:
        return bundled_wsdl_path()
    path = Path(location)
    if path.is_dir():
        found = sorted(path.glob("*.wsdl"))
        if len(found) > 1 and (path / WSDL_FILE).is_file():
            found = [path / WSDL_FILE]  # a folder of several services: the wallet's
        if len(found) != 1:
            raise ConfigurationError(f"{path} must hold exactly one .wsdl file, found {len(found)}")
        path = found[0]
    if not path.is_file():
        raise ConfigurationError(f"no WSDL file at {path}")
    # zeep resolves relative xsd:imports against a str path, not a Path.
    return str(path.resolve())


_documents: dict[str | None, Any] = {}
_documents_lock = threading.Lock()


def load_document(location: str | os.PathLike[str] | None = None) -> Any:
    """The parsed WSDL at ``location`` (a file or a folder holding one), or the bundled one.

    Parsed once per process and location: later calls touch no file at all
    (so an async client can be built on a running event loop).  A WSDL edited
    while the process runs is picked up after ``forget_documents()``.
    """
    key = None if location is None else os.fspath(location)
    document = _documents.get(key)
    if document is None:
        with _documents_lock:
            document = _documents.get(key)
            if document is None:
                document = _documents[key] = _parse(_resolve(location))
    return document


def forget_documents() -> None:
    """Drop every parsed WSDL, so the next client reads its file again."""
    with _documents_lock:
        _documents.clear()


def _confined_transport(folder: str) -> Any:
    """zeep's loader, allowed to read only regular files in one folder, capped in size."""
    from zeep.transports import Transport

    class ConfinedTransport(Transport):
        def load(self, url: str) -> bytes:
            # zeep, with forbid_external, refuses any URL itself (a file:// one
            # included): what reaches here is a path; a URL is refused all the same.
            path = url
            if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", path):
                raise ConfigurationError(f"refers to {url}; only files beside the WSDL are read")
            real = os.path.realpath(path)
            if os.path.commonpath([real, root]) != root or not os.path.isfile(real):
                raise ConfigurationError(
                    f"refers to {path}, outside its folder or not a regular file; refused"
                )
            with open(real, "rb") as handle:
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
            if len(data) > MAX_DOCUMENT_BYTES:
                raise ConfigurationError(f"{path} is larger than {MAX_DOCUMENT_BYTES} bytes")
            return data

    root = os.path.realpath(folder)
    return ConfinedTransport(timeout=10)  # type: ignore[no-untyped-call]


def _parse(path: str) -> Any:
    """Parse a WSDL file; any problem is a ConfigurationError naming it."""
    from zeep.wsdl import Document

    try:
        return Document(path, _confined_transport(os.path.dirname(path)), settings=zeep_settings())
    except ConfigurationError as exc:
        raise ConfigurationError(f"WSDL {path}: {exc}") from None
    except Exception as exc:  # zeep's and lxml's many ways to say "not a WSDL"
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"WSDL {path} cannot be used: {type(exc).__name__}: {text[:200]}"
        ) from None


SHAPES_FILE: Final = "WalletService.shapes.json"


def service_wsdl_path(service: Service) -> str:
    """Path of the bundled WSDL of ``service`` (beside the wallet's)."""
    return str(Path(bundled_wsdl_path()).with_name(service.wsdl_file))


@functools.lru_cache(maxsize=1)
def bundled_shapes() -> dict[str, OperationShape]:
    """Every bundled WSDL's operation layouts, compiled ahead (``<Service>.shapes.json``).

    Reading them costs no zeep import and no WSDL parse, so a one-shot
    command starts fast; a test holds them equal to what zeep reads from the
    bundled WSDLs, and ``compile_shapes`` writes them.
    """
    from .envelope import shape_from_json
    from .services import SERVICES

    shapes: dict[str, OperationShape] = {}
    for service in SERVICES:
        path = Path(bundled_wsdl_path()).with_name(f"{service.stem}.shapes.json")
        data = json.loads(path.read_text(encoding="utf-8"))
        shapes.update({name: shape_from_json(shape) for name, shape in data.items()})
    return shapes


def compile_shapes(document: Any, operations: Iterable[str] | None = None) -> dict[str, Any]:
    """Each operation's layout as zeep reads it from ``document`` (JSON-ready); the
    wallet's operations unless ``operations`` names others."""
    from .envelope import operation_shape, shape_to_json
    from .services import WALLET

    binding = soap_binding(document)
    names = WALLET.operations if operations is None else tuple(operations)
    return {name: shape_to_json(operation_shape(binding, name)) for name in names}


def soap_binding(document: Any) -> Any:
    for service in document.services.values():
        for port in service.ports.values():
            if port.binding is not None and hasattr(port.binding, "get"):
                return port.binding
    raise ConfigurationError("the WSDL declares no SOAP service port")


def default_cache_dir(environment: str) -> Path:
    """Where ``fetch_wsdl`` puts an environment's WSDL when not told: per user, per host.

    ``"simulator"`` (the embedded one) has no host of its own, its port changes with
    each start: it gets one folder of its own, kept across starts."""
    if environment == "simulator":
        host = "simulator"
    else:
        # "[2001:db8::1]:8443" is "2001_db8__1_8443": brackets dropped wherever they
        # stand (a port follows the "]"), colons made file-name safe
        netloc = parse_endpoint(environment).netloc
        host = netloc.replace("[", "").replace("]", "").replace(":", "_")
    import platformdirs

    return platformdirs.user_cache_path("sogen-soap") / "wsdl" / host


def _local_name(url: str, taken: set[str], suffix: str) -> str:
    query = parse_qs(urlsplit(url).query)
    candidates = [*query.get("xsd", []), *query.get("wsdl", []), Path(urlsplit(url).path).name]
    name = next((c for c in candidates if _SAFE_NAME.fullmatch(c)), "")
    if not name.endswith(suffix):
        name = f"{Path(name).stem or 'schema'}{suffix}"
    stem, number = Path(name).stem, 1
    while name in taken:
        number += 1
        name = f"{stem}{number}{suffix}"
    taken.add(name)
    return name


def _download(sender: Any, endpoint: Endpoint, target: str, deadline: Any) -> etree._Element:
    from .envelope import parse_xml_safely

    answer = sender.request("wsdl fetch", "GET", target, {"Accept": "*/*"}, b"", deadline)
    url = endpoint.with_target(target).url
    if 300 <= answer.status < 400:
        raise ConfigurationError(
            f"wsdl fetch: {url} redirects (HTTP {answer.status}) to "
            f"{answer.headers.get('location', '?')}; redirects are not followed: "
            "fetch from the final address"
        )
    if answer.status != 200:
        raise HTTPStatusError(
            f"wsdl fetch: HTTP {answer.status} for {url}",
            status_code=answer.status,
            operation="wsdl fetch",
            endpoint=url,
        )
    try:
        return parse_xml_safely(answer.body)
    except ResponseError as exc:
        raise ResponseError(f"wsdl fetch: {url}: {exc}") from None


def _prepare_folder(folder: Path, force: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"wsdl fetch: --output {folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ConfigurationError(
            f"wsdl fetch: --output {folder} is not empty; choose a new folder, or pass "
            "--force to overwrite the files fetched (nothing else is touched)"
        )


def fetch_wsdl(
    environment: str,
    output: str | os.PathLike[str] | None = None,
    *,
    timeout: float = 30.0,
    force: bool = False,
    ca_bundle: str | None = None,
    max_documents: int = MAX_DOCUMENTS,
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
    service: str = "wallet",
) -> Path:
    """Download ``<endpoint>?wsdl`` and every schema it imports into ``output``.

    ``service`` names which one: the wallet's endpoint as given, or the checkout,
    cash-management or diagnostic service beside it on the same host (its own
    folder, ``<cache>/<service>``, by default).

    Locations are rewritten to the local files, so ``WalletClient(wsdl=output)``
    loads the result offline.  Only documents on the endpoint's own origin are
    followed; redirects are refused; at most ``max_documents`` documents of
    ``max_document_bytes`` each, all within ``timeout`` seconds.  ``output``
    must be new or empty unless ``force`` (then only the fetched files are
    replaced; nothing is deleted).  ``SOURCE.json`` records each file's URL and
    digest.  Returns the path of the WSDL file.
    """
    from .services import SERVICES, WALLET
    from .transport import Deadline, SyncSender, ssl_context

    endpoint = parse_endpoint(environment)
    chosen = {s.name: s for s in SERVICES}.get(service)
    if chosen is None:
        raise ConfigurationError(
            f"wsdl fetch: service must be one of {', '.join(s.name for s in SERVICES)}"
        )
    folder = Path(output) if output is not None else default_cache_dir(environment)
    if chosen is not WALLET:
        path = endpoint.target.split("?", 1)[0].rstrip("/")
        for wallet_path in (WALLET.soap_path, WALLET.json_path):
            if path.endswith(wallet_path):
                path = path[: -len(wallet_path)]
        endpoint = endpoint.with_target(path + chosen.soap_path)
        if output is None:
            folder = folder / chosen.name
    _prepare_folder(folder, force or output is None)
    deadline = Deadline(timeout)
    sender = SyncSender(
        endpoint,
        tls=ssl_context(ca_bundle) if endpoint.scheme == "https" else None,
        max_response_bytes=max_document_bytes,
        connect_timeout=min(timeout, 10.0),
    )
    wsdl_target = f"{endpoint.target.split('?', 1)[0]}?wsdl"
    taken: set[str] = set()
    names = {wsdl_target: _local_name("service.wsdl", taken, ".wsdl")}
    documents: dict[str, etree._Element] = {}
    queue = [wsdl_target]
    try:
        while queue:
            target = queue.pop(0)
            root = _download(sender, endpoint, target, deadline)
            base = endpoint.with_target(target).url
            for tag, attribute in _REFERENCES:
                for element in root.iter(tag):
                    location = element.get(attribute)
                    if not location:
                        continue
                    try:
                        absolute = urljoin(base, location)
                    except ValueError:  # "http://[x": parse_url refuses it in words below
                        absolute = location
                    try:
                        found = parse_url(absolute, what="import")
                    except ConfigurationError:
                        found = None
                    if found is None or found.origin != endpoint.origin:
                        raise ConfigurationError(
                            f"wsdl fetch: {base} imports {absolute}, outside {endpoint.url}; "
                            "refused"
                        )
                    if found.target not in names:
                        if len(names) >= max_documents:
                            raise ConfigurationError(
                                f"wsdl fetch: more than {max_documents} documents; refused"
                            )
                        names[found.target] = _local_name(absolute, taken, ".xsd")
                        queue.append(found.target)
                    element.set(attribute, names[found.target])
            documents[target] = root
    except SogenSoapError:
        raise
    finally:
        sender.close()

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for target, root in documents.items():
        data = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        _write_atomically(folder / names[target], data)
        files[names[target]] = {
            "url": endpoint.with_target(target).url,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    source = {
        "endpoint": endpoint.url,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }
    _write_atomically(folder / SOURCE_FILE, json.dumps(source, indent=2).encode() + b"\n")
    return folder / names[wsdl_target]


def _write_atomically(path: Path, data: bytes) -> None:
    import tempfile

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
