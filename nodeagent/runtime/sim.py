"""A simulated runtime: in-memory containers that "run" until told to exit.

For scale benchmarks and fast control-loop tests only; never the default.
A container runs forever unless `behavior(spec)` returns `(seconds, exit_code)`,
or a test calls `exit_container`. The default behavior understands a command
ending in `exit N` (e.g. `["sh", "-c", "exit 1"]`) as "exit with N at once".

Interactive exec (`open_exec`) runs a tiny shell that really answers, so the
agent's exec path can be driven without an engine: `cat` echoes stdin until
it is closed; `sh` (no `-c`) reads commands line by line; `sh -c SCRIPT` and
any other command run as one script. The shell knows `echo` (with `>&2`),
`hostname`, `printenv NAME`, `true`, `false` and `exit N`; anything else is
"not found" (127). A session ends with its container.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shlex
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
    STDERR,
    STDOUT,
    ContainerInfo,
    ContainerRuntimeError,
    ContainerSpec,
    ContainerUsage,
    ExecFrame,
    ExecResult,
    ExecSession,
    ImagePullError,
    Runtime,
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


# What every running simulated container uses: 5 millicores (CPU seconds per second) and 8 MiB.
SIM_USAGE = ContainerUsage(0.005, 8 * 1024 * 1024)

class SimExecSession(ExecSession):
    """The simulated process of one interactive exec (see the module docstring)."""

    def __init__(self, command: list[str], env: dict[str, str], hostname: str, tty: bool) -> None:
        self.command = command
        self.env = env
        self.hostname = hostname
        self.tty = tty
        self.resizes: list[tuple[int, int]] = []
        self._frames: asyncio.Queue[ExecFrame | None] = asyncio.Queue()
        self._pending = b""
        self._status = 0
        self._code: int | None = None
        program = command[0].rsplit("/", 1)[-1] if command else ""
        self._mode = "cat" if program == "cat" and len(command) == 1 else "script"
        if program in ("sh", "ash", "bash") and len(command) == 1:
            self._mode = "shell"
        elif self._mode == "script":
            script = command[2] if program in ("sh", "ash", "bash") and command[1:2] == ["-c"] \
                else shlex.join(command)
            for line in script.replace(";", "\n").splitlines():
                if self._code is None:
                    self._run(line)
            self._finish(self._status)

    def _emit(self, stream: str, data: bytes) -> None:
        if self._code is None and data:
            self._frames.put_nowait(ExecFrame(STDOUT if self.tty else stream, data))

    def _finish(self, code: int) -> None:
        if self._code is None:
            self._code = code
            self._frames.put_nowait(None)

    def _run(self, line: str) -> None:
        """One shell command line."""
        try:
            words = shlex.split(line)
        except ValueError as err:
            self._emit(STDERR, f"sh: syntax error: {err}\n".encode())
            self._status = 2
            return
        if not words:
            return
        stream = STDOUT
        if words[-1] == ">&2":
            stream, words = STDERR, words[:-1]
        name, args = words[0], words[1:]
        self._status = 0
        if name == "echo":
            self._emit(stream, (" ".join(args) + "\n").encode())
        elif name == "hostname":
            self._emit(stream, f"{self.hostname}\n".encode())
        elif name == "printenv" and args:
            if args[0] in self.env:
                self._emit(stream, f"{self.env[args[0]]}\n".encode())
            else:
                self._status = 1
        elif name in ("true", "false"):
            self._status = int(name == "false")
        elif name == "exit":
            self._finish(int(args[0]) if args and args[0].isdigit() else self._status)
        else:
            self._emit(STDERR, f"sh: {name}: not found\n".encode())
            self._status = 127

    def container_stopped(self, exit_code: int) -> None:
        self._finish(exit_code)

    async def read(self) -> ExecFrame | None:
        if self._frames.empty() and self._code is not None:
            return None
        return await self._frames.get()

    async def write(self, data: bytes) -> None:
        if self._code is not None or self._mode == "script":
            return
        if self._mode == "cat":
            self._emit(STDOUT, data)
            return
        self._pending += data
        while b"\n" in self._pending and self._code is None:
            line, self._pending = self._pending.split(b"\n", 1)
            self._run(line.decode(errors="replace"))

    async def close_stdin(self) -> None:
        if self._mode == "shell" and self._pending:
            self._run(self._pending.decode(errors="replace"))
        self._pending = b""
        if self._mode != "script":
            self._finish(self._status)

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def exit_code(self) -> int:
        return -1 if self._code is None else self._code

    async def close(self) -> None:
        self._finish(137 if self._code is None else self._code)


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
        self.sessions: dict[str, list[SimExecSession]] = {}  # container id -> its interactive execs
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
        for session in self.sessions.pop(container_id, []):
            session.container_stopped(exit_code)
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
            raise ContainerRuntimeError(f"sandbox {sandbox.id} is not running")
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

    async def open_exec(self, container_id: str, command: list[str], stdin: bool,
                        tty: bool) -> ExecSession:
        c = self._containers.get(container_id)
        if c is None or c.info.state != RUNNING:
            raise ContainerRuntimeError(f"container {container_id} is not running")
        self.execs.append((container_id, list(command)))
        env = dict(c.spec.env) if c.spec else {}
        session = SimExecSession(list(command), env, c.info.pod_name, tty)
        self.sessions.setdefault(container_id, []).append(session)
        if not stdin:  # nothing attached to stdin: the process reads EOF at once
            await session.close_stdin()
        return session

    async def open_attach(self, container_id: str, stdin: bool, tty: bool) -> ExecSession:
        """The simulated main process: the container's command run as an exec would run it."""
        c = self._containers.get(container_id)
        if c is None or c.info.state != RUNNING or c.spec is None:
            raise ContainerRuntimeError(f"container {container_id} is not running")
        session = SimExecSession(list(c.spec.command) + list(c.spec.args), dict(c.spec.env), c.info.pod_name, tty)
        self.sessions.setdefault(container_id, []).append(session)
        if not stdin:
            await session.close_stdin()
        return session

    async def open_port(self, sandbox: SandboxInfo,
                        port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The simulated pod network is the node's loopback: a test listens there for the pod."""
        return await asyncio.open_connection("127.0.0.1", port)

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

    async def usage(self, container_id: str) -> ContainerUsage:
        """A simulated container uses SIM_USAGE: its CPU time grows at that many cores since it started."""
        c = self._containers.get(container_id)
        if c is None or c.info.state != RUNNING:
            return ContainerUsage(0.0, 0)
        return ContainerUsage(SIM_USAGE.cpu_seconds * max(0.0, time.time() - c.info.started_at),
                              SIM_USAGE.memory_working_set)

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
