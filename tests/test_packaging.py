"""The wheel ships the WSDL, and an installed copy finds it outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("sogen_soap-*.whl")
    return built


def test_the_wheel_carries_the_wsdl_the_schema_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "sogen_soap/wsdl/WalletService.wsdl",
        "sogen_soap/wsdl/WalletService.xsd",
        "sogen_soap/py.typed",
    } <= names
    assert not any(name.startswith("wsdl/") for name in names)
    # the licence travels with the code, and the metadata says what it is
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names)  # fmt: skip
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    wanted = [
        "Framework :: Pytest",
        "Development Status :: 4 - Beta",
        "Programming Language :: Python :: 3.10",
        "License :: OSI Approved :: MIT License",
    ]
    for classifier in wanted:
        assert f"Classifier: {classifier}" in text


def test_an_installed_wheel_loads_its_wsdl_from_outside_the_repo(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q",
         "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    script = (
        "import sogen_soap, sogen_soap.wsdl_cache as w;"
        "from sogen_soap import WalletClient;"
        "WalletClient('002001000000001', 'k', 1, environment='test');"
        "print(sogen_soap.__file__); print(w.bundled_wsdl_path())"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    package_file, wsdl_path = done.stdout.split()
    assert package_file.startswith(str(target))
    assert wsdl_path.startswith(str(target)) and Path(wsdl_path).is_file()
