"""What a pod worker and its helpers are given: the node's shared parts, and one pod's handle.

`WorkerContext` is shared by every worker of the node; `PodHandle` is the
narrow view of one worker that its helpers (nodeagent.container_start,
nodeagent.pod_stop) may use: the pod's identity and IP, its events and log
lines, and a way to ask for another pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from nodeagent.backoff import CrashBackoff
from nodeagent.clock import SYSTEM_CLOCK, Clock
from nodeagent.pod_api import PodApi
from nodeagent.probes import ProbeManager
from nodeagent.runtime.base import Runtime
from nodeagent.volumes import VolumeManager
from podlab.events import EventRecorder


@dataclass
class WorkerContext:
    """What every pod worker shares with the agent. Set up once; read by every worker."""

    node_name: str
    host_ip: str
    runtime: Runtime
    volumes: VolumeManager
    probes: ProbeManager
    api: PodApi  # reads of referred objects, status writes, deletion confirmation
    backoff: CrashBackoff
    allocatable: dict[str, str]
    service_env: dict[str, str] = field(default_factory=dict)  # the API's KUBERNETES_* variables, for every container
    fenced: Callable[[], bool] = lambda: False
    resync_period: float = 60.0
    recorder: EventRecorder | None = None
    clock: Clock = field(default=SYSTEM_CLOCK)


class PodHandle(Protocol):
    """One pod, as its worker's helpers see it. Used only from that worker's task."""

    uid: str
    pod_ip: str  # the sandbox's IP once known

    def event(self, type_: str, reason: str, message: str, container: str = "") -> None: ...
    def log(self, level: int, msg: str, *args: object) -> None: ...
    def wake(self) -> None: ...
