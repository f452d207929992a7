"""Every path tether uses. Nothing here creates a directory or prints at import."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HomeMissing

APP_NAME = "tether"


def data_dir() -> Path:
    """The data directory: `$TETHER_HOME` if set, else platformdirs' user data dir.

    A `TETHER_HOME` that does not exist yet is created (0700) when the first session
    is; one that names a file is an error that says so.
    """
    override = os.environ.get("TETHER_HOME")
    if override:
        path = Path(override).expanduser()
        if path.exists() and not path.is_dir():
            raise HomeMissing(
                f"TETHER_HOME={override} is a file, not a directory: "
                "point TETHER_HOME at a directory (it is created if missing), or unset it"
            )
        return path
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False)


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def session_files(session_id: str) -> Path:
    """The directory of a session's files on this host, beside its log in the JSONL
    store: what `tether kill` leaves for the harness, MCP servers' logs and long
    results. It is this host's business, whatever store holds the log."""
    return sessions_dir() / session_id


def kill_request(session_id: str) -> Path:
    """The file `tether kill` leaves for the session's harness before its SIGTERM, so the
    harness records a kill (terminated) rather than a plain SIGTERM (idle)."""
    return session_files(session_id) / "kill-requested"


def home_id_file() -> Path:
    """The data dir's random id, which names and labels its Docker volumes and containers."""
    return data_dir() / "home-id"


def config_file() -> Path:
    """The TOML config file: `$TETHER_CONFIG`, else in platformdirs' user config dir."""
    override = os.environ.get("TETHER_CONFIG")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700 if missing; returns it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
