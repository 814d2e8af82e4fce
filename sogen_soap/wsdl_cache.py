"""Finding and parsing the wallet WSDL, offline, once per process.

Parsing the WSDL costs tens of milliseconds; building a zeep client from an
already parsed ``Document`` costs well under one.  So each WSDL file is parsed
once and every client shares the result.  Loading never touches the network:
``forbid_external`` makes any http(s) import an error, and the bundled WSDL
imports its schema by a relative path.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Final

from zeep import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from .errors import ConfigurationError

__all__ = ["WSDL_FILE", "XSD_FILE", "bundled_wsdl_path", "load_document", "zeep_settings"]

WSDL_FILE: Final = "WalletService.wsdl"
XSD_FILE: Final = "WalletService.xsd"


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


def load_document(location: str | os.PathLike[str] | None = None) -> Document:
    """The parsed WSDL at ``location`` (a file or a folder holding one), or the bundled one."""
    path = _resolve(location)
    return _parse(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _parse(path: str, mtime_ns: int) -> Document:
    del mtime_ns  # part of the cache key only: an edited file is parsed again
    # The transport only ever reads local files here; calls go through the
    # client's own session.
    # (zeep annotates ``transport`` as a class; it takes an instance.)
    transport = Transport(timeout=10)  # type: ignore[no-untyped-call]
    return Document(path, transport, settings=zeep_settings())  # type: ignore[arg-type]
