"""Where each setting of the command comes from: an option beats the environment,
which beats the config file, setting by setting; paths in the file are relative
to it; the testing kit's clients fail fast unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MERCHANT, TEST_PAN

from sogen_soap import ConfigurationError, OutcomeUnknown, RetryPolicy
from sogen_soap.cli.config import Settings, resolve_settings
from sogen_soap.cli.main import build_parser
from sogen_soap.testing import simulated_wallet

KEY = MERCHANT.secret_key


def _settings(tmp_path: Path, *options: str, **env: str) -> object:
    (tmp_path / "c.toml").write_text(
        "[sogen-soap]\n"
        'merchant_id = "111111111111111"\nkey_version = 3\nenvironment = "https://config.example/x"\n'
        'secret_key_file = "keys/k"\ntimeout = 7\ntransport = "json"\nwsdl = "w/service.wsdl"\n'
        'ca_bundle = "ca.pem"\nproxy = "http://proxy.config:3128"\n'
    )
    (tmp_path / "keys").mkdir(exist_ok=True)
    (tmp_path / "keys" / "k").write_text("config-key\n")
    (tmp_path / "env-key").write_text("env-key\n")
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--config",
                                      str(tmp_path / "c.toml"), *options])  # fmt: skip
    return resolve_settings(args, env)


def _resolved(*options: str, env: dict[str, str] | None = None) -> Settings:
    """The settings of ``sogen-soap wallet --wallet w OPTIONS`` in ``env`` alone."""
    return resolve_settings(build_parser().parse_args(["wallet", "--wallet", "w", *options]),
                            env or {})  # fmt: skip


def test_the_config_file_alone(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert (s.merchant_id, s.key_version, s.environment, s.timeout, s.transport) == (  # type: ignore[attr-defined]
        "111111111111111", 3, "https://config.example/x", 7.0, "json",
    )  # fmt: skip
    assert s.secret_key.reveal() == "config-key"  # type: ignore[attr-defined]
    assert s.wsdl == str(tmp_path / "w" / "service.wsdl")  # type: ignore[attr-defined]
    assert s.ca_bundle == str(tmp_path / "ca.pem")  # type: ignore[attr-defined]
    assert s.proxy == "http://proxy.config:3128"  # type: ignore[attr-defined]


def test_the_environment_beats_the_file_setting_by_setting(tmp_path: Path) -> None:
    key_file = str(tmp_path / "env-key")
    s = _settings(tmp_path, SOGEN_MERCHANT_ID="222222222222222", SOGEN_TIMEOUT="9",
                  SOGEN_SECRET_KEY_FILE=key_file, SOGEN_TRANSPORT="soap")  # fmt: skip
    assert (s.merchant_id, s.key_version, s.timeout, s.transport) == (  # type: ignore[attr-defined]
        "222222222222222", 3, 9.0, "soap",
    )  # fmt: skip
    assert s.secret_key.reveal() == "env-key"  # type: ignore[attr-defined]
    assert s.environment == "https://config.example/x"  # type: ignore[attr-defined]


def test_an_option_beats_the_environment(tmp_path: Path) -> None:
    s = _settings(tmp_path, "--merchant-id", "333333333333333", "--key-version", "4",
                  "--timeout", "11", "--environment", "prod",
                  SOGEN_MERCHANT_ID="222222222222222", SOGEN_KEY_VERSION="5",
                  SOGEN_TIMEOUT="9", SOGEN_ENVIRONMENT="test")  # fmt: skip
    assert (s.merchant_id, s.key_version, s.timeout, s.environment) == (  # type: ignore[attr-defined]
        "333333333333333", 4, 11.0, "prod",
    )  # fmt: skip


@pytest.mark.parametrize("env_source", ["SOGEN_SECRET_KEY", "SOGEN_SECRET_KEY_FILE"])
def test_a_key_file_option_beats_a_key_in_the_environment(tmp_path: Path, env_source: str) -> None:
    (tmp_path / "option-key").write_text("option-key\n")
    env = {"SOGEN_SECRET_KEY": "env-key"} if env_source == "SOGEN_SECRET_KEY" else {
        "SOGEN_SECRET_KEY_FILE": str(tmp_path / "env-key")}  # fmt: skip
    s = _settings(tmp_path, "--secret-key-file", str(tmp_path / "option-key"), **env)
    assert s.secret_key.reveal() == "option-key"  # type: ignore[attr-defined]


def test_sogen_config_names_the_config_file(tmp_path: Path) -> None:
    _settings(tmp_path)  # writes c.toml
    args = build_parser().parse_args(["wallet", "--wallet", "w"])
    s = resolve_settings(args, {"SOGEN_CONFIG": str(tmp_path / "c.toml")})
    assert (s.merchant_id, s.key_version, s.secret_key.reveal()) == (
        "111111111111111", 3, "config-key",
    )  # fmt: skip


def test_a_path_in_the_config_empty_absolute_or_from_home_is_not_made_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative paths are relative to the file; an empty one is no path (not the
    file's folder, which would then be read as a CA bundle or a WSDL), an absolute
    one is kept, and ``~`` is the user's home."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "c.toml").write_text(
        '[sogen-soap]\nmerchant_id = "111111111111111"\nkey_version = 3\n'
        'secret_key_file = "~/k"\nwsdl = ""\nca_bundle = "/etc/ssl/ca.pem"\n'
        'client_cert = ""\n'
    )
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "k").write_text("home-key\n")
    s = _resolved("--config", str(tmp_path / "c.toml"))
    assert (s.wsdl, s.ca_bundle, s.client_cert) == ("", "/etc/ssl/ca.pem", "")
    assert s.secret_key.reveal() == "home-key"


def test_an_empty_option_leaves_the_environment_s_value(tmp_path: Path) -> None:
    """``--environment "$UNSET"`` is an empty option: the environment variable (then
    the file) still decides, as for every setting."""
    s = _settings(tmp_path, "--environment", "", "--merchant-id", "",
                  SOGEN_ENVIRONMENT="prod", SOGEN_MERCHANT_ID="222222222222222")  # fmt: skip
    assert (s.environment, s.merchant_id) == ("prod", "222222222222222")  # type: ignore[attr-defined]


def test_an_empty_environment_variable_leaves_the_file_s_value(tmp_path: Path) -> None:
    """``export SOGEN_TIMEOUT=`` (set, but empty) is as good as unset, like an empty
    option: the config file still decides, setting by setting."""
    s = _settings(tmp_path, SOGEN_MERCHANT_ID="", SOGEN_TIMEOUT="", SOGEN_ENVIRONMENT="",
                  SOGEN_TRANSPORT="")  # fmt: skip
    assert (s.merchant_id, s.timeout, s.environment, s.transport) == (  # type: ignore[attr-defined]
        "111111111111111", 7.0, "https://config.example/x", "json",
    )  # fmt: skip


# Each setting: its option, its environment variable, the attribute it lands in, and
# three values (option, environment, the config file's as _settings writes it).
LAYERED = [
    ("--wsdl", "SOGEN_WSDL", "wsdl", "o.wsdl", "e.wsdl", "w/service.wsdl"),
    ("--ca-bundle", "SOGEN_CA_BUNDLE", "ca_bundle", "o.pem", "e.pem", "ca.pem"),
    ("--proxy", "SOGEN_PROXY", "proxy", "http://o:1", "http://e:2", "http://proxy.config:3128"),
    ("--transport", "SOGEN_TRANSPORT", "transport", "json", "soap", "json"),
    ("--timeout", "SOGEN_TIMEOUT", "timeout", "11", "9", "7"),
    ("--client-cert", "SOGEN_CLIENT_CERT", "client_cert", "o.crt", "e.crt", None),
    ("--client-key", "SOGEN_CLIENT_KEY", "client_key", "o.key", "e.key", None),
    ("--environment", "SOGEN_ENVIRONMENT", "environment", "prod", "test",
     "https://config.example/x"),
]


@pytest.mark.parametrize(("option", "variable", "name", "mine", "env", "filed"), LAYERED,
                         ids=[row[2] for row in LAYERED])  # fmt: skip
def test_every_setting_is_an_option_then_its_variable_then_the_file(
    tmp_path: Path, option: str, variable: str, name: str, mine: str, env: str, filed: str | None
) -> None:
    def value(s: object) -> object:
        got = getattr(s, name)
        if name == "timeout":
            return str(int(got))
        if name in ("wsdl", "ca_bundle") and got is not None and got.startswith(str(tmp_path)):
            return str(Path(got).relative_to(tmp_path))  # the file's paths: relative to it
        return got

    cert = ["--client-cert", "c.crt"] if name == "client_key" else []  # a key needs one
    assert value(_settings(tmp_path, *cert)) == filed
    assert value(_settings(tmp_path, *cert, **{variable: env})) == env
    assert value(_settings(tmp_path, option, mine, *cert, **{variable: env})) == mine


def _ring_config(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "k1").write_text("key-one\n")
    (tmp_path / "k2").write_text("key-two\n")
    config = tmp_path / "ring.toml"
    config.write_text(
        '[sogen-soap]\nmerchant_id = "111111111111111"\nenvironment = "test"\n' + extra
        + '[[sogen-soap.keys]]\nversion = 1\nsecret_key_file = "k1"\n'
        '[[sogen-soap.keys]]\nversion = 2\nsecret_key_file = "k2"\nactive_from = 2020-01-01\n'
    )  # fmt: skip
    return config


def test_a_config_s_key_ring_beside_its_own_single_key_is_refused(tmp_path: Path) -> None:
    config = _ring_config(tmp_path, 'secret_key_file = "k1"\n')
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--config", str(config)])
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(args, {})
    assert str(caught.value) == (
        f"the secret key is given both as a key ring (keys in {config}) and as one key "
        f"(secret_key_file in {config}); keep one"
    )
    alone = _ring_config(tmp_path, "")  # the ring alone: its latest version reached
    s = resolve_settings(build_parser().parse_args(["wallet", "--wallet", "w", "--config",
                                                    str(alone)]), {})  # fmt: skip
    assert (s.key_version, s.secret_key.reveal()) == (2, "key-two")


def test_a_key_ring_is_an_option_then_sogen_keys_then_the_config_s(tmp_path: Path) -> None:
    """A ring is taken whole from the first layer that gives one, as every setting."""
    config = _ring_config(tmp_path, "")
    (tmp_path / "k7").write_text("key-seven\n")
    (tmp_path / "k8").write_text("key-eight\n")
    env = {"SOGEN_KEYS": f"7:{tmp_path / 'k7'}"}

    def ring(*options: str, **environ: str) -> tuple[list[int], str]:
        args = build_parser().parse_args(["wallet", "--wallet", "w", "--config", str(config),
                                          *options])  # fmt: skip
        s = resolve_settings(args, environ)
        return sorted(v.version for v in s.keys.versions), s.secret_key.reveal()  # type: ignore[attr-defined]

    assert ring() == ([1, 2], "key-two")
    assert ring(**env) == ([7], "key-seven")
    assert ring("--key-ring", f"8:{tmp_path / 'k8'}", **env) == ([8], "key-eight")


@pytest.mark.parametrize(
    ("where", "said"),
    [("option", "--key-expires"), ("env", "SOGEN_KEY_EXPIRES"), ("config", "key_expires in")],
)
def test_one_expiry_for_a_whole_key_ring_is_refused(tmp_path: Path, where: str, said: str) -> None:
    config = _ring_config(tmp_path, "key_expires = 2099-01-31\n" if where == "config" else "")
    options = ["--key-expires", "2099-01-31"] if where == "option" else []
    env = {"SOGEN_KEY_EXPIRES": "2099-01-31"} if where == "env" else {}
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--config", str(config),
                                      *options])  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(args, env)
    assert str(caught.value).startswith(said)
    assert str(caught.value).endswith(": a key ring gives each version its own expiry")


@pytest.mark.parametrize(
    ("given", "taken"), [("0.5", 0.5), ("3599", 3599.0), ("0", None), ("3600", None)]
)
def test_a_timeout_is_more_than_0_and_less_than_3600_seconds(
    tmp_path: Path, given: str, taken: float | None
) -> None:
    """Half a second is a timeout; an hour is not (a call that long is a hang)."""
    if taken is None:
        with pytest.raises(ConfigurationError, match=r"^--timeout: must be more than 0 and less"):
            _settings(tmp_path, "--timeout", given)
    else:
        assert _settings(tmp_path, "--timeout", given).timeout == taken  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", ["--key-ring", "SOGEN_KEYS", "keys in"])
def test_a_bad_key_ring_is_refused_naming_where_it_was_given(tmp_path: Path, where: str) -> None:
    """A malformed ring names its source, the option, the variable or the config file's
    table, so the operator knows which of three places to fix."""
    options, env = ["--merchant-id", "111111111111111"], {}
    if where == "--key-ring":
        options += ["--key-ring", "bad"]
    elif where == "SOGEN_KEYS":
        env["SOGEN_KEYS"] = "bad"
    else:
        (tmp_path / "c.toml").write_text("[sogen-soap]\n[[sogen-soap.keys]]\nversion = 1\n")
        options += ["--config", str(tmp_path / "c.toml")]
        where = f"keys in {tmp_path / 'c.toml'}"
    with pytest.raises(ConfigurationError) as caught:
        _resolved(*options, env=env)
    assert str(caught.value).startswith(f"{where}: ")


def test_a_config_file_without_credentials_is_not_nothing_configured(tmp_path: Path) -> None:
    """docs/cli.md: the embedded simulator only when nothing at all is configured.  A
    config file given (here with a timeout alone) is configuration: its missing
    credentials are said, not quietly replaced by the simulator's."""
    (tmp_path / "c.toml").write_text("[sogen-soap]\ntimeout = 5\n")
    with pytest.raises(ConfigurationError) as caught:
        _resolved("--config", str(tmp_path / "c.toml"))
    assert str(caught.value).startswith("missing merchant id (--merchant-id, SOGEN_MERCHANT_ID)")
    assert _resolved().environment is None  # nothing at all: the embedded simulator


def test_a_bad_environment_is_refused_with_the_settings(tmp_path: Path) -> None:
    """Before anything else (a batch's journal, its input): plain http beyond loopback
    is refused where the settings are read, not only when a client is made."""
    env = {"SOGEN_MERCHANT_ID": "111111111111111", "SOGEN_KEY_VERSION": "1",
           "SOGEN_SECRET_KEY": "k", "SOGEN_ENVIRONMENT": "http://office.example/w"}  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"^refusing plain http to office\.example"):
        _resolved(env=env)


def test_a_key_ring_variable_holding_no_key_is_refused_naming_it(tmp_path: Path) -> None:
    """``SOGEN_KEYS=,`` (a ring that came out empty) is said as such, the way the
    library's ``from_env`` says it, before the clash with a single key is."""
    with pytest.raises(ConfigurationError) as caught:
        _resolved("--merchant-id", "111111111111111",
                  env={"SOGEN_KEYS": " , ", "SOGEN_SECRET_KEY": "k"})  # fmt: skip
    assert str(caught.value).startswith("SOGEN_KEYS holds no key: expected VERSION:KEY_FILE")


def test_a_worker_process_gets_the_configured_timeout(tmp_path: Path) -> None:
    """``--processes``: each worker's client ends its calls within the timeout the
    settings give (7 s from the config here), the default only when none is given."""
    from sogen_soap.cli.config import client_options
    from sogen_soap.client import DEFAULT_TIMEOUT

    assert client_options(_settings(tmp_path), "https://x.example/w")["timeout"] == 7.0  # type: ignore[arg-type]
    bare = _resolved(env={"SOGEN_MERCHANT_ID": "111111111111111", "SOGEN_KEY_VERSION": "1",
                          "SOGEN_SECRET_KEY": "k"})  # fmt: skip
    assert client_options(bare, "https://x.example/w")["timeout"] == DEFAULT_TIMEOUT != 7.0


@pytest.mark.parametrize(
    ("given", "said"),
    [(["--client-key", "k.pem"], "--client-key"), ([], "SOGEN_CLIENT_KEY")],
)
def test_a_client_key_without_its_certificate_is_refused(
    tmp_path: Path, given: list[str], said: str
) -> None:
    """A key alone was left unused: mutual TLS off while the operator believed it on."""
    env = {} if given else {"SOGEN_CLIENT_KEY": "k.pem"}
    with pytest.raises(ConfigurationError) as caught:
        _settings(tmp_path, *given, **env)
    assert str(caught.value) == (
        f"{said}: a client key goes with its certificate "
        "(--client-cert, SOGEN_CLIENT_CERT or client_cert in the config)"
    )


def test_a_worker_process_gets_the_client_key_beside_its_certificate(tmp_path: Path) -> None:
    """``--processes``: each worker builds its client from ``client_options``; a client
    key given apart from its certificate travels with it (else mutual TLS fails there)."""
    from sogen_soap.cli.config import client_options

    both = _settings(tmp_path, "--client-cert", "c.pem", "--client-key", "k.pem")
    assert client_options(both, "https://x.example/w")["client_cert"] == ("c.pem", "k.pem")  # type: ignore[arg-type]
    cert_only = _settings(tmp_path, "--client-cert", "both.pem")
    assert client_options(cert_only, "https://x.example/w")["client_cert"] == "both.pem"  # type: ignore[arg-type]


def test_a_worker_process_rebuilds_the_same_key_ring(tmp_path: Path) -> None:
    """``--processes``: the ring travels as ``client_options``' plain lists and comes
    back whole in the worker: each version's key, last valid day and first sealing
    day, and the active version (a worker sealing with another key than the parent
    would be refused for rows the parent's checks passed)."""
    from datetime import date

    from sogen_soap.cli.config import client_options, key_ring

    (tmp_path / "k1").write_text("key-one\n")
    (tmp_path / "k2").write_text("key-two\n")
    settings = _resolved(
        "--merchant-id", "111111111111111", "--key-version", "1",
        "--key-ring", f"1:{tmp_path / 'k1'}:2031-01-31",
        "--key-ring", f"2:{tmp_path / 'k2'}:2032-06-30:2026-01-01",  # reached: not active
    )  # fmt: skip
    options = client_options(settings, "https://x.example/w")
    ring = key_ring(options["keys"], options["key_version"])  # type: ignore[arg-type]
    rebuilt = [(k.version, k.secret_key.reveal(), k.expires, k.active_from) for k in ring.versions]
    assert rebuilt == [
        (1, "key-one", date(2031, 1, 31), None),
        (2, "key-two", date(2032, 6, 30), date(2026, 1, 1)),
    ]
    assert ring.active.version == 1  # as --key-version says, not by its first day


def test_the_kit_s_clients_give_up_fast_unless_told_otherwise() -> None:
    with simulated_wallet() as kit:  # its own delay fault: 3 s, past its clients' 2 s
        kit.fail_next("addCard", "delay")
        with kit.client() as fast, pytest.raises(OutcomeUnknown):  # 2 s, not the default 35:
            fast.add_card("w", TEST_PAN, "203012")  # given up before the 3 s answer came
        kit.fail_next("addCard", "delay")
        with kit.client(timeout=6.0) as patient:  # the caller's timeout wins
            assert patient.add_card("w", "5100000000000000", "203012").ok
        kit.fail_next("getWalletData", "code_99", times=2)
        with kit.client() as retrying:  # three quick attempts by default
            assert retrying.get_wallet_data("other").response_code == "25"
            assert retrying.retries_made == 2
        kit.fail_next("getWalletData", "code_99")
        with kit.client(retry=RetryPolicy(attempts=1)) as once:  # the caller's choice wins
            assert once.get_wallet_data("other").response_code == "99"


def test_an_empty_transport_in_the_config_is_the_default(tmp_path: Path) -> None:
    """``transport = ""`` in the config file (a template's blank) is no choice: SOAP,
    the default, as when the key is left out."""
    (tmp_path / "c.toml").write_text('[sogen-soap]\ntransport = ""\n')
    env = {"SOGEN_MERCHANT_ID": "111111111111111", "SOGEN_KEY_VERSION": "1",
           "SOGEN_SECRET_KEY": "k"}  # fmt: skip
    assert _resolved("--config", str(tmp_path / "c.toml"), env=env).transport == "soap"


@pytest.mark.parametrize("given", ["JSON", "Soap"])
def test_a_transport_in_another_case_is_named_not_guessed(given: str) -> None:
    """SOGEN_TRANSPORT takes ``soap`` or ``json`` as written, as the client's
    ``transport=`` does: another spelling is named with where it came from."""
    env = {"SOGEN_MERCHANT_ID": "111111111111111", "SOGEN_KEY_VERSION": "1",
           "SOGEN_SECRET_KEY": "k", "SOGEN_TRANSPORT": given}  # fmt: skip
    with pytest.raises(ConfigurationError) as caught:
        _resolved(env=env)
    assert str(caught.value) == f"SOGEN_TRANSPORT: soap or json, not {given!r}"
