"""The container runtime interface the node agent drives.

The pod worker decides *what* should run; a `Runtime` decides *how*. Nothing
above this module knows whether it talks to Docker (`docker.py`) or to the
in-memory simulation (`sim.py`).

Every container a runtime creates carries the `io.podlab.*` labels below; they
are the only state the agent needs to adopt containers after a restart.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

LABEL_MANAGED = "io.podlab.managed"
LABEL_NODE = "io.podlab.node"
LABEL_POD_UID = "io.podlab.pod.uid"
LABEL_POD_NAME = "io.podlab.pod.name"
LABEL_POD_NAMESPACE = "io.podlab.pod.namespace"
LABEL_CONTAINER_NAME = "io.podlab.container.name"
LABEL_ATTEMPT = "io.podlab.container.attempt"
LABEL_TYPE = "io.podlab.container.type"

TYPE_SANDBOX = "sandbox"
TYPE_INIT = "init"
TYPE_APP = "app"

RUNNING = "running"
EXITED = "exited"
CREATED = "created"


class ContainerRuntimeError(Exception):
    """A runtime operation failed (the engine refused or is unreachable)."""


# The old name, kept so that code written against it still imports.
RuntimeError_ = ContainerRuntimeError


class ImagePullError(ContainerRuntimeError):
    """An image could not be made available. `reason` is Kubernetes' waiting reason
    (ErrImagePull or ErrImageNeverPull), `message` the status message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class ContainerInfo:
    """What the runtime knows about one (non-sandbox) container."""

    id: str
    pod_uid: str
    pod_name: str
    namespace: str
    container_name: str
    attempt: int
    state: str  # running / exited / created
    exit_code: int = 0
    started_at: float = 0.0  # epoch seconds; 0 = never
    finished_at: float = 0.0
    oom_killed: bool = False
    image: str = ""
    image_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.labels.get(LABEL_TYPE, TYPE_APP)


@dataclass
class SandboxInfo:
    """A pod sandbox: the pause container holding the pod's namespaces."""

    id: str
    pod_uid: str
    ip: str
    state: str  # running / exited / created
    attempt: int = 0
    pod_name: str = ""
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PortMapping:
    container_port: int
    host_port: int
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass
class Mount:
    """A mount: `kind` is bind (source = host path) or volume (source = runtime volume name)."""

    target: str
    source: str
    kind: str = "bind"
    read_only: bool = False


@dataclass
class SandboxSpec:
    """What the pause container needs. `host_network` joins the node's namespace."""

    pod_uid: str
    pod_name: str
    namespace: str
    attempt: int
    hostname: str
    labels: dict[str, str]
    host_network: bool = False
    ports: list[PortMapping] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)  # held for the pod's lifetime


@dataclass
class ContainerSpec:
    """A fully resolved container: env expanded, volumes placed, image decided."""

    pod_uid: str
    pod_name: str
    namespace: str
    name: str
    attempt: int
    type: str  # init / app
    image: str
    labels: dict[str, str]
    command: list[str] = field(default_factory=list)  # entrypoint override ([] = image's)
    args: list[str] = field(default_factory=list)  # cmd override ([] = image's)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    nano_cpus: int = 0
    memory_limit: int = 0
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False  # the first attach's end of input closes the process's stdin
    user: str = ""
    read_only_rootfs: bool = False


@dataclass
class RuntimeEvent:
    """The runtime says something happened to a container of `pod_uid`; a hint, not state."""

    pod_uid: str
    container_id: str
    action: str  # start, die, oom, destroy, ...; CONNECTED: the stream is live


# The first event of every `Runtime.events()` stream: from here on nothing is
# missed, so whatever happened before deserves a fresh look.
CONNECTED = RuntimeEvent("", "", "connected")


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


STDOUT = "stdout"
STDERR = "stderr"


@dataclass(frozen=True)
class ContainerUsage:
    cpu_seconds: float  # CPU time used since the container started (0 when unknown)
    memory_working_set: int  # bytes, as memory_working_set


@dataclass(frozen=True)
class ExecFrame:
    """One piece of a session's output; `stream` is STDOUT or STDERR (a tty has only STDOUT)."""

    stream: str
    data: bytes


class ExecSession(abc.ABC):
    """A process running in a container with its standard streams attached.

    The channels are Kubernetes' exec/attach channels, one method each: stdin
    (`write`, `close_stdin`), stdout and stderr (`read`), resize (`resize`) and
    error, which carries the outcome (`exit_code`). A caller reads until
    `read` returns None, then asks `exit_code`, and always calls `close`.
    `read` is called by one task at a time; `write`, `close_stdin` and
    `resize` may be called from another task meanwhile. Every method may raise
    ContainerRuntimeError.
    """

    @abc.abstractmethod
    async def read(self) -> ExecFrame | None:
        """The next output frame; None once the process has closed its output."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send `data` to the process's stdin (ignored when the session has no stdin)."""

    @abc.abstractmethod
    async def close_stdin(self) -> None:
        """End of input: the process reads EOF."""

    @abc.abstractmethod
    async def resize(self, width: int, height: int) -> None:
        """The terminal's new size (a no-op without a tty)."""

    @abc.abstractmethod
    async def exit_code(self) -> int:
        """The process's exit code, once its output has ended (-1 when it cannot be known)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the session; a process still running is left to end with its container."""


class Runtime(abc.ABC):
    """The container runtime. Every method is async and may raise ContainerRuntimeError."""

    node_name: str

    @abc.abstractmethod
    async def image_present(self, image: str) -> bool:
        """Whether the engine has `image` locally."""

    @abc.abstractmethod
    async def pull_image(self, image: str) -> None:
        """Pull `image`; concurrent pulls of one image share a pull. Raises ImagePullError
        (ErrImagePull) with the engine's reason. The pull policy is the caller's
        (nodeagent.images)."""

    @abc.abstractmethod
    async def run_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        """Create and start a pause container; returns it with its pod IP."""

    @abc.abstractmethod
    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxInfo]:
        """This node's sandboxes (of one pod when `pod_uid` is given), any state."""

    @abc.abstractmethod
    async def create_container(self, spec: ContainerSpec, sandbox: SandboxInfo) -> str:
        """Create (not start) a container joined to `sandbox`; returns its id."""

    @abc.abstractmethod
    async def start_container(self, container_id: str) -> None: ...

    @abc.abstractmethod
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds (0: SIGKILL at once)."""

    @abc.abstractmethod
    async def remove_container(self, container_id: str) -> None:
        """Remove a container (forcefully); a missing container is not an error."""

    @abc.abstractmethod
    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        """This node's non-sandbox containers (of one pod when given), any state."""

    async def list_all(self, pod_uid: str | None = None) -> tuple[list[ContainerInfo], list[SandboxInfo]]:
        """list_containers and list_sandboxes as of one moment: one engine call where the runtime can."""
        return await self.list_containers(pod_uid), await self.list_sandboxes(pod_uid)

    @abc.abstractmethod
    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        """Run `command` in a running container and wait for it (at most `timeout`)."""

    @abc.abstractmethod
    async def open_exec(self, container_id: str, command: list[str], stdin: bool,
                        tty: bool) -> ExecSession:
        """Start `command` in a running container with its streams attached (interactive exec)."""

    async def open_attach(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        """The container's main process's standard streams, attached (kubectl attach).

        The session's output ends when the process closes it (it exited); its
        exit_code is 0, since attach reports no exit code. Raises
        ContainerRuntimeError when the container is not running.
        """
        raise ContainerRuntimeError("this runtime cannot attach to containers")

    async def open_port(self, sandbox: SandboxInfo,
                        port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `port` in the sandbox's network namespace: the pod's IP on the
        pod network, loopback for a pod on the node's network. Raises OSError as connecting does."""
        return await asyncio.open_connection(sandbox.ip or "127.0.0.1", port)

    @abc.abstractmethod
    def events(self) -> AsyncIterator[RuntimeEvent]:
        """Container events of this node's containers, until the runtime is closed;
        CONNECTED first, once the stream is live."""

    @abc.abstractmethod
    async def ensure_memory_volume(self, name: str, size_bytes: int, labels: dict[str, str]) -> str:
        """A tmpfs volume shared by a pod's containers; returns the runtime's volume name."""

    @abc.abstractmethod
    async def remove_volumes(self, pod_uid: str) -> None:
        """Remove the runtime volumes made for `pod_uid`."""

    @abc.abstractmethod
    def logs(self, container_id: str, follow: bool, tail: int | None, timestamps: bool,
             since: float | None) -> AsyncIterator[bytes]:
        """The container's output (stdout and stderr interleaved)."""

    @abc.abstractmethod
    async def memory_working_set(self, container_id: str) -> int:
        """Bytes of memory the container uses, minus inactive file pages (0 when unknown)."""

    async def usage(self, container_id: str) -> ContainerUsage:
        """The container's CPU time so far and memory working set, in one look where the runtime can."""
        return ContainerUsage(0.0, await self.memory_working_set(container_id))

    async def image_user(self, image: str) -> str:
        """The user a present `image` runs as ("" for root or unknown)."""
        return ""

    async def close(self) -> None:  # noqa: B027 - optional for runtimes holding nothing
        """Release the runtime's resources."""

    def version(self) -> str:
        return "unknown"
