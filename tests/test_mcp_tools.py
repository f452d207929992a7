"""MCP tools as the model sees them: names the API accepts, schemas, bounded results."""

from __future__ import annotations

import re

from tether.core.mcp_tools import IMAGE_LIMIT, api_name_for, result_blocks, routes
from tether.core.sandbox.tools import OUTPUT_LIMIT

API_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}}


def test_tools_are_named_like_claude_codes() -> None:
    found = routes([("time", [{"name": "get_current_time", "input_schema": SCHEMA}])])
    route = found["mcp__time__get_current_time"]
    assert (route.server, route.tool) == ("time", "get_current_time")
    assert route.definition() == {"name": "mcp__time__get_current_time", "input_schema": SCHEMA}


def test_names_the_api_refuses_are_mended_and_kept_apart() -> None:
    long_tool = "t" * 200
    listed = [
        ("my server", [{"name": "odd.name/with spaces"}, {"name": "odd_name_with_spaces"}]),
        ("s", [{"name": long_tool}, {"name": long_tool + "x"}, {"name": "échec"}]),
    ]
    found = routes(listed)
    assert all(API_NAME.fullmatch(name) for name in found), list(found)
    assert len(found) == 5
    by_tool = {r.tool: name for name, r in found.items()}
    assert by_tool["odd.name/with spaces"] == "mcp__my_server__odd_name_with_spaces"
    assert by_tool["odd_name_with_spaces"] == "mcp__my_server__odd_name_with_spaces_2"
    assert by_tool[long_tool] != by_tool[long_tool + "x"]
    assert api_name_for("s", long_tool) == api_name_for("s", long_tool)  # stable
    assert by_tool["échec"] == "mcp__s___chec"


def test_a_definition_always_has_an_object_schema_and_keeps_the_description() -> None:
    found = routes([("s", [{"name": "a", "description": "Does a.", "input_schema": {}}])])
    assert found["mcp__s__a"].definition() == {
        "name": "mcp__s__a", "description": "Does a.", "input_schema": {"type": "object"},
    }  # fmt: skip


def test_text_and_images_become_tool_result_blocks() -> None:
    png = {"type": "image", "data": "iVBORw0K", "mimeType": "image/png"}
    bounded = result_blocks([{"type": "text", "text": "here:"}, png])
    source = {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}
    assert bounded.blocks == (
        {"type": "text", "text": "here:"},
        {"type": "image", "source": source},
    )
    assert not bounded.truncated


def test_what_the_model_cannot_take_is_described_instead() -> None:
    blocks = [
        {"type": "image", "data": "x", "mimeType": "image/tiff"},
        {"type": "image", "data": "x" * (IMAGE_LIMIT + 1), "mimeType": "image/png"},
        {"type": "audio", "data": "x", "mimeType": "audio/wav"},
        {"type": "resource", "resource": {"uri": "file:///a", "text": "A's text"}},
        {"type": "resource_link", "uri": "file:///b", "name": "b"},
    ]
    (text,) = result_blocks(blocks).blocks
    assert "image/tiff, which the model cannot be shown" in text["text"]
    assert "too large to show" in text["text"]
    assert "audio (audio/wav)" in text["text"]
    assert "[resource file:///a]\nA's text" in text["text"]
    assert "[resource link: file:///b b]" in text["text"]


def test_empty_and_structured_only_results() -> None:
    assert result_blocks([]).blocks == ({"type": "text", "text": "(no output)"},)
    assert result_blocks([{"type": "text", "text": ""}]).blocks[0]["text"] == "(no output)"
    structured = result_blocks([], {"a": 1}).blocks[0]["text"]
    assert structured == '{\n  "a": 1\n}'


def test_long_output_is_cut_like_the_sandboxes_with_the_whole_kept() -> None:
    text = "".join(f"line {i}\n" for i in range(40_000))
    bounded = result_blocks([{"type": "text", "text": text}])
    (block,) = bounded.blocks
    assert bounded.truncated and bounded.full_text == text
    assert len(block["text"].encode()) < OUTPUT_LIMIT + 200
    assert block["text"].startswith("line 0\n") and block["text"].endswith("line 39999\n")
    assert "bytes omitted: the output was cut to 100 KiB" in block["text"]
