"""Every flag and command a user can type is explained in ``--help``.

docs/cli.md sends the reader to ``--help`` for each command's flags; a flag whose
help text was dropped still parses, so nothing but these tests notices it.
"""

from __future__ import annotations

import argparse
import re

import pytest

from sogen_soap.cli.main import build_parser


def _undocumented(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._SubParsersAction):
            # only a command given help has a line (its aliases share its parser)
            said = {id(action.choices[c.dest]) for c in action._choices_actions if c.help}
            for name, sub in action.choices.items():
                if id(sub) not in said:
                    missing.append(f"{path} {name}")
            for name, sub in action.choices.items():
                missing += _undocumented(sub, f"{path} {name}")
            continue
        if not (action.help or "").strip():
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_flag_and_command_of_sogen_soap_says_what_it_does() -> None:
    parser = build_parser()
    assert _undocumented(parser, "sogen-soap") == []
    assert parser.description and parser.description.startswith("Manage card wallets")
    listed = parser.format_help()  # the commands whose own commands the walk went into
    assert "wsdl" in listed and "keys" in listed


_OPTION = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")


def _options_without_words(text: str) -> list[str]:
    """Option lines of an argparse help text with no description after them."""
    lines = text.splitlines()
    missing = []
    for n, line in enumerate(lines):
        match = _OPTION.match(line)
        if not match or match.group(2):
            continue
        following = lines[n + 1] if n + 1 < len(lines) else ""
        if not re.match(r"^\s{3,}[^\s-]", following):
            missing.append(match.group(1))
    return missing


def _help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """What ``sogen-soap ARGV`` (``--help`` among them) prints, the simulator's own
    parser answering for ``simulator``, as the command's ``main()`` has it."""
    from sogen_soap.simulator.__main__ import main

    with pytest.raises(SystemExit) as done:
        if argv[:1] == ["simulator"]:
            main(argv[1:])
        else:
            build_parser().parse_args(argv)
    assert done.value.code == 0
    return capsys.readouterr().out


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(_help_text(argv, capsys).split())


def test_every_flag_of_the_simulator_command_says_what_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = _help_text(["simulator", "--help"], capsys)
    assert "--port" in text and "--tls" in text
    assert _options_without_words(text) == []
    described = text.split("\n\n")[1]  # after the usage, before the options
    assert described.startswith("Serve a local Sogenactif")


def test_the_help_reader_sees_a_flag_without_words() -> None:
    """The reader above finds a bare flag, so the simulator test can fail."""
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--said", help="a flag with words")
    parser.add_argument("--bare")
    parser.add_argument("--long-enough-to-wrap-onto-the-next-line", help="words below it")
    assert _options_without_words(parser.format_help()) == ["--bare BARE"]


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        # docs/cli.md (configuration) and docs/keys.md
        (["wallet", "--help"], "--key-ring VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]"),
        (["wallet", "--help"], "--key-expires YYYY-MM-DD"),
        (["keys", "check", "--help"], "--warn-days N"),
        (["enrol", "--help"], "--credential-failures N"),
        (["charge", "--help"], "--credential-failures N"),
        # docs/simulator.md
        (["simulator", "--help"], "--merchant ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]"),
        (["simulator", "--help"], "--fault KIND=RATE"),
        (["simulator", "--help"], "--tls-generate DIR"),
    ],
)
def test_a_value_with_a_form_shows_it_in_help_as_the_docs_write_it(
    argv: list[str], shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shown in _help(argv, capsys)
