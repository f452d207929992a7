"""MCP tools as the model sees them: named `mcp__SERVER__TOOL` (Claude Code's naming)
with the schemas their servers gave, and their results as content blocks that the
Messages API takes, bounded like the sandbox's output. Pure: no server here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .permissions import MCP_PREFIX
from .sandbox.tools import OUTPUT_LIMIT

NAME_LIMIT = 128
IMAGE_LIMIT = 5 * 1024 * 1024  # base64 characters of one image (the API takes up to 5 MB)
IMAGES_LIMIT = 20  # images in one result
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_HEAD = OUTPUT_LIMIT * 6 // 10  # of an overlong text, the model sees this much first
_NOT_A_NAME = re.compile(r"[^a-zA-Z0-9_-]")


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where a tool the model calls by `api_name` lives."""

    api_name: str
    server: str
    tool: str
    description: str = ""
    input_schema: Mapping[str, Any]

    def definition(self) -> dict[str, Any]:
        """The tool as the Messages API takes it."""
        schema = dict(self.input_schema) or {"type": "object"}
        schema.setdefault("type", "object")
        tool: dict[str, Any] = {"name": self.api_name, "input_schema": schema}
        if self.description:
            tool["description"] = self.description
        return tool


def routes(listed: Iterable[tuple[str, Sequence[Mapping[str, Any]]]]) -> dict[str, Route]:
    """The routes for each server's listed tools (name, description, input_schema),
    by API name. Names the API would refuse are mended, and made unique."""
    found: dict[str, Route] = {}
    for server, tools in listed:
        for tool in tools:
            api_name = _unique(api_name_for(server, str(tool["name"])), found)
            found[api_name] = Route(
                api_name=api_name, server=server, tool=str(tool["name"]),
                description=str(tool.get("description") or ""),
                input_schema=tool.get("input_schema") or {"type": "object"},
            )  # fmt: skip
    return found


def api_name_for(server: str, tool: str) -> str:
    """`mcp__SERVER__TOOL`, with characters outside [a-zA-Z0-9_-] made `_`, and cut to
    128 characters (with a hash of the whole, so that long names stay apart)."""
    name = _NOT_A_NAME.sub("_", f"{MCP_PREFIX}{server}__{tool}")
    if len(name) <= NAME_LIMIT:
        return name
    return name[: NAME_LIMIT - 9] + "_" + _digest(f"{server}\0{tool}")


def _unique(name: str, taken: Mapping[str, Route]) -> str:
    if name not in taken:
        return name
    for n in range(2, 1000):
        suffix = f"_{n}"
        candidate = name[: NAME_LIMIT - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise ValueError(f"too many tools named like {name}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# -- results -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Bounded:
    """A result for the model: content blocks, and the whole text when it was cut."""

    blocks: tuple[dict[str, Any], ...]
    truncated: bool = False
    full_text: str | None = None  # set when truncated: kept beside the log for a person


def result_blocks(
    content: Sequence[Mapping[str, Any]], structured: Mapping[str, Any] | None = None
) -> Bounded:
    """MCP content blocks as tool_result content: text and images, bounded."""
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type")
        if kind == "image" and len(images) < IMAGES_LIMIT:
            image = _image(block)
            if isinstance(image, dict):
                images.append(image)
                continue
            texts.append(image)
        else:
            texts.append(_as_text(block))
    if not texts and not images and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False, indent=2))
    return _bounded("\n".join(t for t in texts if t), images)


def _bounded(text: str, images: list[dict[str, Any]]) -> Bounded:
    data = text.encode()
    truncated = len(data) > OUTPUT_LIMIT
    full = text if truncated else None
    if truncated:
        tail = data[-(OUTPUT_LIMIT - _HEAD) :]
        omitted = len(data) - _HEAD - len(tail)
        note = (
            f"\n[... {omitted} bytes omitted: the output was cut to {OUTPUT_LIMIT // 1024} KiB]\n"
        )
        text = _decode(data[:_HEAD]) + note + _decode(tail)
    blocks: list[dict[str, Any]] = []
    if text.strip() or not images:
        blocks.append({"type": "text", "text": text if text.strip() else "(no output)"})
    return Bounded(blocks=(*blocks, *images), truncated=truncated, full_text=full)


def _image(block: Mapping[str, Any]) -> dict[str, Any] | str:
    data, media_type = str(block.get("data", "")), str(block.get("mimeType", ""))
    if media_type not in IMAGE_TYPES:
        return f"[an image of type {media_type or 'unknown'}, which the model cannot be shown]"
    if len(data) > IMAGE_LIMIT:
        return f"[a {media_type} image of {len(data)} base64 bytes, too large to show]"
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _as_text(block: Mapping[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "image":
        return f"[more than {IMAGES_LIMIT} images: the rest were left out]"
    if kind == "resource":
        resource = block.get("resource") or {}
        if "text" in resource:
            return f"[resource {resource.get('uri', '')}]\n{resource['text']}"
        return f"[binary resource {resource.get('uri', '')} ({resource.get('mimeType', '?')})]"
    if kind == "resource_link":
        return f"[resource link: {block.get('uri', '')} {block.get('name', '')}]".rstrip()
    if kind == "audio":
        return f"[audio ({block.get('mimeType', '?')}), which the model cannot be given]"
    return json.dumps(dict(block), ensure_ascii=False)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="ignore")  # a cut can split a character


def content_text(blocks: Iterable[Mapping[str, Any]]) -> str:
    """The text of result blocks, images as a short mark (for a person's view)."""
    parts = []
    for block in blocks:
        if block.get("type") == "image":
            parts.append(f"[image {block.get('source', {}).get('media_type', '')}]")
        else:
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)
