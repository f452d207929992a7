"""The tool specs and input checks: pure Python, no engine."""

from __future__ import annotations

import re

import pytest

from tether.core.sandbox import TOOL_SPECS, check_input
from tether.core.sandbox.files import glob_to_regex, number_lines, resolve


def test_specs_are_the_managed_agents_toolset() -> None:
    assert [s.name for s in TOOL_SPECS] == ["bash", "read", "write", "edit", "glob", "grep"]
    api = TOOL_SPECS[1].to_api()
    assert api["input_schema"]["required"] == ["file_path"]
    assert api["input_schema"]["properties"]["view_range"]["type"] == "array"
    assert isinstance(api["input_schema"]["properties"], dict)


@pytest.mark.parametrize(
    ("name", "input", "expected"),
    [
        ("bash", {"command": "ls"}, None),
        ("bash", {"restart": True}, None),
        ("read", {"file_path": "a", "view_range": [1, -1]}, None),
        (
            "edit",
            {"file_path": "a", "old_string": "x", "new_string": "y", "replace_all": True},
            None,
        ),
        ("nope", {}, "unknown tool 'nope'"),
        ("bash", {}, "missing field 'command'"),
        ("bash", {"command": "ls", "cwd": "/"}, "unknown field 'cwd'"),
        ("bash", {"command": 3}, "'command' must be a string"),
        ("bash", {"command": "ls", "timeout_ms": True}, "'timeout_ms' must be an integer"),
        ("bash", {"command": "ls", "timeout_ms": 0}, "at least 1"),
        ("read", {"file_path": "a", "view_range": [1]}, "two integers"),
        ("read", {"file_path": "a", "view_range": [5, 2]}, "1 <= first <= last"),
        ("write", {"file_path": "a"}, "missing field 'content'"),
        ("edit", {"file_path": "a", "old_string": "", "new_string": "y"}, "must not be empty"),
        ("grep", {"path": "a"}, "missing field 'pattern'"),
        ("glob", "pattern", "must be an object"),
    ],
)
def test_check_input(name: str, input: object, expected: str | None) -> None:
    problem = check_input(name, input)  # type: ignore[arg-type]
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("*.py", ["./a.py"], ["./d/a.py", "./a.pyc"]),
        ("**/*.py", ["./a.py", "./d/e/a.py"], ["./a.txt"]),
        ("src/**", ["./src/a", "./src/b/c"], ["./lib/a"]),
        ("*.{md,txt}", ["./a.md", "./b.txt"], ["./c.rs"]),
        ("file?.[ch]", ["./file1.c", "./fileX.h"], ["./file10.c"]),
        ("a+b(c).txt", ["./a+b(c).txt"], ["./aab(c).txt"]),
    ],
)
def test_glob_to_regex(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = re.compile("^\\./" + glob_to_regex(pattern) + "$")
    assert all(regex.match(path) for path in matches)
    assert not any(regex.match(path) for path in misses)


def test_paths_and_line_numbers() -> None:
    assert resolve("a/../b") == "/workspace/b"
    assert resolve("/etc/passwd") == "/etc/passwd"
    assert number_lines("x\ny\n", 9) == "     9\tx\n    10\ty"
