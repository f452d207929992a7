"""The hands: the Sandbox protocol and its Docker implementation.

Importing this package does not import the docker SDK (its modules import it
inside the functions that talk to the engine), so read-only commands stay fast.
"""

from .cleanup import SandboxContainer, remove_session_resources, session_containers, sweep
from .docker import DEFAULT_IMAGE, DockerSandbox
from .protocol import Provisioned, Resources, Sandbox, ToolResult
from .tools import TOOL_SPECS, ToolSpec, check_input

__all__ = [
    "DEFAULT_IMAGE",
    "TOOL_SPECS",
    "DockerSandbox",
    "Provisioned",
    "Resources",
    "Sandbox",
    "SandboxContainer",
    "ToolResult",
    "ToolSpec",
    "check_input",
    "remove_session_resources",
    "session_containers",
    "sweep",
]
