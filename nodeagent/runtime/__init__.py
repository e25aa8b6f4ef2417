"""Container runtimes: the abstract `Runtime`, Docker, and the simulation."""

from nodeagent.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    ImagePullError,
    Mount,
    PortMapping,
    Runtime,
    RuntimeError_,
    RuntimeEvent,
    SandboxInfo,
    SandboxSpec,
)

__all__ = ["ContainerInfo", "ContainerSpec", "ImagePullError", "Mount", "PortMapping", "Runtime",
           "RuntimeError_", "RuntimeEvent", "SandboxInfo", "SandboxSpec"]
