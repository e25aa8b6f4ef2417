"""The lab's invariants for ReplicaSets: a Deployment sampled through the API and on the Docker engine.

`RolloutChecker` samples one Deployment every `interval` s in a background
thread, as `lab.chaos.InvariantChecker` samples pods:

- through the API: its pods that count (not terminating), the Ready ones
  among them, and the sum of its ReplicaSets' replicas. During a rollout with
  healthy nodes, Kubernetes promises at most `replicas + maxSurge` pods and at
  least `replicas - maxUnavailable` ready ones;
- on the engine (the lab's nodes' running app containers): how many of its pods
  run, and whether one pod name runs twice (with lab.chaos's InvariantChecker,
  which it runs alongside).

The figures are the extremes over the samples (`most_pods`, `least_ready`,
`most_running`...), each with the time it was seen, so a test asserts the bound
and a benchmark can plot it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lab.chaos import InvariantChecker, LabApi, timestamp
from podlab.v1 import objects_pb2 as v1


@dataclass
class Sample:
    at: float  # time.time()
    pods: int  # not terminating
    ready: int
    desired: int  # the sum of its ReplicaSets' spec.replicas
    running: int  # app containers running on the lab's nodes
    twice: list[str]  # pod names with two running copies


@dataclass
class RolloutChecker:
    """Samples Deployment `name` (its pods are `app=<label>`, pod names `<name>-...`) until stopped."""

    api: LabApi
    name: str
    label: str = ""
    namespace: str = "default"
    interval: float = 0.2
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.label = self.label or self.name
        self._engine = InvariantChecker(interval=self.interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"podlab-rollout-{self.name}", daemon=True)

    def __enter__(self) -> RolloutChecker:
        self._engine.start()  # its own samples catch any pod name running twice
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(15)
            self._engine.stop()

    def sample(self) -> Sample:
        async def read(c: Any) -> tuple[list[v1.Pod], list[v1.ReplicaSet]]:
            pods, _ = await c.list("Pod", self.namespace, f"app={self.label}")
            sets, _ = await c.list("ReplicaSet", self.namespace, f"app={self.label}")
            return pods, sets
        pods, sets = self.api.call(read)
        live = [p for p in pods if not p.metadata.HasField("deletion_timestamp")]
        ready = sum(1 for p in live if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions))
        mine = {p.metadata.name for p in pods}
        running = {pod.split("/", 1)[1]: copies for pod, copies in self._engine.sample().items()
                   if pod.split("/", 1)[1] in mine or pod.split("/", 1)[1].startswith(f"{self.name}-")}
        return Sample(time.time(), len(live), ready, sum(rs.spec.replicas for rs in sets),
                      sum(len(copies) for copies in running.values()),
                      sorted(name for name, copies in running.items() if len(copies) > 1))

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                self.samples.append(self.sample())
            except Exception as err:  # noqa: BLE001 - the API may be restarting; say so, keep going
                self.errors.append(f"{timestamp()} {err}")
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    # -- the figures ------------------------------------------------------------------------------

    def since(self, at: float) -> list[Sample]:
        return [s for s in self.samples if s.at >= at]

    def least_ready(self, after: float = 0.0) -> int:
        return min((s.ready for s in self.since(after)), default=0)

    def most_pods(self, after: float = 0.0) -> int:
        return max((s.pods for s in self.since(after)), default=0)

    def most_desired(self, after: float = 0.0) -> int:
        return max((s.desired for s in self.since(after)), default=0)

    def most_running(self, after: float = 0.0) -> int:
        return max((s.running for s in self.since(after)), default=0)

    def ran_twice(self) -> list[str]:
        """Pods of this Deployment seen running twice at once (by either sampler)."""
        engine = {v.pod.split("/", 1)[1] for v in self._engine.violations}
        return sorted({name for s in self.samples for name in s.twice}
                      | {n for n in engine if n.startswith(f"{self.name}-")})
