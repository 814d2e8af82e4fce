"""Argument parsing and dispatch for ``sogen-soap``.

One subcommand per wallet operation, plus ``enrol`` (batch), ``simulator``
and ``wsdl fetch``.  Exit statuses are documented in ``output`` and the README.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NoReturn

from .._version import __version__
from ..errors import (
    ConfigurationError,
    InvalidFieldError,
    OutcomeUnknown,
    ResponseError,
    SogenSoapError,
    TransportError,
)
from ..redact import redact_text
from ..results import WalletResult
from ..validation import PAN_TYPES, check_field, holds_card_number
from ..wsdl_cache import default_cache_dir, fetch_wsdl
from .config import Settings, add_options, client_options, open_client, resolve_settings
from .events import configure, say
from .inputs import Source, check_expiry_window, results_suffix
from .output import (
    EXIT_BAD_INPUT,
    EXIT_CREDENTIALS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_TERMINATED,
    EXIT_TRANSPORT,
    EXIT_UNTRUSTED,
    exit_status,
    print_result,
)
from .progress import Progress

__all__ = ["build_parser", "main"]

DEFAULT_CREDENTIAL_FAILURES: Final = 5  # as enrol.DEFAULT_CREDENTIAL_FAILURES (not imported:
# the batch machinery loads only for enrol)
DEFAULT_CONCURRENCY: Final = 32
"""Requests in flight: a remote service answers in tens of ms, so many calls
must overlap to use the machine (32 at 20 ms is about 1,500 rows/s)."""


# The command-line flag for each vendor field, so messages speak the user's terms.
FLAGS: Final = {
    "merchantWalletId": "--wallet",
    "cardNumber": "--card",
    "cardExpiryDate": "--expiry",
    "paymentMeanAlias": "--alias",
    "paymentMeanBrand": "--brand",
    "panType": "--pan-type",
    "paymentMeanId": "--id",
    "merchantId": "--merchant-id",
    "keyVersion": "--key-version",
    "amount": "--amount",
    "operationAmount": "--amount",
    "currencyCode": "--currency",
    "transactionReference": "--reference",
    "captureDay": "--capture-day",
    "captureMode": "--capture-mode",
    "paymentPattern": "--pattern",
    "initialSchemeTransactionIdentifier": "--initial-scheme-id",
    "orderId": "--order-id",
    "customerId": "--customer-id",
}


def _cash_call(method: str) -> Call:
    """A cash-management command: the client's ``method`` on --reference and --amount."""

    def call(args: argparse.Namespace) -> WalletResult:
        result: WalletResult = getattr(args.client, method)(
            args.reference, args.amount, args.currency
        )
        return result

    return call


def _cents(text: str) -> int:
    """``--amount``: a whole number of the currency's smallest unit, never a fraction."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(
            f"a whole number of cents (1050 for 10.50 EUR), not {text!r}"
        )
    return int(text)


def _card(value: str, pan_type: str | None) -> str:
    """``-`` reads the card number from stdin (a hidden prompt on a terminal), so it
    never lands in shell history or a process list; a clear one on the command
    line is refused, as the secret key is (an opaque token, ``--pan-type``, is not
    a card number)."""
    if value != "-":
        if pan_type in (None, "PAN") and holds_card_number(value, strict=True):
            raise InvalidFieldError(
                "cardNumber",
                "card",
                "a card number is not accepted on the command line, where ps and /proc "
                "show it to every local user; pass --card - and give it on standard input "
                "(a hidden prompt on a terminal; from a file: --card - < FILE)",
            )
        return value
    if sys.stdin.isatty():
        import getpass

        line = getpass.getpass("Card number (not shown): ").strip()
    else:
        lines = [text.strip() for text in sys.stdin.read().splitlines() if text.strip()]
        if len(lines) > 1:  # a second card would be dropped without a word
            raise InvalidFieldError(
                "cardNumber", "card",
                f"standard input holds {len(lines)} lines; give exactly one card number "
                "(for many cards: sogen-soap enrol FILE)",
            )  # fmt: skip
        line = lines[0] if lines else ""
    if not line:
        raise InvalidFieldError("cardNumber", "card", "nothing on standard input")
    return line


_STDIN_LIMIT: Final = 256 * 1024 * 1024
_ANY_EXPIRY: Final = (
    "send an expiry in the past or more than 20 years ahead all the same (refused otherwise)"
)


def _expiry(args: argparse.Namespace) -> str:
    """``--expiry``, checked for the typos that pass the format, or ``--no-expiry``."""
    if args.no_expiry:
        return ""
    if not args.expiry.strip():  # an unset shell variable, most often
        raise InvalidFieldError(
            "cardExpiryDate", "expiry", "is empty; for a card without expiry say --no-expiry"
        )
    if not args.any_expiry:
        value = check_field("cardExpiryDate", args.expiry.strip(), "expiry")
        check_expiry_window(value, "expiry")
    return str(args.expiry)


Call = Callable[[argparse.Namespace], WalletResult]


def _service_command(call: Call) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = resolve_settings(args)
        with open_client(settings) as client:
            args.client = client
            result = call(args)
        print_result(result, as_json=args.json)
        return exit_status(result)

    return run


def _not_a_link(path: Path, field: str, flag: str) -> None:
    """Files the batch writes are never reached through a symbolic link: a link
    planted there would have the journal (and its chmod) or the results land
    wherever it points."""
    if path.is_symlink():
        raise InvalidFieldError(
            field, flag, f"{path} is a symbolic link; give the file itself (not followed)"
        )


def _output_path(
    args: argparse.Namespace,
    source: Source,
    journal: Path,
    default: Path,
    fields: tuple[str, ...] | None = None,
) -> Path:
    """The results file, checked before anything is sent."""
    path = Path(args.output) if args.output else default
    _not_a_link(path, "output", "--output")
    if path.is_dir():
        raise InvalidFieldError("output", "--output", f"{path} is a folder; name a file in it")
    if path.suffix.lower() not in (".csv", ".jsonl", ".ndjson"):
        raise InvalidFieldError("output", "--output", f"{path}: end it in .csv or .jsonl")
    resolved = path.resolve()
    if isinstance(source, Path) and resolved == source.resolve():
        raise InvalidFieldError(
            "output", "--output", f"{path} is the input file; results would overwrite it"
        )
    if resolved == journal.resolve():
        raise InvalidFieldError("output", "--output", f"{path} is the journal")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidFieldError("output", "--output", f"no such folder: {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InvalidFieldError("output", "--output", f"{path} cannot be written here")
    if path.is_file() and not args.force and not _earlier_results(path, fields):
        raise InvalidFieldError(
            "output", "--output",
            f"{path} exists and is not a sogen-soap results file; name another file, or "
            "give --force to replace it",
        )  # fmt: skip
    return path


def _earlier_results(path: Path, fields: tuple[str, ...] | None = None) -> bool:
    """Whether ``path`` is empty or begins as a results file this command writes."""
    from .enrol import RESULT_FIELDS

    expected = fields or RESULT_FIELDS

    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = handle.readline().strip()
    except OSError:
        return False
    if not first:
        return True
    if first == ",".join(expected):
        return True
    try:
        return list(json.loads(first)) == list(expected)
    except (ValueError, TypeError):
        return False


def _journal_path(args: argparse.Namespace, source: Source, default: Path) -> Path:
    path = Path(args.journal) if args.journal else default
    _not_a_link(path, "journal", "--journal")
    if path.is_dir():
        raise InvalidFieldError("journal", "--journal", f"{path} is a folder; name a file")
    if isinstance(source, Path) and path.resolve() == source.resolve():
        raise InvalidFieldError("journal", "--journal", f"{path} is the input file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidFieldError("journal", "--journal", f"no such folder: {folder}")
    if not os.access(folder, os.W_OK):
        raise InvalidFieldError("journal", "--journal", f"{folder} cannot be written")
    return path


def _check_key(settings: Settings) -> None:
    """A batch's key, checked once before its first row: an expired key refuses the
    whole batch in one line, nothing sent and no journal made, and a key near its
    expiry is warned of here, in the command's words.  Otherwise each row would fail
    alone, and worker processes (whose stderr is not the command's) would die at
    their start or warn where no one reads it."""
    settings.keys.for_request()


def _enrol(args: argparse.Namespace) -> int:
    # Imported here: the batch machinery (processes, SQLite) is not loaded by
    # one-shot commands, which a middleware script may run once per card.
    from .enrol import Stop, check_rows, default_paths, enrol, write_results
    from .inputs import StandardInput, check_file, read_rows
    from .journal import Journal

    source: Source
    if args.file == "-":
        if not args.journal:
            raise InvalidFieldError(
                "file", "FILE", "- (standard input) needs --journal: the journal is what lets "
                "a run that stops be resumed"
            )  # fmt: skip
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read(_STDIN_LIMIT + 1) if stream else sys.stdin.read().encode()
        if len(data) > _STDIN_LIMIT:
            raise InvalidFieldError("file", "FILE", "standard input is over 256 MiB; give a file")
        source = StandardInput(data)  # in memory only: it holds card numbers
        journal_file = Path(args.journal)
        default_journal = journal_file
        default_results = journal_file.with_name(
            f"{journal_file.stem}.results{results_suffix(source)}"
        )
    else:
        source = Path(args.file)
        default_journal, default_results = default_paths(source)
    form = check_file(source)  # the file as a whole: refused before anything else
    journal_path = _journal_path(args, source, default_journal)
    results_path = _output_path(args, source, journal_path, default_results)
    settings = resolve_settings(args)
    # every bad row reported before anything is sent
    total, bad = check_rows(source, form, any_expiry=args.any_expiry)
    _check_key(settings)
    journal = Journal(journal_path, settings.keys)
    args.resume_hint = (
        f"run the same command again to resume; what was done is kept in {journal_path}"
    )
    progress = Progress(total, enabled=None if not args.quiet else False)
    stop = Stop()
    stop.install()  # SIGINT and SIGTERM: no new row, the journal left exact
    try:
        with open_client(settings, workers=args.concurrency) as client:
            summary = enrol(
                client,
                read_rows(source, form, any_expiry=args.any_expiry),
                journal,
                concurrency=args.concurrency,
                processes=args.processes,
                client_options=client_options(settings, client.endpoint),
                progress=progress,
                stop=stop,
                credential_failures=args.credential_failures,
            )
        progress.close()
        if summary.stopped is None and not summary.wrong_credentials:
            write_results(journal, results_path)
    finally:
        journal.close()
        stop.uninstall()
    if summary.wrong_credentials:
        say(
            f"stopped after {args.credential_failures} answers in a row saying the "
            "credentials are wrong (34: the secret key or key version; 03: the merchant id); "
            "check the key, the key version and the merchant id, and that the key file holds "
            "no stray characters; nothing more was sent. Run the same command again once they "
            f"are right: those rows are sent again ({journal_path} keeps what was done)"
        )
        return EXIT_CREDENTIALS
    if summary.stopped is not None:
        name = signal.Signals(summary.stopped).name
        say(
            f"interrupted by {name}; {args.resume_hint} (rows sent so far: "
            f"{summary.sent}, recovered {summary.recovered})"
        )
        return EXIT_INTERRUPTED if summary.stopped == signal.SIGINT else EXIT_TERMINATED
    summary.results_path = results_path
    if args.json:
        print(
            json.dumps(
                {
                    "rows": summary.rows,
                    "counts": dict(summary.counts),
                    "sent": summary.sent,
                    "skipped": summary.skipped,
                    "recovered": summary.recovered,
                    "retries": summary.retries,
                    "earlier": summary.earlier,
                    "without_expiry": summary.without_expiry,
                    "bad_rows": bad,
                    "seconds": round(summary.seconds, 3),
                    "results": str(results_path),
                }
            )
        )
    else:
        print(summary.line())
        print(f"results: {results_path}")
    return _batch_status(summary.counts, ("refused",))


def _charge(args: argparse.Namespace) -> int:
    """``sogen-soap charge FILE``: see ``cli/charge.py``."""
    from .charge import (
        CHARGE_COLUMNS,
        RESULT_FIELDS,
        BadCharge,
        ChargeJournal,
        charge,
        read_charges,
    )
    from .enrol import Stop, default_paths
    from .inputs import check_file

    source = Path(args.file)
    form = check_file(source, CHARGE_COLUMNS)  # the file as a whole, before anything else
    default_journal, default_results = default_paths(source, "charges")
    journal_path = _journal_path(args, source, default_journal)
    results_path = _output_path(args, source, journal_path, default_results, RESULT_FIELDS)
    settings = resolve_settings(args)
    bad = total = 0
    for row in read_charges(source, form):  # every bad row reported before anything is sent
        total += 1
        if isinstance(row, BadCharge):
            bad += 1
            say(f"line {row.line}: {row.message}", event="bad_row", prefix=False, line=row.line)
    _check_key(settings)
    journal = ChargeJournal(journal_path)
    progress = Progress(total, enabled=None if not args.quiet else False)
    args.resume_hint = (
        f"run the same command again to resume; what was done is kept in {journal_path}"
    )
    stop = Stop()
    stop.install()  # SIGINT and SIGTERM: no new row, the rows in flight finish
    try:
        with open_client(settings, workers=args.concurrency) as client:
            summary = charge(
                client,
                source,
                form,
                journal,
                results_path,
                concurrency=args.concurrency,
                stop=stop,
                credential_failures=args.credential_failures,
                progress=progress,
            )
        progress.close()
    finally:
        journal.close()
        stop.uninstall()
    if summary.wrong_credentials:
        say(
            f"stopped after {args.credential_failures} answers in a row saying the "
            "credentials are wrong (34: the secret key or key version; 03: the merchant id); "
            "nothing more was sent. Run the same command again once they are right"
        )
        return EXIT_CREDENTIALS
    if summary.stopped is not None:
        name = signal.Signals(summary.stopped).name
        say(f"interrupted by {name}; {args.resume_hint} (rows sent: {summary.sent})")
        return EXIT_INTERRUPTED if summary.stopped == signal.SIGINT else EXIT_TERMINATED
    if args.json:
        print(
            json.dumps(
                {
                    "rows": summary.rows,
                    "counts": dict(summary.counts),
                    "sent": summary.sent,
                    "skipped": summary.skipped,
                    "recovered": summary.recovered,
                    "bad_rows": bad,
                    "seconds": round(summary.seconds, 3),
                    "results": str(results_path),
                }
            )
        )
    else:
        print(summary.line())
        print(f"results: {results_path}")
    return _batch_status(summary.counts, ("refused", "duplicate", "pending"))


def _batch_status(counts: Mapping[str, int], refusals: tuple[str, ...]) -> int:
    """A batch's exit status: 5 when any row must be run again (failed, unknown: it
    is retried, or looked up, never done twice), else 2 for invalid rows, else 3 for
    ``refusals``, else 0."""
    if counts.get("failed") or counts.get("unknown"):
        return EXIT_TRANSPORT
    if counts.get("invalid"):
        return EXIT_BAD_INPUT
    if any(counts.get(outcome) for outcome in refusals):
        return EXIT_REFUSED
    return EXIT_OK


def _wsdl_diff(args: argparse.Namespace) -> int:
    from ..wsdl_diff import BREAKS, CHANGES, diff_wsdl

    differences = diff_wsdl(args.path, args.service)
    if args.json:
        print(json.dumps([d.__dict__ for d in differences]))
    else:
        for difference in differences:
            print(difference)
    breaking = [d for d in differences if d.severity in (BREAKS, CHANGES)]
    if not args.json:
        print(
            f"{len(differences)} differences; "
            + (
                f"{len(breaking)} would break or change a call"
                if breaking
                else "the client works unchanged with this WSDL"
            )
        )
    return 1 if breaking else EXIT_OK


def _wsdl_fetch(args: argparse.Namespace) -> int:
    if args.environment == "simulator":  # the embedded one, as for every other command
        from ..simulator import Simulator

        output = args.output or default_cache_dir("simulator")
        if args.service != "wallet" and not args.output:
            output = Path(output) / args.service
        with Simulator() as sim:  # the default folder is ours to refresh, as for test/prod
            print(
                fetch_wsdl(
                    sim.url, output, force=args.force or not args.output, service=args.service
                )
            )
        return EXIT_OK
    print(fetch_wsdl(args.environment, args.output, force=args.force, service=args.service))
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse, saying a usage mistake in one line (exit 2), not a usage screen.

    No abbreviations (``--key`` is not ``--key-version``, ``--secret-ke`` not a
    flag at all), and an argument it does not know is named, never echoed with
    its value: a secret typed next to a misspelt flag stays off the screen.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        unknown = "unrecognized arguments: "
        if message.startswith(unknown):
            words = message[len(unknown) :].split(" ")
            flags = [w.split("=", 1)[0] for w in words if w.startswith("-")]
            values = sum(not w.startswith("-") or "=" in w for w in words)
            message = (
                "unknown argument" + ("s " if len(flags) > 1 else " ") + " ".join(flags)
                if flags
                else "unexpected argument"
            ) + (f" (and {values} value{'s' * (values > 1)}, not shown)" if values else "")
        # argparse quotes the values it refuses: a card number there is masked
        self.exit(2, redact_text(f"{self.prog}: {message} (see {self.prog} --help)\n"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sogen-soap",
        description="Manage card wallets on the Sogenactif Office Server wallet SOAP service. "
        "Exit status: 0 success (00), 1 internal error (a bug: please report it), 2 bad "
        "input (nothing sent), 3 refused by the service (94, 25, ...), 4 SOAP fault, "
        "5 transport failure or unknown outcome, 6 untrusted answer, 7 a batch stopped "
        "because answers in a row said the credentials are wrong (keys check: a key "
        "refused or expired), 8 keys check: a key expiring soon, 130 stopped by "
        "Ctrl-C (SIGINT), 143 stopped by SIGTERM. Environment: SOGEN_ENVIRONMENT, "
        "SOGEN_MERCHANT_ID, SOGEN_KEY_VERSION, SOGEN_SECRET_KEY or SOGEN_SECRET_KEY_FILE, "
        "SOGEN_KEY_EXPIRES, SOGEN_KEYS (a key ring), SOGEN_LOG_FORMAT, "
        "SOGEN_CONFIG, SOGEN_WSDL, SOGEN_TIMEOUT, SOGEN_TRANSPORT, SOGEN_CA_BUNDLE, "
        "SOGEN_CLIENT_CERT, SOGEN_CLIENT_KEY, SOGEN_PROXY (else HTTPS_PROXY and NO_PROXY), "
        "SOGEN_SIMULATOR_MERCHANTS (merchants the embedded simulator knows).",
    )
    parser.add_argument("--version", action="version", version=f"sogen-soap {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def service(name: str, help_text: str, call: Call, *aliases: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, aliases=list(aliases)
        )
        add_options(sub)
        sub.add_argument("--json", action="store_true", help="one JSON object on stdout")
        sub.set_defaults(handler=_service_command(call))
        return sub

    add = service(
        "add-card",
        "enrol a card in a wallet (addCard)",
        lambda a: a.client.add_card(
            a.wallet,
            _card(a.card, a.pan_type),
            _expiry(a),
            pan_type=a.pan_type,
            payment_mean_alias=a.alias,
            payment_mean_brand=a.brand,
            reconcile=True,  # a lost answer is settled by sending again (a sealed 94: it is in)
        ),
    )
    add.add_argument("--wallet", required=True, help="the wallet (merchantWalletId)")
    add.add_argument("--card", required=True, help="card number, or - to read it from stdin")
    expiry = add.add_mutually_exclusive_group(required=True)
    expiry.add_argument("--expiry", help="YYYYMM, this month or later, at most 20 years ahead")
    expiry.add_argument("--no-expiry", action="store_true", help="a card without expiry")
    add.add_argument("--any-expiry", action="store_true", help=_ANY_EXPIRY)
    add.add_argument("--alias", help="paymentMeanAlias")
    add.add_argument("--brand", help="paymentMeanBrand, e.g. VISA")
    add.add_argument("--pan-type", choices=PAN_TYPES, help="how --card is given (default PAN)")

    wallet = service(
        "wallet",
        "show a wallet and its cards (getWalletData)",
        lambda a: a.client.get_wallet_data(a.wallet),
        "get-wallet-data",
    )
    wallet.add_argument("--wallet", required=True, help="the wallet (merchantWalletId)")

    mean = service(
        "payment-mean",
        "show one card of a wallet (getPaymentMeanData)",
        lambda a: a.client.get_payment_mean_data(a.wallet, a.id),
    )
    update = service(
        "update-payment-mean",
        "change a card's alias (updatePaymentMean)",
        lambda a: a.client.update_payment_mean(a.wallet, a.id, a.alias),
    )
    delete = service(
        "delete-payment-mean",
        "remove a card from a wallet (deletePaymentMean)",
        lambda a: a.client.delete_payment_mean(a.wallet, a.id),
    )
    for sub in (mean, update, delete):
        sub.add_argument("--wallet", required=True, help="the wallet (merchantWalletId)")
        sub.add_argument("--id", required=True, help="the card's paymentMeanId")
    update.add_argument("--alias", required=True, help="the card's new paymentMeanAlias")

    sign_off = service(
        "sign-off", "delete a wallet and its cards (signOff)", lambda a: a.client.sign_off(a.wallet)
    )
    sign_off.add_argument("--wallet", required=True, help="the wallet (merchantWalletId)")

    pay = service(
        "pay",
        "charge a stored card (walletOrder); a lost answer is looked up by its reference, "
        "never charged twice",
        lambda a: a.client.wallet_order(
            a.wallet,
            a.id,
            a.amount,
            a.currency,
            transaction_reference=a.reference,
            capture_day=a.capture_day,
            capture_mode=a.capture_mode,
            payment_pattern=a.pattern,
            initial_scheme_transaction_identifier=a.initial_scheme_id,
            order_id=a.order_id,
            customer_id=a.customer_id,
        ),
    )
    credit = service(
        "credit",
        "credit a stored card (walletCreditHolder), under the same rule as pay",
        lambda a: a.client.wallet_credit_holder(
            a.wallet, a.id, a.amount, a.currency, transaction_reference=a.reference
        ),
    )
    for sub in (pay, credit):
        sub.add_argument("--wallet", required=True, help="the wallet (merchantWalletId)")
        sub.add_argument("--id", required=True, help="the card's paymentMeanId")
        sub.add_argument(
            "--reference",
            help="transactionReference, unique per merchant (default: a new one, printed); "
            "give the same one again after a lost answer",
        )
    pay.add_argument("--capture-day", type=int, help="days before the capture (captureDay)")
    pay.add_argument("--capture-mode", help="AUTHOR_CAPTURE, VALIDATION or IMMEDIATE")
    pay.add_argument("--pattern", help="paymentPattern: ONE_SHOT, RECURRING_1, RECURRING_N, ...")
    pay.add_argument("--initial-scheme-id", help="the first payment's scheme id, for RECURRING_N")
    pay.add_argument("--order-id", help="orderId")
    pay.add_argument("--customer-id", help="customerId")
    cash = {
        "refund": ("refund a captured transaction, up to what remains (refund)", "refund"),
        "cancel": ("cancel a transaction before its capture (cancel)", "cancel"),
        "capture": ("validate a transaction held for validation (validate)", "validate"),
    }
    for name, (text, method) in cash.items():
        sub = service(name, text, _cash_call(method))
        sub.add_argument("--reference", required=True, help="the transactionReference")
    for sub in (pay, credit, *(commands.choices[name] for name in cash)):
        sub.add_argument("--amount", required=True, type=_cents, help="in cents: 1050 is 10.50 EUR")
        sub.add_argument(
            "--currency", default="978", help="ISO 4217 numeric code (default 978, euros)"
        )
    transaction = service(
        "transaction",
        "show a transaction (getTransactionData)",
        lambda a: a.client.get_transaction_data(a.reference),
        "get-transaction-data",
    )
    transaction.add_argument("--reference", required=True, help="the transactionReference")

    batch = commands.add_parser(
        "enrol",
        help="enrol the cards of a CSV or JSON Lines file, restartably",
        description="Columns/keys: wallet, card, expiry, and optional alias, brand, pan_type "
        "(the vendor names merchantWalletId, cardNumber, cardExpiryDate, ... work too). "
        "Every row is checked first; bad rows are reported by line number and never sent. "
        "Outcomes: ok, in-wallet (enrolled, id not known), duplicate, refused, invalid, "
        "failed, unknown. Exit status: 5 if any row failed or is unknown (run it again), "
        "else 2 if any was invalid, else 3 if any was refused, else 0; 7 when stopped by "
        "wrong credentials, 130/143 by SIGINT/SIGTERM (run it again to resume).",
    )
    add_options(batch)
    batch.add_argument(
        "file", metavar="FILE",
        help="input .csv (with a header row) or .jsonl; - for standard input (with --journal)",
    )  # fmt: skip
    batch.add_argument(
        "--concurrency",
        "--workers",
        dest="concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"requests in flight at once (default {DEFAULT_CONCURRENCY}; "
        "a remote service answers in tens of ms, so many must overlap)",
    )
    batch.add_argument(
        "--processes",
        type=int,
        default=1,
        help="spread the sending over this many processes (default 1; the journal stays "
        "in this one); worth it when the client's CPU, not the service, is the limit",
    )
    batch.add_argument(
        "--credential-failures",
        type=int,
        default=DEFAULT_CREDENTIAL_FAILURES,
        metavar="N",
        help=f"stop after N answers in a row saying the key, key version or merchant id is "
        f"wrong (34, 03), exit 7 (default {DEFAULT_CREDENTIAL_FAILURES}; 0: never stop)",
    )
    batch.add_argument("--any-expiry", action="store_true", help=_ANY_EXPIRY)
    batch.add_argument("--journal", help="journal file (default: FILE.journal.sqlite3 beside it)")
    batch.add_argument(
        "--output", help="result file, .csv, .jsonl or .ndjson (default: beside FILE)"
    )
    batch.add_argument(
        "--force",
        action="store_true",
        help="let --output replace a file that is not an earlier results file",
    )
    batch.add_argument("--quiet", action="store_true", help="no progress bar even on a terminal")
    batch.add_argument("--json", action="store_true", help="summary as one JSON object")
    batch.set_defaults(handler=_enrol)

    bill = commands.add_parser(
        "charge",
        help="charge the stored cards of a CSV or JSON Lines file, restartably (walletOrder)",
        description="One row is one charge. Columns/keys: wallet, id (paymentMeanId), amount "
        "(in cents), and optional currency (978) and reference (transactionReference; made "
        "for the row when empty, and kept in the journal before it is sent). Every row is "
        "checked first; bad rows are reported by line number and never sent. A row is never "
        "charged twice, whatever is killed when: run the same command again, and rows caught "
        "in flight are looked up by their reference first. Outcomes: ok, pending, refused, "
        "duplicate (the reference was used before: nothing charged), failed, invalid, "
        "unknown. Exit status: 5 if any row failed or is unknown (run it again), else 2 if "
        "any was invalid, else 3 if any was refused, duplicate or pending, else 0; 7 when "
        "stopped by wrong credentials, 130/143 by SIGINT/SIGTERM.",
    )
    add_options(bill)
    bill.add_argument("file", metavar="FILE", help="input .csv (with a header row) or .jsonl")
    bill.add_argument(
        "--concurrency", type=int, default=4, help="charges in flight at once (default 4)"
    )
    bill.add_argument(
        "--credential-failures",
        type=int,
        default=DEFAULT_CREDENTIAL_FAILURES,
        metavar="N",
        help="stop after N answers in a row saying the credentials are wrong (34, 03), "
        f"exit 7 (default {DEFAULT_CREDENTIAL_FAILURES}; 0: never stop)",
    )
    bill.add_argument("--journal", help="journal file (default: FILE.charges.sqlite3 beside it)")
    bill.add_argument("--output", help="result file, .csv or .jsonl (default: beside FILE)")
    bill.add_argument(
        "--force", action="store_true", help="let --output replace a file that is not ours"
    )
    bill.add_argument("--quiet", action="store_true", help="no progress bar even on a terminal")
    bill.add_argument("--json", action="store_true", help="summary as one JSON object")
    bill.set_defaults(handler=_charge)

    sim = commands.add_parser(
        "simulator", help="serve the wallet simulator (see --help)", add_help=False
    )
    sim.add_argument(  # see main(): the simulator's own parser reads them
        "simulator_args", nargs=argparse.REMAINDER, help="the simulator's flags"
    )

    wsdl = commands.add_parser("wsdl", help="the cached WSDL")
    wsdl_commands = wsdl.add_subparsers(dest="wsdl_command", required=True, metavar="COMMAND")
    fetch = wsdl_commands.add_parser(
        "fetch",
        help="download an environment's ?wsdl and its schemas into a cache folder",
        description="Download <endpoint>?wsdl and every schema it imports, rewriting "
        "locations to the local files; then WalletClient(wsdl=FOLDER) uses it offline.",
    )
    fetch.add_argument(
        "--environment",
        required=True,
        help="test, prod, simulator (the embedded one), or the URL of a SOAP endpoint",
    )
    fetch.add_argument(
        "--output",
        help=f"folder to write (default: per-user cache, e.g. {default_cache_dir('test')})",
    )
    fetch.add_argument(
        "--force",
        action="store_true",
        help="write into a non-empty --output (only the fetched files are replaced)",
    )
    fetch.set_defaults(handler=_wsdl_fetch)
    diff = wsdl_commands.add_parser(
        "diff",
        help="compare a downloaded WSDL with the bundled one, in the client's terms",
        description="Exit 0: the client works unchanged with it (informational differences "
        "are still listed); 1: a difference would break or change a call; 2: bad input.",
    )
    diff.add_argument("path", metavar="PATH", help="a WSDL file, or the folder wsdl fetch wrote")
    for sub in (fetch, diff):
        sub.add_argument(
            "--service",
            choices=("wallet", "checkout", "cashManagement", "diagnostic"),
            default="wallet",
            help="which service's WSDL (default wallet; the payment services live beside it)",
        )
    diff.add_argument("--json", action="store_true", help="the differences as a JSON list")
    diff.set_defaults(handler=_wsdl_diff)

    keys = commands.add_parser(
        "keys", help="the secret keys: expiry, and whether the service takes them"
    )
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    check = keys_commands.add_parser(
        "check",
        help="list each key version with its expiry, and prove it with a harmless sealed read",
        description="Lists each key version (the key ring, or the one key) with its expiry "
        "and days left, then sends each a getWalletData for a wallet id no shop uses: a "
        "sealed 'unknown wallet' proves the key is accepted, a 34 that it is not. Nothing is "
        "changed. Exit 0: every key accepted, none expiring within --warn-days; 8: every key "
        "accepted, one expiring within --warn-days; 7: a key refused (34, 03) or expired; "
        "5: the service could not be asked, or its answer proved nothing; 2: bad input.",
    )
    add_options(check)
    check.add_argument(
        "--warn-days",
        type=int,
        default=90,
        metavar="N",
        help="days before expiry that count as soon (90)",
    )
    check.add_argument("--json", action="store_true", help="one JSON list on stdout")
    check.set_defaults(handler=_keys_check)
    return parser


def _keys_check(args: argparse.Namespace) -> int:
    from .keys import check_keys, exit_status, report

    if args.warn_days < 0:
        raise ConfigurationError("--warn-days must be 0 or more")
    settings = resolve_settings(args)
    with open_client(settings) as client:
        checks = check_keys(client)
    print(report(checks, args.json))
    return exit_status(checks, args.warn_days)


def _message(exc: BaseException, args: argparse.Namespace) -> str:
    """One line in the user's terms: flags for fields, a next step where there is one."""
    if isinstance(exc, InvalidFieldError) and exc.field in FLAGS:
        return f"{FLAGS[exc.field]}: {exc.rule}"
    if isinstance(exc, InvalidFieldError) and exc.parameter.startswith("-"):
        return f"{exc.parameter}: {exc.rule}"
    text = str(exc)
    wallet = getattr(args, "wallet", None)
    if (
        isinstance(exc, OutcomeUnknown)
        and wallet
        and "sogen-soap wallet" not in text
        and "sogen-soap transaction" not in text
    ):
        text += f". See what the wallet holds: sogen-soap wallet --wallet {wallet}"
    elif isinstance(exc, TransportError) and not isinstance(exc, OutcomeUnknown):
        command = getattr(args, "command", "")
        if command in (
            "wallet",
            "get-wallet-data",
            "payment-mean",
            "transaction",
            "get-transaction-data",
        ):
            text += " (a read: safe to run again)"
    return text


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["simulator"]:
        # Its options belong to the simulator's own parser (argparse cannot pass
        # leading --options through a subcommand untouched).
        from ..simulator.__main__ import main as simulator_main

        return simulator_main(arguments[1:], prog="sogen-soap simulator")
    args = build_parser().parse_args(arguments)
    try:
        configure(getattr(args, "log_format", None) or os.environ.get("SOGEN_LOG_FORMAT") or None)
    except ValueError:
        say("SOGEN_LOG_FORMAT: text or json")
        return EXIT_BAD_INPUT
    if getattr(args, "credential_failures", 0) < 0:
        say("--credential-failures must be 0 (never stop) or more")
        return EXIT_BAD_INPUT
    for flag in ("concurrency", "processes"):
        if getattr(args, flag, 1) < 1:
            say(f"--{flag} must be at least 1")
            return EXIT_BAD_INPUT
    try:
        return int(args.handler(args))
    except ValueError as exc:  # InvalidFieldError, ConfigurationError, bad files: nothing sent
        say(f"{_message(exc, args)}")
        return EXIT_BAD_INPUT
    except TransportError as exc:
        say(f"{_message(exc, args)}")
        return EXIT_TRANSPORT
    except ResponseError as exc:
        say(f"{_message(exc, args)}")
        return EXIT_UNTRUSTED
    except SogenSoapError as exc:
        say(f"{_message(exc, args)}")
        return EXIT_TRANSPORT
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None)
        say(f"\ninterrupted{'; ' + hint if hint else ''}")
        return EXIT_INTERRUPTED
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        say(f"{exc.strerror or exc}{where}")
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: one line, no traceback, and how to report it
        say(
            f"internal error ({type(exc).__name__}); please report it with the "
            "command you ran (no card numbers or keys)"
        )
        return EXIT_INTERNAL
