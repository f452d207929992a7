"""Helpers for the chaos and fault tests: a scripted model that decides each reply
from the conversation alone (so a killed harness that asks again gets the same
answer), strict checks of a log file, a reader for a session's workspace, and a
second Docker engine of our own that a test may restart."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e import home_labels
from fakeapi import Reply, Request, text, tool_use

from tether.core import events as ev
from tether.core.sandbox.engine import volume_name

COUNTER = "/workspace/counter"  # one line per call's effect: what the final workspace compares
RUNS = "/workspace/runs"  # one line per execution of a tool_use (its id): who ran how often
_USE_ID = re.compile(r"toolu_(?P<call>[a-z]+\d+)_a(?P<attempt>\d+)$")


# ---------------------------------------------------------------- the scripted model


def call_name(number: int) -> str:
    return f"call{number:02d}"


@dataclass(frozen=True)
class Attempt:
    """One tool_use of a call, and what its result said (None: no result yet)."""

    use_id: str
    call: str
    attempt: int
    result: dict[str, Any] | None

    @property
    def done(self) -> bool:
        return self.result is not None and not self.result.get("is_error")


def attempts_in(messages: Sequence[dict[str, Any]]) -> list[Attempt]:
    """Every scripted tool_use in a conversation, with its result if it has one."""
    results = {
        block["tool_use_id"]: block
        for message in messages
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    }
    found = []
    for message in messages:
        if message["role"] != "assistant":
            continue
        for block in message["content"]:
            match = _USE_ID.match(block.get("id", "")) if block["type"] == "tool_use" else None
            if match:
                use_id = block["id"]
                call, attempt = match["call"], int(match["attempt"])
                found.append(Attempt(use_id, call, attempt, results.get(use_id)))
    return found


def call_command(use_id: str, call: str, attempt: int, sleep_s: float) -> str:
    """Record the run, then the call's effect. A retry checks the effect first,
    as the interrupted result tells the model to: the effect must happen once."""
    effect = f"echo {call} >> {COUNTER}"
    if attempt > 1:
        effect = f"grep -qx {call} {COUNTER} || {effect}"
    return f"echo {use_id} >> {RUNS}; {effect}; sleep {sleep_s}"


class StepScript:
    """A model working through turns of numbered calls, as a FakeAPI responder.

    The reply is a pure function of the request's messages: the first turn with
    a call not yet done, each such call issued again (attempt + 1) after an
    error result. Deterministic across harness restarts, with no queue to consume.
    """

    def __init__(
        self,
        turns: Sequence[Sequence[int]],
        *,
        slow_turns: frozenset[int] = frozenset(),
        sleep_s: float = 0.3,
        output_bytes: int = 0,
        stream_delay_s: float = 0.025,
        final: str = "All calls are done.",
    ) -> None:
        self.turns = [[call_name(n) for n in turn] for turn in turns]
        self.slow_turns = slow_turns
        self.sleep_s = sleep_s
        self.output_bytes = output_bytes
        self.stream_delay_s = stream_delay_s
        self.final = final

    @property
    def calls(self) -> list[str]:
        return [call for turn in self.turns for call in turn]

    def __call__(self, request: Request) -> Reply:
        return self.reply_for(request.body["messages"])

    def reply_for(self, messages: Sequence[dict[str, Any]]) -> Reply:
        attempts = attempts_in(messages)
        done = {a.call for a in attempts if a.done}
        for index, turn in enumerate(self.turns):
            todo = [call for call in turn if call not in done]
            if todo:
                return self._turn_reply(index, todo, attempts)
        return text(self.final)

    def _turn_reply(self, index: int, todo: list[str], attempts: list[Attempt]) -> Reply:
        reply = text(f"Turn {index}: " + "working on it, " * 16)
        if index in self.slow_turns:  # 40 text deltas: a second by default, for kills mid-stream
            reply = reply.with_(event_delay_s=self.stream_delay_s, chunk_chars=6)
        for call in todo:
            attempt = 1 + sum(1 for a in attempts if a.call == call)
            use_id = f"toolu_{call}_a{attempt}"
            command = call_command(use_id, call, attempt, self.sleep_s)
            if self.output_bytes:
                command += f"; head -c {self.output_bytes} /dev/zero | tr '\\0' x"
            reply = reply + tool_use("bash", {"command": command}, id=use_id)
        return reply


# ---------------------------------------------------------------- the log, strictly


def parse_log(path: Path, *, torn_tail_ok: bool = False, garbage_ok: int = 0) -> list[ev.Event]:
    """Every line of the log as an event; a torn last line only if allowed.

    `garbage_ok` is how many complete lines may fail to parse (a test put them there).
    Fails (AssertionError) on anything else, naming the line.
    """
    data = path.read_bytes()
    *lines, tail = data.split(b"\n")
    assert not tail or torn_tail_ok, f"torn last line where none may be: {tail[:80]!r}"
    events, bad = [], []
    for number, line in enumerate(lines, 1):
        try:
            events.append(ev.parse_line(line))
        except ev.InvalidEvent as exc:
            bad.append(f"line {number}: {exc}: {line[:80]!r}")
    assert len(bad) <= garbage_ok, "lines that do not parse:\n" + "\n".join(bad)
    return events


def check_seqs(events: Sequence[ev.Event]) -> None:
    seqs = [e.seq for e in events]
    assert seqs == list(range(len(events))), f"seq has gaps or repeats: {seqs}"


def check_tool_pairs(events: Sequence[ev.Event], *, all_closed: bool) -> None:
    """At most one result per call (exactly one if `all_closed`), none for unknown
    calls, and no model request while a call is still open."""
    results: dict[str, int] = {}
    open_uses: set[str] = set()
    uses: set[str] = set()
    for event in events:
        if isinstance(event, ev.AgentToolUse):
            uses.add(event.tool_use_id)
            open_uses.add(event.tool_use_id)
        elif isinstance(event, ev.AgentToolResult):
            results[event.tool_use_id] = results.get(event.tool_use_id, 0) + 1
            open_uses.discard(event.tool_use_id)
        elif isinstance(event, ev.ModelRequestStart):
            assert not open_uses, f"a model request while calls were open: {open_uses}"
    assert set(results) <= uses, f"results for unknown calls: {set(results) - uses}"
    twice = {use_id: n for use_id, n in results.items() if n > 1}
    assert not twice, f"calls with more than one result: {twice}"
    if all_closed:
        assert not open_uses, f"calls without a result: {open_uses}"


# How the harness and the sandbox say that a call may not have run, or run only in part.
CUT_SHORT = ("Interrupted", "Not run", "The sandbox container was lost", "the shell exited")


def is_cut_short(result: ev.AgentToolResult) -> bool:
    return result.is_error and result.content.startswith(CUT_SHORT)


def check_runs(events: Sequence[ev.Event], runs: Sequence[str]) -> None:
    """No completed call ran twice; an interrupted one at most once; a call the
    log does not hold (from a response cut short) never ran at all."""
    uses = {e.tool_use_id for e in events if isinstance(e, ev.AgentToolUse)}
    results = {e.tool_use_id: e for e in events if isinstance(e, ev.AgentToolResult)}
    stray = set(runs) - uses
    assert not stray, f"calls ran that the log never recorded: {stray}"
    for use_id in uses:
        count = runs.count(use_id)
        result = results.get(use_id)
        if result is not None and not is_cut_short(result):
            assert count == 1, f"{use_id} completed but ran {count} times"
        else:
            assert count <= 1, f"{use_id} (cut short or running) ran {count} times"


# ---------------------------------------------------------------- the workspace


class WorkspaceReader:
    """A throwaway container that mounts a session's volume read-only, to read files."""

    def __init__(self, client: Any, image: str, session_id: str, home: Path | None = None) -> None:
        self.container = client.containers.run(
            image,
            ["sleep", "infinity"],
            detach=True,
            network_mode="none",
            labels={"tether.test": "workspace-reader"},
            volumes={volume_in(home, session_id): {"bind": "/workspace", "mode": "ro"}},
        )

    def shell(self, command: str) -> str:
        return str(self.container.exec_run(["sh", "-c", command]).output.decode())

    def read(self, path: str) -> str:
        """The file's text, or "" if it does not exist (yet)."""
        return self.shell(f"cat {path} 2>/dev/null || true")

    def lines(self, path: str) -> list[str]:
        return self.read(path).splitlines()

    def names(self) -> list[str]:
        return sorted(self.shell("ls -A /workspace").split())

    def close(self) -> None:
        self.container.remove(force=True)

    def __enter__(self) -> WorkspaceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def volume_in(home: Path | None, session_id: str) -> str:
    """The session's volume in data dir `home` (by default the one TETHER_HOME names)."""
    if home is None:
        return volume_name(session_id)
    saved = os.environ.get("TETHER_HOME")
    os.environ["TETHER_HOME"] = str(home)
    try:
        return volume_name(session_id)
    finally:
        if saved is None:
            del os.environ["TETHER_HOME"]
        else:
            os.environ["TETHER_HOME"] = saved


def remove_home_resources(client: Any, home: Path) -> tuple[int, int]:
    """Remove every container and volume a tether under `home` made: (containers, volumes)."""
    containers, volumes = [], []
    for label in home_labels(home):
        containers += client.containers.list(all=True, filters={"label": label})
        volumes += client.volumes.list(filters={"label": label})
    for container in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True)
    for volume in volumes:
        with contextlib.suppress(Exception):
            volume.remove(force=True)
    return len(containers), len(volumes)


# ---------------------------------------------------------------- a second engine


class SecondEngine:
    """A dockerd of our own (own data, exec root, pid file and socket; no network),
    so that a test can restart it without touching the engine everyone else uses."""

    def __init__(self) -> None:
        # A short path: a unix socket's path must fit in 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="tether-engine-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> None:
        command = [
            shutil.which("dockerd") or "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.url}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--shutdown-timeout=2",
        ]
        with open(self.root / "dockerd.log", "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            assert self.process.poll() is None, f"dockerd exited: {self.log_tail()}"
            assert time.monotonic() < deadline, f"dockerd did not answer: {self.log_tail()}"
            time.sleep(0.1)

    def stop(self, timeout_s: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> Any:
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)

    def load_image(self, source: Any, image: str) -> None:
        """Copy `image` from the engine behind `source` (a client) into this one."""
        data = b"".join(source.images.get(image).save(named=True))
        with contextlib.closing(self.client()) as client:
            client.images.load(data)

    def close(self) -> None:
        """Stop the engine and remove everything it kept."""
        with contextlib.suppress(Exception), contextlib.closing(self.client()) as client:
            for container in client.containers.list(all=True):
                container.remove(force=True)
        self.stop()
        subprocess.run(["umount", "-R", str(self.root)], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with contextlib.closing(self.client()) as client:
                return bool(client.ping())
        except Exception:  # not up yet
            return False


def can_run_a_second_engine() -> str | None:
    """Why a second dockerd cannot start here, or None."""
    if os.geteuid() != 0:
        return "a second dockerd needs root"
    if shutil.which("dockerd") is None:
        return "dockerd is not installed"
    return None


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `path` (an empty directory), unmounted after."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                   check=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
