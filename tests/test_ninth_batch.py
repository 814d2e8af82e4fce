"""Properties batch 14 of realistic bugs found untested: every path in the config
file is relative to it (the client key too) and ``~`` is the user's home; a secret
key written into the config file is refused in its own words; ``wsdl diff`` lists
what breaks, then what changes, then what is information."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_wsdl_diff import _variant

from sogen_soap import ConfigurationError
from sogen_soap.cli.config import resolve_settings
from sogen_soap.cli.main import build_parser
from sogen_soap.wsdl_diff import BREAKS, CHANGES, INFO, diff_wsdl


def _settings(config: Path) -> object:
    args = build_parser().parse_args(["wallet", "--wallet", "w", "--config", str(config)])
    return resolve_settings(args, {})


def test_every_path_in_the_config_file_is_relative_to_it_and_tilde_is_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True)
    (home / "keys" / "k").write_text("home-key\n")
    monkeypatch.setenv("HOME", str(home))
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "c.toml").write_text(
        "[sogen-soap]\n"
        'merchant_id = "111111111111111"\nkey_version = 1\nenvironment = "https://h.example/x"\n'
        'secret_key_file = "~/keys/k"\nclient_cert = "tls/c.pem"\nclient_key = "tls/k.pem"\n'
    )
    monkeypatch.chdir(tmp_path)  # the shell is elsewhere
    s = _settings(folder / "c.toml")
    assert s.client_cert == str(folder / "tls" / "c.pem")  # type: ignore[attr-defined]
    assert s.client_key == str(folder / "tls" / "k.pem")  # type: ignore[attr-defined]
    assert s.secret_key.reveal() == "home-key"  # type: ignore[attr-defined]


def test_a_secret_key_in_the_config_file_is_refused_in_its_own_words(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[sogen-soap]\nsecret_key = "002001000000001_KEY1"\n')
    with pytest.raises(ConfigurationError) as refused:
        _settings(tmp_path / "c.toml")
    assert str(refused.value) == (
        f"config {tmp_path / 'c.toml'}: put the key in a file of its own and name it with "
        "secret_key_file"
    )
    assert "002001000000001_KEY1" not in str(refused.value)


def test_wsdl_diff_lists_breaks_then_changes_then_information(tmp_path: Path) -> None:
    alias = '<xs:element name="paymentMeanAlias" type="tns:paymentMeanAliasType" minOccurs="0"/>'
    # the optional alias gone (changes), a required field added (breaks)
    required = '<xs:element name="loyaltyCard" type="xs:string"/>'
    folder = _variant(tmp_path, xsd_edit=(alias, required))
    found = diff_wsdl(folder)
    severities = [d.severity for d in found]
    assert severities == sorted(severities, key=[BREAKS, CHANGES, INFO].index)
    assert severities[:2] == [BREAKS, CHANGES]
    assert str(found[0]).startswith(
        "[breaks] addCard: this WSDL requires request field loyaltyCard"
    )
    assert str(found[1]).startswith("[changes] addCard: request field paymentMeanAlias")
    assert INFO in severities
