"""Checkpoints are written by the workspace watcher from what it saw change: each
change below is made in the workspace by another container, as the sandbox makes it;
the watcher must write the checkpoint (not fall back to reading everything), its tree
must equal the tree of a full read of the same workspace through fresh indexes, and
the files it says changed must be what git diff-tree says. Real Docker, real git, real
inotify."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e import TEST_IMAGE

from tether.core.sandbox.engine import volume_name
from tether.core.sandbox.store import Mounts, StoreHelper

pytestmark = [pytest.mark.docker]
LAST: list[str] = []  # the last checkpoint: each test takes the next

SEED = (
    "mkdir -p d e d2/sub && for n in 1 2 3 4 5; do echo file$n > d/f$n.txt; done"
    " && echo deep > d2/sub/x && echo BBBB > d/same.txt"
    " && git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm seed"
)
OLD_TAR = (
    "mkdir -p /tmp/x/d && printf 'AAAA\\n' > /tmp/x/d/same.txt"
    " && touch -d 2001-01-01 /tmp/x/d/same.txt && tar -C /tmp/x -cf /tmp/t.tar d"
    " && tar -C /workspace -xf /tmp/t.tar"
)
# (what the call does, a path the checkpoint must list as changed, if any)
CHANGES = [
    (OLD_TAR, "d/same.txt"),  # same size, an old mtime: only ctime tells
    ("rm d/f2.txt", "d/f2.txt"),
    ("mv d/f3.txt e/renamed.txt", "e/renamed.txt"),
    ("mv d2 d3", "d3/sub/x"),
    ("chmod +x d/f4.txt", "d/f4.txt"),
    ("mkdir empty", ""),
    ("echo now > empty/x", "empty/x"),
    ("mkdir -p a/b/c && echo quick > a/b/c/f", "a/b/c/f"),
    ("echo quick2 > a/b/c/g", "a/b/c/g"),  # in a folder the watcher found on its own
    ("printf 'one\\n' > same-second", "same-second"),
    ("printf 'two\\n' > same-second", "same-second"),  # within the second of the last one
    ("echo x > 'new\nline'", r'"new\nline"'),  # quoted, as git shows it
    ("rm -rf d3", "d3/sub/x"),
    ("echo t > made-and-gone && rm made-and-gone", ""),  # named, and in neither place
    ("echo one > e/linked && ln e/linked e/other", "e/other"),
    ("echo two >> e/linked", "e/other"),  # a write through one name changes the other
    ("echo changed > .git/description", ""),
    ("git add -A && git -c user.name=t -c user.email=t@t commit -qm two", ""),
    ("ln -s d/f1.txt link && ln -s nowhere dangling", "link"),
    ("rm link && mkdir link && echo in > link/x", "link/x"),  # a link becomes a folder
    ("rm -r e && echo file > e", "e"),  # a folder becomes a file
    ("mkfifo pipe && echo 'q\"u\\o' > 'q\"u\\o'", r'"q\"u\\o"'),
    ("chmod -x d/f4.txt && mv d/f5.txt d/f5.bin && touch d", "d/f5.bin"),
    ("rm -rf a d e empty", "d/same.txt"),  # all the files gone
]


@pytest.fixture(scope="module")
def workspace(docker_client: Any) -> Iterator[tuple[Any, StoreHelper]]:
    session_id = "w" + uuid.uuid4().hex[:8]
    volume = docker_client.volumes.create(volume_name(session_id))
    store = volume_name(session_id, "store")
    writer = docker_client.containers.run(
        TEST_IMAGE, ["sleep", "infinity"], detach=True, network_mode="none",
        user="0:0", working_dir="/workspace", volumes={volume.name: {"bind": "/workspace"}},
    )  # fmt: skip
    mounts = Mounts(session_id=session_id, volume=volume.name)
    helper = StoreHelper(docker_client.api, TEST_IMAGE, mounts)
    try:
        in_workspace(writer, SEED)
        helper.start()
        LAST.append(checkpoint(helper)[0])  # the first reads everything
        yield writer, helper
    finally:
        helper.close()
        writer.remove(force=True)
        volume.remove(force=True)
        docker_client.volumes.get(store).remove(force=True)


def in_workspace(writer: Any, command: str) -> None:
    status, output = writer.exec_run(["sh", "-c", command], workdir="/workspace")
    assert status == 0, output


def helper_says(helper: StoreHelper, command: str) -> str:
    raw = helper.run(command, timeout_s=60)
    assert raw.status == 0, raw.output
    return raw.output.decode()


def checkpoint(helper: StoreHelper, previous: str = "") -> list[str]:
    """The checkpoint's id, the files it says changed, and how many."""
    return helper_says(helper, f"store_checkpoint '{previous}'").splitlines()


@pytest.mark.parametrize(("command", "path"), CHANGES, ids=[c[0][:24] for c in CHANGES])
def test_the_watcher_writes_the_checkpoint_of_a_full_read(
    workspace: tuple[Any, StoreHelper], command: str, path: str
) -> None:
    writer, helper = workspace
    in_workspace(writer, command)
    previous = LAST[-1]
    taken, *listed = checkpoint(helper, previous)
    LAST.append(taken)
    assert helper_says(helper, 'cat "$WATCH.answer"').split() == ["ok", taken]
    full = helper_says(helper, "rm -f /tmp/full.*; store_snapshot /tmp/full").strip()
    assert taken == full
    diff = f"git diff-tree -r --no-renames --name-status --relative=files {previous} {taken}"
    said = helper_says(helper, diff).splitlines()
    assert listed == [*said, str(len(said))]
    if path:
        assert any(line.split("\t", 1)[1] == path for line in said), said


def assert_full_read_then_watched(
    writer: Any, helper: StoreHelper, command: str, answer: str = "full"
) -> None:
    """A checkpoint after `command` reads everything (and is right); the next is the
    watcher's again."""
    for change, expected in ((command, answer), ("echo again >> again.txt", "ok")):
        in_workspace(writer, change)
        taken = checkpoint(helper, LAST[-1])[0]
        LAST.append(taken)
        said = helper_says(helper, 'cat "$WATCH.answer"').split()
        assert said[0] == expected, (change, said)
        assert taken == helper_says(helper, "rm -f /tmp/full.*; store_snapshot /tmp/full").strip()


def test_more_files_than_the_watcher_hashes_are_read_in_full(
    workspace: tuple[Any, StoreHelper],
) -> None:
    writer, helper = workspace
    helper_says(helper, "store_unwatch; TETHER_WATCH_BUDGET=3 store_watch")
    try:
        checkpoint(helper, LAST[-1])  # a new watcher: the first reads everything
        assert_full_read_then_watched(writer, helper, "for n in 1 2 3 4; do echo $n > many$n; done")
    finally:
        helper_says(helper, "store_unwatch; store_watch")
        LAST.append(checkpoint(helper, LAST[-1])[0])


def test_a_git_process_of_the_watcher_that_dies_is_started_again(
    workspace: tuple[Any, StoreHelper],
) -> None:
    writer, helper = workspace
    kill = (  # once the watcher has started it (it does as it is told of a checkpoint)
        "for _ in $(seq 50); do for p in /proc/[0-9]*; do"
        " tr '\\0' ' ' <$p/cmdline 2>/dev/null | grep -q '^git hash-object' && found=${p#/proc/};"
        ' done; [ -n "$found" ] && break; sleep 0.1; done; kill $found && echo killed'
    )
    assert helper_says(helper, kill).strip() == "killed"
    assert_full_read_then_watched(writer, helper, "echo after > killed.txt")


def test_a_watcher_that_died_leaves_checkpoints_to_full_reads(
    workspace: tuple[Any, StoreHelper],
) -> None:
    writer, helper = workspace
    helper_says(helper, 'kill "$(cat "$WATCH.pid")"; sleep 0.2')
    in_workspace(writer, "echo late > late.txt")
    taken, *listed = checkpoint(helper, LAST[-1])
    assert helper_says(helper, 'cat "$WATCH.answer" 2>/dev/null || echo none').split() == ["none"]
    assert listed == ["A\tlate.txt", "1"]
    assert taken == helper_says(helper, "rm -f /tmp/full.*; store_snapshot /tmp/full").strip()
    helper_says(helper, "store_watch")
    LAST.append(checkpoint(helper, taken)[0])
