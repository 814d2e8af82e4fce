"""Argument parsing and dispatch for ``sogen-soap``.

Exit statuses are part of the interface for scripts; see ``EXIT_*``.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SogenSoapError
from ..wsdl_cache import default_cache_dir, fetch_wsdl

__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_TRANSPORT", "main"]

EXIT_OK = 0
EXIT_TRANSPORT = 5
EXIT_BAD_INPUT = 2


def _wsdl_fetch(args: argparse.Namespace) -> int:
    path = fetch_wsdl(args.environment, args.output)
    print(path)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sogen-soap",
        description="Manage card wallets on the Sogenactif Office Server wallet SOAP service.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    wsdl = commands.add_parser("wsdl", help="the cached WSDL")
    wsdl_commands = wsdl.add_subparsers(dest="wsdl_command", required=True, metavar="COMMAND")
    fetch = wsdl_commands.add_parser(
        "fetch",
        help="download an environment's ?wsdl and its schemas into a cache folder",
        description="Download <endpoint>?wsdl and every schema it imports, rewriting "
        "locations to the local files; then WalletClient(wsdl=FOLDER) uses it offline.",
    )
    fetch.add_argument(
        "--environment", required=True, help="test, prod, or the URL of a SOAP endpoint"
    )
    fetch.add_argument(
        "--output",
        help=f"folder to write (default: per-user cache, e.g. {default_cache_dir('test')})",
    )
    fetch.set_defaults(handler=_wsdl_fetch)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ValueError as exc:  # InvalidFieldError, ConfigurationError
        print(f"sogen-soap: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SogenSoapError as exc:
        print(f"sogen-soap: {exc}", file=sys.stderr)
        return EXIT_TRANSPORT
