"""``python -m sogen_soap.simulator``: serve the wallet simulator until SIGTERM.

The first line on stdout is the endpoint URL (what ``environment=`` takes).
Merchant keys come from files, never from the command line where ``ps``
would show them.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import math
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from .app import DEFAULT_MERCHANT, LIST_SHAPES, Merchant
from .faults import FAULT_KINDS, FaultProfile
from .server import Simulator
from .store import StoreError
from .tls import ServerTLS, make_test_pki


def _merchant(spec: str) -> Merchant:
    try:
        return Merchant.from_spec(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    """A usage mistake in one line under the command's own name (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {text!r}")
    return int(text)


def main(
    argv: list[str] | None = None,
    prog: str = "python -m sogen_soap.simulator",
    *,
    stop: threading.Event | None = None,
    started: Callable[[Simulator], object] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; or, in-process, until ``stop`` is set (no
    signal handler is installed then), ``started`` being told the simulator."""
    parser = _Parser(
        prog=prog,
        description="Serve a local Sogenactif Office Server wallet SOAP service.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    parser.add_argument(
        "--db", default=":memory:", help="SQLite file for the wallets (default: in memory)"
    )
    parser.add_argument(
        "--merchant",
        action="append",
        type=_merchant,
        default=[],
        metavar="ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]",
        help="a merchant's key version to accept, its key read from KEY_FILE, valid from "
        "FROM to UNTIL (YYYY-MM-DD, both days included, either may be empty); repeatable, "
        "several versions per merchant; others are answered 34. The simulation merchant "
        f"{DEFAULT_MERCHANT.merchant_id} (key version 1) is always known",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=RATE",
        help="inject a fault into a share of requests (repeatable); kinds: "
        + ", ".join(FAULT_KINDS),
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for fault draws")
    parser.add_argument(
        "--latency", type=_seconds, default=0.0, help="seconds to wait before each answer"
    )
    parser.add_argument(
        "--fault-delay", type=_seconds, default=2.0,
        help="seconds the delay fault holds an answer (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--shape",
        choices=LIST_SHAPES,
        default="wrapped",
        help="list layout in answers: wrapped (<xList><x/></xList>) or jaxb (<xList/> repeated)",
    )
    parser.add_argument(
        "--newer-fields",
        action="store_true",
        help="add the fields newer SDKs show to payment means (brand selection status, "
        "co-badging brands, transaction actors, paymentMeanData, pspData)",
    )
    tls = parser.add_argument_group("HTTPS")
    tls.add_argument("--tls-cert", help="server certificate (PEM)")
    tls.add_argument("--tls-key", help="server key (PEM)")
    tls.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    tls.add_argument(
        "--tls-generate",
        metavar="DIR",
        help="make a throw-away CA, server and client certificate in DIR and serve with them",
    )
    tls.add_argument(
        "--tls-mutual",
        action="store_true",
        help="with --tls-generate: require the client certificate",
    )
    args = parser.parse_args(argv)
    try:
        faults = FaultProfile.parse(args.fault, seed=args.seed, delay=args.fault_delay)
    except ValueError as exc:
        parser.error(str(exc))
    server_tls: ServerTLS | None = None
    if args.tls_generate:
        pki = make_test_pki(Path(args.tls_generate))
        server_tls = pki.server(require_client_cert=args.tls_mutual)
        print(f"test CA: {pki.ca_cert}; client certificate: {pki.client_cert}", file=sys.stderr)
    elif args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        server_tls = ServerTLS(args.tls_cert, args.tls_key, args.tls_client_ca)
    merchants = [DEFAULT_MERCHANT, *args.merchant]

    if stop is None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        simulator = Simulator(
            args.db,
            merchants,
            host=args.host,
            port=args.port,
            faults=faults,
            latency=args.latency,
            tls=server_tls,
            shape=args.shape,
            newer_fields=args.newer_fields,
        )
        sim = simulator.start()
    except (OSError, sqlite3.Error, StoreError) as exc:
        print(f"{prog}: {_cannot_start(args, exc)}", file=sys.stderr)
        return 2
    try:
        warning = _exposure(args.host, tls=server_tls is not None)
        if warning:
            print(f"{prog}: warning: {warning}", file=sys.stderr)
        print(sim.url, flush=True)
        if started is not None:
            started(sim)
        print(f"serving wallets from {args.db}; SIGTERM to stop", file=sys.stderr, flush=True)
        stop.wait()
    finally:
        sim.stop()
    return 0


def _exposure(host: str, *, tls: bool) -> str | None:
    """What listening on ``host`` exposes, for a warning; None on loopback."""
    if _loopback(host):
        return None
    return (
        f"listening on {host}, beyond this machine's loopback"
        + ("" if tls else ", in plain http")
        + f"; it accepts the public demo merchant {DEFAULT_MERCHANT.merchant_id} and "
        "its published key: anyone who can reach it can use it"
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _cannot_start(args: argparse.Namespace, exc: BaseException) -> str:
    """Why the simulator cannot start, in one line that leads to the fix."""
    folder = Path(args.db).parent
    if args.db != ":memory:" and not folder.is_dir():
        return f"--db {args.db}: no such folder {folder}"
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return (
            f"--db {args.db}: not a simulator store ({exc}); give another file, or remove "
            "this one to start a fresh store"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {args.host}:{args.port}: the port is in use; give another --port"
    text = getattr(exc, "strerror", None) or str(exc)
    return f"cannot start on {args.host}:{args.port} (--db {args.db}): {text}"


if __name__ == "__main__":
    sys.exit(main())
