"""What to say when the sandbox image is missing: the images that are here, how to
pick one (`--image`, `TETHER_IMAGE`), and how to build one offline."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

BUILD_OFFLINE = "bash tests/build-image.sh tether-sandbox:bookworm git,python3"
SHOWN = 5


def local_images(api: Any) -> list[str]:
    """Tagged images on the engine, newest first (untagged layers and errors: none)."""
    try:
        found = api.images()
    except Exception as exc:  # noqa: BLE001 - advice is best effort; the caller has the error
        log.debug("could not list local images: %s", exc)
        return []
    found.sort(key=lambda image: image.get("Created", 0), reverse=True)
    tags = [tag for image in found for tag in image.get("RepoTags") or []]
    return [tag for tag in tags if not tag.startswith("<none>")]


def advice(local: list[str]) -> str:
    """How to get going without the image: one that is here, or one built offline."""
    if local:
        names = ", ".join(local[:SHOWN]) + (", ..." if len(local) > SHOWN else "")
        first = local[0]
        return (
            f"use an image that is here ({names}): --image {first}, or "
            f"export TETHER_IMAGE={first}; or build one offline: {BUILD_OFFLINE} "
            '(see the README, "The sandbox")'
        )
    return (
        f"build one offline: {BUILD_OFFLINE}, then --image tether-sandbox:bookworm or "
        'export TETHER_IMAGE=tether-sandbox:bookworm (see the README, "The sandbox")'
    )
