"""Engines other than the local Docker socket, started for the tests and stopped after:
the local engine reached over SSH (a throwaway sshd on loopback), and podman's
Docker-compatible API (`podman system service` on a socket of its own).

Each is an `Engine`: the DOCKER_HOST to use, the rest of the environment a client
needs (HOME, for the SSH client's config and known_hosts), and a way to stop it.
tests/run.sh installs what they need (openssh-server, podman, catatonit); without
it they skip, except in CI, where they fail.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass
class Engine:
    """How to reach a running engine, and how to stop it."""

    kind: str
    docker_host: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def client_env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` pointed at this engine."""
        return {**env, **self.env, "DOCKER_HOST": self.docker_host}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def missing(kind: str) -> str | None:
    """What is missing on this machine to start `kind`, or None."""
    needs = {"ssh": [SSHD, "ssh-keygen", "docker"], "podman": ["podman"]}[kind]
    absent = [name for name in needs if shutil.which(name) is None]
    return f"{', '.join(absent)} not installed (tests/run.sh installs them)" if absent else None


def start_ssh(work: Path) -> Engine:
    """An sshd on 127.0.0.1 that lets this user in with a key made for it, in front of the
    local engine (the remote end of `ssh://` runs `docker system dial-stdio`)."""
    home = work / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    for key in ("host_key", "id"):
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / key))
    port, user = _free_port(), _user()
    (work / "sshd_config").write_text(_SSHD_CONFIG.format(port=port, work=work))
    shutil.copy(work / "id.pub", work / "authorized_keys")
    config = f"Host 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {work / 'id'}\n"
    (home / ".ssh" / "config").write_text(config)
    host_key = " ".join((work / "host_key.pub").read_text().split()[:2])
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    log = open(work / "sshd.log", "wb")  # noqa: SIM115 - the daemon writes it until stopped
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(work / "sshd_config")],
                               stdout=log, stderr=log)  # fmt: skip
    _wait_for_port(port, process, work / "sshd.log")
    return Engine("ssh", f"ssh://{user}@127.0.0.1:{port}", {"HOME": str(home)}, process)


_SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {work}/host_key
PidFile {work}/sshd.pid
AuthorizedKeysFile {work}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
"""


def start_podman(work: Path, images: list[str], nofile: int | None = None) -> Engine:
    """`podman system service` on a socket in `work`, with `images` copied over from the
    local Docker engine.

    Its Docker API asks runc for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576, which
    an engine that cannot raise its own limits (in a container, in some VMs) is
    refused, and then no container starts; containers.conf's default_ulimits keep
    them within this machine's (README: "Engines"). `nofile` asks for another limit.
    """
    nofile = nofile or resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    conf = work / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", '
                    f'"nproc={nproc}:{nproc}"]\n')  # fmt: skip
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    for image in images:
        _copy_image(image, env)
    sock = work / "podman.sock"
    log = open(work / "podman.log", "wb")  # noqa: SIM115 - the service writes it until stopped
    process = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                               env=env, stdout=log, stderr=log)  # fmt: skip
    deadline = time.monotonic() + 30
    while not sock.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"podman did not start: {(work / 'podman.log').read_text()}")
        time.sleep(0.1)
    return Engine("podman", f"unix://{sock}", {}, process)


def _copy_image(image: str, env: dict[str, str]) -> None:
    """`docker save | podman load`, unless podman has it already."""
    if subprocess.run(["podman", "image", "exists", image], env=env).returncode == 0:
        return
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    subprocess.run(["podman", "load", "-q"], stdin=saved.stdout, env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    if saved.wait() != 0:
        raise RuntimeError(f"docker save {image} failed")


def _user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {port}: {log.read_text()}")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
