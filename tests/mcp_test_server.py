"""An MCP server for the tests, built on the `mcp` SDK: it reports its environment,
crashes or hangs on request, returns images and large outputs, and counts calls.

    python tests/mcp_test_server.py [--http PORT] [--crash-at-start] [--hang-at-start]
                                    [--pid-file FILE]

Over stdio by default; `--http PORT` serves streamable HTTP on 127.0.0.1:PORT/mcp.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

import anyio
from mcp.server.mcpserver import Image, MCPServer

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

server = MCPServer("tether-test")


@server.tool(description="Echo the text back.")
def echo(text: str) -> str:
    return text


@server.tool(description="The environment this server was started with, as JSON.")
def env() -> str:
    raw = Path("/proc/self/environ").read_bytes().split(b"\0")
    pairs = (item.decode().split("=", 1) for item in raw if b"=" in item)
    return json.dumps(dict(pairs))


@server.tool(description="Exit at once, in the middle of this call.")
def crash() -> str:
    print("about to crash on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool(description="Never answer.")
async def hang() -> str:
    await anyio.sleep(3600)
    return "woke up"


@server.tool(description="A tiny PNG image.")
def image() -> Image:
    return Image(data=PNG, format="png")


@server.tool(description="A text of `size` bytes.")
def big(size: int) -> str:
    line = "0123456789abcdef" * 4 + "\n"
    return (line * (size // len(line) + 1))[:size]


@server.tool(description="Append a line to the file at `path`; returns how many it has.")
def count(path: str) -> str:
    with open(path, "a") as f:
        f.write("called\n")
    return str(len(Path(path).read_text().splitlines()))


@server.tool(description="Append a line to the file at `path`, then take `seconds` to answer.")
async def slow_count(path: str, seconds: float) -> str:
    with open(path, "a") as f:
        f.write("called\n")
    await anyio.sleep(seconds)
    return str(len(Path(path).read_text().splitlines()))


@server.tool(name="odd.name/with spaces", description="A tool whose name the API refuses.")
def odd() -> str:
    return "odd answered"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int)
    parser.add_argument("--crash-at-start", action="store_true")
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--pid-file")
    args = parser.parse_args()
    if args.pid_file:
        with open(args.pid_file, "a") as f:
            f.write(f"{os.getpid()}\n")
    if args.crash_at_start:
        print("cannot start: the test asked me to crash", file=sys.stderr, flush=True)
        sys.exit(2)
    if args.hang_at_start:
        time.sleep(3600)
    if args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()


if __name__ == "__main__":
    main()
