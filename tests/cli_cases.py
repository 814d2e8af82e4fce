"""The table of ordinary command-line mistakes, shared by the in-process run of
the whole table (``test_cli_table.py``) and the real-process sample
(``test_cli_mistakes.py``).

Each case is something a new user or a careless operator does.  Every one
must end with its documented exit status, one clear line on stderr, no
traceback, nothing sent to the service, and the input files untouched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from cli_support import Done, merchant_env
from conftest import TEST_PAN

from sogen_soap.simulator import Simulator

GOOD = f"wallet,card,expiry\nw1,{TEST_PAN},203012\n"


@dataclass
class Case:
    name: str
    args: list[str]
    status: int
    message: str  # a substring of stderr
    files: dict[str, bytes | str] = field(default_factory=dict)
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    hidden: str | None = None  # must not appear anywhere in the output


def _deep_json() -> str:
    return '{"wallet": ' + "[" * 100_000 + "]" * 100_000 + "}\n"


CASES = [
    # ---- the batch file itself
    Case("no expiry column", ["enrol", "in.csv"], 2, "lacks column expiry (found: wallet, card)",
         {"in.csv": f"wallet,card\nw1,{TEST_PAN}\n"}),
    Case("short row", ["enrol", "in.csv"], 2, "line 3 has 2", {"in.csv": GOOD + "w2,5100000000000000\n"}),
    Case("long row", ["enrol", "in.csv"], 2, "line 2 has 4",
         {"in.csv": f"wallet,card,expiry\nw1,{TEST_PAN},203012,x\n"}),
    Case("unknown column", ["enrol", "in.csv"], 2, "column customer, which sogen-soap does not use",
         {"in.csv": f"wallet,card,expiry,customer\nw1,{TEST_PAN},203012,bob\n"}),
    Case("unknown column and an empty one", ["enrol", "in.csv"], 2,
         "has column customer, , which sogen-soap does not use",
         {"in.csv": f"wallet,card,expiry,customer,\nw1,{TEST_PAN},203012,bob,\n"}),
    Case("a card number as a column name", ["enrol", "in.csv"], 2,
         "has column 4100##########00, which sogen-soap does not use",
         {"in.csv": f"wallet,card,expiry,{TEST_PAN}\nw1,{TEST_PAN},203012,x\n"}, hidden=TEST_PAN),
    Case("column twice", ["enrol", "in.csv"], 2, "names column card twice",
         {"in.csv": f"wallet,card,cardNumber,expiry\nw1,{TEST_PAN},{TEST_PAN},203012\n"}),
    Case("empty file", ["enrol", "in.csv"], 2, "is empty", {"in.csv": ""}),
    Case("blank lines only", ["enrol", "in.csv"], 2, "is empty", {"in.csv": "\n\n"}),
    Case("no header row", ["enrol", "in.csv"], 2, "names none of the columns",
         {"in.csv": f"w1,{TEST_PAN},203012\n"}),
    Case("header only", ["enrol", "in.csv"], 2, "has a header row but no rows",
         {"in.csv": "wallet,card,expiry\n"}),
    Case("a folder", ["enrol", "folder"], 2, "is a folder", {"folder/x": ""}),
    Case("no such file", ["enrol", "nothing.csv"], 2, "no such file: nothing.csv"),
    Case("latin-1", ["enrol", "in.csv"], 2, "is not UTF-8 text",
         {"in.csv": "wallet,card,expiry,alias\nw1,4100000000000000,203012,caf\xe9\n".encode("latin-1")}),
    Case("utf-8 cut at the end", ["enrol", "in.csv"], 2, "is not UTF-8 text (byte 0xc3 at offset 24)",
         {"in.csv": b"wallet,card,expiry\nw1,x,\xc3"}),
    Case("xlsx renamed", ["enrol", "in.csv"], 2, "spreadsheet workbook", {"in.csv": b"PK\x03\x04\x14\x00" + b"\x00" * 64}),
    Case("field over 128 KB", ["enrol", "in.csv"], 2, "line 2",
         {"in.csv": "wallet,card,expiry\n" + "w" * 200_000 + f",{TEST_PAN},203012\n"}),
    Case("quote left open", ["enrol", "in.csv"], 2, 'in.csv: line 2: a quote (") opens there and is never closed',
         {"in.csv": 'wallet,card,expiry\n"w1,' + TEST_PAN + ",203012\n" + "x" * 140_000 + "\n"}),
    Case("jsonl too deep", ["enrol", "in.jsonl"], 2, "line 1: JSON nested too deeply",
         {"in.jsonl": _deep_json()}),
    Case("jsonl not json", ["enrol", "in.jsonl"], 2, "line 1: not JSON", {"in.jsonl": "{wallet: w1}\n"}),
    Case("jsonl array", ["enrol", "in.jsonl"], 2, "a JSON array; give one JSON object per line", {"in.jsonl": "[1, 2]\n"}),
    Case("jsonl number", ["enrol", "in.jsonl"], 2, 'line 1: expiry must be text, in quotes (e.g. "alias": "home"',
         {"in.jsonl": json.dumps({"wallet": "w1", "card": TEST_PAN, "expiry": 203012}) + "\n"}),
    Case("jsonl true", ["enrol", "in.jsonl"], 2, "line 1: alias must be text",
         {"in.jsonl": json.dumps({"wallet": "w1", "card": TEST_PAN, "expiry": "", "alias": True}) + "\n"}),
    Case("jsonl key twice", ["enrol", "in.jsonl"], 2, "line 1: the key 'card' is given twice; keep one",
         {"in.jsonl": f'{{"wallet": "w1", "card": "{TEST_PAN}", "card": "5100000000000000", "expiry": ""}}\n'},
         hidden="5100000000000000"),
    Case("output over another file", ["enrol", "in.csv", "--output", "notes.csv"], 2,
         "--output: notes.csv exists and is not a sogen-soap results file; name another file, or give --force",
         {"in.csv": GOOD, "notes.csv": "my,own,notes\n"}),
    Case("output over another json-lines file", ["enrol", "in.csv", "--output", "events.jsonl"], 2,
         "--output: events.jsonl exists and is not a sogen-soap results file; name another file, or give --force",
         {"in.csv": GOOD, "events.jsonl": '{"event": "login", "user": "ann"}\n'}),
    Case("output over a binary file", ["enrol", "in.csv", "--output", "photo.csv"], 2,
         "--output: photo.csv exists and is not a sogen-soap results file; name another file, or give --force",
         {"in.csv": GOOD, "photo.csv": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x81\n"}),
    Case("jsonl missing key", ["enrol", "in.jsonl"], 2, "line 1 lacks column expiry",
         {"in.jsonl": json.dumps({"wallet": "w1", "card": TEST_PAN}) + "\n"}),
    Case("jsonl nested value", ["enrol", "in.jsonl"], 2, "wallet must be text, in quotes",
         {"in.jsonl": json.dumps({"wallet": {"a": 1}, "card": TEST_PAN, "expiry": ""}) + "\n"}),
    # ---- paths checked before anything is sent
    Case("output is the input", ["enrol", "in.csv", "--output", "in.csv"], 2,
         "--output: in.csv is the input file", {"in.csv": GOOD}),
    Case("output in a missing folder", ["enrol", "in.csv", "--output", "nowhere/r.csv"], 2,
         "--output: no such folder: nowhere", {"in.csv": GOOD}),
    Case("output is a folder", ["enrol", "in.csv", "--output", "."], 2, "--output: . is a folder",
         {"in.csv": GOOD}),
    # the operating system's words, and the file it refused (a name over 255 bytes)
    Case("output name too long", ["enrol", "in.csv", "--output", "r" * 300 + ".csv"], 2,
         "File name too long (" + "r" * 300 + ".csv)", {"in.csv": GOOD}),
    Case("output suffix", ["enrol", "in.csv", "--output", "r.txt"], 2, "end it in .csv or .jsonl",
         {"in.csv": GOOD}),
    Case("journal not a database", ["enrol", "in.csv", "--journal", "j.db"], 2,
         "is not a sogen-soap journal", {"in.csv": GOOD, "j.db": "just some notes\n" * 200}),
    Case("journal in a missing folder", ["enrol", "in.csv", "--journal", "no/j.db"], 2,
         "--journal: no such folder", {"in.csv": GOOD}),
    Case("journal is the input", ["enrol", "in.csv", "--journal", "in.csv"], 2,
         "--journal: in.csv is the input file", {"in.csv": GOOD}),
    Case("output is the journal", ["enrol", "in.csv", "--journal", "j.csv", "--output", "j.csv"], 2,
         "--output: j.csv is the journal", {"in.csv": GOOD}),
    Case("concurrency 0", ["enrol", "in.csv", "--concurrency", "0"], 2, "--concurrency must be at least 1",
         {"in.csv": GOOD}),
    Case("processes 0", ["enrol", "in.csv", "--processes", "0"], 2, "--processes must be at least 1",
         {"in.csv": GOOD}),
    Case("credential failures -1", ["enrol", "in.csv", "--credential-failures", "-1"], 2,
         "--credential-failures must be 0 (never stop) or more", {"in.csv": GOOD}),
    # ---- flags and configuration
    Case("timeout 0", ["wallet", "--wallet", "w", "--timeout", "0"], 2, "--timeout: must be more than 0"),
    Case("timeout not a number", ["wallet", "--wallet", "w", "--timeout", "soon"], 2,
         "invalid float value: 'soon'"),
    Case("wsdl not a wsdl", ["wallet", "--wallet", "w", "--wsdl", "notes.wsdl"], 2,
         "notes.wsdl cannot be used", {"notes.wsdl": "my notes"}),
    Case("wsdl missing", ["wallet", "--wallet", "w", "--wsdl", "gone.wsdl"], 2, "no WSDL file at gone.wsdl"),
    Case("prompt without a terminal", ["wallet", "--wallet", "w", "--prompt-secret-key"], 2,
         "--prompt-secret-key needs a terminal", stdin=""),
    Case("a key given as the key file", ["wallet", "--wallet", "w", "--secret-key-file", "S3cr3tK3yValue"],
         2, "the file given cannot be read", unset=("SOGEN_SECRET_KEY",), hidden="S3cr3tK3yValue"),
    Case("secret key on the command line", ["wallet", "--wallet", "w", "--secret-key", "abc"], 2,
         "the secret key is not accepted on the command line, where ps shows it to everyone; use "
         "SOGEN_SECRET_KEY, SOGEN_SECRET_KEY_FILE, --secret-key-file or --prompt-secret-key",
         hidden="abc "),
    Case("key version not a number", ["wallet", "--wallet", "w"], 2, "--key-version: must be a whole number",
         env={"SOGEN_KEY_VERSION": "one"}),
    Case("credentials half set", ["wallet", "--wallet", "w"], 2, "missing secret key",
         unset=("SOGEN_SECRET_KEY",)),
    Case("config not toml", ["wallet", "--wallet", "w", "--config", "c.toml"], 2, "is not valid TOML",
         {"c.toml": "merchant_id = \n"}),
    Case("config with the key", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "put the key in a file of its own", {"c.toml": 'secret_key = "x"\n'}),
    Case("config unknown key", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "unknown keys colour", {"c.toml": 'colour = "blue"\n'}),
    Case("config unknown keys", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "c.toml: unknown keys colour, size (it takes ca_bundle, client_cert, client_key, "
         "environment, key_expires, key_version, keys, merchant_id, proxy, secret_key_file, "
         "timeout, transport, wsdl)", {"c.toml": 'colour = "blue"\nsize = 3\n'}),
    Case("config keys not tables", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "c.toml: keys is an array of tables ([[sogen-soap.keys]]), each with version, "
         "secret_key_file and optionally expires and active_from",
         {"c.toml": "[sogen-soap]\nkeys = [1, 2]\n"}),
    # ---- values, named by their flags
    Case("expiry with a dash", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "2030-12"], 2,
         "--expiry: must be YYYYMM", stdin=TEST_PAN),
    Case("card too short", ["add-card", "--wallet", "w", "--card", "12345", "--expiry", "203012"], 2,
         "--card: a clear card number must be 12 to 19 digits"),
    Case("a PAN as alias", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                            "--alias", "4100 0000 0000 0000"], 2, "--alias: looks like it holds a card number",
         hidden="4100 0000 0000 0000", stdin=TEST_PAN),
    Case("a PAN on the command line", ["add-card", "--wallet", "w", "--card", "4100.0000.0000.0000",
                                       "--expiry", "203012"], 2,
         "--card: a card number is not accepted on the command line", hidden="4100.0000.0000.0000"),
    # --pan-type PAN says it is a card number: refused there as without the flag
    Case("a PAN on the command line, said to be one", ["add-card", "--wallet", "w", "--card",
         TEST_PAN, "--pan-type", "PAN", "--expiry", "203012"], 2,
         "--card: a card number is not accepted on the command line", hidden=TEST_PAN),
    # str.isdigit() takes other scripts' digits, which int() reads as a number
    Case("Arabic-Indic digits as an amount", ["pay", "--wallet", "w", "--id", "1", "--amount",
         "\u0661\u0660\u0665\u0660"], 2,
         "argument --amount: a whole number of cents (1050 for 10.50 EUR), not "
         "'\u0661\u0660\u0665\u0660'"),
    # a payment field's rule is told under the flag that gave it (cli.main.FLAGS)
    Case("an order id too long", ["pay", "--wallet", "w", "--id", "1", "--amount", "1050",
         "--order-id", "o" * 33], 2, "--order-id: must be at most 32 characters (got 33)"),
    Case("a customer id too long", ["pay", "--wallet", "w", "--id", "1", "--amount", "1050",
         "--customer-id", "c" * 20], 2, "--customer-id: must be at most 19 characters (got 20)"),
    Case("a reference with a dash", ["pay", "--wallet", "w", "--id", "1", "--amount", "1050",
         "--reference", "ref-1"], 2, "--reference: must be 1 to 35 letters or digits"),
    Case("a PAN as wallet id", ["wallet", "--wallet", "4111-1111-1111-1111"], 2,
         "--wallet: looks like it holds a card number"),
    Case("nothing on stdin", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012"], 2,
         "--card: nothing on standard input", stdin=""),
    Case("two cards on stdin", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012"], 2,
         "--card: standard input holds 2 lines; give exactly one card number",
         stdin=f"{TEST_PAN}\n5100000000000000\n", hidden="5100000000000000"),
    Case("an expired card", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "201001"], 2,
         "--expiry: 201001 is in the past: an expired card cannot be enrolled", stdin=TEST_PAN),
    Case("year 9999", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "999912"], 2,
         "--expiry: 999912 is more than 20 years ahead", stdin=TEST_PAN),
    Case("an empty expiry", ["add-card", "--wallet", "w", "--card", "-", "--expiry", ""], 2,
         "--expiry: is empty; for a card without expiry say --no-expiry", stdin=TEST_PAN),

    Case("unknown brand", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                           "--brand", "NOPE"], 2, "--brand: is not one of the 51 names", stdin=TEST_PAN),
    Case("brand in lower case", ["add-card", "--wallet", "w", "--card", "-", "--expiry", "203012",
                                 "--brand", "visa"], 2, "(got 'visa'); did you mean VISA?", stdin=TEST_PAN),
    Case("a quote left open", ["enrol", "in.csv"], 2,
         'in.csv: line 3: a quote (") opens there and is never closed',
         {"in.csv": f'wallet,card,expiry,alias\nw1,{TEST_PAN},203012,a\nw2,{TEST_PAN},203012,"open\n'
                    f'w3,{TEST_PAN},203012,b\nw4,{TEST_PAN},203012,c\n'}),
    Case("enrol from stdin without a journal", ["enrol", "-"], 2,
         "- (standard input) needs --journal", stdin=GOOD),
    Case("two secret sources", ["wallet", "--wallet", "w"], 2,
         "the secret key is given two ways (SOGEN_SECRET_KEY and SOGEN_SECRET_KEY_FILE)",
         {"k.txt": "002001000000001_KEY1\n"}, env={"SOGEN_SECRET_KEY_FILE": "k.txt"}),
    # a key file's problem is told under the setting that named the file
    Case("an empty key file from the environment", ["wallet", "--wallet", "w"], 2,
         "SOGEN_SECRET_KEY_FILE: the file is empty", {"k.txt": "\n"},
         env={"SOGEN_SECRET_KEY_FILE": "k.txt"}, unset=("SOGEN_SECRET_KEY",)),
    Case("an empty key file from the config", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "secret_key_file in c.toml: the file is empty",
         {"k.txt": "\n", "c.toml": '[sogen-soap]\nsecret_key_file = "k.txt"\n'},
         unset=("SOGEN_SECRET_KEY",)),
    Case("config timeout not a number", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "timeout in c.toml: must be a number of seconds, not 'soon'",
         {"c.toml": '[sogen-soap]\ntimeout = "soon"\n'}),
    Case("config key above its table", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "environment written outside the [sogen-soap] table; move it under [sogen-soap]",
         {"c.toml": 'environment = "simulator"\n[sogen-soap]\nkey_version = 1\n'}),
    Case("config keys above their table", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "environment, key_version written outside the [sogen-soap] table; move them under "
         "[sogen-soap]",
         {"c.toml": 'environment = "simulator"\nkey_version = 1\n[sogen-soap]\ntimeout = 5\n'}),
    Case("simulator unknown shape", ["simulator", "--shape", "soap12"], 2,
         "sogen-soap simulator: argument --shape: invalid choice: 'soap12' (choose from "
         "'wrapped', 'jaxb')"),
    Case("simulator port out of range", ["simulator", "--port", "70000"], 2,
         "sogen-soap simulator: argument --port: a port is 0 to 65535"),
    Case("simulator negative latency", ["simulator", "--latency", "-1"], 2,
         "argument --latency: must be 0 or more seconds"),
    Case("trailing empty columns", ["enrol", "in.csv"], 2,
         "header row ends in 2 column(s) with no name (a spreadsheet's empty columns after the data)",
         {"in.csv": f"wallet,card,expiry,,\nw1,{TEST_PAN},203012,,\n"}),
    Case("id not digits", ["payment-mean", "--wallet", "w", "--id", "first"], 2, "--id: must be 1 to 6 digits"),
    Case("plain http elsewhere", ["wallet", "--wallet", "w", "--environment", "http://203.0.113.7/x"], 2,
         "refusing plain http"),
    Case("url read two ways", ["wallet", "--wallet", "w", "--environment",
                               "http://203.0.113.7:80\\@127.0.0.1/x"], 2, "backslashes"),
    Case("environment misspelt", ["wallet", "--wallet", "w", "--environment", "tset"], 2,
         "environment must be 'test', 'prod' or an https:// URL"),
    # ---- settings and URLs whose words were not pinned before
    Case("journal is a folder", ["enrol", "in.csv", "--journal", "sub"], 2,
         "--journal: sub is a folder; name a file", {"in.csv": GOOD, "sub/notes.txt": "keep"}),
    Case("transport misspelt in the environment", ["wallet", "--wallet", "w"], 2,
         "SOGEN_TRANSPORT: soap or json, not 'xml'", env={"SOGEN_TRANSPORT": "xml"}),
    Case("transport misspelt in the config", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "transport in c.toml: soap or json, not 'xml'", {"c.toml": '[sogen-soap]\ntransport = "xml"\n'}),
    Case("config timeout negative", ["wallet", "--wallet", "w", "--config", "c.toml"], 2,
         "timeout in c.toml: must be more than 0 and less than 3600 seconds",
         {"c.toml": "[sogen-soap]\ntimeout = -3\n"}),
    Case("environment timeout 0", ["wallet", "--wallet", "w"], 2,
         "SOGEN_TIMEOUT: must be more than 0 and less than 3600 seconds", env={"SOGEN_TIMEOUT": "0"}),
    Case("config is a folder", ["wallet", "--wallet", "w", "--config", "sub"], 2,
         "cannot read config sub: Is a directory", {"sub/notes.txt": "keep"}),
    Case("warn-days -1", ["keys", "check", "--warn-days", "-1"], 2, "--warn-days must be 0 or more"),
    Case("IPv6 bracket left open", ["wallet", "--wallet", "w", "--environment", "https://[::1/x"], 2,
         "malformed IPv6 address in 'https://[::1/x'"),
    Case("IPv6 not hexadecimal", ["wallet", "--wallet", "w", "--environment", "https://[zz::1]/x"], 2,
         "malformed IPv6 address in 'https://[zz::1]/x'"),
    Case("host with an underscore", ["wallet", "--wallet", "w", "--environment",
                                     "https://exa_mple.com/x"], 2,
         "'exa_mple.com' in 'https://exa_mple.com/x' is not a valid host name"),
    Case("URL without a host", ["wallet", "--wallet", "w", "--environment", "https:///x"], 2,
         "environment URL has no host: 'https:///x'"),
    Case("simulator merchants malformed", ["wallet", "--wallet", "w", "--environment", "simulator"], 2,
         "SOGEN_SIMULATOR_MERCHANTS: expected ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]",
         env={"SOGEN_SIMULATOR_MERCHANTS": "bad"}),
    # ---- the command line itself
    Case("unknown command", ["enroll", "x.csv"], 2, "invalid choice: 'enroll'"),
    Case("missing flag", ["add-card", "--wallet", "w"], 2, "the following arguments are required"),
    Case("wsdl diff of nothing", ["wsdl", "diff", "gone"], 2, "no WSDL file at gone"),
    Case("wsdl fetch onto a file", ["wsdl", "fetch", "--environment", "{url}", "--output", "taken.txt"],
         2, "exists and is not a folder", {"taken.txt": "keep me"}),
]  # fmt: skip


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def prepare(case: Case, tmp_path: Path, url: str) -> tuple[Path, dict[str, str], list[str]]:
    work = tmp_path / "work"
    work.mkdir()
    for name, content in case.files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        (work / name).write_bytes(data)
    env = merchant_env(tmp_path, url)
    env.update(case.env)
    for name in case.unset:
        env.pop(name, None)
    return work, env, [a.replace("{url}", url) for a in case.args]


def check(case: Case, done: Done, simulator: Simulator, work: Path, before: dict[str, str]) -> None:
    assert done.returncode == case.status, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert case.message in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # one clear line
    assert lines[0].startswith("sogen-soap"), lines[0]  # says who is speaking
    assert done.stdout == ""
    assert simulator.requests_seen == 0  # nothing sent
    after = digest(work)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
    if case.hidden:
        assert case.hidden not in done.stderr + done.stdout
    assert TEST_PAN not in done.stderr.replace(f"--card {TEST_PAN}", "")
