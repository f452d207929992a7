"""Shell completions: the committed scripts are fresh and parse, and a real shell
completes commands and session ids (newest first) through them."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from tether.cli.completion import SHELLS, complete_session_id
from tether.core import events as ev
from tether.core.store import SessionStore

IN_CI = bool(os.environ.get("CI"))

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"
BIN = Path(sys.executable).parent  # where the venv's `tether` lives
FILES = {"bash": "tether.bash", "zsh": "_tether", "fish": "tether.fish"}


def _generate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate", COMPLETIONS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        message = f"{shell} is not installed (tests/run.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def _make_sessions(*ids: str) -> None:
    """Sessions created in this order, so the last one is the newest."""
    store = SessionStore()
    for session_id in ids:
        created = ev.SessionCreated(model="m", tools=("bash",), image="img")
        store.create(created, session_id=session_id).close()
        time.sleep(0.003)  # distinct millisecond timestamps


# -- the files -----------------------------------------------------------------------


def test_committed_scripts_are_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(COMPLETIONS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_check_finds_a_stale_script(tmp_path: Path) -> None:
    generate = _generate_module()
    generate.write_all(tmp_path)
    assert generate.stale_files(tmp_path) == []
    (tmp_path / "_tether").write_text("# edited by hand\n")
    assert generate.stale_files(tmp_path) == [tmp_path / "_tether"]


@pytest.mark.parametrize("shell", SHELLS)
def test_the_app_prints_the_committed_script(shell: str) -> None:
    result = subprocess.run(
        ["tether"], env=_env(_TETHER_COMPLETE=f"source_{shell}"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (COMPLETIONS / FILES[shell]).read_text()


@pytest.mark.parametrize(
    ("shell", "check"), [("bash", ["-n"]), ("zsh", ["-n"]), ("fish", ["--no-execute"])]
)
def test_scripts_parse(shell: str, check: list[str]) -> None:
    result = subprocess.run(
        [_need(shell), *check, str(COMPLETIONS / FILES[shell])], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# -- round trips through a real shell --------------------------------------------------


def _bash_complete(*words: str) -> list[str]:
    """COMPREPLY after <Tab> with the cursor at the end of the last word."""
    array = " ".join(f"'{w}'" for w in words)
    script = (
        f"source {COMPLETIONS / 'tether.bash'}\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n"
        '_tether_completion tether; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        [_need("bash"), "--norc", "--noprofile", "-c", script],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stderr == ""
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completes_a_command() -> None:
    assert _bash_complete("tether", "re") == ["resume"]
    assert {"config", "doctor"} <= set(_bash_complete("tether", ""))


def test_bash_completes_an_id_prefix_newest_first() -> None:
    _make_sessions("abc-zzz", "abc-mmm", "abc-aaa", "other")
    assert _bash_complete("tether", "tail", "abc") == ["abc-aaa", "abc-mmm", "abc-zzz"]
    assert _bash_complete("tether", "show", "oth") == ["other"]


def test_bash_keeps_the_order_it_is_given() -> None:
    assert "-o nosort" in (COMPLETIONS / "tether.bash").read_text()


def test_zsh_completes_an_id_prefix_newest_first() -> None:
    """The script's function, with zsh's completion builtins replaced by printers."""
    _make_sessions("abc-old", "abc-new")
    script = (
        "compdef() { : }\n"
        'print_describe() { print -rl -- "${(P@)${@[-1]}}" }\n'
        '_describe() { print_describe "$@" }\n'
        "_files() { print FILES }\n"
        f"source {COMPLETIONS / '_tether'}\n"
        "words=(tether show abc); CURRENT=3; _tether_completion\n"
        "words=(tether re); CURRENT=2; _tether_completion\n"
    )
    result = subprocess.run(
        [_need("zsh"), "-f", "-c", script], env=_env(), capture_output=True, text=True, timeout=30
    )
    lines = result.stdout.splitlines()
    assert lines[:2] == ["abc-new", "abc-old"], result.stderr
    assert lines[2].startswith("resume:")


def test_fish_completes_an_id_prefix_newest_first() -> None:
    _make_sessions("abc-old", "abc-new")
    script = f"source {COMPLETIONS / 'tether.fish'}; complete -C 'tether tail abc'"
    result = subprocess.run(
        [_need("fish"), "--no-config", "-c", script],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.splitlines() == ["abc-new", "abc-old"], result.stderr


# -- the id callback -----------------------------------------------------------------


def test_ids_complete_from_any_prefix_newest_first() -> None:
    _make_sessions("b-1", "a-1", "a-2")
    assert complete_session_id("") == ["a-2", "a-1", "b-1"]
    assert complete_session_id("a") == ["a-2", "a-1"]
    assert complete_session_id("zz") == []


def test_a_session_with_an_unreadable_log_still_completes_last(tether_home: Path) -> None:
    _make_sessions("s-good")
    (tether_home / "sessions" / "s-torn").mkdir()
    (tether_home / "sessions" / "s-torn" / "events.jsonl").write_bytes(b'{"ts": "20')
    assert complete_session_id("s-") == ["s-good", "s-torn"]


def test_no_data_dir_completes_nothing_quietly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "missing"))
    assert complete_session_id("") == []
    assert _bash_complete("tether", "tail", "") == []


def test_completion_imports_neither_sdk() -> None:
    _make_sessions("abc-1")
    env = _env(COMP_WORDS="tether tail abc", COMP_CWORD="2", _TETHER_COMPLETE="complete_bash")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tether.cli"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["abc-1"]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert not {m for m in imported if m.split(".")[0] in ("anthropic", "docker", "httpx")}
