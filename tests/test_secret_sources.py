"""Where the secret key comes from, in Python: the environment (read at call time),
a key file (named in errors by where it was given, never by its path), and the
exact words of each refusal."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sogen_soap import ConfigurationError, SecretKey
from sogen_soap.credentials import secret_key_from_env, secret_key_from_file

KEY = "002001000000001_KEY1"


def test_the_process_environment_is_read_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SOGEN_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("SOGEN_SECRET_KEY", KEY)
    assert secret_key_from_env().reveal() == KEY
    assert secret_key_from_env({"SOGEN_SECRET_KEY": "other"}).reveal() == "other"


def test_a_key_file_named_by_the_environment(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY + "\n")
    assert secret_key_from_env({"SOGEN_SECRET_KEY_FILE": str(tmp_path / "k")}).reveal() == KEY
    with pytest.raises(ConfigurationError) as caught:
        secret_key_from_env({"SOGEN_SECRET_KEY_FILE": str(tmp_path / "nothing")})
    assert str(caught.value) == (
        "SOGEN_SECRET_KEY_FILE: the file given cannot be read (not shown here, in case a key "
        "was typed instead of a path); give the path of a file whose first line is the secret key"
    )
    assert "nothing" not in str(caught.value)


def test_the_refusals_in_their_exact_words(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as both:
        secret_key_from_env({"SOGEN_SECRET_KEY": KEY, "SOGEN_SECRET_KEY_FILE": "f"})
    assert str(both.value) == "both SOGEN_SECRET_KEY and SOGEN_SECRET_KEY_FILE are set; keep one"
    with pytest.raises(ConfigurationError) as neither:
        secret_key_from_env({})
    assert str(neither.value) == "set SOGEN_SECRET_KEY or SOGEN_SECRET_KEY_FILE"
    (tmp_path / "empty").write_text("\n\n")
    with pytest.raises(ConfigurationError) as empty:
        secret_key_from_file(tmp_path / "empty", "--secret-key-file")
    assert str(empty.value) == "--secret-key-file: the file is empty"
    with pytest.raises(ConfigurationError) as unnamed:
        secret_key_from_file(tmp_path / "gone")
    assert str(unnamed.value).startswith("the key file: the file given cannot be read")
    with pytest.raises(ConfigurationError) as blank:
        SecretKey("")
    assert str(blank.value) == "secret_key must be a non-empty string"


def test_a_key_never_shows_and_never_pickles() -> None:
    key = SecretKey(KEY)
    assert repr(key) == str(key) == "SecretKey('***')"
    assert f"{key}" == "SecretKey('***')"
    with pytest.raises(TypeError, match="a SecretKey cannot be pickled"):
        pickle.dumps(key)
