"""Settings precedence: defaults < config file < TETHER_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.core import config, errors


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_each_layer_overrides_the_one_before(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path / "c.toml", 'model = "from-file"\nmax_turns = 7\nimage = "img-file"\n')
    monkeypatch.setenv("TETHER_MAX_TURNS", "9")
    monkeypatch.setenv("TETHER_IMAGE", "img-env")
    resolved = config.resolve({"image": "img-flag", "model": None}, config_path=path)
    s = resolved.settings
    assert (s.model, s.max_turns, s.image, s.memory) == ("from-file", 9, "img-flag", "2g")
    assert resolved.sources["model"].startswith("file ")
    assert resolved.sources["max_turns"] == "env"
    assert resolved.sources["image"] == "flag"
    assert resolved.sources["memory"] == "default"


def test_environment_values_are_parsed(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TETHER_NETWORK", "TRUE")
    monkeypatch.setenv("TETHER_TIMEOUT", "2.5")
    monkeypatch.setenv("TETHER_PIDS", "64")
    monkeypatch.setenv("TETHER_BUDGET", "1000")
    s = config.resolve(config_path=tmp_path / "none.toml").settings
    assert s.network is True and s.timeout_s == 2.5
    assert (s.pids_limit, s.token_budget) == (64, 1000)


def test_keys_are_the_flags_names_and_the_old_names_still_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = write(tmp_path / "new.toml", "timeout = 30\nbudget = 9000\npids = 100\n")
    s = config.resolve(config_path=new).settings
    assert (s.timeout_s, s.token_budget, s.pids_limit) == (30, 9000, 100)
    old = write(tmp_path / "old.toml", "timeout_s = 31\ntoken_budget = 9001\npids_limit = 101\n")
    s = config.resolve(config_path=old).settings
    assert (s.timeout_s, s.token_budget, s.pids_limit) == (31, 9001, 101)
    monkeypatch.setenv("TETHER_TIMEOUT_S", "5")
    monkeypatch.setenv("TETHER_TIMEOUT", "6")  # the new name wins when both are set
    assert config.resolve(config_path=tmp_path / "none.toml").settings.timeout_s == 6


@pytest.mark.parametrize(
    "text,words",
    [
        ("max_turn = 3", "unknown key 'max_turn'; did you mean 'max_turns'?"),
        ("timout = 3", "unknown key 'timout'; did you mean 'timeout'?"),
        ("network = 'yes'", "network must be true or false, not 'yes'"),
        ("network = 1", "network must be true or false, not 1"),
        ("max_turns = 2.5", "max_turns must be a whole number, not 2.5"),
        ("max_turns = '5'", "max_turns must be a whole number, not '5'"),
        ("memory = 'lots'", "memory must be a size like 512m or 2g, not 'lots'"),
        ("memory = '1k'", "memory must be at least 6m"),
    ],
)
def test_values_are_strict_and_typos_get_a_suggestion(
    tmp_path: Path, text: str, words: str
) -> None:
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(errors.ConfigError) as caught:
        config.resolve(config_path=path)
    assert words in str(caught.value)


@pytest.mark.parametrize("raw", ["yes", "on", "maybe", "2"])
def test_environment_booleans_are_true_false_1_or_0(
    raw: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHER_NETWORK", raw)
    with pytest.raises(errors.ConfigError, match="TETHER_NETWORK must be true or false"):
        config.resolve(config_path=tmp_path / "none.toml")


def test_a_misspelt_variable_gets_a_warning_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TETHER_MAX_TURN", "3")
    monkeypatch.setenv("TETHER_SOMETHING_ELSE", "x")  # not like any setting: not ours to judge
    config.resolve(config_path=tmp_path / "none.toml")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["TETHER_MAX_TURN is not a tether setting; did you mean 'TETHER_MAX_TURNS'?"]


def test_a_config_file_that_is_not_utf8_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('model = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(errors.ConfigError, match="not UTF-8 text"):
        config.resolve(config_path=path)


def test_anthropic_base_url_is_the_fallback_endpoint(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    assert config.resolve(config_path=tmp_path / "x").settings.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "text,words",
    [
        ("max_turns = 'many'", "max_turns must be a whole number"),
        ("colour = 'blue'", "unknown key 'colour'"),
        ("max_turns = 0", "greater than 0"),
        ("model = [", "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_file_and_the_key(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(errors.ConfigError) as caught:
        config.resolve(config_path=path)
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_a_bad_environment_value_names_the_variable(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TETHER_CPUS", "lots")
    with pytest.raises(errors.ConfigError, match="TETHER_CPUS must be a number"):
        config.resolve(config_path=tmp_path / "none.toml")


def test_the_default_model_is_a_sonnet_from_the_sdk_model_list() -> None:
    import typing

    from anthropic.types import model_param

    names = set()
    for arg in typing.get_args(model_param.ModelParam):
        names |= set(typing.get_args(arg))
    assert config.DEFAULT_MODEL in names and "sonnet" in config.DEFAULT_MODEL


def test_the_output_cap_is_a_size(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert config.resolve(config_path=tmp_path / "none.toml").settings.max_output == "64m"
    monkeypatch.setenv("TETHER_MAX_OUTPUT", "1.5M")
    assert config.parse_size(config.resolve(config_path=tmp_path / "x").settings.max_output) == (
        1536 * 1024
    )
    sizes = [("100000", 100000), ("200k", 204800), ("2g", 2 * 1024**3), ("8MiB", 8 << 20)]
    for good, size in sizes:
        assert config.parse_size(good) == size
    for bad in ["lots", "0", "-1m", "1t"]:
        monkeypatch.setenv("TETHER_MAX_OUTPUT", bad)
        with pytest.raises(errors.ConfigError, match="TETHER_MAX_OUTPUT must be"):
            config.resolve({"max_output": None}, config_path=tmp_path / "x")
