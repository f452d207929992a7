"""Every tool on a real engine, sharing one container (tests/sandbox/conftest.py)."""

from __future__ import annotations

import os

import pytest

from tether.core.sandbox import DockerSandbox, ToolResult, files

pytestmark = pytest.mark.docker


def bash(box: DockerSandbox, command: str, **extra: object) -> ToolResult:
    return box.execute("bash", {"command": command, **extra})


def test_write_read_edit(sandbox: DockerSandbox) -> None:
    assert sandbox.execute("write", {"file_path": "d/e/f.txt", "content": "one\ntwo\ntwo\n"})
    read = sandbox.execute("read", {"file_path": "/workspace/d/e/f.txt"})
    assert read.content == "     1\tone\n     2\ttwo\n     3\ttwo" and not read.is_error
    part = sandbox.execute("read", {"file_path": "d/e/f.txt", "view_range": [2, 2]})
    assert part.content == "     2\ttwo"
    twice = sandbox.execute(
        "edit", {"file_path": "d/e/f.txt", "old_string": "two", "new_string": "2"}
    )
    assert twice.is_error and "matches 2 times" in twice.content
    none = sandbox.execute(
        "edit", {"file_path": "d/e/f.txt", "old_string": "six", "new_string": "6"}
    )
    assert none.is_error and "not found" in none.content
    once = sandbox.execute(
        "edit", {"file_path": "d/e/f.txt", "old_string": "one", "new_string": "1"}
    )
    assert not once.is_error
    edit = {"file_path": "d/e/f.txt", "old_string": "two", "new_string": "2", "replace_all": True}
    assert "2 occurrences" in sandbox.execute("edit", edit).content
    assert bash(sandbox, "cat d/e/f.txt").content == "1\n2\n2"
    assert bash(sandbox, "stat -c %u d/e/f.txt").content == "1000"


def test_write_keeps_exact_bytes_and_quotes(sandbox: DockerSandbox) -> None:
    content = 'it\'s "quoted" $HOME `x` \\n é\nno newline at end'
    sandbox.execute("write", {"file_path": "q.txt", "content": content})
    assert bash(sandbox, "cat q.txt").content == content


def test_file_errors(sandbox: DockerSandbox) -> None:
    missing = sandbox.execute("read", {"file_path": "no/such"})
    assert missing.is_error and "no such file" in missing.content
    assert "is a directory" in sandbox.execute("read", {"file_path": "/etc"}).content
    denied = sandbox.execute("write", {"file_path": "/etc/passwd", "content": "x"})
    assert denied.is_error and "Permission denied" in denied.content
    denied = sandbox.execute("write", {"file_path": "/usr/new/file", "content": "x"})
    assert denied.is_error and "Permission denied" in denied.content
    assert "permission denied" in sandbox.execute("read", {"file_path": "/etc/shadow"}).content
    bash(sandbox, "head -c 1000 /dev/urandom > bin.dat; printf 'a\\0b' >> bin.dat")
    binary = sandbox.execute("read", {"file_path": "bin.dat"})
    assert binary.is_error and "binary" in binary.content
    assert sandbox.execute("edit", {"file_path": "bin.dat", "old_string": "a", "new_string": "b"})
    bad = sandbox.execute("write", {"file_path": "x", "content": "a\0b"})
    assert bad.is_error and "NUL" in bad.content


def test_huge_file_needs_view_range(sandbox: DockerSandbox) -> None:
    bash(sandbox, "seq 1 2000000 > big.txt")  # about 15 MB
    whole = sandbox.execute("read", {"file_path": "big.txt"})
    assert whole.is_error and "view_range" in whole.content
    part = sandbox.execute("read", {"file_path": "big.txt", "view_range": [1999999, -1]})
    assert part.content == "1999999\t1999999\n2000000\t2000000"


def test_glob_and_grep(sandbox: DockerSandbox) -> None:
    bash(sandbox, "mkdir -p g/src/pkg g/.git && touch g/a.py g/src/b.py g/src/pkg/c.py g/.git/d.py")
    bash(sandbox, "echo 'def main(): return 42' > g/src/pkg/c.py")
    found = sandbox.execute("glob", {"pattern": "**/*.py", "path": "g"}).content.splitlines()
    assert found == ["/workspace/g/a.py", "/workspace/g/src/b.py", "/workspace/g/src/pkg/c.py"]
    assert "no files match" in sandbox.execute("glob", {"pattern": "*.rs", "path": "g"}).content
    assert sandbox.execute("glob", {"pattern": "*", "path": "nowhere"}).is_error
    hit = sandbox.execute("grep", {"pattern": r"return \d+", "path": "g"})
    assert hit.content == "/workspace/g/src/pkg/c.py:1:def main(): return 42"
    assert "no matches" in sandbox.execute("grep", {"pattern": "zzz", "path": "g"}).content
    assert sandbox.execute("grep", {"pattern": "(", "path": "g"}).is_error


def test_shell_state_persists_and_restart_resets_it(sandbox: DockerSandbox) -> None:
    bash(
        sandbox,
        "mkdir -p /tmp/deep && cd /tmp/deep && export TETHER_X='a b' && greet() { echo hi; }",
    )
    assert bash(sandbox, "pwd; echo $TETHER_X; greet").content == "/tmp/deep\na b\nhi"
    failed = bash(sandbox, "exit 3")
    assert failed.is_error and "[exit status 3]" in failed.content
    assert bash(sandbox, "pwd").content == "/tmp/deep"  # `exit` ended the command, not the shell
    bash(sandbox, "hop() { cd /; }")
    bash(sandbox, "hop")  # a function may change state: saved although the text says nothing
    assert bash(sandbox, "pwd").content == "/"
    assert not sandbox.execute("bash", {"restart": True}).is_error
    assert bash(sandbox, "pwd; echo x${TETHER_X}x").content == "/workspace\nxx"


def test_output_bytes_and_streams(sandbox: DockerSandbox) -> None:
    assert bash(sandbox, "printf 'ok \\377\\376 end'").content == "ok \ufffd\ufffd end"
    assert bash(sandbox, "echo out; echo err >&2").content == "out\nerr"
    assert bash(sandbox, "true").content == "(no output)"
    assert bash(sandbox, "cat").content == "(no output)"  # stdin is empty, never the harness's


def test_long_output_is_kept_in_a_file(sandbox: DockerSandbox) -> None:
    result = bash(sandbox, "seq 1 100000; echo LAST")
    assert result.truncated and len(result.content) < 110 * 1024
    assert result.content.startswith("1\n2\n") and result.content.endswith("LAST")
    path = result.content.split(" bytes are in ")[1].split("]")[0]
    assert bash(sandbox, f"tail -n 1 {path}; wc -l < {path}").content == "LAST\n100001"


def test_timeout_kills_the_command_and_the_shell_goes_on(
    sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    bash(sandbox, "cd /tmp && export KEPT=1")
    result = bash(sandbox, "echo started; sleep 1000 & sleep 999", timeout_ms=1000)
    assert result.is_error and "timed out after 1 s" in result.content
    assert "everything it started were killed" in result.content
    assert result.content.startswith("started")
    processes = bash(sandbox, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '").content
    assert "sleep 1000" not in processes and "sleep infinity" in processes
    assert bash(sandbox, "echo $KEPT; pwd").content == "1\n/tmp"
    assert "timed out" in bash(sandbox, "while :; do :; done", timeout_ms=500).content
    assert "timed out" in bash(sandbox, "mkfifo /tmp/ff; cat /tmp/ff", timeout_ms=500).content
    monkeypatch.setattr(files, "FILE_TIMEOUT_S", 0.5)
    fifo = sandbox.execute("grep", {"pattern": "x", "path": "/tmp/ff"})  # blocks in open()
    assert fifo.is_error and "grep failed" in fifo.content
    assert bash(sandbox, "echo $KEPT").content == "1"


def test_hardening(sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    os.environ["TETHER_ONLY_IN_HARNESS"] = "secret-1"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    try:
        env = bash(sandbox, "env").content
    finally:
        del os.environ["TETHER_ONLY_IN_HARNESS"]
    assert "secret-1" not in env and "sk-ant" not in env and "ANTHROPIC" not in env
    assert bash(sandbox, "id -u").content == "1000"
    caps = bash(sandbox, "grep -E 'Cap(Eff|Bnd)|NoNewPrivs' /proc/self/status").content
    assert caps.split() == ["CapEff:", "0" * 16, "CapBnd:", "0" * 16, "NoNewPrivs:", "1"]
    net = bash(sandbox, "cat /proc/net/dev | grep -v -e lo: -e Inter -e face | wc -l")
    assert net.content == "0"  # no interface but loopback
    # Only loopback exists, and the sandbox's loopback is its own: nothing listens there.
    tcp = bash(sandbox, "exec 3<>/dev/tcp/127.0.0.1/22 && echo open", timeout_ms=5000)
    assert tcp.is_error and "open" not in tcp.content
    assert "docker.sock" not in bash(sandbox, "ls /var/run /run 2>&1").content


def test_rm_rf_root_is_contained(sandbox: DockerSandbox) -> None:
    sandbox.execute("write", {"file_path": "keep.txt", "content": "kept"})
    bash(sandbox, "chmod 500 /workspace")  # the user may remove their own files, not others'
    bash(sandbox, "rm -rf --no-preserve-root / >/dev/null 2>&1", timeout_ms=60000)
    bash(sandbox, "chmod 755 /workspace")
    assert bash(sandbox, "ls /bin/sh && cat /workspace/keep.txt").content == "/bin/sh\nkept"
    assert sandbox.execute("read", {"file_path": "keep.txt"}).content == "     1\tkept"
