"""Credentials stay out of everything tether records or prints, and come from the
present environment only (issue 13, items 7 and 9).

The real CLI runs against the fake Messages API, or against a stand-in for a proxy
that answers in plain text. Each of them echoes the key the way real servers and
proxies do: inside a JSON error message (403, 5xx), quoted, and wrapped over two
lines. The log, every file under the data dir, stdout and stderr of the run, and
what `tail`, `show` and `ls` print afterwards must hold no trace of it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from e2e import (
    API_KEY,
    TEST_IMAGE,
    json_lines,
    of_type,
    only_session_id,
    run,
    session_events,
    tether_env,
)
from fakeapi import FakeAPI, error, text

from tether.core import events as ev
from tether.core.exit_codes import ExitCode
from tether.core.redact import REDACTED, StreamRedactor, redact

GATEWAY_KEY = "gw-7c1e0a93f2d54b8e"  # a key of no Anthropic shape: only the configured one
HALVES = (API_KEY[:13], API_KEY[13:])  # "sk-ant-test-S", "ECRET-4f2b9c"


def wrapped(key: str) -> str:
    """The key as a proxy might echo it: quoted, JSON-escaped and broken over two lines."""
    return f'upstream said: {{\\"x-api-key\\": \\"{key[:9]}\\n{key[9:]}\\"}}'


def traces(key: str) -> tuple[str, ...]:
    """What must not be found: the key, and each half of it."""
    return (key, key[: len(key) // 2], key[len(key) // 2 :])


def assert_no_trace(key: str, env: dict[str, str], session_id: str, *outputs: str) -> None:
    """Not in any file under the data dir, not in `outputs`, and not in what `tail`,
    `show` and `ls` print of the session."""
    home = Path(env.get("TETHER_HOME") or os.environ["TETHER_HOME"])
    for path in [p for p in home.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for trace in traces(key):
            assert trace.encode() not in data, f"{trace!r} in {path}"
    for output in [*outputs, *everything_printed(env, session_id)]:
        for trace in traces(key):
            assert trace not in output, f"{trace!r} in {output[-2000:]!r}"


def everything_printed(env: dict[str, str], session_id: str) -> list[str]:
    printed = []
    for args in (
        ["tail", session_id, "-n", "100"],
        ["tail", session_id, "--json", "-n", "100"],
        ["show", session_id],
        ["show", session_id, "--json"],
        ["ls"],
        ["ls", "--json"],
    ):
        done = run(args, env)
        assert done.returncode == 0, (args, done.stderr)
        printed += [done.stdout, done.stderr]
    return printed


# -- the redaction itself ----------------------------------------------------------------


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", GATEWAY_KEY)


@pytest.mark.parametrize(
    "shown",
    [
        GATEWAY_KEY,
        f'"{GATEWAY_KEY}"',
        f"key={GATEWAY_KEY[:6]}\n{GATEWAY_KEY[6:]}",  # wrapped by a proxy
        f"key={GATEWAY_KEY[:6]}\\n{GATEWAY_KEY[6:]}",  # ... and JSON-escaped
        f"'{GATEWAY_KEY[:8]}' + '{GATEWAY_KEY[8:]}'",  # split into a concatenation
        f"{GATEWAY_KEY[:4]} {GATEWAY_KEY[4:10]}  {GATEWAY_KEY[10:]}",
    ],
)
def test_the_configured_key_is_redacted_however_it_is_cut(configured: None, shown: str) -> None:
    cleaned = redact(f"before {shown} after")
    assert cleaned.startswith("before ") and cleaned.endswith(" after"), cleaned
    assert REDACTED in cleaned
    for trace in (GATEWAY_KEY[:6], GATEWAY_KEY[10:]):
        assert trace not in cleaned


@pytest.mark.parametrize(
    "key",
    [
        "sk-ant-api03-" + "A1b2_C3d4-" * 9 + "AA",
        "sk-ant-admin01-Zx9_Yw8-Vu7",
        "sk-ant-oat01-abcdefgh12345678",
    ],
)
def test_anything_shaped_like_an_anthropic_key_is_redacted(key: str) -> None:
    assert redact(f"use {key}, please") == f"use {REDACTED}, please"


def test_ordinary_text_is_left_alone(configured: None) -> None:
    for sample in ("sk-ant- is the prefix", "ask-antelope", "gw-7c1e0a", "x" * 10_000):
        assert redact(sample) == sample


def test_a_short_configured_key_redacts_no_ordinary_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "abc")
    assert redact("abc abc") == "abc abc"


def test_a_key_split_across_streamed_pieces_never_shows(configured: None) -> None:
    stream = StreamRedactor()
    pieces = ["Your key is ", GATEWAY_KEY[:5], GATEWAY_KEY[5:11], GATEWAY_KEY[11:], " - done"]
    shown = "".join(stream.feed(piece) for piece in pieces) + stream.flush()
    assert shown == f"Your key is {REDACTED} - done"


# -- end to end: the key echoed by a server ---------------------------------------------


class PlainTextProxy:
    """An HTTP server that answers every request as a misbehaving proxy would: 502, plain
    text, echoing the request's credentials (wrapped over two lines)."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                key = self.headers.get("x-api-key") or self.headers.get("authorization", "")
                body = f"502 Bad Gateway\nupstream refused {wrapped(key)}\n".encode()
                outer.hits += 1
                self.send_response(502)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.hits = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PlainTextProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[PlainTextProxy]:
    with PlainTextProxy() as server:
        yield server


@pytest.mark.parametrize(
    "key,json_mode",
    [(API_KEY, False), (GATEWAY_KEY, True)],  # each key and each output once
    ids=["anthropic key, human", "gateway key, json"],
)
def test_a_403_that_echoes_the_key_leaves_no_trace(
    key: str, json_mode: bool, api: FakeAPI, tether_home: Path
) -> None:
    api.add(error(403, message=f"key {wrapped(key)} may not use this model ({key})"))
    env = tether_env(api.base_url, TEST_IMAGE, ANTHROPIC_API_KEY=key)
    done = run(["run", *(["--json"] if json_mode else []), "hello"], env)
    assert done.returncode == ExitCode.AUTH, done.stderr
    assert "403" in done.stderr and REDACTED in done.stderr
    session_id = only_session_id()
    assert REDACTED in of_type(session_events(), ev.SessionError)[-1].message
    assert_no_trace(key, env, session_id, done.stdout, done.stderr)


@pytest.mark.parametrize("key", [API_KEY, GATEWAY_KEY], ids=["anthropic key", "gateway key"])
def test_5xx_retries_that_echo_the_key_leave_no_trace(
    key: str, api: FakeAPI, tether_home: Path
) -> None:
    for status in (500, 529, 503, 500, 502):  # all five tries
        api.add(error(status, message=f"upstream {status}: {wrapped(key)} / {key}"))
    env = tether_env(api.base_url, TEST_IMAGE, ANTHROPIC_API_KEY=key)
    done = run(["run", "--json", "hello"], env | {"TETHER_RETRY_BASE_S": "0.001"})
    final = json_lines(done.stdout)[-1]
    assert final["exit_code"] == ExitCode.MODEL == done.returncode, done.stderr
    errors_seen = of_type(session_events(), ev.SessionError)
    assert len(errors_seen) == 5 and all(REDACTED in e.message for e in errors_seen)
    assert_no_trace(key, env, final["session_id"], done.stdout, done.stderr)


@pytest.mark.parametrize("key", [API_KEY, GATEWAY_KEY], ids=["anthropic key", "gateway key"])
def test_a_proxys_plain_text_body_that_echoes_the_key_leaves_no_trace(
    key: str, proxy: PlainTextProxy, tether_home: Path
) -> None:
    env = tether_env(proxy.base_url, TEST_IMAGE, ANTHROPIC_API_KEY=key, TETHER_RETRY_BASE_S="0.001")
    done = run(["run", "hello"], env)
    assert done.returncode == ExitCode.MODEL, done.stderr
    assert proxy.hits >= 2 and "502" in done.stderr
    session_id = only_session_id()
    assert_no_trace(key, env, session_id, done.stdout, done.stderr)


def test_the_key_in_a_prompt_or_in_the_models_words_is_never_recorded_or_shown(
    api: FakeAPI, env: dict[str, str], tether_home: Path
) -> None:
    """The model's text streams in pieces of 4 characters, so the key arrives cut up."""
    api.add(text(f"You gave me {API_KEY}; I will not use it.", chunk_chars=4))
    for json_mode in (False, True):
        done = run(["run", *(["--json"] if json_mode else []), f"my key is {API_KEY}"], env)
        assert done.returncode == 0, done.stderr
        if json_mode:
            assert f"my key is {REDACTED}" in done.stdout
        assert f"{REDACTED}; I will not use it" in done.stdout + done.stderr
        api.add(text(f"You gave me {API_KEY}; I will not use it.", chunk_chars=3))
    sent = api.requests[0].body["messages"][0]["content"][0]["text"]
    assert sent == f"my key is {REDACTED}"  # the context is made of what was recorded
    session_id = json.loads(done.stdout.splitlines()[0])["session_id"]
    assert_no_trace(API_KEY, env, session_id, done.stdout, done.stderr)


# -- 9: endpoints and credentials from the present environment ---------------------------


def test_resume_calls_the_endpoint_of_today_not_the_one_in_the_log(
    api: FakeAPI, tether_home: Path
) -> None:
    with FakeAPI(default=text("from the old endpoint")) as old:
        first = run(["run", "--json", "hello"], tether_env(old.base_url, TEST_IMAGE))
        assert first.returncode == 0, first.stderr
        session_id = json_lines(first.stdout)[-1]["session_id"]
        asked_before = len(old.requests)
        api.add(text("from today's endpoint"), text("and the flag's"))
        resumed = run(["resume", session_id, "again"], tether_env(api.base_url, TEST_IMAGE))
        assert resumed.returncode == 0, resumed.stderr
        assert len(old.requests) == asked_before and len(api.requests) == 1
        assert "from today's endpoint" in resumed.stdout
        with FakeAPI(default=text("from the flag's endpoint")) as flagged:
            env = tether_env(api.base_url, TEST_IMAGE)
            again = run(["resume", session_id, "--base-url", flagged.base_url, "more"], env)
            assert again.returncode == 0 and len(flagged.requests) == 1, again.stderr
        assert len(old.requests) == asked_before and len(api.requests) == 1


def test_a_log_that_names_another_endpoint_never_gets_the_key(
    api: FakeAPI, env: dict[str, str], tether_home: Path
) -> None:
    """A copied or forged log names an endpoint of its own; resume ignores it."""
    with FakeAPI(default=text("stolen")) as elsewhere:
        from tether.core.store import SessionStore

        created = ev.SessionCreated(model="claude-test", tools=(), base_url=elsewhere.base_url)
        session = SessionStore().create(created, "copied")
        session.append(ev.UserMessage(content="hello"))
        session.close()
        api.add(text("hi from the right place"))
        done = run(["resume", "copied"], env)
        assert done.returncode == 0, done.stderr
        assert not elsewhere.requests and len(api.requests) == 1


def test_credentials_in_the_endpoint_are_not_recorded(api: FakeAPI, tether_home: Path) -> None:
    api.add(text("ok"))
    with_password = api.base_url.replace("http://", "http://user:hunter2-pass@")
    env = tether_env(with_password, TEST_IMAGE)
    done = run(["run", "hello"], env)
    assert done.returncode == 0, done.stderr
    log = b"".join(p.read_bytes() for p in tether_home.rglob("*") if p.is_file())
    assert b"hunter2" not in log and api.base_url.encode() in log
