"""`tether config` and `tether doctor`, run as a user runs them: a real process,
its stdout piped, the real Docker engine (or a DOCKER_HOST that answers nothing)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tether.cli.setup_commands import completions_check

BIN = Path(sys.executable).parent
ANSI = "\x1b["
FAKE_KEY = "sk-ant-test-0123456789abcdef"


def tether(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run(
        [str(BIN / "tether"), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def checks_by_name(result: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


# -- config --------------------------------------------------------------------------


def test_config_shows_defaults_and_the_missing_file_path() -> None:
    result = tether("config")
    assert result.returncode == 0, result.stderr
    assert f"config file: {os.environ['TETHER_CONFIG']} (not present)" in result.stdout
    assert "max_turns" in result.stdout and "default" in result.stdout


def test_config_names_each_source(tmp_path: Path) -> None:
    path = Path(os.environ["TETHER_CONFIG"])
    path.write_text('image = "from-file:1"\nmax_turns = 5\n')
    result = tether("config", "--json", TETHER_MAX_TURNS="9", ANTHROPIC_BASE_URL="http://x")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config_file"] == str(path) and data["config_file_exists"] is True
    settings = data["settings"]
    assert settings["image"] == {"value": "from-file:1", "source": "file", "from": str(path)}
    assert settings["max_turns"] == {"value": 9, "source": "env", "from": "TETHER_MAX_TURNS"}
    assert settings["base_url"]["from"] == "ANTHROPIC_BASE_URL"
    assert settings["network"] == {"value": False, "source": "default", "from": None}


def test_config_table_shows_file_and_env_sources() -> None:
    path = Path(os.environ["TETHER_CONFIG"])
    path.write_text('image = "from-file:1"\n')
    result = tether("config", TETHER_MEMORY="4g")
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    assert lines["image"].split()[1:] == ['"from-file:1"', "file", str(path)]
    assert lines["memory"].split()[1:] == ['"4g"', "env", "TETHER_MEMORY"]


@pytest.mark.parametrize(
    ("content", "key"), [("colour = 'blue'\n", "'colour'"), ("max_turns = 'many'\n", "max_turns")]
)
def test_a_bad_config_file_is_one_line_naming_file_and_key(content: str, key: str) -> None:
    path = Path(os.environ["TETHER_CONFIG"])
    path.write_text(content)
    result = tether("config")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and key in result.stderr


# -- doctor --------------------------------------------------------------------------


def test_doctor_with_no_engine_says_so_with_a_remedy_and_fails() -> None:
    result = tether("doctor", DOCKER_HOST="unix:///nonexistent.sock")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    engine = next(line for line in result.stdout.splitlines() if "docker engine" in line)
    assert engine.startswith("✗") and "unix:///nonexistent.sock" in engine
    assert "→ start the engine DOCKER_HOST names" in result.stdout


def test_doctor_json_with_no_engine() -> None:
    result = tether("doctor", "--json", DOCKER_HOST="unix:///nonexistent.sock")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    checks = checks_by_name(result)
    assert data["ok"] is False
    assert checks["docker engine"]["status"] == "fail" and checks["docker engine"]["remedy"]
    assert checks["image"]["status"] == "skip"


@pytest.mark.docker
def test_doctor_passes_with_the_engine_and_a_local_image(test_image: str) -> None:
    result = tether("doctor", "--json", TETHER_IMAGE=test_image, ANTHROPIC_API_KEY=FAKE_KEY)
    checks = checks_by_name(result)
    assert checks["docker engine"]["status"] == "ok"
    assert checks["docker engine"]["detail"].startswith("Docker ")
    assert checks["image"]["status"] == "ok" and "present locally" in checks["image"]["detail"]
    assert checks["api key"]["status"] == "ok" and checks["data dir"]["status"] == "ok"
    assert result.returncode == 0, result.stdout  # completions only ever warn


@pytest.mark.docker
def test_doctor_on_a_missing_image_says_whether_it_can_be_pulled(docker_client: object) -> None:
    result = tether("doctor", "--json", TETHER_IMAGE="tether-no-such-image:never")
    image = checks_by_name(result)["image"]
    assert image["status"] == "fail" and "not present locally" in image["detail"]
    remedy = image["remedy"]  # the images that would do, TETHER_IMAGE, the offline build
    assert "tether-test:bookworm" in remedy and "TETHER_IMAGE=" in remedy
    assert "tests/build-image.sh" in remedy and "README" in remedy


def test_doctor_never_shows_the_api_key() -> None:
    for args in (["doctor"], ["doctor", "--json"]):
        result = tether(*args, ANTHROPIC_API_KEY=FAKE_KEY, DOCKER_HOST="unix:///nonexistent.sock")
        assert "ANTHROPIC_API_KEY is set" in result.stdout
        for part in (FAKE_KEY, FAKE_KEY[:8], FAKE_KEY[-6:]):
            assert part not in result.stdout + result.stderr


def test_doctor_reports_a_home_that_is_a_file_and_a_bad_config(tmp_path: Path) -> None:
    Path(os.environ["TETHER_CONFIG"]).write_text("colour = 1\n")
    (tmp_path / "file").write_text("")
    result = tether(
        "doctor", "--json", TETHER_HOME=str(tmp_path / "file"), DOCKER_HOST="unix:///nope"
    )
    checks = checks_by_name(result)
    assert checks["data dir"]["status"] == "fail" and "TETHER_HOME" in checks["data dir"]["remedy"]
    assert checks["config"]["status"] == "fail" and "colour" in checks["config"]["detail"]


def test_completions_warn_with_an_install_command_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "BASH_COMPLETION_USER_DIR", "FPATH"):
        monkeypatch.delenv(name, raising=False)
    for shell in ("bash", "zsh", "fish"):
        monkeypatch.setenv("SHELL", f"/bin/{shell}")
        check = completions_check()
        assert check.status == "warn" and check.remedy
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        subprocess.run(["bash", "-c", check.remedy], env=env, check=True)
        assert completions_check().status == "ok"


# -- output hygiene ------------------------------------------------------------------


@pytest.mark.parametrize("args", [["config"], ["doctor"], ["config", "--help"], ["doctor", "-h"]])
def test_piped_output_has_no_ansi_codes(args: list[str]) -> None:
    for env in ({}, {"NO_COLOR": "1"}, {"TERM": "xterm-256color"}):
        result = tether(*args, DOCKER_HOST="unix:///nonexistent.sock", **env)
        assert ANSI not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["config", "doctor"])
def test_help_has_an_example(command: str) -> None:
    assert "Example:  tether " + command in tether(command, "--help").stdout


def _on_a_terminal(*args: str, **env: str) -> str:
    """Everything `tether ARGS` writes when its stdout and stderr are a terminal."""
    main, side = pty.openpty()
    full_env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color", **env}
    subprocess.run([str(BIN / "tether"), *args], stdout=side, stderr=side, env=full_env, timeout=60)
    os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO once the other side has closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return b"".join(chunks).decode()


def test_no_color_on_a_terminal_has_no_colour() -> None:
    assert "\x1b[3" in _on_a_terminal("doctor", DOCKER_HOST="unix:///nope")  # colour when allowed
    plain = _on_a_terminal("doctor", DOCKER_HOST="unix:///nope", NO_COLOR="1")
    assert not any(f"\x1b[{n}" in plain for n in (31, 32, 33, 38, 91, 92, 93))


def test_no_color_on_a_terminal_has_no_ansi_codes_at_all() -> None:
    assert ANSI not in _on_a_terminal("config", NO_COLOR="1")
