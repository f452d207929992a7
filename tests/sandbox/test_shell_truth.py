"""The shell tells the truth (issue 13, items 4, 5, 20-25 and the smaller list): what a
call starts dies with its timeout, whatever left its process group; the protocol
survives whatever the command does to the shell (its PATH, /tmp, its traps); state
is kept whatever the command's text; output is bounded; and the file tools see every
file name. Each runs on an image with bash and on one with only dash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sandboxes import TEST_IMAGE, busybox_image, no_bash_image, sandbox_on

from tether.core.sandbox import DockerSandbox, Resources, ToolResult

pytestmark = pytest.mark.docker
Make = Callable[..., tuple[DockerSandbox, Resources]]

LOOP = "while :; do echo LEAK; sleep 0.1; done"


IMAGES = {"bash": lambda client: TEST_IMAGE, "dash": no_bash_image, "busybox": busybox_image}


@pytest.fixture(scope="module", params=list(IMAGES))
def box(request: pytest.FixtureRequest, docker_client: object) -> Iterator[DockerSandbox]:
    """A sandbox per module on the test image, on the same without bash (dash), and on
    busybox alone (ash and its applets, as on Alpine)."""
    with sandbox_on(IMAGES[request.param](docker_client)) as sandbox:
        yield sandbox


def bash(box: DockerSandbox, command: str, **extra: object) -> ToolResult:
    return box.execute("bash", {"command": command, **extra})


def leftovers(box: DockerSandbox) -> str:
    """The command lines of every process still looping (the pattern does not match itself)."""
    return bash(box, "grep -l -a 'LEA[K]' /proc/[0-9]*/cmdline 2>/dev/null; true").content


# -- 20: nothing a call started survives its timeout ---------------------------


@pytest.mark.parametrize(
    "command",
    [
        f"timeout 60 sh -c '{LOOP}'",
        f"setsid sh -c '{LOOP}' & sleep 1000",
        f"(setsid sh -c '{LOOP}' &); sleep 1000",  # a daemon: double fork, new session
        f"env -i /bin/sh -c \"(setsid /bin/sh -c '{LOOP}' &)\"; sleep 1000",  # and no env
        f"nohup sh -c '{LOOP}' >/dev/null 2>&1 & sleep 1000",
    ],
    ids=["timeout", "setsid", "daemon", "daemon-env-i", "nohup"],
)
def test_a_timeout_kills_everything_the_call_started(box: DockerSandbox, command: str) -> None:
    shell_pid = bash(box, "echo $$").content
    result = bash(box, command, timeout_ms=1500)
    assert result.is_error and "timed out after 1.5 s" in result.content
    after = bash(box, "sleep 0.5; echo next")
    assert after.content == "next", "output leaked into the next call"
    assert leftovers(box) == "(no output)"
    assert bash(box, "echo $$").content == shell_pid  # the shell itself was spared


def test_background_jobs_of_a_call_that_ended_are_left_alone(box: DockerSandbox) -> None:
    bash(box, "sleep 300 >/dev/null 2>&1 & echo $! > /tmp/bg.pid")
    assert bash(box, "sleep 5", timeout_ms=300).is_error  # another call times out
    alive = bash(box, 'kill -0 "$(cat /tmp/bg.pid)" && echo alive; kill "$(cat /tmp/bg.pid)"')
    assert alive.content == "alive"


# -- 21: without bash, only the command dies -----------------------------------


def test_a_timeout_keeps_the_shell_and_its_state(box: DockerSandbox) -> None:
    shell_pid = bash(box, "cd /tmp && export KEPT=yes && echo $$").content
    container = box.container_id
    result = bash(box, "echo started; sleep 100", timeout_ms=500)
    assert result.is_error and result.content.startswith("started")
    assert "fresh shell" not in result.content
    assert bash(box, "echo $KEPT $$; pwd").content == f"yes {shell_pid}\n/tmp"
    assert box.container_id == container
    bash(box, "cd /workspace")


# -- 22: the protocol does not depend on the agent's PATH ----------------------


def test_a_path_without_tools_blinds_only_the_command(box: DockerSandbox) -> None:
    box.execute("write", {"file_path": "p.txt", "content": "path test\n"})
    box.execute("write", {"file_path": "/tmp/bin/hello", "content": "#!/bin/sh\necho hi\n"})
    saved = bash(box, "chmod +x /tmp/bin/hello; echo $PATH").content
    try:
        bash(box, "export PATH=/nowhere")
        assert bash(box, "echo still here").content == "still here"
        missing = bash(box, "/tmp/bin/hello && hello")
        assert missing.is_error and "[exit status 127]" in missing.content
        assert "not found" in missing.content
        assert box.execute("read", {"file_path": "p.txt"}).content == "     1\tpath test"
        assert box.execute("glob", {"pattern": "p.txt"}).content == "/workspace/p.txt"
        assert "p.txt:1:path test" in box.execute("grep", {"pattern": "path"}).content
        assert not box.execute("write", {"file_path": "q.txt", "content": "q"}).is_error
        edit = {"file_path": "q.txt", "old_string": "q", "new_string": "r"}
        assert not box.execute("edit", edit).is_error
        long = bash(box, "i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); done")
        assert long.truncated and long.content.endswith("line 29999")
    finally:
        bash(box, f"export PATH={saved}")
    assert bash(box, "cat q.txt").content == "r"


# -- 23: state is kept after every call, whatever its text ---------------------

ACTIVATE = """\
activate() { cd /tmp && export VENV=on && VENV_FN=1; }
deactivate() { cd /workspace; unset VENV; unset -f deactivate; }
"""


def test_state_set_inside_sourced_functions_is_kept(box: DockerSandbox) -> None:
    box.execute("write", {"file_path": "/tmp/activate.sh", "content": ACTIVATE})
    if bash(box, "echo ${BASH_VERSION:+bash}").content != "bash":
        # dash cannot list its functions, so they last only for the call that defines them
        bash(box, ". /tmp/activate.sh && activate")
        assert bash(box, "echo $VENV; pwd").content == "on\n/tmp"
        bash(box, "cd /workspace; unset VENV")
        return
    bash(box, ". /tmp/activate.sh")
    bash(box, "activate")  # nothing in this text says it changes state
    assert bash(box, "echo $VENV; pwd").content == "on\n/tmp"
    bash(box, "deactivate")
    assert bash(box, 'echo "[$VENV]"; pwd').content == "[]\n/workspace"
    gone = bash(box, "command -v deactivate || echo gone")
    assert gone.content == "gone"


def test_state_is_kept_through_exit_and_the_commands_own_traps(box: DockerSandbox) -> None:
    bash(box, "cd /tmp; export A=1; exit 4")
    assert bash(box, "echo $A; pwd").content == "1\n/tmp"
    bash(box, "trap 'echo bye' EXIT; cd /; export B=2")
    assert bash(box, "echo $B; pwd").content == "2\n/"
    bash(box, "unset A B; cd /workspace")
    assert bash(box, 'echo "[$A$B]"; pwd').content == "[]\n/workspace"


# -- 24: $# and $@ are empty ----------------------------------------------------


def test_positional_parameters_are_empty(box: DockerSandbox) -> None:
    assert bash(box, 'echo "$#:$*:$@"').content == "0::"


# -- 25: glob sees every legal file name --------------------------------------

NAMES = [
    b"My Notes/todo list.md",
    b"tab\there.md",
    b"new\nline.md",
    b"back\\slash.md",
    b"-dash.md",
    b"[x].md",
    b"quote'\".md",
    b"caf\xc3\xa9.md",
    b"bad\xff.md",
    b"star*.md",
    b"  lead.md",
    b"trail .md",
]


def read_back(line: str) -> bytes:
    """The path a line of glob's output names: as is, or in bash's $'...' quoting."""
    if not line.startswith("$'"):
        return line.encode()
    body, out, i = line[2:-1], bytearray(), 0
    while i < len(body):
        if body[i] != "\\":
            out += body[i].encode()
            i += 1
        elif body[i + 1] == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            out += {"n": b"\n", "t": b"\t"}.get(body[i + 1], body[i + 1].encode())
            i += 2
    return bytes(out)


def test_glob_handles_every_legal_file_name(box: DockerSandbox) -> None:
    bash(box, "cd /workspace && rm -rf names && mkdir -p 'names/My Notes'")
    for name in NAMES:  # printf makes each name from octal escapes; the x keeps a last newline
        octal = "".join(f"\\{b:03o}" for b in name)
        make = f'cd names && f="$(printf \'{octal}x\')" && : >"${{f%x}}"; cd /workspace'
        assert not bash(box, make).is_error
    found = box.execute("glob", {"pattern": "**/*.md", "path": "names"})
    lines = found.content.split("\n")
    assert [read_back(line) for line in lines] == sorted(b"/workspace/names/" + n for n in NAMES)
    printable = [line for line in lines if not line.startswith("$'")]
    assert len(printable) == 9 and "/workspace/names/My Notes/todo list.md" in printable
    one = box.execute("glob", {"pattern": "My Notes/*.md", "path": "/workspace/names"})
    assert one.content == "/workspace/names/My Notes/todo list.md"


# -- 4 and 5: output is capped, and does not live where the command can delete it


def test_output_survives_the_command_deleting_tmp(box: DockerSandbox) -> None:
    wipe = "rm -rf /tmp/* /tmp/.[!.]* /dev/shm/* /dev/shm/.[!.]* 2>/dev/null"
    assert bash(box, f"{wipe}; echo survived").content == "survived"
    long = bash(box, f"{wipe}; seq 1 100000")
    assert long.truncated and long.content.endswith("100000")
    path = long.content.split(" bytes are in ")[1].split(";")[0].split("]")[0]
    assert bash(box, f"wc -l < {path}").content == "100000"


def test_output_past_the_cap_is_dropped_and_said(make_sandbox: Make) -> None:
    box, _ = make_sandbox(max_output=1_000_000)
    command = "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo END; touch ran"
    result = bash(box, command)
    assert result.truncated and not result.is_error
    assert result.content.startswith("xxxx") and result.content.endswith("\nEND")
    assert "the first 1000000 bytes are in /tmp/tether/outputs/" in result.content
    assert "2000005 bytes past the 1000000-byte output cap were dropped" in result.content
    path = result.content.split(" bytes are in ")[1].split(";")[0]
    assert bash(box, f"wc -c < {path}; ls ran").content == "1000000\nran"


def test_the_output_cap_is_64_mb_by_default() -> None:
    assert Resources(session_id="x", image="y").max_output == 64 * 1024 * 1024


def test_output_streams_to_a_callback_as_it_is_printed(box: DockerSandbox) -> None:
    start = time.monotonic()
    seen: list[tuple[float, bytes]] = []
    result = box.execute(
        "bash",
        {"command": "echo one; sleep 1.5; echo two"},
        on_output=lambda chunk: seen.append((time.monotonic() - start, chunk)),
    )
    assert result.content == "one\ntwo"
    assert b"".join(chunk for _, chunk in seen).startswith(b"one\ntwo")
    assert next(at for at, chunk in seen if b"one" in chunk) < 1.2  # before the sleep ended

    def broken(chunk: bytes) -> None:
        raise RuntimeError("a live view that fails")

    assert box.execute("bash", {"command": "echo fine"}, on_output=broken).content == "fine"
    assert bash(box, "echo after").content == "after"


# -- the smaller list -----------------------------------------------------------


def test_shell_errors_read_as_in_a_terminal(box: DockerSandbox) -> None:
    missing = bash(box, "nosuchcommand")
    assert "main" not in missing.content and "line 4" not in missing.content
    assert missing.content.split("\n")[0] in (
        "bash: nosuchcommand: command not found",  # bash
        "sh: 1: eval: nosuchcommand: not found",  # dash names the line in the command
        "sh: eval: nosuchcommand: not found",  # busybox
    )
    syntax = bash(box, "if then")
    assert "main" not in syntax.content and syntax.is_error


def test_read_past_the_end_says_how_long_the_file_is(box: DockerSandbox) -> None:
    box.execute("write", {"file_path": "three.txt", "content": "a\nb\nc\n"})
    past = box.execute("read", {"file_path": "three.txt", "view_range": [10, 20]})
    assert past.is_error and "has 3 lines" in past.content
    assert "empty" not in past.content
    empty = box.execute("write", {"file_path": "empty.txt", "content": ""})
    assert not empty.is_error
    assert "is empty" in box.execute("read", {"file_path": "empty.txt"}).content


def test_reading_a_fifo_is_refused_at_once(box: DockerSandbox) -> None:
    bash(box, "rm -f /tmp/fifo && mkfifo /tmp/fifo")
    result = box.execute("read", {"file_path": "/tmp/fifo"})
    assert result.is_error and "named pipe" in result.content
    assert result.duration_ms < 3000
    device = box.execute("read", {"file_path": "/dev/zero"})
    assert device.is_error and "not a regular file" in device.content


def test_restart_ends_the_old_shells_background_jobs(box: DockerSandbox) -> None:
    bash(box, f"sh -c '{LOOP}' >/dev/null 2>&1 & (setsid sh -c '{LOOP}' >/dev/null 2>&1 &)")
    assert leftovers(box) != "(no output)"
    assert not box.execute("bash", {"restart": True}).is_error
    assert leftovers(box) == "(no output)"


def test_out_of_memory_is_named_with_the_limit(make_sandbox: Make) -> None:
    box, _ = make_sandbox(memory="64m")
    hog = "perl -e '$x = q(x) x (300 * 1024 * 1024); print length $x'"
    result = bash(box, hog)
    assert result.is_error and "killed: out of memory (limit 64m)" in result.content
    assert bash(box, "echo fine").content == "fine"
    killed = bash(box, "sh -c 'kill -9 $$'")  # a SIGKILL that is not the OOM killer's
    assert "out of memory" not in killed.content and "[exit status 137]" in killed.content
