"""The README's commands are the ones that work: its CI snippet runs here as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from e2e import TEST_IMAGE, tether_env
from fakeapi import FakeAPI, text, tool_use

README = Path(__file__).parent.parent / "README.md"


def ci_snippet() -> str:
    match = re.search(r"<!-- ci-snippet[^>]*-->\n```sh\n(.*?)```", README.read_text(), re.S)
    assert match, "the README lost its CI snippet"
    return match.group(1)


def run_snippet(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent  # where the `tether` console script is installed
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", ci_snippet()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_ci_snippet_fixes_the_checkout_and_reports(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "test.sh").write_text("test 1 = 2\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "failing"]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=checkout,
                       check=True)  # fmt: skip
    fix = tool_use("bash", {"command": "sed -i 's/1 = 2/2 = 2/' test.sh && sh test.sh"})
    with FakeAPI([fix, text("All tests pass now.")]) as api:
        result = run_snippet(checkout, tether_env(api.base_url, TEST_IMAGE))
    assert result.returncode == 0, result.stderr
    report, rest = result.stdout.split("\n", 1)
    assert re.fullmatch(r"tether \S+: end_turn after 2 turns", report)
    assert "test.sh | 2 +-" in rest and "1 file changed" in rest  # diff --stat
    assert "1 file applied to" in rest
    assert (checkout / "test.sh").read_text() == "test 2 = 2\n"
    assert (checkout / "tether.jsonl").read_text().count('"type":"result"') == 1


def test_the_ci_snippet_fails_the_job_with_tethers_exit_code(tmp_path: Path) -> None:
    env = tether_env("http://127.0.0.1:9", TEST_IMAGE)
    del env["ANTHROPIC_API_KEY"]
    result = run_snippet(tmp_path, env)
    assert result.returncode == 6  # API key missing
    assert "error after 0 turns" in result.stdout
