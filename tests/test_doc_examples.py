"""Every example in the README and the documentation runs, so none can go stale.

A ``python`` block runs against the simulator (``client``, ``merchant_id``,
``key`` and ``SOGEN_*`` variables for ``from_env()`` are given); when it is
followed by "prints" and a block, its output must be that block.  A ``sh``
block runs command by command through the real ``sogen-soap`` against the
embedded simulator in a folder of its own; output shown after ``$`` prompts,
or in the block that follows, must be what the commands print (dates and
timings aside).  A block that cannot run in a test (an install, a benchmark, a
server that runs until stopped, the vendor's network) says why in a
``<!-- not run: ... -->`` line just above it: nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MERCHANT

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S)
_TIMES = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)"), "<when>"),
    (re.compile(r"in \d+\.\d s \(\d+ rows/s\)"), "in <time>"),
]


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    lang: str
    code: str
    shown: str | None  # the block that follows "prints", or a plain block right after
    not_run: str | None

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _examples() -> list[Example]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        blocks = list(_BLOCK.finditer(text))
        for index, block in enumerate(blocks):
            if block.group("lang") not in ("python", "sh"):
                continue
            marker = re.match(r"<!-- not run: (.+) -->", block.group("before"))
            shown = None
            if index + 1 < len(blocks) and blocks[index + 1].group("lang") == "":
                between = text[block.end() : blocks[index + 1].start("before")].strip()
                after = blocks[index + 1].group("before").strip()
                if between in ("", "prints") and after in ("", "prints"):
                    shown = blocks[index + 1].group("code")
            line = text.count("\n", 0, block.start("lang")) + 1
            found.append(Example(page, line, block.group("lang"), block.group("code"),
                                 shown, marker.group(1) if marker else None))  # fmt: skip
    return found


EXAMPLES = _examples()


def _normal(text: str) -> str:
    for pattern, stand_in in _TIMES:
        text = pattern.sub(stand_in, text)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if "using the embedded simulator" not in line)


def test_every_example_is_found_and_either_runs_or_says_why_not() -> None:
    assert len(EXAMPLES) >= 12
    for example in EXAMPLES:
        assert example.not_run is None or len(example.not_run) > 10, example.name


def _test_file(example: Example) -> bool:
    """A block that is a test file (``# test_checkout.py``): pytest runs it, in
    ``test_testing_kit.py::test_the_documented_example_test_file_passes``."""
    return example.code.startswith("# test_")


def test_the_example_test_files_are_the_ones_the_testing_kit_runs() -> None:
    assert [e.name for e in EXAMPLES if _test_file(e)] == ["docs/testing.md:24"]


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if e.lang == "python" and not _test_file(e)],
    ids=lambda e: e.name,
)
def test_a_python_example_runs_against_the_simulator(
    example: Example, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sogen_soap import WalletClient
    from sogen_soap.simulator import Simulator

    variables = {"SOGEN_ENVIRONMENT": "simulator", "SOGEN_MERCHANT_ID": MERCHANT.merchant_id,
                 "SOGEN_KEY_VERSION": "1", "SOGEN_SECRET_KEY": MERCHANT.secret_key}  # fmt: skip
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SOGEN_SECRET_KEY_FILE", raising=False)
    out = io.StringIO()
    with Simulator() as sim, WalletClient(MERCHANT.merchant_id, MERCHANT.secret_key, 1,
                                          environment=sim.url) as client:  # fmt: skip
        scope = {"client": client, "merchant_id": MERCHANT.merchant_id, "key": MERCHANT.secret_key,
                 "Simulator": Simulator, "WalletClient": WalletClient}  # fmt: skip
        with contextlib.redirect_stdout(out):
            exec(compile(example.code, example.name, "exec"), scope)  # noqa: S102
    if example.shown is not None:
        assert _normal(out.getvalue()) == _normal(example.shown)


def _commands(code: str) -> list[tuple[str, str | None]]:
    """(command, what it prints or None) pairs, from ``$`` prompts or plain lines."""
    lines = code.rstrip("\n").splitlines()
    if not any(line.startswith("$ ") for line in lines):
        return [(line, None) for line in lines if line.strip() and not line.startswith("#")]
    pairs: list[tuple[str, str | None]] = []
    for line in lines:
        if line.startswith("$ "):
            pairs.append((line[2:], ""))
        else:
            command, printed = pairs[-1]
            pairs[-1] = (command, f"{printed}{line}\n")
    return pairs


GIVEN_CSV = "wallet,card,expiry\ncustomer-7,4100000000000000,203012\n"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.lang == "sh" and not e.not_run],
                         ids=lambda e: e.name)  # fmt: skip
def test_a_console_example_runs_as_shown(example: Example, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOGEN_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")  # a fresh embedded simulator
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    commands = _commands(example.code)
    if example.shown is not None:
        commands[-1] = (commands[-1][0], example.shown)
    for command, printed in commands:
        given = re.fullmatch(r"cat (\S+)", command)
        if given and not (tmp_path / given.group(1)).exists() and printed is not None:
            (tmp_path / given.group(1)).write_text(printed)  # a file the example shows
            continue
        if "cards.csv" in command and not (tmp_path / "cards.csv").exists():
            (tmp_path / "cards.csv").write_text(GIVEN_CSV)
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=120, check=False)  # fmt: skip
        assert "Traceback" not in done.stderr, (example.name, command, done.stderr)
        if printed is None:
            assert done.returncode == 0, (example.name, command, done.stderr)
        else:
            assert _normal(done.stderr + done.stdout) == _normal(printed), (example.name, command)
