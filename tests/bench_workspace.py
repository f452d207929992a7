"""Workspace benchmarks, each beside a baseline measured in the same run.

    .venv/bin/python tests/bench_workspace.py [--files N] [--runs N]

1. A `tether run` in a 10,000-file git repository copies it into the workspace: what
   that adds to the first tool call (against the same run outside a git tree), beside
   `git clone --local` of the same repository.
2. The same run's first model request, against the same run outside a git tree: the
   copy must add nothing to it.
3. `tether diff --stat` of that session after the agent changed 10 files (no harness
   running: a one-off helper), beside `git diff --stat` on the host.

Needs a Docker engine and the test image (TETHER_TEST_IMAGE; tests/run.sh builds it).
Run it when the machine has not deleted many files for five minutes (another benchmark's
clean-up, the test suite): ext4 then skips the recently deleted inodes on every file it
creates (`recently_deleted` tops a perf profile), and the engine takes 10 s, not 1, to
write the copy's 10,000 files.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from bench_harness import TimedAPI
from benchlib import TETHER, Row, at_most, env_for, home, print_table, scratch, timings_ms
from fakeapi import text, tool_use

WORDS = [f"word{n}" for n in range(500)]
CHANGE_TEN = "for n in 0 1 2 3 4 5 6 7 8 9; do echo changed >> pkg$n/mod0/file$n.py; done"


def rows(work: Path, files: int = 10_000, runs: int = 3) -> list[Row]:
    repo = make_repo(work / "repo", files)
    outside = work / "outside"
    outside.mkdir()
    data_dir = home(work, "workspace")
    copied = [first_call(data_dir, repo) for _ in range(runs)]
    plain = [first_call(data_dir, outside) for _ in range(runs)]
    added = statistics.median(c[1] for c in copied) - statistics.median(p[1] for p in plain)
    clone = statistics.median(timings_ms(lambda: clone_into(repo, work / "clone"), runs))
    return [
        Row(f"copy of a {files:,}-file repo: added to 1st tool call", added, "ms",
            "git clone --local, same repo", clone, *at_most(added, 2000, "ms")),
        first_request_row(copied, plain, files),
        diff_row(data_dir, repo, work, runs),
    ]  # fmt: skip


def make_repo(path: Path, files: int) -> Path:
    """A git repository of `files` text files of 20-150 lines in 40x12 folders, packed."""
    random.seed(1)
    for n in range(files):
        folder = path / f"pkg{n % 40}" / f"mod{n % 480 // 40}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = (" ".join(random.choices(WORDS, k=8)) for _ in range(random.randint(20, 150)))
        (folder / f"file{n}.py").write_text("\n".join(lines) + "\n")
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "-c", "gc.auto=0", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x")
    git(path, "gc", "-q")
    os.sync()  # its files on disk: the runs measured must not wait for this setup's writes
    return path


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def first_call(data_dir: Path, cwd: Path) -> tuple[float, float]:
    """(ms from start to the first model request, ms of the first tool call's round trip:
    the first answer sent to the next request's arrival) of a run in `cwd`."""
    with TimedAPI([tool_use("bash", {"command": "true"}), text("done")]) as api:
        started = time.perf_counter()
        env = env_for(data_dir, api.base_url)
        subprocess.run([*TETHER, "run", "-q", "go"], env=env, cwd=cwd, check=True,
                       capture_output=True)  # fmt: skip
        return (api.arrived[0] - started) * 1000, (api.arrived[1] - api.answered[0]) * 1000


def first_request_row(copied: list, plain: list, files: int) -> Row:
    with_copy = statistics.median(c[0] for c in copied)
    without = statistics.median(p[0] for p in plain)
    bar, met = at_most(with_copy, without + 50, "ms")
    return Row(f"run → 1st model request, {files:,}-file repo", with_copy, "ms",
               "same run outside a git tree", without, "≤ baseline + 50 ms", met)  # fmt: skip


def clone_into(repo: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", "--local", str(repo), str(target)], check=True)


def diff_row(data_dir: Path, repo: Path, work: Path, runs: int) -> Row:
    """`tether diff --stat` of a stopped session that changed 10 files, beside `git diff`."""
    script = [tool_use("bash", {"command": CHANGE_TEN}), text("done")]
    with TimedAPI(script) as api:
        env = env_for(data_dir, api.base_url)
        subprocess.run([*TETHER, "run", "-q", "change ten"], env=env, cwd=repo, check=True,
                       capture_output=True)  # fmt: skip
    command = [*TETHER, "diff", "--last", "--stat"]
    shown = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    assert "10 files changed" in shown.stdout, shown.stdout
    tether = statistics.median(timings_ms(lambda: subprocess.run(command, env=env, check=True,
                                          capture_output=True), runs + 2, warmup=1))  # fmt: skip
    clone_into(repo, work / "clone")
    subprocess.run(["sh", "-c", CHANGE_TEN], cwd=work / "clone", check=True)
    host = statistics.median(timings_ms(lambda: git(work / "clone", "diff", "--stat"), runs + 2))
    return Row("diff --stat, 10 of 10,000 files changed", tether, "ms",
               "git diff --stat on the host", host, *at_most(tether, 1000, "ms"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with scratch() as work:
        found = rows(work, args.files, args.runs)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print_table(found)


if __name__ == "__main__":
    main()
