"""The agent toolset as the model sees it: names, descriptions, input schemas, and
the validation of a model's input against them. Pure Python; no Docker here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

OUTPUT_LIMIT = 100 * 1024  # bytes of output that reach the model
DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
WORKSPACE = "/workspace"


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """One tool: its name, what the model is told about it, and its input's JSON schema."""

    name: str
    description: str
    input_schema: Mapping[str, Any]

    def to_api(self) -> dict[str, Any]:
        """The tool as the Anthropic Messages API takes it."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": _plain(self.input_schema),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _schema(required: tuple[str, ...], **properties: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(
        {
            "type": "object",
            "properties": MappingProxyType(properties),
            "required": required,
            "additionalProperties": False,
        }
    )


def _field(kind: str, description: str, **extra: Any) -> Mapping[str, Any]:
    return MappingProxyType({"type": kind, "description": description, **extra})


_PATH_NOTE = f"Absolute, or relative to {WORKSPACE}."

TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="bash",
        description=(
            "Run a command in a persistent bash shell in the sandbox (a Linux container). "
            "The working directory, exported variables and functions last between calls; "
            "stdin is empty; stdout and stderr come back together with the exit status. "
            "About 100 KiB of output is shown (its start and end); the rest is kept in a "
            "file whose path is given. A command past its timeout is killed with everything "
            "it started. The network is off unless the user turned it on. `restart: true` "
            "starts a fresh shell and ends whatever the old one left running."
        ),
        input_schema=_schema(
            (),
            command=_field("string", "The command line to run."),
            timeout_ms=_field(
                "integer",
                f"Timeout in milliseconds (default {DEFAULT_TIMEOUT_MS}, at most "
                f"{MAX_TIMEOUT_MS}).",
                minimum=1,
            ),
            restart=_field("boolean", "Replace the shell with a fresh one first."),
        ),
    ),
    ToolSpec(
        name="read",
        description=(
            "Read a text file, with line numbers. Files over about 100 KiB need view_range."
        ),
        input_schema=_schema(
            ("file_path",),
            file_path=_field("string", f"The file. {_PATH_NOTE}"),
            view_range=_field(
                "array",
                "[first, last] line numbers, 1-based and inclusive; last -1 means the end.",
                items=MappingProxyType({"type": "integer"}),
                minItems=2,
                maxItems=2,
            ),
        ),
    ),
    ToolSpec(
        name="write",
        description="Write a file, replacing it if it exists and creating parent directories.",
        input_schema=_schema(
            ("file_path", "content"),
            file_path=_field("string", f"The file. {_PATH_NOTE}"),
            content=_field("string", "The whole new content."),
        ),
    ),
    ToolSpec(
        name="edit",
        description=(
            "Replace old_string with new_string in a file. old_string must match exactly "
            "once (include surrounding lines to make it unique) unless replace_all is true."
        ),
        input_schema=_schema(
            ("file_path", "old_string", "new_string"),
            file_path=_field("string", f"The file. {_PATH_NOTE}"),
            old_string=_field("string", "The exact text to replace."),
            new_string=_field("string", "The text to put in its place."),
            replace_all=_field("boolean", "Replace every occurrence."),
        ),
    ),
    ToolSpec(
        name="glob",
        description=(
            "List files whose path matches a glob pattern (`*`, `?`, `[abc]`, `{a,b}`, and "
            "`**` for any number of directories), sorted, at most 1000."
        ),
        input_schema=_schema(
            ("pattern",),
            pattern=_field("string", "The pattern, e.g. `**/*.py`."),
            path=_field("string", f"The directory to search (default {WORKSPACE})."),
        ),
    ),
    ToolSpec(
        name="grep",
        description=(
            "Search file contents for a regular expression (Perl-style when the sandbox's "
            "grep supports it, else POSIX extended); prints path:line:text for each match, "
            "skipping binary files and .git."
        ),
        input_schema=_schema(
            ("pattern",),
            pattern=_field("string", "The regular expression."),
            path=_field("string", f"A file or directory to search (default {WORKSPACE})."),
        ),
    ),
)

_BY_NAME = {spec.name: spec for spec in TOOL_SPECS}
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list, tuple),
}


def check_input(name: str, input: Mapping[str, Any]) -> str | None:
    """None if `input` suits tool `name`, else a message telling the model what is wrong."""
    spec = _BY_NAME.get(name)
    if spec is None:
        return f"unknown tool {name!r}; the tools are {', '.join(_BY_NAME)}"
    if not isinstance(input, Mapping):
        return f"{name}: the input must be an object"
    properties = spec.input_schema["properties"]
    problems = [f"missing field {f!r}" for f in spec.input_schema["required"] if f not in input]
    problems += [f"unknown field {f!r}" for f in input if f not in properties]
    for field, value in input.items():
        if field in properties:
            problems += _check_value(field, value, properties[field])
    problems += _check_tool_rules(name, input)
    return f"{name}: " + "; ".join(problems) if problems else None


def _check_value(field: str, value: Any, schema: Mapping[str, Any]) -> list[str]:
    kind = schema["type"]
    wrong_bool = isinstance(value, bool) and kind != "boolean"
    if wrong_bool or not isinstance(value, _TYPES[kind]):
        return [f"{field!r} must be a{'n' if kind[0] in 'aei' else ''} {kind}"]
    if kind == "integer" and value < schema.get("minimum", value):
        return [f"{field!r} must be at least {schema['minimum']}"]
    if kind == "array" and not _is_line_range(value):
        return [f"{field!r} must be two integers [first, last]"]
    return []


def _is_line_range(value: Any) -> bool:
    return len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _check_tool_rules(name: str, input: Mapping[str, Any]) -> list[str]:
    """Rules a JSON schema cannot say, or says too vaguely for a model."""
    if name == "bash" and not input.get("restart") and "command" not in input:
        return ["missing field 'command'"]
    if name == "read" and _is_line_range(input.get("view_range") or ()):
        first, last = input["view_range"]
        if first < 1 or (last != -1 and last < first):
            return ["view_range must be [first, last] with 1 <= first <= last, or last -1"]
    if name == "edit" and input.get("old_string") == "":
        return ["old_string must not be empty (use write to create a file)"]
    return []
