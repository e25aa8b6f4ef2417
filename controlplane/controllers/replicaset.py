"""The ReplicaSet controller (kube-controller-manager's, pkg/controller/replicaset).

reconcile(namespace/name):
1. claim pods: the ReplicaSet's own (controller ownerReference) that still
   match its selector stay; own pods that stopped matching are released;
   matching orphans are adopted;
2. when the expectations of the last pass are met (every create and delete
   it asked for has been seen by the pod informer, or they expired), create
   the missing pods in slow-start batches (1, 2, 4, ...: a quota or a
   webhook that refuses costs one call, not a thousand) or delete the
   surplus, the pods Kubernetes would delete first going first;
3. write status: replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration.

Expectations are what keeps a slow informer from causing over-creation: a
pass never acts on a count that does not yet include its own earlier writes.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message

from controlplane.controllers.framework import Controller, set_controller, timer_clock
from podlab import errors, names
from podlab.client import ApiClient, object_key
from podlab.events import EventRecorder
from podlab.informers import SharedInformerFactory
from podlab.kinds import controller_ref, meta
from podlab.podutil import get_condition, is_pod_ready, now
from podlab.selectors import LabelSelector
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # most creates or deletes one pass makes, as Kubernetes
EXPECTATIONS_TTL = 300.0
SLOW_START_INITIAL_BATCH = 1


@dataclass
class _Expectation:
    adds: int
    deletes: int
    set_at: float


class Expectations:
    """Creates and deletes a ReplicaSet is waiting to see, by key (ControllerExpectations)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_key: dict[str, _Expectation] = {}
        self._clock = clock

    def expect(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        self._by_key[key] = _Expectation(adds, deletes, self._clock())

    def observed_add(self, key: str) -> None:
        if (e := self._by_key.get(key)) is not None:
            e.adds -= 1

    def observed_delete(self, key: str) -> None:
        if (e := self._by_key.get(key)) is not None:
            e.deletes -= 1

    def satisfied(self, key: str) -> bool:
        e = self._by_key.get(key)
        return e is None or (e.adds <= 0 and e.deletes <= 0) or self._clock() - e.set_at > EXPECTATIONS_TTL

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)


controller_of = controller_ref


def is_active(pod: v1.Pod) -> bool:
    return pod.status.phase not in names.TERMINAL_PHASES and not pod.metadata.HasField("deletion_timestamp")


def is_available(pod: v1.Pod, min_ready_seconds: int, at: float) -> bool:
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    ready = get_condition(pod.status, names.READY)
    since = ready.last_transition_time.seconds if ready is not None else 0
    return bool(since) and since + min_ready_seconds <= at


_PHASE_RANK = {"": 0, names.PENDING: 0, names.UNKNOWN: 1, names.RUNNING: 2}


def deletion_rank(pod: v1.Pod) -> tuple[int, int, int, int, float]:
    """Sort key: the pods Kubernetes deletes first come first (controller.ActivePods' order).

    Unscheduled before scheduled, Pending before Unknown before Running, not
    ready before ready, more restarts before fewer, newer before older.
    """
    restarts = max((c.restart_count for c in pod.status.container_statuses), default=0)
    created = pod.metadata.creation_timestamp
    return (1 if pod.spec.node_name else 0, _PHASE_RANK.get(pod.status.phase, 0),
            1 if is_pod_ready(pod) else 0, -restarts, -(created.seconds + created.nanos / 1e9))


def pod_from_template(rs: v1.ReplicaSet) -> v1.Pod:
    """A new pod of `rs`: its template, a generated name, and `rs` as its controller."""
    template = rs.spec.template
    pod = v1.Pod(api_version="v1", kind="Pod", spec=template.spec)
    pod.metadata.CopyFrom(template.metadata)
    pod.metadata.namespace = rs.metadata.namespace
    pod.metadata.name = f"{rs.metadata.name}-{secrets.token_hex(3)[:5]}"
    pod.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name=rs.metadata.name,
                                      uid=rs.metadata.uid, controller=True, block_owner_deletion=True)
    return pod


@dataclass(frozen=True)
class _Facts:
    """What a pass needs of one cached pod, computed once per change of it (a pass reads them for
    every pod of its ReplicaSet, and a ReplicaSet of 1,000 pods is passed over hundreds of times)."""

    controller_uid: str
    labels: frozenset[tuple[str, str]]
    active: bool
    ready: bool
    ready_since: int  # seconds of the Ready condition's last transition (0: unknown)


def _facts(pod: v1.Pod) -> _Facts:
    owner = controller_of(pod)
    ready = get_condition(pod.status, names.READY)
    return _Facts(owner.uid if owner is not None else "", frozenset(pod.metadata.labels.items()), is_active(pod),
                  is_pod_ready(pod), ready.last_transition_time.seconds if ready is not None else 0)


class ReplicaSetController(Controller):
    name = "replicaset-controller"

    def __init__(self, client: ApiClient, recorder: EventRecorder | None = None, workers: int = 4,
                 clock: Callable[[], float] = time.monotonic,
                 informers: SharedInformerFactory | None = None) -> None:
        super().__init__(client, workers, informers, timer_clock(clock))
        self.recorder = recorder
        self.clock = clock
        self.expectations = Expectations(clock)
        self.sets = self.watch(v1.ReplicaSet, self._on_set)
        self.pods = self.watch(v1.Pod, self._on_pod)
        # The pod cache's index (as client-go's indexers): controller uid -> pod keys, and the pods
        # with no controller. Invariant: every cached pod is in exactly one of them, by its controller.
        self.by_controller: dict[str, set[str]] = {}
        self.orphans: set[str] = set()
        self.facts: dict[str, _Facts] = {}  # by cache key, for every cached pod
        # Selectors never change (validation): whether one ReplicaSet selects one set of labels.
        self._selects: dict[tuple[str, frozenset[tuple[str, str]]], bool] = {}

    # -- event handlers: say which ReplicaSet to look at -----------------------------

    def _on_set(self, key: str, old: Message | None, new: Message | None) -> None:
        if new is None:
            self.expectations.forget(key)
            if old is not None:
                uid = meta(old).uid
                self._selects = {k: v for k, v in self._selects.items() if k[0] != uid}
        self.queue.add(key)

    def _index(self, key: str, old: Message | None, new: Message | None) -> None:
        if isinstance(new, v1.Pod):
            self.facts[key] = _facts(new)
        else:
            self.facts.pop(key, None)
        for obj, add in ((old, False), (new, True)):
            if obj is None:
                continue
            owner = controller_of(obj)
            held = self.orphans if owner is None else self.by_controller.setdefault(owner.uid, set())
            if add:
                held.add(key)
            else:
                held.discard(key)
                if owner is not None and not held:
                    del self.by_controller[owner.uid]

    def _on_pod(self, key: str, old: Message | None, new: Message | None) -> None:
        self._index(key, old, new)
        pod = new or old
        assert isinstance(pod, v1.Pod)
        owner = controller_of(pod)
        if owner is not None and owner.kind == "ReplicaSet":
            rs_key = f"{pod.metadata.namespace}/{owner.name}"
            if old is None:
                self.expectations.observed_add(rs_key)
            elif new is None or (_deleting(new) and not _deleting(old)):
                self.expectations.observed_delete(rs_key)
            self.queue.add(rs_key)
            return
        # An orphan: any ReplicaSet that would adopt it.
        for rs in self.sets.items():
            assert isinstance(rs, v1.ReplicaSet)
            if rs.metadata.namespace == pod.metadata.namespace and _selects(rs, pod):
                self.queue.add(object_key(rs))

    # -- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        rs = self.sets.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        assert isinstance(rs, v1.ReplicaSet)
        claimed = await self._claim(rs)
        active = [(p, f) for p, f in claimed if f.active]
        if self.expectations.satisfied(key) and not rs.metadata.HasField("deletion_timestamp"):
            deleted = await self._scale(key, rs, [p for p, _ in active])
            if deleted:  # the status counts what is left
                active = [(p, f) for p, f in active if p.metadata.uid not in deleted]
        await self._write_status(rs, [f for _, f in active])

    async def _claim(self, rs: v1.ReplicaSet) -> list[tuple[v1.Pod, _Facts]]:
        """The pods `rs` controls after adopting matching orphans and releasing strays."""
        mine: list[tuple[v1.Pod, _Facts]] = []
        uid, cache, prefix = rs.metadata.uid, self.pods.cache, rs.metadata.namespace + "/"
        owned = self.by_controller.get(uid, set())
        for key in (*owned, *sorted(k for k in self.orphans if k.startswith(prefix))):
            pod = cache[key]
            assert isinstance(pod, v1.Pod)
            facts = self.facts[key]
            matches = self._selects.get((uid, facts.labels))
            if matches is None:
                matches = self._selects[(uid, facts.labels)] = _selects(rs, pod)
            if facts.controller_uid == uid:
                if matches:
                    mine.append((pod, facts))
                else:
                    await self._set_owner(pod, rs, adopt=False)
            elif not facts.controller_uid and matches and facts.active \
                    and not rs.metadata.HasField("deletion_timestamp"):
                adopted = await self._set_owner(pod, rs, adopt=True)
                if adopted is None:
                    # It changed under us (an agent's status write): counting it out would make a
                    # replacement for a pod that may yet be ours. The pass is retried instead.
                    raise errors.Conflict(f"{rs.metadata.name}: pod {pod.metadata.name} changed while being adopted")
                mine.append((adopted, _facts(adopted)))
        return mine

    async def _set_owner(self, pod: v1.Pod, rs: v1.ReplicaSet, adopt: bool) -> v1.Pod | None:
        written = await set_controller(self.client, pod, rs, adopt)
        if written is not None:
            log.info("%s %s pod %s", rs.metadata.name, "adopted" if adopt else "released", pod.metadata.name)
        return written

    async def _scale(self, key: str, rs: v1.ReplicaSet, active: list[v1.Pod]) -> set[str]:
        """Create or delete toward spec.replicas; the uids of the pods deleted."""
        diff = len(active) - rs.spec.replicas
        if diff < 0:
            await self._create(key, rs, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            victims = sorted(active, key=deletion_rank)[:min(diff, BURST_REPLICAS)]
            await self._delete(key, rs, victims)
            return {p.metadata.uid for p in victims}
        return set()

    async def _create(self, key: str, rs: v1.ReplicaSet, count: int) -> None:
        """Create `count` pods in batches of 1, 2, 4, ...; stop at the first batch with a failure."""
        self.expectations.expect(key, adds=count)
        created, batch = 0, SLOW_START_INITIAL_BATCH
        while created < count:
            size = min(batch, count - created)
            results = [await self._create_one(rs) for _ in range(size)]
            failures = results.count(False)
            created += size
            if failures:
                # The pods never asked for will not be seen: stop expecting them.
                for _ in range(failures + count - created):
                    self.expectations.observed_add(key)
                raise errors.Unavailable(f"{rs.metadata.name}: {failures} of {size} pod creates failed")
            batch *= 2

    async def _create_one(self, rs: v1.ReplicaSet) -> bool:
        try:
            pod = await self.client.create(pod_from_template(rs))
            self._event(rs, "SuccessfulCreate", f"Created pod: {pod.metadata.name}")
            return True
        except errors.ApiError as err:
            log.info("%s: create failed: %s", rs.metadata.name, err)
            self._event(rs, "FailedCreate", f"Error creating: {err}", warning=True)
            return False

    async def _delete(self, key: str, rs: v1.ReplicaSet, victims: list[v1.Pod]) -> None:
        self.expectations.expect(key, deletes=len(victims))
        for pod in victims:
            try:
                await self.client.delete(v1.Pod, pod.metadata.name, pod.metadata.namespace, uid=pod.metadata.uid)
                self._event(rs, "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")
            except errors.NotFound:
                self.expectations.observed_delete(key)
            except errors.ApiError:
                self.expectations.observed_delete(key)
                raise

    async def _write_status(self, rs: v1.ReplicaSet, facts: list[_Facts]) -> None:
        at = now().seconds
        template_labels = dict(rs.spec.template.metadata.labels)
        status = v1.ReplicaSetStatus()
        status.CopyFrom(rs.status)
        status.replicas = len(facts)
        template = frozenset(template_labels.items())
        status.fully_labeled_replicas = sum(1 for f in facts if template <= f.labels)
        status.ready_replicas = sum(1 for f in facts if f.ready)
        wait = rs.spec.min_ready_seconds
        status.available_replicas = sum(
            1 for f in facts if f.ready and (wait <= 0 or (f.ready_since and f.ready_since + wait <= at)))
        status.observed_generation = rs.metadata.generation
        if status == rs.status:
            return
        updated = v1.ReplicaSet()
        updated.CopyFrom(rs)
        updated.status.CopyFrom(status)
        try:
            await self.client.update_status(updated)
        except (errors.Conflict, errors.NotFound):
            pass  # a newer ReplicaSet is on its way through the informer
        if rs.spec.min_ready_seconds and status.ready_replicas > status.available_replicas:
            self.queue.add_after(object_key(rs), float(rs.spec.min_ready_seconds))

    def _event(self, rs: v1.ReplicaSet, reason: str, message: str, warning: bool = False) -> None:
        if self.recorder is not None:
            ref = v1.ObjectReference(kind="ReplicaSet", api_version="apps/v1", name=rs.metadata.name,
                                     namespace=rs.metadata.namespace, uid=rs.metadata.uid)
            self.recorder.record(ref, "Warning" if warning else "Normal", reason, message)


def _deleting(obj: Message) -> bool:
    return meta(obj).HasField("deletion_timestamp")


def _selects(rs: v1.ReplicaSet, pod: v1.Pod) -> bool:
    try:
        return LabelSelector.from_api(rs.spec.selector).matches(pod.metadata.labels)
    except errors.BadRequest:
        return False
