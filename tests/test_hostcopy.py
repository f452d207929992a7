"""What a workspace copy holds, read from the tar stream the engine would get: what git
lists and a standalone `.git`, no credentials, owned by the sandbox user. No Docker."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tether.core import errors
from tether.core.gitfiles import sanitized_config
from tether.core.hostcopy import HostCopy, ustar_header
from tether.core.workspace import DIR, EMPTY, GIT, Source, choose, copy_of, git_top


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
         "-c", "protocol.file.allow=always", "-c", "safe.directory=*", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def copied(source: Source, into: Path) -> HostCopy:
    copy = HostCopy(source)
    archive = b"".join(copy.chunks())
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert {m.uid for m in tar.getmembers()} == {1000}
        tar.extractall(into, filter="tar")
    return copy


def repo_with_history(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('hi')\n")
    (path / ".gitignore").write_text("*.log\nsecrets/\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "one")
    (path / "debug.log").write_text("ignored\n")
    (path / "secrets").mkdir()
    (path / "secrets" / "key").write_text("ignored too\n")
    (path / "draft.md").write_text("untracked\n")
    (path / "link").symlink_to("src/app.py")
    return path


def test_a_git_copy_holds_what_git_lists_and_a_working_git(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path / "repo")
    copy = copied(Source(kind=GIT, path=str(repo)), tmp_path / "out")
    work = tmp_path / "out" / "workspace"
    names = sorted(str(p.relative_to(work)) for p in work.rglob("*") if ".git" not in p.parts)
    assert names == [".gitignore", "draft.md", "link", "src", "src/app.py"]
    assert (work / "link").is_symlink() and (work / "link").read_text() == "print('hi')\n"
    assert copy.stats.files == 4 and copy.stats.skipped == []
    assert git(work, "status", "--porcelain") == "?? draft.md\n?? link\n"
    assert git(work, "log", "--format=%s") == "one\n"


def test_a_linked_worktree_copies_as_a_standalone_repository(tmp_path: Path) -> None:
    main = repo_with_history(tmp_path / "main")
    git(main, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "feature"))
    (tmp_path / "feature" / "src" / "app.py").write_text("print('feature')\n")
    git(tmp_path / "feature", "commit", "-qam", "two")
    copied(Source(kind=GIT, path=str(tmp_path / "feature")), tmp_path / "out")
    work = tmp_path / "out" / "workspace"
    assert (work / ".git").is_dir()
    assert git(work, "rev-parse", "--abbrev-ref", "HEAD") == "feature\n"
    assert git(work, "log", "--format=%s") == "two\none\n"
    assert git(work, "status", "--porcelain") == ""
    assert not (work / ".git" / "worktrees").exists()


def test_a_submodule_comes_with_its_files_and_git(tmp_path: Path) -> None:
    library = repo_with_history(tmp_path / "library")
    repo = repo_with_history(tmp_path / "repo")
    git(repo, "submodule", "add", "-q", str(library), "lib")
    git(repo, "commit", "-qm", "with lib")
    copied(Source(kind=GIT, path=str(repo)), tmp_path / "out")
    work = tmp_path / "out" / "workspace"
    assert (work / "lib" / "src" / "app.py").read_text() == "print('hi')\n"
    assert git(work / "lib", "log", "--format=%s") == "one\n"
    assert git(work, "submodule", "status").startswith(" ")  # checked out, at its commit


def test_credentials_in_the_git_config_stay_on_the_host() -> None:
    config = b"""[core]
\tbare = false
[remote "origin"]
\turl = https://x-access-token:ghp_SECRET@github.com/o/r.git
[http "https://github.com/"]
\textraheader = AUTHORIZATION: basic c2VjcmV0
[credential]
\thelper = store
[credential "https://example.com"]
\tusername = me
[url "https://oauth2:glpat-SECRET@gitlab.com/"]
\tinsteadOf = https://gitlab.com/
[user]
\tname = Someone
"""
    clean = sanitized_config(config).decode()
    assert "SECRET" not in clean and "c2VjcmV0" not in clean and "helper" not in clean
    assert "url = https://github.com/o/r.git" in clean
    assert '[url "https://gitlab.com/"]' in clean and "name = Someone" in clean


def test_a_plain_directory_is_copied_whole_under_a_size_limit(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "deep" / "er").mkdir(parents=True)
    (plain / "deep" / "er" / "data.bin").write_bytes(b"\0" * 3000)
    (plain / ".hidden").write_text("kept\n")
    assert copy_of(str(plain), 10_000) == Source(kind=DIR, path=str(plain))
    with pytest.raises(errors.UsageError, match="more than 1 KiB to copy"):
        copy_of(str(plain), 1024)
    copy = copied(Source(kind=DIR, path=str(plain)), tmp_path / "out")
    assert copy.stats.files == 2 and copy.stats.bytes == 3005
    assert (tmp_path / "out" / "workspace" / "deep" / "er" / "data.bin").stat().st_size == 3000


def test_the_source_is_chosen_from_the_flags_and_where_you_stand(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path / "repo")
    limit = 1 << 30
    inside = choose(from_dir=None, bind=None, empty=False, cwd=str(repo / "src"), copy_limit=limit)
    assert inside == Source(kind=GIT, path=str(repo))
    assert git_top(str(tmp_path)) is None
    outside = choose(from_dir=None, bind=None, empty=False, cwd=str(tmp_path), copy_limit=limit)
    assert outside.kind == EMPTY and outside.note and "--from" in outside.note
    empty = choose(from_dir=None, bind=None, empty=True, cwd=str(repo), copy_limit=limit)
    assert empty == Source(kind=EMPTY)
    with pytest.raises(errors.UsageError, match="only one of"):
        choose(from_dir=str(repo), bind=str(repo), empty=False, cwd=".", copy_limit=limit)
    with pytest.raises(errors.ConfigError, match="does not exist"):
        choose(from_dir=str(tmp_path / "nope"), bind=None, empty=False, cwd=".", copy_limit=limit)


@pytest.mark.parametrize(
    "name,kind,link,size,mtime",
    [
        ("workspace/pkg/mod/file.py", tarfile.REGTYPE, "", 1234, 1_700_000_000),
        ("workspace/pkg", tarfile.DIRTYPE, "", 0, 0),
        ("workspace/link", tarfile.SYMTYPE, "../target/of a link", 0, 1),
        ("workspace/" + "n" * 90, tarfile.REGTYPE, "", 8**11 - 1, 8**11 - 1),
        ("workspace/" + "n" * 89, tarfile.DIRTYPE, "", 0, 5),  # 100 bytes with its "/"
    ],
)
def test_a_plain_header_is_the_one_tarfile_writes(
    name: str, kind: bytes, link: str, size: int, mtime: int
) -> None:
    entry = tarfile.TarInfo(name)
    entry.type, entry.linkname, entry.size, entry.mtime = kind, link, size, mtime
    entry.mode, entry.uid, entry.gid = 0o754, 1000, 1000
    expected = entry.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    assert ustar_header(name, 0o754, 1000, size, mtime, kind, link) == expected


@pytest.mark.parametrize(
    "name,link,size",
    [
        ("workspace/" + "n" * 91, "", 0),  # a long name needs an extended record
        ("workspace/naïve.txt", "", 0),  # so does one that is not ASCII
        ("workspace/l", "t" * 101, 0),
        ("workspace/big", "", 8**11),  # 8 GiB and more
    ],
)
def test_an_entry_that_needs_an_extended_record_is_left_to_tarfile(
    name: str, link: str, size: int
) -> None:
    assert ustar_header(name, 0o644, 1000, size, 0, tarfile.REGTYPE, link) is None
