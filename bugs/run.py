"""Run the realistic-bug campaign: each bug of ``bugs/realistic.py`` against the tests
it names, in a scratch copy of the repository.

    python bugs/run.py [--jobs N] [--only TEXT] [--json PATH] [--again EARLIER.json] [--last N]
                       [--slice START:END] [--whole] [--covering DATAFILE]
                       [--mechanical] [--skip EARLIER.json ...]

First the named test files run on the unchanged copy and must pass (a campaign
against a failing suite proves nothing).  Then, for each bug, its file is
changed in the copy, its tests run (``-x``: the first failure kills it), and
the file is restored.  With ``--whole``, a bug its named tests miss meets the whole
suite before it is called a survivor: what an independent campaign, which runs
every test, would see (``named`` in the verdict keeps the first answer).
With ``--covering DATAFILE`` (a coverage file of one whole-suite run with
``--cov-context=test``, e.g. ``pytest --cov=sogen_soap --cov-context=test``), a bug
meets its named files and every test that ran a line of its function: what the whole
suite would do to it, a killed bug in seconds and a survivor in the time of its
covering tests, not the whole suite's (a test that runs the code only in a
subprocess is not seen by coverage: name its file).
With ``--mechanical``, the bugs are ``mechanical.py``'s (one at each line no entry
touches), met with ``--covering``; one that no test's coverage reaches is called
"uncovered" rather than met by the whole suite (its subprocess tests are met by
hand). ``--skip`` leaves out the bugs an earlier ``--json`` holds, so a long run
goes on where it stopped (the file is written as each verdict comes).
``PYTHONPATH`` points at the copy, so the command-line tests' subprocesses run the
changed code too.  Loopback only, as every test.
Prints one line per bug and the share killed; exit 1 when any survived.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from realistic import BUGS, Bug  # noqa: E402

_IGNORED = shutil.ignore_patterns(
    ".git", ".tox", ".ci-venv", "mutants", "build", "site", "__pycache__", "*.egg-info"
)


def _copy(target: Path) -> Path:
    shutil.copytree(ROOT, target, ignore=_IGNORED)
    return target


def _pytest(copy: Path, tests: tuple[str, ...]) -> tuple[int, float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOGEN_")}
    env["PYTHONPATH"] = str(copy)
    env.pop("PYTHONUNBUFFERED", None)  # tox does not pass it on; set, it hid a dropped flush
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--timeout", "120", *tests],
        cwd=copy, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines() or [""]
    failed = [line for line in lines if line.startswith("FAILED ")]
    return done.returncode, time.monotonic() - started, "; ".join([*failed[:3], lines[-1]])


def _changed_lines(text: str, old: str) -> set[int]:
    """The lines ``old`` spans in ``text``, and the first line of the innermost
    statement holding each (coverage records a statement at its first line)."""
    start = text.count("\n", 0, text.index(old)) + 1
    lines = set(range(start, start + old.count("\n") + (0 if old.endswith("\n") else 1)))
    statements = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.stmt)]
    for line in list(lines):
        holding = [n for n in statements if n.lineno <= line <= (n.end_lineno or n.lineno)]
        if holding:
            lines.add(max(holding, key=lambda n: n.lineno).lineno)
    return lines


def _function_lines(text: str, lines: set[int]) -> set[int]:
    """Every line of the innermost function holding ``lines`` (none at module level)."""
    holding = [
        n for n in ast.walk(ast.parse(text))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.lineno <= min(lines) and max(lines) <= (n.end_lineno or n.lineno)
    ]  # fmt: skip
    if not holding:
        return set()
    inner = max(holding, key=lambda n: n.lineno)
    return set(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))


def _covering(data: Any, bug: Bug, text: str) -> tuple[str, ...]:
    """The tests (node ids) that ran a line of the function holding ``bug``; for a
    line run only at import (a module constant), every test that ran a line of its
    module.  The whole function, not only the bug's lines: on Python 3.11 coverage
    did not record lines run after a generator resumed (``payments.py``'s
    ``if found is None:`` after ``yield from``, in the test that raises there), and
    the core's steps are generators."""
    measured = [f for f in data.measured_files() if f.endswith("/" + bug.file)]
    if not measured:
        return ()
    by_line = data.contexts_by_lineno(measured[0])
    lines = _changed_lines(text, bug.old)
    lines |= _function_lines(text, lines)
    contexts = {c for line in lines for c in by_line.get(line, ())}
    if contexts <= {""}:  # run at import only
        contexts = {c for found in by_line.values() for c in found}
    return tuple(sorted({c.split("|")[0] for c in contexts if c}))


def _try(copy: Path, bug: Bug, whole: bool = False, covering: Any = None) -> dict[str, object]:
    path = copy / bug.file
    original = path.read_text(encoding="utf-8")
    if original.count(bug.old) != 1:
        return {"name": bug.name, "verdict": "stale", "detail": "old text not found once"}
    tests = bug.tests
    if covering is not None:
        ran = _covering(covering, bug, original)
        tests = (*bug.tests, *(t for t in ran if t.split("::")[0] not in bug.tests))
    if not tests:  # pytest would run the whole suite
        return {"name": bug.name, "file": bug.file, "verdict": "uncovered", "named": "uncovered",
                "seconds": 0.0, "detail": "no test's coverage reaches it"}  # fmt: skip
    path.write_text(original.replace(bug.old, bug.new), encoding="utf-8")
    try:
        status, seconds, tail = _pytest(copy, tests)
        named = "survived" if status == 0 else "killed"
        if status == 0 and whole:  # the rest of the suite (the named files just passed)
            rest = tuple(f"--ignore={test}" for test in bug.tests if test.endswith(".py"))
            status, more, tail = _pytest(copy, ("tests/", *rest))
            seconds += more
    finally:
        path.write_text(original, encoding="utf-8")
    verdict = "survived" if status == 0 else "killed" if status == 1 else f"error {status}"
    return {"name": bug.name, "file": bug.file, "verdict": verdict, "named": named,
            "seconds": round(seconds, 1), "detail": tail}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="bugs whose name or file holds this text")
    parser.add_argument("--json", help="write the verdicts here")
    parser.add_argument("--again", help="only the bugs that survived in this earlier --json")
    parser.add_argument("--last", type=int, help="only the last N bugs of the list (a new batch)")
    parser.add_argument("--slice", help="only BUGS[START:END] (batches written ahead of a run)")
    parser.add_argument("--whole", action="store_true",
                        help="a bug its named tests miss meets the whole suite too")  # fmt: skip
    parser.add_argument("--covering", metavar="DATAFILE",
                        help="a whole-suite coverage file with test contexts: each bug meets "
                        "the tests that ran its lines too")  # fmt: skip
    parser.add_argument("--mechanical", action="store_true",
                        help="mechanical.py's bugs, one at each line no entry touches")  # fmt: skip
    parser.add_argument("--skip", nargs="*", default=[],
                        help="leave out the bugs these earlier --json files hold")  # fmt: skip
    args = parser.parse_args()
    if args.mechanical and not args.covering:
        parser.error("--mechanical needs --covering: its bugs name no tests")
    covering = None
    if args.covering:
        import coverage

        covering = coverage.CoverageData(basename=args.covering)
        covering.read()
    if args.mechanical:
        from mechanical import generate

        listed: tuple[Bug, ...] | list[Bug] = generate(ROOT)
    else:
        listed = BUGS
    bugs = [b for b in listed if not args.only or args.only in b.name or args.only in b.file]
    done = {v["name"] for f in args.skip for v in json.loads(Path(f).read_text(encoding="utf-8"))}
    bugs = [b for b in bugs if b.name not in done]
    if args.last:
        bugs = bugs[-args.last :]
    if args.slice:
        start, _, end = args.slice.partition(":")
        bugs = bugs[int(start) if start else None : int(end) if end else None]
    if args.again:
        earlier = json.loads(Path(args.again).read_text(encoding="utf-8"))
        survived = {v["name"] for v in earlier if v["verdict"] == "survived"}
        bugs = [b for b in bugs if b.name in survived]
    with tempfile.TemporaryDirectory() as scratch:
        copies = [_copy(Path(scratch) / f"copy{n}") for n in range(max(1, args.jobs))]
        every = tuple(sorted({t for b in bugs for t in b.tests}))
        status, seconds, tail = (0, 0.0, "none named") if not every else _pytest(copies[0], every)
        print(f"unchanged: {len(every)} test files, {tail} ({seconds:.0f} s)")
        if status != 0:
            print("the unchanged suite fails: no campaign")
            return 2
        free = list(copies)

        def one(bug: Bug) -> dict[str, object]:
            copy = free.pop()
            try:
                return _try(copy, bug, args.whole, covering)
            finally:
                free.append(copy)

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            verdicts = []
            for verdict in pool.map(one, bugs):
                verdicts.append(verdict)
                if args.json:  # as it comes: a long run can stop and go on with --skip
                    Path(args.json).write_text(json.dumps(verdicts, indent=1) + "\n", encoding="utf-8")
                by_whole = verdict.get("named") == "survived" and verdict["verdict"] != "survived"
                late = " (by the whole suite)" if by_whole else ""
                print(f"{verdict['verdict']:<9} {verdict['name']} ({verdict.get('file', '')}){late}",
                      flush=True)  # fmt: skip
    stale = [v for v in verdicts if v["verdict"] == "stale"]
    verdicts = [v for v in verdicts if v["verdict"] != "stale"]  # the code moved: rewrite them
    uncovered = [v for v in verdicts if v["verdict"] == "uncovered"]
    verdicts = [v for v in verdicts if v["verdict"] != "uncovered"]
    killed = sum(v["verdict"] != "survived" for v in verdicts)
    files = len({b.file for b in bugs})
    print(
        f"{killed}/{len(verdicts)} killed ({killed / max(len(verdicts), 1):.1%}) over "
        f"{files} modules" + (f"; {len(stale)} stale, not counted" if stale else "")
        + (f"; {len(uncovered)} uncovered, not counted" if uncovered else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(verdicts, indent=1) + "\n", encoding="utf-8")
    return 0 if killed == len(verdicts) and not stale and not uncovered else 1


if __name__ == "__main__":
    raise SystemExit(main())
