"""A slice of the sandbox suite against an engine reached over a TCP DOCKER_HOST:
a small proxy thread forwards 127.0.0.1:PORT to the local engine's unix socket,
so nothing may rely on the engine sharing this machine's files."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest

from tether.core import errors
from tether.core.sandbox import DockerSandbox, Resources, remove_session_resources

pytestmark = pytest.mark.docker
UNIX_SOCKET = "/var/run/docker.sock"


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _serve(listener: socket.socket) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        engine = socket.socket(socket.AF_UNIX)
        engine.connect(UNIX_SOCKET)
        for source, sink in ((client, engine), (engine, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


@pytest.fixture
def tcp_engine(docker_client: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if not os.path.exists(UNIX_SOCKET):
        pytest.skip("the local engine is not on a unix socket")
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=_serve, args=(listener,), daemon=True).start()
    url = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("DOCKER_HOST", url)
    yield url
    listener.close()


def test_the_sandbox_over_tcp(tcp_engine: str, docker_client, test_image: str) -> None:
    resources = Resources(session_id=f"t-tcp-{uuid.uuid4().hex[:8]}", image=test_image)
    box = DockerSandbox()
    try:
        box.provision(resources)
        assert box.api.base_url.startswith("http://127.0.0.1:")  # really over TCP
        box.execute("bash", {"command": "cd /tmp && export OVER=tcp"})
        assert box.execute("bash", {"command": "echo $OVER; pwd"}).content == "tcp\n/tmp"
        box.execute("write", {"file_path": "t.txt", "content": "over tcp\n"})
        assert box.execute("read", {"file_path": "t.txt"}).content == "     1\tover tcp"
        slow = box.execute("bash", {"command": "sleep 100", "timeout_ms": 500})
        assert "timed out" in slow.content
        long = box.execute("bash", {"command": "seq 1 60000"})
        assert long.truncated and long.content.endswith("60000")
        docker_client.api.kill(box.container_id)  # through the unix socket, behind its back
        with pytest.raises(errors.SandboxLost):
            box.execute("bash", {"command": "true"})
        box.provision(resources)
        assert box.execute("bash", {"command": "cat t.txt"}).content == "over tcp"
    finally:
        box.release()
        remove_session_resources(resources.session_id, volume=True)
