"""`apply`'s judgement, file by file: the base, the agent's version and the target's
decide between writing, merging, leaving alone and refusing. No Docker."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tether.core.apply import carry_out, plan
from tether.core.changes import RawChange

ZERO = "0" * 40
TEXT = "".join(f"line {n}\n" for n in range(1, 21)).encode()


def blob(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def change(path: str, base: bytes | None, ours: bytes | None, mode: str = "100644") -> RawChange:
    status = "A" if base is None else "D" if ours is None else "M"
    return RawChange(
        path=path, status=status,
        old_mode="000000" if base is None else "100644",
        new_mode="000000" if ours is None else mode,
        old_blob=ZERO if base is None else blob(base),
        new_blob=ZERO if ours is None else blob(ours),
    )  # fmt: skip


def judge(target: Path, *changes: tuple[str, bytes | None, bytes | None]) -> tuple[dict, dict]:
    raw = [change(*c) for c in changes]
    blobs = {blob(d): d for _, base, ours in changes for d in (base, ours) if d is not None}
    actions, conflicts = plan(str(target), raw, blobs)
    return {a.path: a.verb for a in actions}, {c.path: c.why for c in conflicts}


def edited(data: bytes, line: int, text: str) -> bytes:
    lines = data.splitlines(keepends=True)
    lines[line - 1] = text.encode() + b"\n"
    return b"".join(lines)


def test_each_file_is_judged_on_base_agent_and_target(tmp_path: Path) -> None:
    (tmp_path / "same.txt").write_bytes(TEXT)
    (tmp_path / "done.txt").write_bytes(edited(TEXT, 3, "three"))
    (tmp_path / "elsewhere.txt").write_bytes(edited(TEXT, 18, "eighteen on the host"))
    (tmp_path / "clash.txt").write_bytes(edited(TEXT, 3, "three on the host"))
    (tmp_path / "gone.txt").write_bytes(b"old\n")
    (tmp_path / "kept.txt").write_bytes(b"host edit\n")
    (tmp_path / "taken.txt").write_bytes(b"the host's own\n")
    (tmp_path / "image.bin").write_bytes(b"\0host")
    ours = edited(TEXT, 3, "three")
    verbs, conflicts = judge(
        tmp_path,
        ("same.txt", TEXT, ours),
        ("done.txt", TEXT, ours),
        ("elsewhere.txt", TEXT, ours),
        ("clash.txt", TEXT, ours),
        ("gone.txt", b"old\n", None),
        ("kept.txt", b"old\n", None),
        ("new.txt", None, b"new\n"),
        ("taken.txt", None, b"agent's\n"),
        ("image.bin", b"\0base", b"\0agent"),
        ("vanished.txt", b"old\n", b"new\n"),
    )
    assert verbs == {
        "same.txt": "modified",
        "done.txt": "unchanged",
        "elsewhere.txt": "merged",
        "gone.txt": "deleted",
        "new.txt": "added",
    }
    assert conflicts == {
        "clash.txt": "changed on both sides, and the changes overlap",
        "kept.txt": "changed on the target, deleted by the agent",
        "taken.txt": "the target has a different file there",
        "image.bin": "binary, and changed on both sides",
        "vanished.txt": "deleted on the target, changed by the agent",
    }


def test_carrying_out_writes_merges_and_deletes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(edited(TEXT, 18, "eighteen on the host"))
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "gone.txt").write_bytes(b"old\n")
    (tmp_path / "tool.sh").write_bytes(b"echo\n")
    raw = [
        change("a.txt", TEXT, edited(TEXT, 3, "three")),
        change("sub/deeper/gone.txt", b"old\n", None),
        change("new/dir/made.txt", None, b"made\n"),
        change("tool.sh", b"echo\n", b"echo\n", mode="100755"),
    ]
    blobs = {blob(d): d for d in (TEXT, edited(TEXT, 3, "three"), b"old\n", b"made\n", b"echo\n")}
    actions, conflicts = plan(str(tmp_path), raw, blobs)
    assert conflicts == []
    carry_out(str(tmp_path), actions)
    merged = (tmp_path / "a.txt").read_text().splitlines()
    assert merged[2] == "three" and merged[17] == "eighteen on the host"
    assert not (tmp_path / "sub").exists()  # emptied folders go, as git removes them
    assert (tmp_path / "new" / "dir" / "made.txt").read_bytes() == b"made\n"
    assert os.access(tmp_path / "tool.sh", os.X_OK)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tether")] == []


def test_a_link_on_the_target_cannot_lead_a_write_outside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "docs").symlink_to(outside)
    _, conflicts = judge(target, ("docs/evil.txt", None, b"escaped\n"))
    assert conflicts == {"docs/evil.txt": "its folder on the target is a link that leads elsewhere"}
    assert list(outside.iterdir()) == []
