"""Permission policies: whether a tool call is allowed, asked about, or denied.

A rule names a tool or a glob of tool names (`bash`, `mcp__github__*`), and
`mcp__NAME` alone means every tool of the MCP server NAME. Rules come from the
config file's `[permissions]` table, `TETHER_ALLOW` / `TETHER_ASK` / `TETHER_DENY`
and the `--allow` / `--ask` / `--deny` flags. A later place overrides an earlier
one (flags over the environment over the file) and, within one place, deny beats
ask beats allow. Where no rule matches, the sandboxed built-in tools are allowed
and MCP tools ask.

A policy is written down as strings `DECISION:PATTERN`, the first match winning,
which is how a session records it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final, cast

from . import errors
from .events import Permission

ALLOW: Final = "allow"  # Final: typed as the literals the events' fields take
ASK: Final = "ask"
DENY: Final = "deny"
DECISIONS = (DENY, ASK, ALLOW)  # the order of strictness, within one place
MCP_PREFIX = "mcp__"
DEFAULT_RULES = (f"{ASK}:{MCP_PREFIX}*", f"{ALLOW}:*")
_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!-]{1,200}")


@dataclass(frozen=True)
class Rule:
    """One rule: calls of tools matching `pattern` get `decision`."""

    decision: Permission
    pattern: str

    def matches(self, tool: str) -> bool:
        if fnmatchcase(tool, self.pattern):
            return True
        server_only = self.pattern.startswith(MCP_PREFIX) and "__" not in self.pattern[5:]
        return server_only and fnmatchcase(tool, self.pattern + "__*")

    def __str__(self) -> str:
        return f"{self.decision}:{self.pattern}"


@dataclass(frozen=True)
class Policy:
    """Rules in order, the first match winning; the defaults come last."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_strings(cls, rules: Iterable[str]) -> Policy:
        """The policy a session recorded (`DECISION:PATTERN` strings), defaults appended."""
        return cls(tuple(parse_rule(text) for text in [*rules, *DEFAULT_RULES]))

    def decide(self, tool: str) -> Rule:
        """The rule that decides calls of `tool`."""
        for rule in self.rules:
            if rule.matches(tool):
                return rule
        return Rule(ALLOW, "*")  # unreachable with the defaults in place


def parse_rule(text: str) -> Rule:
    decision, _, pattern = text.partition(":")
    if decision not in DECISIONS:
        raise errors.ConfigError(f"bad permission rule {text!r}: want allow, ask or deny")
    return Rule(cast(Permission, decision), check_pattern(pattern, f"{decision} rule"))


def check_pattern(pattern: str, where: str) -> str:
    """A tool name or glob, as the API spells tool names (letters, digits, _ and -)."""
    if not _PATTERN.fullmatch(pattern):
        raise errors.ConfigError(
            f"{where} {pattern!r} must be a tool name or glob: letters, digits, _ and -, "
            "with * ? [ ] to match several"
        )
    return pattern


def layer(
    allow: Sequence[str] = (),
    ask: Sequence[str] = (),
    deny: Sequence[str] = (),
    where: str = "--{}",
) -> tuple[str, ...]:
    """One place's rules as strings, strictest first, so that deny beats ask beats allow.

    `where` names the place in errors: `--{}` for flags, `TETHER_{}` for variables.
    """
    given = {ALLOW: allow, ASK: ask, DENY: deny}
    rules = []
    for decision in DECISIONS:
        name = where.format(decision.upper() if where.startswith("TETHER_") else decision)
        rules += [f"{decision}:{check_pattern(pattern, name)}" for pattern in given[decision]]
    return tuple(rules)
