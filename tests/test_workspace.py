"""End to end: the workspace starts as a copy of the project you stand in, the host is
untouched until `tether apply`, and `diff`, `apply` and `cp` work without a harness.
Real CLI, real Docker, real git, the fake Messages API."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e import (
    TEST_IMAGE,
    json_lines,
    kill9,
    of_type,
    only_session_id,
    run,
    session_events,
    start,
    wait_for,
    wait_for_event,
)
from fakeapi import FakeAPI, bash, text
from registry import ImageRef

from tether.core import events as ev

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("docker_client")]

BINARY = bytes(range(256)) * 4
TOKEN = "ghp_SECRETtoken123"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def make_repo(path: Path) -> Path:
    """A project: tracked text, binary and script files, an ignored secret, an untracked
    note, and a token where CI checkouts keep theirs."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("".join(f"line {n}\n" for n in range(1, 21)))
    (path / "old.txt").write_text("to be deleted\n")
    (path / "move_me.txt").write_text("a file that will be renamed, with enough text\n" * 3)
    (path / "logo.bin").write_bytes(BINARY)
    (path / "run.sh").write_text("echo run\n")
    (path / ".gitignore").write_text(".env\nbuild/\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "start")
    (path / ".env").write_text("API_TOKEN=do-not-copy\n")
    (path / "notes.txt").write_text("untracked, not ignored\n")
    git(path, "config", "http.https://github.com/.extraheader", f"AUTHORIZATION: basic {TOKEN}")
    git(path, "remote", "add", "origin", f"https://x-access-token:{TOKEN}@github.com/o/r")
    return path


AGENT_CHANGE = (
    "sed -i 's/^line 3$/line three/' app.py && rm old.txt && echo fresh > new.txt && "
    "printf '\\001\\002\\000\\003' > logo.bin && chmod +x run.sh && git mv move_me.txt moved.txt"
    " && mkdir -p build && echo artefact > build/out.o"
)


def look_and_change(api: FakeAPI) -> None:
    api.add(
        bash("ls -A; echo ---; cat .git/config; echo ---; git status --porcelain"),
        bash(AGENT_CHANGE),
        text("Done."),
    )


def tool_outputs(session_id: str | None = None) -> list[str]:
    return [r.content for r in of_type(session_events(session_id), ev.AgentToolResult)]


def test_the_workspace_is_a_copy_of_the_git_work_tree_and_the_host_waits_for_apply(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "project")
    before = {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()}
    look_and_change(api)

    result = run(["run", "tidy up"], env, cwd=repo)
    assert result.returncode == 0, result.stderr
    listing, config, status = tool_outputs()[0].split("---\n")
    assert sorted(listing.split()) == sorted(
        [
            ".git",
            ".gitignore",
            "app.py",
            "logo.bin",
            "move_me.txt",
            "notes.txt",
            "old.txt",
            "run.sh",
        ]
    )  # fmt: skip  (.env is ignored: never copied)
    assert TOKEN not in config and "github.com/o/r" in config
    assert status.strip() == "?? notes.txt"  # git works in the copy, and agrees with the host
    created = session_events()[0]
    assert created.workspace_source == "git" and created.workspace_from == str(repo)
    prepared = of_type(session_events(), ev.WorkspacePrepared)[0]
    assert prepared.files == 7 and prepared.checkpoint

    assert {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()} == before

    shown = run(["diff", "--last"], env)
    assert shown.returncode == 0, shown.stderr
    patch = shown.stdout
    assert "-line 3\n+line three" in patch
    assert "deleted file mode 100644" in patch and "new file mode 100644" in patch
    assert "rename from move_me.txt\nrename to moved.txt" in patch
    assert "old mode 100644\nnew mode 100755" in patch
    assert "GIT binary patch" in patch  # whole, for git apply, since stdout is a pipe
    assert "build/" not in patch  # ignored by the project's .gitignore

    stat = run(["diff", "--last", "--stat"], env).stdout
    assert "6 files changed" in stat and "rename move_me.txt => moved.txt" in stat, stat
    files = {f["path"]: f for f in json_lines(run(["diff", "--last", "--json"], env).stdout)}
    assert files["app.py"] == {
        "path": "app.py", "status": "modified", "old_path": None, "added": 1, "deleted": 1,
        "binary": False,
    }  # fmt: skip
    assert files["logo.bin"]["binary"] and files["logo.bin"]["added"] is None
    assert files["moved.txt"]["status"] == "renamed" and files["moved.txt"]["old_path"]
    assert files["old.txt"]["status"] == "deleted" and files["new.txt"]["status"] == "added"
    assert run(["diff", "--last", "--json", "app.py"], env).stdout.count('"path"') == 1

    git_apply = subprocess.run(
        ["git", "-C", str(repo), "apply", "--check", "-"], input=patch, text=True,
        capture_output=True,
    )  # fmt: skip
    assert git_apply.returncode == 0, git_apply.stderr

    applied = run(["apply", "--last"], env)
    assert applied.returncode == 0, applied.stderr
    assert "7 files applied to" in applied.stdout
    assert (repo / "app.py").read_text().splitlines()[2] == "line three"
    assert not (repo / "old.txt").exists() and (repo / "new.txt").read_text() == "fresh\n"
    assert (repo / "logo.bin").read_bytes() == b"\x01\x02\x00\x03"
    assert os.access(repo / "run.sh", os.X_OK)
    assert (repo / "moved.txt").exists() and not (repo / "move_me.txt").exists()
    assert not (repo / "build").exists()
    assert (repo / ".env").read_text() == "API_TOKEN=do-not-copy\n"
    again = run(["apply", "--last"], env)
    assert again.returncode == 0 and "already has the agent's change" in again.stdout


def test_apply_merges_a_host_change_elsewhere_and_refuses_a_conflict_writing_nothing(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "project")
    api.add(bash(AGENT_CHANGE), text("Done."))
    assert run(["run", "tidy up"], env, cwd=repo).returncode == 0

    lines = (repo / "app.py").read_text().splitlines(keepends=True)
    lines[15] = "line 16, changed on the host\n"  # far from the agent's line 3
    (repo / "app.py").write_text("".join(lines))
    checked = run(["apply", "--last", "--check"], env)
    assert checked.returncode == 0, checked.stderr
    assert "merged with the target's changes" in checked.stdout
    assert "would apply cleanly" in checked.stdout and not (repo / "new.txt").exists()

    lines[2] = "line 3, changed on the host too\n"  # the agent's line
    (repo / "app.py").write_text("".join(lines))
    (repo / "logo.bin").write_bytes(b"host's own binary")
    before = {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()}
    refused = run(["apply", "--last"], env)
    assert refused.returncode != 0
    assert "C app.py" in refused.stdout and "C logo.bin" in refused.stdout
    assert "2 files conflict (app.py, logo.bin); nothing was written" in refused.stderr
    assert {p.name: p.read_bytes() for p in repo.iterdir() if p.is_file()} == before


def test_cp_both_ways_and_as_a_tar_stream_without_a_running_sandbox(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    api.add(bash("mkdir -p out && echo report > out/report.md && echo data > out/data.csv"))
    api.add(text("Written."))
    assert run(["run", "--empty", "write a report"], env).returncode == 0
    sid = only_session_id()

    assert run(["cp", f"{sid}:out/report.md", str(tmp_path)], env).returncode == 0
    assert (tmp_path / "report.md").read_text() == "report\n"
    assert run(["cp", f"{sid}:/workspace/out", str(tmp_path / "copy")], env).returncode == 0
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == ["data.csv", "report.md"]
    streamed = subprocess.run(
        [*run_args(), "cp", f"{sid}:out", "-"], env=env, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout)) as tar:
        assert sorted(tar.getnames()) == ["out", "out/data.csv", "out/report.md"]

    (tmp_path / "input.txt").write_text("from the host\n")
    assert run(["cp", str(tmp_path / "input.txt"), f"{sid}:in/"], env).returncode != 0
    assert run(["cp", str(tmp_path / "input.txt"), f"{sid}:out/"], env).returncode == 0
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        entry = tarfile.TarInfo("piped.txt")
        entry.size = 6
        tar.addfile(entry, io.BytesIO(b"piped\n"))
    piped = subprocess.run(
        [*run_args(), "cp", "-", f"{sid}:."], env=env, input=archive.getvalue(),
        capture_output=True,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    api.add(bash("cat out/input.txt piped.txt; ls -ln out/input.txt"), text("Read."))
    assert run(["resume", sid, "read them"], env).returncode == 0
    output = tool_outputs(sid)[-1]
    assert output.startswith("from the host\npiped\n") and " 1000 1000 " in output
    missing = run(["cp", f"{sid}:/tmp/tether/outputs", str(tmp_path)], env)
    assert missing.returncode != 0 and "only /workspace is kept" in missing.stderr


def run_args() -> list[str]:
    from e2e import TETHER

    return list(TETHER)


def test_a_root_owned_workspace_directory_is_writable_by_the_agent(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root, as in CI containers")
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    api.add(bash("echo made-by-agent > result.txt && id -u"), text("Done."))
    result = run(["run", "--workspace", str(shared), "write there"], env)
    assert result.returncode == 0, result.stderr
    assert (shared / "result.txt").read_text() == "made-by-agent\n"
    assert (shared / "result.txt").stat().st_uid == 0
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    refused = run(["run", "--workspace", str(read_only), "write there"], env)
    assert refused.returncode == 2 and "chmod u+w" in refused.stderr


def test_where_the_workspace_comes_from(api: FakeAPI, env: dict, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "data.txt").write_text("x" * 4000)
    api.add(bash("ls -A"), text("Looked."), bash("ls -A"), text("Looked."))
    outside = run(["run", "look"], env, cwd=plain)
    assert outside.returncode == 0, outside.stderr
    assert "not in a git work tree" in outside.stderr and "--from" in outside.stderr
    assert tool_outputs()[0] == "(no output)"

    assert run(["run", "--from", str(plain), "look"], env).returncode == 0
    assert tool_outputs()[0] == "data.txt"
    too_big = run(["run", "--from", str(plain), "--copy-limit", "1k", "look"], env)
    assert too_big.returncode == 2 and "more than 1 KiB" in too_big.stderr
    both = run(["run", "--from", str(plain), "--empty", "look"], env)
    assert both.returncode == 2 and "only one of" in both.stderr


def test_diff_while_the_session_runs_and_after_it_crashed(
    api: FakeAPI, env: dict, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "project")
    api.add(bash("echo early > early.txt && sleep 60"), text("Done."))
    harness = start(["run", "work slowly"], env, cwd=repo)
    try:
        wait_for_event(ev.SandboxProvisioned, 60)
        running = wait_for(lambda: _diff_names(env), 30, "the running session's change")
        assert running == ["early.txt"]
        _check_the_helper_is_locked_down(only_session_id())
    finally:
        kill9(harness)
    sid = only_session_id()
    assert run(["ls", "--json"], env).stdout.count('"crashed"') == 1
    assert _diff_names(env) == ["early.txt"]
    assert run(["kill", sid], env).returncode == 0
    assert _diff_names(env) == ["early.txt"]


def _diff_names(env: dict) -> list[str]:
    result = run(["diff", "--last", "--json"], env)
    assert result.returncode == 0, result.stderr
    return [f["path"] for f in json_lines(result.stdout)]


@pytest.fixture
def image_without_git(docker_client: Any) -> Iterator[str]:
    """The test image with git removed, as `python:3.12-slim` and `node:*-slim` are."""
    name = f"tether-test:no-git-{uuid.uuid4().hex[:8]}"
    container = docker_client.containers.run(
        TEST_IMAGE, ["rm", "/usr/bin/git"], detach=True, network_mode="none"
    )
    container.wait()
    container.commit(*name.split(":"))
    container.remove()
    yield name
    docker_client.images.remove(name, force=True)


def test_an_image_without_git_works_without_checkpoints_and_says_so(
    api: FakeAPI, env: dict, tmp_path: Path, image_without_git: str
) -> None:
    repo = make_repo(tmp_path / "project")
    api.add(bash("echo new > new.txt && ls"), text("Done."))
    result = run(["run", "--image", image_without_git, "work"], env, cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "has no git" in result.stdout  # the live view says it once
    assert "new.txt" in tool_outputs()[0]
    prepared = of_type(session_events(), ev.WorkspacePrepared)[0]
    assert prepared.files == 7 and not prepared.checkpoint
    assert prepared.error == f"no checkpoints: the image {image_without_git} has no git"
    assert of_type(session_events(), ev.WorkspaceCheckpoint) == []
    refused = run(["diff", "--last"], env)
    assert refused.returncode == 7
    assert (
        "has no checkpoints" in refused.stderr
        and "needs git in the sandbox image" in refused.stderr
    )
    assert run(["cp", f"{only_session_id()}:new.txt", str(tmp_path)], env).returncode == 0
    assert (tmp_path / "new.txt").read_text() == "new\n"


def _check_the_helper_is_locked_down(session_id: str) -> None:
    """The checkpoint helper: no host environment, no network, one capability, the
    workspace read-only, the store mounted nowhere else."""
    import docker

    client = docker.from_env()
    labels = [f"tether.session={session_id}"]
    containers = client.containers.list(filters={"label": labels})
    roles = {c.labels["tether.role"]: c.attrs for c in containers}
    helper, sandbox = roles["store"], roles["sandbox"]
    assert helper["HostConfig"]["CapDrop"] == ["ALL"]
    assert helper["HostConfig"]["CapAdd"] == ["DAC_READ_SEARCH"]
    assert helper["HostConfig"]["NetworkMode"] == "none"
    assert not any("ANTHROPIC" in variable for variable in helper["Config"]["Env"])
    mounts = {m["Destination"]: m for m in helper["Mounts"]}
    assert not mounts["/workspace"]["RW"] and mounts["/store"]["RW"]
    assert "/store" not in {m["Destination"] for m in sandbox["Mounts"]}
    client.close()


def test_an_image_the_run_pulls_gets_the_copy_and_keeps_its_sandbox(
    api: FakeAPI, env: dict, tmp_path: Path, pullable_image: ImageRef
) -> None:
    """The first run in a project, with an image that is not here yet: the workspace
    waits for the sandbox to pull it, then is copied beside the sandbox it started (a
    copy made in the background first clears what a cut one left: never that sandbox)."""
    repo = make_repo(tmp_path / "project")
    api.add(bash("head -n 1 app.py; cat notes.txt"), text("Done."))
    result = run(["run", "--image", pullable_image, "look"], env, cwd=repo)
    assert result.returncode == 0, result.stderr
    assert any(path.startswith("/v2/tether-pull/") for _, path in pullable_image.registry.requests)
    assert tool_outputs()[0] == "line 1\nuntracked, not ignored"
    assert of_type(session_events(), ev.SandboxLost) == []
    prepared = of_type(session_events(), ev.WorkspacePrepared)[0]
    assert prepared.files == 7 and prepared.checkpoint
