"""The package's public names: each resolves (lazily, then kept), to the object of
the module that defines it; an unknown one is an AttributeError naming it."""

from __future__ import annotations

import importlib

import pytest

import sogen_soap


def test_every_public_name_resolves_to_its_module_s_object_and_is_kept() -> None:
    for name in sogen_soap.__all__:
        value = getattr(sogen_soap, name)
        assert vars(sogen_soap)[name] is value, name
        module = getattr(value, "__module__", None)
        if module and module.startswith("sogen_soap."):
            assert getattr(importlib.import_module(module), name) is value, name


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    with pytest.raises(AttributeError) as caught:
        sogen_soap.nothing_here  # noqa: B018
    assert str(caught.value) == "module 'sogen_soap' has no attribute 'nothing_here'"


def test_the_key_ring_names_are_public() -> None:
    from sogen_soap.keys import KeyExpired, KeyRing, KeyVersion

    assert (sogen_soap.KeyRing, sogen_soap.KeyVersion, sogen_soap.KeyExpired) == (
        KeyRing, KeyVersion, KeyExpired,
    )  # fmt: skip
    assert issubclass(KeyExpired, sogen_soap.ConfigurationError)


def test_all_advertises_every_error_and_every_lazily_loaded_name() -> None:
    """``from sogen_soap import *`` (and an IDE's completion, and the API docs) see
    what ``__all__`` says: every exception of ``errors`` and every name loaded on
    first use, nothing more."""
    import sogen_soap.errors as errors

    assert set(sogen_soap.__all__) == set(errors.__all__) | set(sogen_soap._LAZY) | {"__version__"}
    assert len(sogen_soap.__all__) == len(set(sogen_soap.__all__))  # each once
    star: dict[str, object] = {}
    exec("from sogen_soap import *", star)  # noqa: S102
    assert {"KeyRing", "KeyVersion", "KeyExpired", "WalletClient", "AsyncWalletClient"} <= set(star)


def test_the_package_logs_nothing_by_itself_until_logging_is_configured() -> None:
    """A library's warnings go to the application's handlers: with none configured,
    nothing reaches stderr (Python's last-resort handler is kept away)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import logging, sogen_soap; "
         "logging.getLogger('sogen_soap.client').warning('a warning of the package')"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")


def test_every_lazily_loaded_name_is_its_module_s_object_on_first_use() -> None:
    """In a fresh interpreter (nothing loaded yet), each name of ``_LAZY`` read from
    the package is the very object its module defines, and stays so."""
    from cli_support import python_says

    check = (
        "import importlib, sogen_soap\n"
        "for name, module in sorted(sogen_soap._LAZY.items()):\n"
        "    first = getattr(sogen_soap, name)\n"
        "    own = getattr(importlib.import_module(module, 'sogen_soap'), name)\n"
        "    assert first is own is getattr(sogen_soap, name), name\n"
        "    assert first is not None, name\n"
        "print(len(sogen_soap._LAZY))\n"
    )
    assert python_says(check) == [str(len(sogen_soap._LAZY))]
    assert len(sogen_soap._LAZY) > 20
