"""Checkpoints read only what the workspace watcher saw change: each change below is
made in the workspace by another container, as the sandbox makes it, and the
checkpoint's tree must equal the tree of a full read of the same workspace through
fresh indexes. Real Docker, real git, real inotify."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e import TEST_IMAGE

from tether.core.sandbox.engine import volume_name
from tether.core.sandbox.store import Mounts, StoreHelper

pytestmark = [pytest.mark.docker]

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
# (what the call does, a path the watcher must name, if any)
CHANGES = [
    (OLD_TAR, "d/same.txt"),  # same size, an old mtime: only ctime tells
    ("rm d/f2.txt", "d/f2.txt"),
    ("mv d/f3.txt e/renamed.txt", "e/renamed.txt"),
    ("mv d2 d3", "d3"),
    ("chmod +x d/f4.txt", "d/f4.txt"),
    ("mkdir empty", "empty"),
    ("echo now > empty/x", "empty/x"),
    ("mkdir -p a/b/c && echo quick > a/b/c/f", "a"),
    ("echo quick2 > a/b/c/g", "a/b/c/g"),  # in a folder the watcher found on its own
    ("printf 'one\\n' > same-second", "same-second"),
    ("printf 'two\\n' > same-second", "same-second"),  # within the second of the last one
    ("echo x > 'new\nline'", "new\nline"),
    ("rm -rf d3", "d3"),
    ("echo t > made-and-gone && rm made-and-gone", ""),  # named, and in neither place
    ("echo one > e/linked && ln e/linked e/other", "e/other"),
    ("echo two >> e/linked", "e/other"),  # a write through one name changes the other
    ("echo changed > .git/description", ""),
    ("git add -A && git -c user.name=t -c user.email=t@t commit -qm two", ""),
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
        checkpoint(helper)  # the first reads everything
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


def checkpoint(helper: StoreHelper) -> str:
    return helper_says(helper, "store_checkpoint ''").splitlines()[0]


@pytest.mark.parametrize(("command", "path"), CHANGES, ids=[c[0][:24] for c in CHANGES])
def test_a_checkpoint_that_reads_only_what_changed_equals_a_full_read(
    workspace: tuple[Any, StoreHelper], command: str, path: str
) -> None:
    writer, helper = workspace
    in_workspace(writer, command)
    taken = checkpoint(helper)
    assert helper_says(helper, "[ -f $WATCH.synced ] && echo synced").strip() == "synced"
    if path:  # the checkpoint took the watcher's word for it, and the word named the change
        named = helper_says(helper, 'cat "$WATCH.paths" "$WATCH.gone"').split("\0")
        assert path in named
    full = helper_says(helper, "rm -f /tmp/full.*; store_snapshot /tmp/full").strip()
    assert taken == full
