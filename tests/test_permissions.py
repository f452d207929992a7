"""Permission policies: rules by name or glob, where they come from, and which one wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.core import config, errors
from tether.core.permissions import ALLOW, ASK, DENY, Policy, layer, parse_rule


def decide(rules: tuple[str, ...], tool: str) -> str:
    return Policy.from_strings(rules).decide(tool).decision


def test_defaults_allow_builtins_and_ask_for_mcp_tools() -> None:
    assert decide((), "bash") == ALLOW
    assert decide((), "write") == ALLOW
    assert decide((), "mcp__time__get_current_time") == ASK


def test_names_globs_and_whole_servers() -> None:
    rules = ("allow:mcp__time", "deny:mcp__github__delete_*", "ask:bash")
    assert decide(rules, "mcp__time__convert_time") == ALLOW  # mcp__NAME: all its tools
    assert decide(rules, "mcp__timer__x") == ASK  # ... and not another server's
    assert decide(rules, "mcp__github__delete_repo") == DENY
    assert decide(rules, "mcp__github__list_issues") == ASK
    assert decide(rules, "bash") == ASK
    assert decide(rules, "read") == ALLOW


def test_within_one_place_deny_beats_ask_beats_allow() -> None:
    rules = layer(allow=["mcp__*"], ask=["mcp__a__*"], deny=["mcp__a__rm"])
    assert rules == ("deny:mcp__a__rm", "ask:mcp__a__*", "allow:mcp__*")
    assert decide(rules, "mcp__a__rm") == DENY
    assert decide(rules, "mcp__a__ls") == ASK
    assert decide(rules, "mcp__b__ls") == ALLOW


def test_flags_override_the_environment_which_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[permissions]\nask = ["bash"]\ndeny = ["mcp__*"]\n')
    monkeypatch.setenv("TETHER_ALLOW", "mcp__time__*, mcp__fs")
    flags = {"permissions": layer(deny=["mcp__fs__write"])}
    resolved = config.resolve(flags, config_path=path)
    rules = resolved.settings.permissions
    assert rules == (
        "deny:mcp__fs__write", "allow:mcp__time__*", "allow:mcp__fs", "deny:mcp__*", "ask:bash",
    )  # fmt: skip
    assert decide(rules, "mcp__time__now") == ALLOW  # the environment over the file
    assert decide(rules, "mcp__fs__write") == DENY  # the flag over the environment
    assert decide(rules, "mcp__fs__read") == ALLOW
    assert decide(rules, "mcp__other__x") == DENY  # the file over the defaults
    assert decide(rules, "bash") == ASK
    assert resolved.sources["permissions"] == "flag"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('permissions = ["bash"]', "must be a table of allow, ask and deny lists"),
        ('[permissions]\nalways = ["bash"]', "must be a table of allow, ask and deny lists"),
        ('[permissions]\nallow = "bash"', "permissions.allow must be a list"),
        ('[permissions]\nallow = ["mcp__x.y"]', "permissions.allow 'mcp__x.y' must be a tool name"),
    ],
)
def test_bad_rules_in_the_file_name_the_file_and_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml + "\n")
    with pytest.raises(errors.ConfigError, match=message) as caught:
        config.resolve(config_path=path)
    assert str(path) in str(caught.value)


def test_bad_rules_from_flags_and_environment_name_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ConfigError, match="--deny 'a b' must be a tool name"):
        layer(deny=["a b"])
    monkeypatch.setenv("TETHER_ASK", "ok,no/slash")
    with pytest.raises(errors.ConfigError, match="TETHER_ASK 'no/slash'"):
        config.resolve(config_path=Path("/nonexistent.toml"))
    with pytest.raises(errors.ConfigError, match="want allow, ask or deny"):
        parse_rule("maybe:bash")
