"""Container runtimes: the abstract `Runtime`, Docker, and the simulation."""

from nodeagent.runtime.base import (
    ContainerInfo,
    ContainerRuntimeError,
    ContainerSpec,
    ImagePullError,
    Mount,
    PortMapping,
    Runtime,
    RuntimeEvent,
    SandboxInfo,
    SandboxSpec,
)

__all__ = ["ContainerInfo", "ContainerSpec", "ImagePullError", "Mount", "PortMapping", "Runtime",
           "ContainerRuntimeError", "RuntimeEvent", "SandboxInfo", "SandboxSpec"]
