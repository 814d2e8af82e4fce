"""Where the command gets its credentials and environment.

In order: options, environment variables, then a TOML config file.  The secret
key is never taken from a command-line value (``ps`` shows those to every user
of the machine): only from ``SOGEN_SECRET_KEY``, a file, or a prompt.  With no
environment configured anywhere, commands run against an embedded simulator
whose wallets live in the user's data folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..client import DEFAULT_TIMEOUT, WalletClient
from ..credentials import SecretKey, secret_key_from_file
from ..endpoints import resolve_endpoint
from ..errors import ConfigurationError
from ..keys import KeyRing, KeyVersion, key_from_spec, key_from_table, key_specs, parse_day
from ..validation import check_field
from .events import FORMATS, say

SIMULATOR: Final = "simulator"
"""``--environment simulator``: the embedded simulator, asked for by name."""

__all__ = [
    "SIMULATOR",
    "Settings",
    "add_options",
    "client_options",
    "open_client",
    "resolve_settings",
    "simulator_db_path",
]

_PATH_KEYS = frozenset({"secret_key_file", "wsdl", "ca_bundle", "client_cert", "client_key"})
_CONFIG_KEYS = frozenset(
    {
        "merchant_id",
        "key_version",
        "environment",
        "secret_key_file",
        "wsdl",
        "timeout",
        "ca_bundle",
        "client_cert",
        "client_key",
        "proxy",
        "transport",
        "key_expires",
        "keys",
    }
)


class _RefuseSecretOnCommandLine(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            "the secret key is not accepted on the command line, where ps shows it to "
            "everyone; use SOGEN_SECRET_KEY, SOGEN_SECRET_KEY_FILE, --secret-key-file "
            "or --prompt-secret-key"
        )


def add_options(parser: argparse.ArgumentParser) -> None:
    """The connection options every service command takes."""
    group = parser.add_argument_group(
        "connection (default: options, then SOGEN_* env, then --config)"
    )
    group.add_argument(
        "--environment",
        help="test, prod, simulator, or an endpoint URL [SOGEN_ENVIRONMENT]; with nothing "
        "configured at all: the embedded simulator; with credentials but no environment: test",
    )
    group.add_argument("--merchant-id", help="15-digit merchant id [SOGEN_MERCHANT_ID]")
    group.add_argument("--key-version", help="secret key version [SOGEN_KEY_VERSION]")
    group.add_argument(
        "--secret-key-file",
        help="file whose first line is the secret key [SOGEN_SECRET_KEY_FILE; or SOGEN_SECRET_KEY]",
    )
    group.add_argument("--prompt-secret-key", action="store_true", help="ask for the secret key")
    group.add_argument(
        "--key-expires",
        metavar="YYYY-MM-DD",
        help="the last day the secret key is valid: warned of 90, 45 and 20 days ahead, "
        "refused after [SOGEN_KEY_EXPIRES]",
    )
    group.add_argument(
        "--key-ring",
        action="append",
        metavar="VERSION:KEY_FILE[:EXPIRES[:ACTIVE_FROM]]",
        help="one version of a key ring (repeatable; instead of --secret-key-file): its key "
        "file, the last day it is valid, the first day it seals requests; --key-version "
        "names the active one, else the latest ACTIVE_FROM reached [SOGEN_KEYS, comma-separated]",
    )
    group.add_argument(
        "--secret-key", nargs="?", action=_RefuseSecretOnCommandLine, help=argparse.SUPPRESS
    )
    group.add_argument(
        "--config",
        help="TOML file, its keys in a [sogen-soap] table: merchant_id, key_version, "
        "environment, secret_key_file, key_expires, keys (an array of tables: version, "
        "secret_key_file, expires, active_from), wsdl, timeout, ca_bundle, client_cert, "
        "client_key, proxy, transport (paths relative to the file) [SOGEN_CONFIG]",
    )
    group.add_argument("--wsdl", help="a WSDL file or folder (default: the bundled copy)")
    group.add_argument(
        "--timeout",
        type=float,
        help="seconds a call may take in all, connecting included (default 35) [SOGEN_TIMEOUT]",
    )
    group.add_argument("--ca-bundle", help="CA certificates to trust (PEM) [SOGEN_CA_BUNDLE]")
    group.add_argument(
        "--client-cert", help="client certificate for mutual TLS (PEM) [SOGEN_CLIENT_CERT]"
    )
    group.add_argument(
        "--client-key", help="its private key, if not in --client-cert [SOGEN_CLIENT_KEY]"
    )
    group.add_argument(
        "--proxy",
        help="HTTPS proxy URL [SOGEN_PROXY; by default the usual HTTPS_PROXY/NO_PROXY]",
    )
    group.add_argument(
        "--log-format",
        choices=FORMATS,
        help="stderr as text lines or one JSON object per event (default text) [SOGEN_LOG_FORMAT]",
    )
    group.add_argument(
        "--transport",
        choices=("soap", "json"),
        help="the service's SOAP or JSON endpoint (default soap) [SOGEN_TRANSPORT]",
    )


@dataclass(frozen=True)
class Settings:
    merchant_id: str
    keys: KeyRing
    environment: str | None  # None: the embedded simulator
    wsdl: str | None
    timeout: float | None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    proxy: str | None = None
    transport: str = "soap"

    @property
    def key_version(self) -> int:
        return self.keys.active.version

    @property
    def secret_key(self) -> SecretKey:
        return self.keys.active.secret_key


def _read_config(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib  # the same parser, before it joined the standard library
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config {path} is not valid TOML: {exc}") from None
    if "sogen-soap" in data:
        outside = sorted(set(data) - {"sogen-soap"})
        if outside:  # TOML puts keys written above the table beside it: they were ignored
            raise ConfigurationError(
                f"config {path}: {', '.join(outside)} written outside the [sogen-soap] table; "
                f"move {'it' if len(outside) == 1 else 'them'} under [sogen-soap]"
            )
    section = data.get("sogen-soap", data)
    if "secret_key" in section:
        raise ConfigurationError(
            f"config {path}: put the key in a file of its own and name it with secret_key_file"
        )
    unknown = sorted(set(section) - _CONFIG_KEYS)
    if unknown:
        raise ConfigurationError(
            f"config {path}: unknown keys {', '.join(unknown)} (it takes "
            f"{', '.join(sorted(_CONFIG_KEYS))})"
        )
    folder = os.path.dirname(os.path.abspath(path))

    def relative(value: object) -> object:  # to the config file, not the shell
        if isinstance(value, str) and value and not os.path.isabs(value):
            return os.path.join(folder, os.path.expanduser(value))
        return value

    resolved = dict(section)
    for key in _PATH_KEYS & set(section):
        resolved[key] = relative(section[key])
    if "keys" in section:
        entries = section["keys"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConfigurationError(
                f"config {path}: keys is an array of tables ([[sogen-soap.keys]]), each with "
                "version, secret_key_file and optionally expires and active_from"
            )
        resolved["keys"] = [{**e, "secret_key_file": relative(e.get("secret_key_file"))}
                            for e in entries]  # fmt: skip
    return resolved


def _ring_source(
    args: argparse.Namespace, env: Mapping[str, str], config: Mapping[str, Any], path: object
) -> tuple[str, list[KeyVersion]] | None:
    """The key ring, from the first layer that gives one: options, environment, config."""
    if getattr(args, "key_ring", None):
        return "--key-ring", [key_from_spec(spec, "--key-ring") for spec in args.key_ring]
    if env.get("SOGEN_KEYS"):
        return "SOGEN_KEYS", key_specs(env["SOGEN_KEYS"], "SOGEN_KEYS")
    if config.get("keys"):
        where = f"keys in {path}"
        return where, [key_from_table(entry, where) for entry in config["keys"]]
    return None


def resolve_settings(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if environ is None else environ
    config_path = args.config or env.get("SOGEN_CONFIG")
    config = _read_config(config_path) if config_path else {}

    origin: dict[str, str] = {}  # where each setting came from, to name it in a message

    def pick(option: object, env_name: str, key: str) -> Any:
        if option not in (None, ""):
            origin[key] = f"--{key.replace('_', '-')}"
            return option
        if env.get(env_name):
            origin[key] = env_name
            return env[env_name]
        origin[key] = f"{key} in {config_path}"
        return config.get(key)

    environment = pick(args.environment, "SOGEN_ENVIRONMENT", "environment")
    merchant_id = pick(args.merchant_id, "SOGEN_MERCHANT_ID", "merchant_id")
    key_version = pick(args.key_version, "SOGEN_KEY_VERSION", "key_version")
    key_file = pick(args.secret_key_file, "SOGEN_SECRET_KEY_FILE", "secret_key_file")

    # Options override the environment, which overrides the config file (as for
    # every setting); two sources on one layer would leave a silent choice.
    for layer in (
        {"--prompt-secret-key": args.prompt_secret_key, "--secret-key-file": args.secret_key_file},
        {"SOGEN_SECRET_KEY": env.get("SOGEN_SECRET_KEY"),
         "SOGEN_SECRET_KEY_FILE": env.get("SOGEN_SECRET_KEY_FILE")},
    ):  # fmt: skip
        given = [name for name, value in layer.items() if value]
        if len(given) > 1:
            raise ConfigurationError(
                f"the secret key is given two ways ({' and '.join(given)}); keep one"
            )
    secret: SecretKey | None = None
    if args.prompt_secret_key:
        if not sys.stdin.isatty():
            raise ConfigurationError(
                "--prompt-secret-key needs a terminal to ask on; in a script, use "
                "SOGEN_SECRET_KEY_FILE or --secret-key-file"
            )
        import getpass

        secret = SecretKey(getpass.getpass("Secret key (not shown): "))
    elif env.get("SOGEN_SECRET_KEY") and not args.secret_key_file:
        secret = SecretKey(env["SOGEN_SECRET_KEY"])
    elif key_file:  # --secret-key-file, else SOGEN_SECRET_KEY_FILE, else the config's
        source = (
            "--secret-key-file" if args.secret_key_file
            else "SOGEN_SECRET_KEY_FILE" if env.get("SOGEN_SECRET_KEY_FILE")
            else f"secret_key_file in {config_path}"
        )  # fmt: skip
        secret = secret_key_from_file(str(key_file), source)

    ring = _ring_source(args, env, config, config_path)
    if ring is not None:
        single = [
            name
            for name, value in (
                ("--secret-key-file", args.secret_key_file),
                ("--prompt-secret-key", args.prompt_secret_key),
                ("SOGEN_SECRET_KEY", env.get("SOGEN_SECRET_KEY")),
                ("SOGEN_SECRET_KEY_FILE", env.get("SOGEN_SECRET_KEY_FILE")),
                (f"secret_key_file in {config_path}", config.get("secret_key_file")),
            )
            if value
        ]
        if single:
            raise ConfigurationError(
                f"the secret key is given both as a key ring ({ring[0]}) and as one key "
                f"({', '.join(single)}); keep one"
            )
    configured = any(
        value not in (None, "") for value in (merchant_id, key_version, secret, config_path, ring)
    )
    if environment == SIMULATOR or (environment is None and not configured):
        # The embedded simulator: asked for by name, or nothing configured at all.
        from ..simulator.app import DEFAULT_MERCHANT

        environment = None
        if merchant_id is None:
            merchant_id, key_version = DEFAULT_MERCHANT.merchant_id, DEFAULT_MERCHANT.key_version
            secret = secret or SecretKey(DEFAULT_MERCHANT.secret_key)
    elif environment is None:
        # Credentials without an environment go where WalletClient.from_env() goes.
        environment = "test"
        say(
            "no environment set; using the vendor's test service "
            "(set --environment or SOGEN_ENVIRONMENT: test, prod, simulator or a URL)",
            event="environment",
            level="notice",
        )
    missing = [
        name
        for name, value in (
            ("merchant id (--merchant-id, SOGEN_MERCHANT_ID)", merchant_id),
            ("key version (--key-version, SOGEN_KEY_VERSION)", key_version or ring),
            (
                "secret key (SOGEN_SECRET_KEY, SOGEN_SECRET_KEY_FILE, --secret-key-file, "
                "or a key ring: --key-ring, SOGEN_KEYS)",
                secret or ring,
            ),
        )
        if value in (None, "")
    ]
    if missing:
        raise ConfigurationError("missing " + "; ".join(missing))
    expires = pick(getattr(args, "key_expires", None), "SOGEN_KEY_EXPIRES", "key_expires")
    if ring is not None:
        if expires:
            raise ConfigurationError(
                f"{origin['key_expires']}: a key ring gives each version its own expiry"
            )
        active = (
            None
            if key_version in (None, "")
            else int(check_field("keyVersion", str(key_version), "key_version"))
        )
        keys = KeyRing(ring[1], active=active)
    else:
        assert secret is not None
        keys = KeyRing.single(
            secret,
            int(check_field("keyVersion", str(key_version), "key_version")),
            parse_day(expires, origin["key_expires"]),
        )
    if environment is not None:
        resolve_endpoint(str(environment))  # refuse a bad one before anything else
    timeout = pick(args.timeout, "SOGEN_TIMEOUT", "timeout")
    if timeout is not None:
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{origin['timeout']}: must be a number of seconds, not {timeout!r}"
            ) from None
        if not 0 < timeout < 3600:
            raise ConfigurationError(
                f"{origin['timeout']}: must be more than 0 and less than 3600 seconds"
            )
    client_cert = pick(args.client_cert, "SOGEN_CLIENT_CERT", "client_cert")
    client_key = pick(args.client_key, "SOGEN_CLIENT_KEY", "client_key")
    if client_key and not client_cert:  # it would be left unused, mutual TLS quietly off
        raise ConfigurationError(
            f"{origin['client_key']}: a client key goes with its certificate "
            "(--client-cert, SOGEN_CLIENT_CERT or client_cert in the config)"
        )
    return Settings(
        merchant_id=check_field("merchantId", str(merchant_id), "merchant_id"),
        keys=keys,
        environment=None if environment is None else str(environment),
        wsdl=pick(args.wsdl, "SOGEN_WSDL", "wsdl"),
        timeout=timeout,
        ca_bundle=pick(args.ca_bundle, "SOGEN_CA_BUNDLE", "ca_bundle"),
        client_cert=client_cert,
        client_key=client_key,
        proxy=pick(args.proxy, "SOGEN_PROXY", "proxy"),
        transport=_transport(pick(args.transport, "SOGEN_TRANSPORT", "transport"), origin),
    )


def _transport(value: object, origin: Mapping[str, str]) -> str:
    if value in (None, ""):
        return "soap"
    if value not in ("soap", "json"):
        raise ConfigurationError(f"{origin['transport']}: soap or json, not {value!r}")
    return str(value)


def _day(value: object) -> str | None:
    return None if value is None else str(value)


def key_ring(entries: list[list[Any]], active: int) -> KeyRing:
    """The ring ``client_options`` described, rebuilt in a worker process."""
    return KeyRing(
        [KeyVersion(int(v), SecretKey(str(k)), e, f) for v, k, e, f in entries], active=active
    )


def simulator_db_path() -> Path:
    """The embedded simulator's wallets: in the user's data folder, kept between runs."""
    import platformdirs

    folder = platformdirs.user_data_path("sogen-soap")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: it holds wallets
    return folder / "simulator.sqlite3"


def client_options(settings: Settings, endpoint: str) -> dict[str, object]:
    """What a worker process needs to build the same client (secret included:
    it travels only over the pipe to our own child process)."""
    return {
        "merchant_id": settings.merchant_id,
        "keys": [
            [k.version, k.secret_key.reveal(), _day(k.expires), _day(k.active_from)]
            for k in settings.keys.versions
        ],
        "key_version": settings.key_version,
        "environment": endpoint,
        "wsdl": settings.wsdl,
        "timeout": settings.timeout if settings.timeout else DEFAULT_TIMEOUT,
        "ca_bundle": settings.ca_bundle,
        "client_cert": (
            (settings.client_cert, settings.client_key)
            if settings.client_cert and settings.client_key
            else settings.client_cert
        ),
        "proxy": settings.proxy,
        "transport": settings.transport,
    }


def registered_merchants(environ: Mapping[str, str], make: Any) -> list[Any]:
    """``SOGEN_SIMULATOR_MERCHANTS``: ``ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL]`` entries,
    comma-separated (the keys come from files, as the simulator's ``--merchant`` takes
    them; several versions of one merchant are several entries)."""
    merchants = []
    entries = environ.get("SOGEN_SIMULATOR_MERCHANTS", "").split(",")
    for entry in filter(None, (e.strip() for e in entries)):
        try:
            merchants.append(make.from_spec(entry))
        except ValueError as exc:
            raise ConfigurationError(f"SOGEN_SIMULATOR_MERCHANTS: {exc}") from None
    return merchants


@contextmanager
def open_client(settings: Settings, *, workers: int = 1) -> Iterator[WalletClient]:
    """A client for the settings, with a connection pool for ``workers`` threads."""
    simulator: Any = None
    environment = settings.environment
    if environment is None:
        # Imported here: a command given an environment never loads the simulator.
        import sqlite3

        from ..simulator import DEFAULT_MERCHANT, Merchant, Simulator
        from ..simulator.store import StoreError

        # The merchants it knows, as the service knows its own: the simulation one and
        # those registered; never whatever key was configured (a wrong key gets 34).
        merchants = [DEFAULT_MERCHANT, *registered_merchants(os.environ, Merchant)]
        known = [m for m in merchants if m.merchant_id == settings.merchant_id]
        if not any(
            m.key_version == settings.key_version and m.secret_key == settings.secret_key.reveal()
            for m in known
        ):
            say(
                f"the embedded simulator does not know merchant "
                f"{settings.merchant_id} with this key: it answers "
                f"{'34' if known else '03'}, as the service would. It knows "
                f"{DEFAULT_MERCHANT.merchant_id} (key version {DEFAULT_MERCHANT.key_version}, key "
                f"{DEFAULT_MERCHANT.secret_key}); register another with "
                "SOGEN_SIMULATOR_MERCHANTS=ID:KEY_VERSION:KEY_FILE[:FROM:UNTIL][,...]",
                event="simulator_credentials",
                level="notice",
                # merchant ids and the public demo key: what the notice is for
                clear=(
                    settings.merchant_id,
                    DEFAULT_MERCHANT.merchant_id,
                    DEFAULT_MERCHANT.secret_key,
                ),
            )
        db = simulator_db_path()
        try:
            simulator = Simulator(str(db), merchants).start()
        except (sqlite3.Error, StoreError) as exc:
            raise ConfigurationError(
                f"the embedded simulator's store {db} cannot be used ({exc}); remove it and "
                f"its key file ({db}.key) to start a fresh one"
            ) from None
        environment = simulator.url
        say(
            f"no environment configured; using the embedded simulator ({db})",
            event="environment",
            level="notice",
        )
    try:
        client = WalletClient(
            settings.merchant_id,
            settings.keys,
            environment=environment,
            wsdl=settings.wsdl,
            pool_size=max(workers, 1),
            # one number: connect within it, and end the whole call within it
            timeout=settings.timeout if settings.timeout else DEFAULT_TIMEOUT,
            ca_bundle=settings.ca_bundle,
            client_cert=(
                (settings.client_cert, settings.client_key)
                if settings.client_cert and settings.client_key
                else settings.client_cert
            ),
            proxy=settings.proxy,
            transport=settings.transport,
        )
        with client:
            yield client
    finally:
        if simulator is not None:
            simulator.stop()
