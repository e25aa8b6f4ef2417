"""A simulated runtime: in-memory containers that "run" until told to exit.

For scale benchmarks and fast control-loop tests only; never the default.
A container runs forever unless `behavior(spec)` returns `(seconds, exit_code)`,
or a test calls `exit_container`. The default behavior understands a command
ending in `exit N` (e.g. `["sh", "-c", "exit 1"]`) as "exit with N at once".
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from nodeagent.runtime.base import (
    CONNECTED,
    CREATED,
    EXITED,
    LABEL_ATTEMPT,
    LABEL_CONTAINER_NAME,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    RUNNING,
    ContainerInfo,
    ContainerSpec,
    ExecResult,
    ImagePullError,
    Runtime,
    RuntimeError_,
    RuntimeEvent,
    SandboxInfo,
    SandboxSpec,
)

Behavior = Callable[[ContainerSpec], "tuple[float, int] | None"]
_EXIT = re.compile(r"(?:^|[;&\s])exit\s+(\d+)\s*$")


def default_behavior(spec: ContainerSpec) -> tuple[float, int] | None:
    """`... exit N` exits at once with N; anything else runs until stopped."""
    text = " ".join(spec.command + spec.args)
    m = _EXIT.search(text)
    return (0.0, int(m.group(1))) if m else None


@dataclass
class _SimContainer:
    info: ContainerInfo
    spec: ContainerSpec | None
    log: bytearray = field(default_factory=bytearray)
    timer: asyncio.TimerHandle | None = None


class SimRuntime(Runtime):
    """In-memory containers; `images` is the set of "local" images (None: every image)."""

    def __init__(self, node_name: str, behavior: Behavior = default_behavior,
                 images: set[str] | None = None, pod_cidr: str = "10.244.0.") -> None:
        self.node_name = node_name
        self.behavior = behavior
        self.images = images
        self.pulls: list[str] = []
        self.stops: list[tuple[str, float]] = []
        self.execs: list[tuple[str, list[str]]] = []
        self._containers: dict[str, _SimContainer] = {}
        self._sandboxes: dict[str, SandboxInfo] = {}
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._cidr = pod_cidr
        self._events: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self.volumes: dict[str, str] = {}  # name -> pod uid

    # -- test controls -------------------------------------------------------------

    def exit_container(self, container_id: str, exit_code: int = 0, oom: bool = False,
                       announce: bool = True) -> None:
        """Make a running container exit now; `announce=False`: an engine that drops the event."""
        c = self._containers[container_id]
        if c.info.state != RUNNING:
            return
        c.info.state = EXITED
        c.info.exit_code = exit_code
        c.info.oom_killed = oom
        c.info.finished_at = time.time()
        if c.timer:
            c.timer.cancel()
        if announce:
            self._events.put_nowait(RuntimeEvent(c.info.pod_uid, container_id, "die"))

    def break_event_stream(self) -> None:
        """End the current events() stream, as an engine restart would."""
        self._events.put_nowait(None)

    def kill_sandbox(self, sandbox_id: str) -> None:
        self._sandboxes[sandbox_id].state = EXITED
        self._events.put_nowait(RuntimeEvent(self._sandboxes[sandbox_id].pod_uid, sandbox_id, "die"))

    def container(self, container_id: str) -> ContainerInfo:
        return self._containers[container_id].info

    # -- Runtime ---------------------------------------------------------------------

    async def image_present(self, image: str) -> bool:
        return self.images is None or image in self.images

    async def pull_image(self, image: str) -> None:
        self.pulls.append(image)
        if not await self.image_present(image):
            raise ImagePullError("ErrImagePull", f"pull access denied for {image}")

    async def run_sandbox(self, spec: SandboxSpec) -> SandboxInfo:
        sid = f"sandbox{next(self._ids)}"
        ip = "192.168.0.10" if spec.host_network else f"{self._cidr}{next(self._ips)}"
        info = SandboxInfo(sid, spec.pod_uid, ip, RUNNING, spec.attempt, spec.pod_name,
                           spec.namespace, dict(spec.labels))
        self._sandboxes[sid] = info
        return info

    async def list_sandboxes(self, pod_uid: str | None = None) -> list[SandboxInfo]:
        return [s for s in self._sandboxes.values() if pod_uid is None or s.pod_uid == pod_uid]

    async def create_container(self, spec: ContainerSpec, sandbox: SandboxInfo) -> str:
        if sandbox.state != RUNNING:
            raise RuntimeError_(f"sandbox {sandbox.id} is not running")
        cid = f"ctr{next(self._ids)}"
        labels = dict(spec.labels)
        info = ContainerInfo(cid, spec.pod_uid, spec.pod_name, spec.namespace, spec.name,
                             spec.attempt, CREATED, image=spec.image, labels=labels)
        self._containers[cid] = _SimContainer(info, spec)
        return cid

    async def start_container(self, container_id: str) -> None:
        c = self._containers[container_id]
        c.info.state = RUNNING
        c.info.started_at = time.time()
        self._events.put_nowait(RuntimeEvent(c.info.pod_uid, container_id, "start"))
        outcome = self.behavior(c.spec) if c.spec else None
        if outcome is not None:
            delay, code = outcome
            if delay <= 0:
                self.exit_container(container_id, code)
            else:
                c.timer = asyncio.get_running_loop().call_later(
                    delay, self.exit_container, container_id, code)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        self.stops.append((container_id, timeout))
        if container_id in self._sandboxes:
            self._sandboxes[container_id].state = EXITED
            return
        c = self._containers.get(container_id)
        if c is not None and c.info.state == RUNNING:
            self.exit_container(container_id, 137 if timeout <= 0 else 143)

    async def remove_container(self, container_id: str) -> None:
        self._sandboxes.pop(container_id, None)
        c = self._containers.pop(container_id, None)
        if c is not None and c.timer:
            c.timer.cancel()

    async def list_containers(self, pod_uid: str | None = None) -> list[ContainerInfo]:
        return [c.info for c in self._containers.values()
                if pod_uid is None or c.info.pod_uid == pod_uid]

    async def exec(self, container_id: str, command: list[str], timeout: float) -> ExecResult:
        self.execs.append((container_id, list(command)))
        return ExecResult(0, b"", b"")

    async def events(self) -> AsyncIterator[RuntimeEvent]:
        yield CONNECTED
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    async def ensure_memory_volume(self, name: str, size_bytes: int, labels: dict[str, str]) -> str:
        self.volumes[name] = labels.get(LABEL_POD_UID, "")
        return name

    async def remove_volumes(self, pod_uid: str) -> None:
        for name in [n for n, uid in self.volumes.items() if uid == pod_uid]:
            del self.volumes[name]

    async def logs(self, container_id: str, follow: bool, tail: int | None,
                   timestamps: bool, since: float | None) -> AsyncIterator[bytes]:
        c = self._containers.get(container_id)
        if c is not None:
            yield bytes(c.log)

    async def memory_working_set(self, container_id: str) -> int:
        return 0

    async def close(self) -> None:
        self._events.put_nowait(None)

    def version(self) -> str:
        return "sim://1.0"

    def adopt(self, info: ContainerInfo) -> None:
        """Pretend a container existed before the agent started (for adoption tests)."""
        info.labels.setdefault(LABEL_NODE, self.node_name)
        info.labels.setdefault(LABEL_POD_UID, info.pod_uid)
        info.labels.setdefault(LABEL_POD_NAME, info.pod_name)
        info.labels.setdefault(LABEL_POD_NAMESPACE, info.namespace)
        info.labels.setdefault(LABEL_CONTAINER_NAME, info.container_name)
        info.labels.setdefault(LABEL_ATTEMPT, str(info.attempt))
        self._containers[info.id] = _SimContainer(info, None)
