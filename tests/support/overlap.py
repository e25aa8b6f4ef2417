"""Watch what actually runs on every node, continuously, to catch a pod running twice.

Asks each agent directly (its own gRPC port, not through the partition proxy)
for its running containers every `interval` seconds, from a background thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import grpc

from podlab.v1 import services_pb2 as api
from podlab.v1 import services_pb2_grpc as rpc


@dataclass
class Sample:
    at: float
    running: dict[str, dict[str, set[str]]]  # node -> pod name -> uids


@dataclass
class OverlapWatcher:
    agents: dict[str, str]  # node name -> agent address
    interval: float = 0.1
    samples: list[Sample] = field(default_factory=list)
    violations: list[tuple[float, str, dict[str, set[str]]]] = field(default_factory=list)
    unreachable: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._channels = {n: grpc.insecure_channel(a) for n, a in self.agents.items()}
        self._last: dict[str, dict[str, set[str]]] = {}
        self._thread = threading.Thread(target=self._run, name="overlap-watcher", daemon=True)

    def __enter__(self) -> OverlapWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for channel in self._channels.values():
            channel.close()

    def _poll(self, node: str) -> dict[str, set[str]] | None:
        try:
            reply = rpc.NodeAgentStub(self._channels[node]).Stats(api.StatsRequest(), timeout=0.5)
        except grpc.RpcError:
            return None
        pods: dict[str, set[str]] = {}
        for c in reply.containers:
            pods.setdefault(f"{c.pod_namespace}/{c.pod_name}", set()).add(c.pod_uid)
        return pods

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            running: dict[str, dict[str, set[str]]] = {}
            for node in self.agents:
                seen = self._poll(node)
                if seen is None:
                    # A powered-off agent runs nothing (its processes died with it); a
                    # frozen one still holds what it ran: assume its last known state.
                    self.unreachable[node] = self.unreachable.get(node, 0) + 1
                    seen = self._last.get(node, {}) if node in self.frozen else {}
                self._last[node] = seen
                running[node] = seen
            self.samples.append(Sample(now, running))
            by_pod: dict[str, set[str]] = {}
            for node, pods in running.items():
                for pod in pods:
                    by_pod.setdefault(pod, set()).add(node)
            for pod, nodes in by_pod.items():
                if len(nodes) > 1:
                    self.violations.append((now, pod, {n: running[n][pod] for n in nodes}))
            self._stop.wait(self.interval)

    frozen: set[str] = field(default_factory=set)

    def running_on(self, node: str) -> dict[str, set[str]]:
        return self._last.get(node, {})
