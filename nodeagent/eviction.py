"""Node-pressure eviction: the kubelet's eviction manager, small.

Every `interval` seconds the manager observes the node's signals
(`memory.available`, `nodefs.available`, `imagefs.available`) from a
`SignalSource`, compares them with hard and soft thresholds, and

* reports MemoryPressure / DiskPressure while a threshold is met and for
  `pressure_transition_period` seconds after the last time it was (so the
  condition does not flap), through `on_change`;
* evicts ONE pod per pass when a hard threshold is met, or a soft one has been
  met for its whole grace period, in Kubernetes' order (`rank_for_eviction`).

The signal source is injectable: `NodeSignals` reads /proc/meminfo (or a
configured capacity minus the containers' working sets) and statvfs of the
root dir; tests pass their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from podlab.quantity import to_bytes
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger("podlab.nodeagent.eviction")

MEMORY_AVAILABLE = "memory.available"
NODEFS_AVAILABLE = "nodefs.available"
IMAGEFS_AVAILABLE = "imagefs.available"
SIGNALS = (MEMORY_AVAILABLE, NODEFS_AVAILABLE, IMAGEFS_AVAILABLE)
MEMORY, DISK = "memory", "ephemeral-storage"
# signal -> (resource, node condition, taint)
RESOURCE_OF = {MEMORY_AVAILABLE: MEMORY, NODEFS_AVAILABLE: DISK, IMAGEFS_AVAILABLE: DISK}
CONDITION_OF = {MEMORY: "MemoryPressure", DISK: "DiskPressure"}
TAINT_OF = {MEMORY: "node.kubernetes.io/memory-pressure", DISK: "node.kubernetes.io/disk-pressure"}
DEFAULT_HARD = "memory.available<100Mi,nodefs.available<10%"


class ThresholdError(ValueError):
    """A threshold or grace-period flag could not be parsed."""


@dataclass(frozen=True)
class Threshold:
    """`signal < quantity` (bytes) or `signal < percentage` of capacity; `grace` for soft ones."""

    signal: str
    quantity: int | None = None
    percentage: float | None = None
    grace: float = 0.0
    soft: bool = False

    def value(self, capacity: int) -> int:
        """The threshold in bytes for a resource of `capacity` bytes."""
        if self.quantity is not None:
            return self.quantity
        return int(capacity * (self.percentage or 0.0) / 100)

    def describe(self) -> str:
        if self.quantity is not None:
            return format_bytes(self.quantity)
        return f"{self.percentage:g}%"


def parse_thresholds(text: str, grace: dict[str, float] | None = None,
                     soft: bool = False) -> list[Threshold]:
    """`memory.available<100Mi,nodefs.available<10%` -> thresholds. Raises ThresholdError.
    Soft thresholds need a grace period for each signal (`grace`)."""
    out: list[Threshold] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        signal, sep, value = part.partition("<")
        signal, value = signal.strip(), value.strip()
        if not sep or not value:
            raise ThresholdError(f"invalid eviction threshold {part!r}: want SIGNAL<QUANTITY")
        if signal not in SIGNALS:
            raise ThresholdError(f"unknown eviction signal {signal!r} (known: {', '.join(SIGNALS)})")
        if any(t.signal == signal for t in out):
            raise ThresholdError(f"eviction signal {signal} given twice")
        g = 0.0
        if soft:
            if not grace or signal not in grace:
                raise ThresholdError(f"soft eviction threshold {signal} has no grace period")
            g = grace[signal]
        if value.endswith("%"):
            try:
                pct = float(value[:-1])
            except ValueError as err:
                raise ThresholdError(f"invalid percentage {value!r} for {signal}") from err
            if not 0 <= pct <= 100:
                raise ThresholdError(f"percentage {value!r} for {signal} is not within 0-100%")
            out.append(Threshold(signal, percentage=pct, grace=g, soft=soft))
        else:
            try:
                qty = to_bytes(value)
            except ValueError as err:
                raise ThresholdError(f"invalid quantity {value!r} for {signal}") from err
            if qty < 0:
                raise ThresholdError(f"negative quantity {value!r} for {signal}")
            out.append(Threshold(signal, quantity=qty, grace=g, soft=soft))
    return out


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """`30s`, `1m30s`, `500ms`, or plain seconds -> seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ThresholdError(f"invalid duration {text!r}")
    return total


def parse_grace_periods(text: str) -> dict[str, float]:
    """`memory.available=30s,nodefs.available=1m` -> {signal: seconds}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        signal, sep, value = part.partition("=")
        if not sep or signal.strip() not in SIGNALS:
            raise ThresholdError(f"invalid eviction grace period {part!r}: want SIGNAL=DURATION")
        out[signal.strip()] = parse_duration(value)
    return out


def format_bytes(n: int) -> str:
    """Kubernetes-style binary quantity: 104857600 -> 100Mi, else whole Ki."""
    if n <= 0:
        return "0"
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return f"{n // 1024}Ki" if n >= 1024 else str(n)


# -- signals ------------------------------------------------------------------------------

@dataclass
class Observation:
    available: int
    capacity: int


class SignalSource(Protocol):
    async def observe(self) -> dict[str, Observation]:
        """The current value of every signal this source knows."""


def meminfo(path: str = "/proc/meminfo") -> Observation:
    values: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                values[key] = int(parts[0]) * 1024
    return Observation(values.get("MemAvailable", values.get("MemFree", 0)), values.get("MemTotal", 0))


def host_memory() -> Observation:
    """meminfo(), or zeros when /proc/meminfo cannot be read."""
    try:
        return meminfo()
    except (OSError, ValueError):
        return Observation(0, 0)


def disk_free(path: str) -> Observation:
    st = os.statvfs(path)
    return Observation(st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)


class NodeSignals:
    """memory.available from /proc/meminfo, or (`memory_capacity` given) that capacity minus
    the sum of the containers' working sets (`working_set()`); nodefs from statvfs(root_dir),
    imagefs from statvfs(`image_dir`) when given."""

    def __init__(self, root_dir: str, memory_capacity: int = 0,
                 working_set: Callable[[], Awaitable[int]] | None = None,
                 image_dir: str = "") -> None:
        self.root_dir = root_dir
        self.memory_capacity = memory_capacity
        self.working_set = working_set
        self.image_dir = image_dir

    async def observe(self) -> dict[str, Observation]:
        out: dict[str, Observation] = {}
        if self.memory_capacity and self.working_set is not None:
            used = await self.working_set()
            out[MEMORY_AVAILABLE] = Observation(max(0, self.memory_capacity - used), self.memory_capacity)
        else:
            try:
                out[MEMORY_AVAILABLE] = meminfo()
            except OSError:
                pass
        path = self.root_dir
        while path and not os.path.exists(path):
            path = os.path.dirname(path)
        if path:
            out[NODEFS_AVAILABLE] = disk_free(path)
        if self.image_dir and os.path.exists(self.image_dir):
            out[IMAGEFS_AVAILABLE] = disk_free(self.image_dir)
        return out


# -- ranking ------------------------------------------------------------------------------

@dataclass
class PodUsage:
    """A running pod and what it uses: memory working set per container, disk bytes."""

    pod: v1.Pod
    containers: dict[str, int] = field(default_factory=dict)  # container -> memory bytes
    disk: int = 0

    @property
    def memory(self) -> int:
        return sum(self.containers.values())

    def usage(self, resource: str) -> int:
        return self.memory if resource == MEMORY else self.disk

    def request(self, resource: str) -> int:
        total = 0
        for c in self.pod.spec.containers:
            text = c.resources.requests.get(resource) or c.resources.limits.get(resource)
            if text:
                try:
                    total += to_bytes(text)
                except ValueError:
                    pass
        return total

    @property
    def priority(self) -> int:
        return self.pod.spec.priority if self.pod.spec.HasField("priority") else 0


def rank_for_eviction(pods: list[PodUsage], resource: str) -> list[PodUsage]:
    """Kubernetes' order: pods using more than they request first, then lower priority,
    then most usage above request. So BestEffort goes first, Burstable pods over their
    requests next, and Guaranteed pods (never above their requests) last."""
    def key(p: PodUsage) -> tuple[bool, int, int]:
        usage, request = p.usage(resource), p.request(resource)
        return (not usage > request, p.priority, -(usage - request))
    return sorted(pods, key=key)


def eviction_message(resource: str, threshold: Threshold, obs: Observation, victim: PodUsage) -> str:
    """What the evicted pod's status.message says (the kubelet's wording)."""
    name = "memory" if resource == MEMORY else "ephemeral-storage"
    parts = [f"The node was low on resource: {name}. Threshold quantity: "
             f"{format_bytes(threshold.value(obs.capacity))}, available: "
             f"{format_bytes(obs.available // 1024 * 1024)}."]
    if resource == MEMORY:
        specs = {c.name: c for c in victim.pod.spec.containers}
        for cname, used in victim.containers.items():
            spec = specs.get(cname)
            text = spec.resources.requests.get("memory") if spec is not None else ""
            request = to_bytes(text) if text else 0
            if used > request:
                parts.append(f"Container {cname} was using {format_bytes(used // 1024 * 1024)}, "
                             f"request is {format_bytes(request)}.")
    return " ".join(parts)


# -- the manager --------------------------------------------------------------------------

@dataclass
class EvictionConfig:
    hard: list[Threshold]
    soft: list[Threshold] = field(default_factory=list)
    interval: float = 5.0
    pressure_transition_period: float = 30.0
    max_pod_grace_period: float = 30.0
    # How long to wait for an evicted pod to stop before the next pass may evict another.
    eviction_wait: float = 30.0


# Evicts one pod: (pod usage, message, grace) -> True when it stopped.
Evictor = Callable[[PodUsage, str, float], Awaitable[bool]]


class EvictionManager:
    def __init__(self, config: EvictionConfig, signals: SignalSource,
                 pods: Callable[[], Awaitable[list[PodUsage]]], evict: Evictor,
                 on_change: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.signals = signals
        self.pods = pods
        self.evict = evict
        self.on_change = on_change
        self.clock = clock
        self._last_met: dict[str, float] = {}  # resource -> when a threshold was last met
        self._soft_since: dict[str, float] = {}  # signal -> when its soft threshold became met
        self._pressure: dict[str, bool] = {MEMORY: False, DISK: False}
        self.observed: dict[str, Observation] = {}
        self.evictions: list[tuple[str, str]] = []  # (pod name, message)

    # -- answers --------------------------------------------------------------------

    def conditions(self) -> dict[str, bool]:
        """{"MemoryPressure": bool, "DiskPressure": bool}."""
        return {CONDITION_OF[r]: v for r, v in self._pressure.items()}

    def taints(self) -> list[str]:
        """The NoSchedule taint keys the node should carry now."""
        return [TAINT_OF[r] for r, v in self._pressure.items() if v]

    # -- one pass -------------------------------------------------------------------

    async def synchronize(self) -> PodUsage | None:
        """Observe, update pressure, evict at most one pod; returns the pod evicted."""
        now = self.clock()
        self.observed = await self.signals.observe()
        met: list[tuple[Threshold, Observation]] = []
        for t in self.config.hard + self.config.soft:
            obs = self.observed.get(t.signal)
            if obs is not None and obs.available < t.value(obs.capacity):
                met.append((t, obs))
        for t in self.config.soft:
            if any(m is t for m, _ in met):
                self._soft_since.setdefault(t.signal, now)
            else:
                self._soft_since.pop(t.signal, None)
        for t, _ in met:
            self._last_met[RESOURCE_OF[t.signal]] = now
        changed = False
        for resource in self._pressure:
            last = self._last_met.get(resource)
            pressure = last is not None and now - last < self.config.pressure_transition_period \
                or any(RESOURCE_OF[t.signal] == resource for t, _ in met)
            if pressure != self._pressure[resource]:
                self._pressure[resource] = pressure
                changed = True
                log.warning("node %s: %s", "under" if pressure else "no longer under",
                            CONDITION_OF[resource])
        if changed and self.on_change is not None:
            await self.on_change()
        due = [(t, o) for t, o in met
               if not t.soft or now - self._soft_since.get(t.signal, now) >= t.grace]
        if not due:
            return None
        # Memory first, as the kubelet orders its signals.
        due.sort(key=lambda m: (RESOURCE_OF[m[0].signal] != MEMORY, m[0].soft))
        threshold, obs = due[0]
        resource = RESOURCE_OF[threshold.signal]
        candidates = rank_for_eviction(await self.pods(), resource)
        if not candidates:
            log.warning("%s threshold met but no pod to evict", threshold.signal)
            return None
        victim = candidates[0]
        message = eviction_message(resource, threshold, obs, victim)
        pod_grace = victim.pod.spec.termination_grace_period_seconds if \
            victim.pod.spec.HasField("termination_grace_period_seconds") else 30
        grace = min(float(pod_grace), self.config.max_pod_grace_period) if threshold.soft else 0.0
        log.warning("evicting pod %s/%s: %s", victim.pod.metadata.namespace, victim.pod.metadata.name,
                    message)
        self.evictions.append((victim.pod.metadata.name, message))
        await self.evict(victim, message, grace)
        return victim

    async def run(self) -> None:
        while True:
            try:
                await self.synchronize()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - keep watching; the next pass retries
                log.warning("eviction pass failed: %r", err)
            await asyncio.sleep(self.config.interval)
