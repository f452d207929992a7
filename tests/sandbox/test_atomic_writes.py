"""write and edit replace a file whole or not at all (issue 13, item 1): on a full
disk the old file stays, byte for byte; otherwise the new one keeps the old one's
mode and the link it was reached through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sandboxes import new_session_id

from tether.core.sandbox import DockerSandbox, Resources, engine

pytestmark = pytest.mark.docker
Make = Callable[..., tuple[DockerSandbox, Resources]]

OLD = "start\n" + "A" * 200_000 + "\nend\n"


@pytest.fixture
def small_disk(docker_client) -> str:  # type: ignore[no-untyped-def]
    """A session id whose workspace volume is a 1 MB tmpfs, made before its sandbox
    (and removed with it, by its labels)."""
    session_id = new_session_id()
    docker_client.volumes.create(
        engine.volume_name(session_id),
        driver="local",
        driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"},
        labels=engine.labels(session_id),
    )
    return session_id


def test_a_full_disk_leaves_the_old_file_whole(make_sandbox: Make, small_disk: str) -> None:
    box, _ = make_sandbox(session_id=small_disk)
    assert not box.execute("write", {"file_path": "f.txt", "content": OLD}).is_error
    box.execute("bash", {"command": "cat /dev/zero > fill 2>/dev/null; df -k . | tail -1"})
    write = box.execute("write", {"file_path": "f.txt", "content": "B" * 300_000})
    assert write.is_error and "No space left" in write.content
    edit = {"file_path": "f.txt", "old_string": "end", "new_string": "C" * 100_000}
    edited = box.execute("edit", edit)
    assert edited.is_error and "No space left" in edited.content
    assert box.execute("bash", {"command": "md5sum < f.txt"}).content == md5(OLD)
    leftovers = box.execute("bash", {"command": "ls -A | grep -v -x -e f.txt -e fill; true"})
    assert leftovers.content == "(no output)"  # no temporary file left behind


def md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest() + "  -"


def test_a_rewrite_keeps_mode_and_links(sandbox: DockerSandbox) -> None:
    bash = lambda command: sandbox.execute("bash", {"command": command}).content  # noqa: E731
    bash("printf 'echo one\\n' > run.sh && chmod 751 run.sh && ln -sf run.sh link.sh")
    sandbox.execute("write", {"file_path": "link.sh", "content": "echo two\n"})
    sandbox.execute("edit", {"file_path": "run.sh", "old_string": "two", "new_string": "three"})
    assert bash("stat -c '%a %F' run.sh link.sh") == "751 regular file\n777 symbolic link"
    assert bash("./link.sh") == "three"
    # A writable file in a directory that is not: no room for a temporary file beside it.
    bash("mkdir -p /tmp/locked && echo old > /tmp/locked/f && chmod 555 /tmp/locked")
    assert not sandbox.execute("write", {"file_path": "/tmp/locked/f", "content": "new"}).is_error
    assert bash("cat /tmp/locked/f; echo; ls -A /tmp/locked") == "new\nf"
