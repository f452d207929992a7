"""A local Docker registry (HTTP API v2, pull side only) served from a thread, so tests
can make the engine really pull an image without internet or a registry container.

Images come from `docker save` tars and are served as OCI manifests with uncompressed
layers read in place from the tar. Each `add` gives the image a label naming its
repository, so its config (and image ID) is new to the engine and a pull must fetch it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import tarfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from e2e import TEST_IMAGE
from fakeapi.server import LocalServer

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
ROUTE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


@dataclass(frozen=True)
class Blob:
    """Bytes to serve: `data`, or else `size` bytes of the file `path` from `offset`."""

    digest: str
    size: int
    data: bytes = b""
    path: Path | None = None
    offset: int = 0

    def chunks(self) -> Iterator[bytes]:
        if self.path is None:
            yield self.data
            return
        with self.path.open("rb") as f:
            f.seek(self.offset)
            left = self.size
            while left and (chunk := f.read(min(left, 1 << 20))):
                left -= len(chunk)
                yield chunk

    def describe(self, media_type: str) -> dict[str, Any]:
        """The blob as a manifest refers to it."""
        return {"mediaType": media_type, "digest": self.digest, "size": self.size}


def bytes_blob(data: bytes) -> Blob:
    return Blob("sha256:" + hashlib.sha256(data).hexdigest(), len(data), data=data)


@functools.cache
def file_blob(path: Path, offset: int, size: int) -> Blob:
    """A range of a file as a blob; cached, as hashing a big layer takes a while."""
    digest = hashlib.sha256()
    for chunk in Blob("", size, path=path, offset=offset).chunks():
        digest.update(chunk)
    return Blob("sha256:" + digest.hexdigest(), size, path=path, offset=offset)


def read_saved(tar_path: Path) -> tuple[dict[str, Any], list[Blob]]:
    """The config (parsed) and the layers (in place in the tar) of a `docker save`."""
    with tarfile.open(tar_path) as tar:
        [image] = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(tar.extractfile(image["Config"]))  # type: ignore[arg-type]
        members = [tar.getmember(name) for name in image["Layers"]]
    return config, [file_blob(tar_path, m.offset_data, m.size) for m in members]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.registry.handle(self)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the registry's `requests` are its log."""


class _Server(LocalServer):
    registry: LocalRegistry


class LocalRegistry:
    """A registry on 127.0.0.1 (which dockerd trusts over plain HTTP). A context manager;
    `requests` lists the (method, path) of each request it got, in order."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.registry = self
        serve = functools.partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, name="registry", daemon=True)
        self._served: dict[tuple[str, str, str], tuple[Blob, str]] = {}  # name, kind, ref
        self.requests: list[tuple[str, str]] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add(self, repository: str, tag: str, image_tar: Path) -> None:
        """Serve the image saved in `image_tar` as `repository:tag`, labelled with the
        repository so that its image ID is new to the engine."""
        config, layers = read_saved(image_tar)
        settings = config.setdefault("config", {})
        settings["Labels"] = {**(settings.get("Labels") or {}), "tether.pull": repository}
        config_blob = bytes_blob(json.dumps(config).encode())
        manifest = bytes_blob(json.dumps({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config_blob.describe(CONFIG),
            "layers": [layer.describe(LAYER) for layer in layers],
        }).encode())  # fmt: skip
        for blob in [config_blob, *layers]:
            self._served[repository, "blobs", blob.digest] = blob, "application/octet-stream"
        for ref in (tag, manifest.digest):
            self._served[repository, "manifests", ref] = manifest, MANIFEST

    def handle(self, h: _Handler) -> None:
        """Answer /v2/ (the engine's probe), a manifest or a blob, or else a 404 with
        the registry's JSON error body."""
        self.requests.append((h.command, h.path))
        route = ROUTE.match(h.path)
        found = self._served.get((route["name"], route["kind"], route["ref"])) if route else None
        if h.path == "/v2/":
            self._send(h, 200, bytes_blob(b"{}"), "application/json")
        elif found:
            self._send(h, 200, *found)
        else:
            code = f"{route['kind'][:-1].upper()}_UNKNOWN" if route else "NAME_UNKNOWN"
            body = {"errors": [{"code": code, "message": code.lower().replace("_", " ")}]}
            self._send(h, 404, bytes_blob(json.dumps(body).encode()), "application/json")

    @staticmethod
    def _send(h: _Handler, status: int, blob: Blob, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Docker-Distribution-API-Version", "registry/2.0")
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(blob.size))
        h.send_header("Docker-Content-Digest", blob.digest)
        h.end_headers()
        for chunk in blob.chunks() if h.command == "GET" else ():
            h.wfile.write(chunk)

    def start(self) -> LocalRegistry:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ImageRef(str):
    """An image reference that also knows the registry serving it."""

    registry: LocalRegistry


_saved: dict[str, Path] = {}


def saved_test_image(client: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`docker save` of the test image, made once per session (per xdist worker)."""
    if TEST_IMAGE not in _saved:
        path = tmp_path_factory.mktemp("registry") / "image.tar"
        with path.open("wb") as f:
            for chunk in client.images.get(TEST_IMAGE).save(named=True):
                f.write(chunk)
        _saved[TEST_IMAGE] = path
    return _saved[TEST_IMAGE]


@pytest.fixture
def pullable_image(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageRef]:
    """`127.0.0.1:PORT/tether-pull/<random>:latest`: the test image, not on the engine
    under that name (nor its ID), served by a LocalRegistry (`.registry`) to pull."""
    import docker

    repository = f"tether-pull/{uuid.uuid4().hex[:12]}"
    with LocalRegistry() as registry:
        registry.add(repository, "latest", saved_test_image(docker_client, tmp_path_factory))
        ref = ImageRef(f"{registry.host}/{repository}:latest")
        ref.registry = registry
        yield ref
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(ref, force=True)
