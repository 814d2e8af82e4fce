"""Finding, parsing and refreshing the wallet WSDL.

Parsing the WSDL costs tens of milliseconds; building a zeep client from an
already parsed ``Document`` costs well under one.  So each WSDL file is parsed
once and every client shares the result.  Loading never touches the network:
``forbid_external`` makes any http(s) import an error, and the bundled WSDL
imports its schema by a relative path.

``fetch_wsdl`` downloads an environment's ``?wsdl`` and every schema it
imports into a folder, rewriting the locations to the local files, so a
merchant can run on the vendor's own WSDL, still offline at run time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urljoin, urlsplit

import platformdirs
import requests
from lxml import etree
from zeep import Settings
from zeep.loader import parse_xml
from zeep.transports import Transport
from zeep.wsdl import Document

from .endpoints import resolve_endpoint
from .errors import ConfigurationError, HTTPStatusError, ResponseError
from .transport import translate

__all__ = [
    "SOURCE_FILE",
    "WSDL_FILE",
    "XSD_FILE",
    "bundled_wsdl_path",
    "default_cache_dir",
    "fetch_wsdl",
    "forget_documents",
    "load_document",
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


def zeep_settings() -> Settings:
    """zeep's XML hardening, all on: no DTDs, no entities, no network imports."""
    return Settings(
        strict=True,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


def bundled_wsdl_path() -> str:
    """Path of the WSDL shipped with the package (installed as ``sogen_soap.wsdl``)."""
    try:
        folder = resources.files("sogen_soap.wsdl")
    except ModuleNotFoundError:  # a source checkout that was never installed
        return str(Path(__file__).resolve().parent.parent / "wsdl" / WSDL_FILE)
    return str(folder / WSDL_FILE)


def _resolve(location: str | os.PathLike[str] | None) -> str:
    if location is None:
        return bundled_wsdl_path()
    path = Path(location)
    if path.is_dir():
        found = sorted(path.glob("*.wsdl"))
        if len(found) != 1:
            raise ConfigurationError(f"{path} must hold exactly one .wsdl file, found {len(found)}")
        path = found[0]
    if not path.is_file():
        raise ConfigurationError(f"no WSDL file at {path}")
    # zeep resolves relative xsd:imports against a str path, not a Path.
    return str(path.resolve())


_documents: dict[str | None, Document] = {}
_documents_lock = threading.Lock()


def load_document(location: str | os.PathLike[str] | None = None) -> Document:
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


def _parse(path: str) -> Document:
    # The transport only ever reads local files here; calls go through the
    # client's own session.
    # (zeep annotates ``transport`` as a class; it takes an instance.)
    transport = Transport(timeout=10)  # type: ignore[no-untyped-call]
    return Document(path, transport, settings=zeep_settings())  # type: ignore[arg-type]


def default_cache_dir(environment: str) -> Path:
    """Where ``fetch_wsdl`` puts an environment's WSDL when not told: per user, per host."""
    host = urlsplit(resolve_endpoint(environment)).netloc.replace(":", "_")
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


def _download(session: requests.Session, url: str, timeout: float) -> etree._Element:
    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise translate(exc, "wsdl fetch", url) from None
    if response.status_code != 200:
        raise HTTPStatusError(
            f"wsdl fetch: HTTP {response.status_code} for {url}",
            status_code=response.status_code,
            operation="wsdl fetch",
            endpoint=url,
        )
    try:
        root: etree._Element = parse_xml(response.content, None, settings=zeep_settings())  # type: ignore[arg-type]
    except Exception as exc:  # zeep's and lxml's refusals alike
        raise ResponseError(f"wsdl fetch: {url} is not acceptable XML: {exc}") from None
    return root


def fetch_wsdl(
    environment: str,
    output: str | os.PathLike[str] | None = None,
    *,
    session: requests.Session | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``<endpoint>?wsdl`` and every schema it imports into ``output``.

    Locations are rewritten to the local files, so ``WalletClient(wsdl=output)``
    loads the result offline.  Only documents on the endpoint's own origin are
    followed: a WSDL that pulls from elsewhere is refused rather than fetched.
    ``SOURCE.json`` records where and when each file came from.  Returns the
    path of the WSDL file.
    """
    endpoint = resolve_endpoint(environment)
    origin = urlsplit(endpoint)[:2]
    folder = Path(output) if output is not None else default_cache_dir(environment)
    own_session = session is None
    http = session or requests.Session()
    try:
        wsdl_url = f"{endpoint}?wsdl"
        taken: set[str] = set()
        names = {wsdl_url: _local_name("service.wsdl", taken, ".wsdl")}
        documents: dict[str, etree._Element] = {}
        queue = [wsdl_url]
        while queue:
            url = queue.pop(0)
            root = _download(http, url, timeout)
            for tag, attribute in _REFERENCES:
                for element in root.iter(tag):
                    location = element.get(attribute)
                    if not location:
                        continue
                    target = urljoin(url, location)
                    if urlsplit(target)[:2] != origin:
                        raise ConfigurationError(
                            f"wsdl fetch: {url} imports {target}, outside {endpoint}; refused"
                        )
                    if target not in names:
                        names[target] = _local_name(target, taken, ".xsd")
                        queue.append(target)
                    element.set(attribute, names[target])
            documents[url] = root
    finally:
        if own_session:
            http.close()

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, str]] = {}
    for url, root in documents.items():
        data = etree.tostring(root, xml_declaration=True, encoding="utf-8")
        _write_atomically(folder / names[url], data)
        files[names[url]] = {"url": url, "sha256": hashlib.sha256(data).hexdigest()}
    for stale in folder.glob("*.wsdl"):
        if stale.name not in files:
            stale.unlink()
    source = {
        "endpoint": endpoint,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
    }
    _write_atomically(folder / SOURCE_FILE, json.dumps(source, indent=2).encode() + b"\n")
    return folder / names[wsdl_url]


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
