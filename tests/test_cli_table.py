"""The whole table of ordinary command-line mistakes through ``main()`` in this
process (where coverage and mutation testing see the code); a sample of it runs
through the installed console script in ``test_cli_mistakes.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_cases import CASES, Case, check, digest, prepare
from cli_support import run_in_process

from sogen_soap.simulator import Simulator


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_mistake_ends_in_one_clear_line_and_nothing_is_sent(
    case: Case, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole table through ``main()`` in this process (where mutants are seen)."""
    work, env, args = prepare(case, tmp_path, simulator.url)
    before = digest(work)
    done = run_in_process(*args, env=env, monkeypatch=monkeypatch, stdin=case.stdin, cwd=work)
    check(case, done, simulator, work, before)
