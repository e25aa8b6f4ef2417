"""The Deployment controller (kube-controller-manager's, pkg/controller/deployment).

A Deployment owns ReplicaSets, one per version of its pod template, told
apart by the `pod-template-hash` label; the one whose template is the
Deployment's is the *new* ReplicaSet, the rest are old. reconcile(key):

1. claim ReplicaSets by selector (adopt orphans, release strays);
2. find or create the new ReplicaSet (revision = the highest so far + 1,
   written on it and on the Deployment as `deployment.kubernetes.io/revision`);
3. paused: only keep the replica counts proportional; Recreate: old
   ReplicaSets to 0, and the new one up once no old pod is left;
   RollingUpdate: the new one up while the total stays within replicas +
   maxSurge, old ones down while available pods stay at least replicas -
   maxUnavailable (unavailable old pods go first);
4. drop old, empty ReplicaSets beyond revisionHistoryLimit;
5. write status and the Available and Progressing conditions
   (ProgressDeadlineExceeded when nothing moved for progressDeadlineSeconds).

`rollout undo` and `rollout restart` are kubectl's, client-side: they write the
Deployment's template, and the controller rolls out as for any change.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.controllers.framework import Controller, set_controller, timer_clock
from controlplane.controllers.replicaset import controller_of
from controlplane.strategies.apps import int_or_percent
from podlab import errors, names
from podlab.client import ApiClient, object_key
from podlab.events import EventRecorder
from podlab.informers import SharedInformerFactory
from podlab.selectors import LabelSelector
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

HASH_LABEL = names.POD_TEMPLATE_HASH
REVISION = names.REVISION_ANNOTATION
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def template_hash(template: v1.PodTemplateSpec) -> str:
    """A stable name for a pod template (its labels' hash label aside), as the ReplicaSet name suffix."""
    bare = v1.PodTemplateSpec()
    bare.CopyFrom(template)
    bare.metadata.labels.pop(HASH_LABEL, None)
    digest = hashlib.sha256(bare.SerializeToString(deterministic=True)).hexdigest()
    # Kubernetes' alphabet for generated names: no vowels, no look-alikes.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    number = int(digest[:16], 16)
    out = ""
    for _ in range(10):
        number, digit = divmod(number, len(alphabet))
        out += alphabet[digit]
    return out


def same_template(rs: v1.ReplicaSet, d: v1.Deployment) -> bool:
    return template_hash(rs.spec.template) == template_hash(d.spec.template)


def revision_of(obj: v1.ReplicaSet | v1.Deployment) -> int:
    try:
        return int(obj.metadata.annotations.get(REVISION, "0"))
    except ValueError:
        return 0


def surge_and_unavailable(d: v1.Deployment) -> tuple[int, int]:
    """maxSurge rounded up and maxUnavailable rounded down against replicas; never both 0."""
    if d.spec.strategy.type != "RollingUpdate":
        return 0, d.spec.replicas
    rolling = d.spec.strategy.rolling_update
    surge = int_or_percent(rolling.max_surge, d.spec.replicas, round_up=True)
    unavailable = int_or_percent(rolling.max_unavailable, d.spec.replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, client: ApiClient, recorder: EventRecorder | None = None, workers: int = 4,
                 clock: Callable[[], float] = time.time,
                 informers: SharedInformerFactory | None = None) -> None:
        super().__init__(client, workers, informers, timer_clock(clock))
        self.recorder = recorder
        self.clock = clock
        self.deployments = self.watch(v1.Deployment, lambda key, old, new: self.queue.add(key))
        self.sets = self.watch(v1.ReplicaSet, self._on_set)

    def _on_set(self, key: str, old: Message | None, new: Message | None) -> None:
        rs = new or old
        assert isinstance(rs, v1.ReplicaSet)
        owner = controller_of(rs)
        if owner is not None and owner.kind == "Deployment":
            self.queue.add(f"{rs.metadata.namespace}/{owner.name}")
            return
        for d in self.deployments.items():
            assert isinstance(d, v1.Deployment)
            if d.metadata.namespace == rs.metadata.namespace and _selects(d, rs.spec.template.metadata.labels):
                self.queue.add(object_key(d))

    # -- reconcile --------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        d = self.deployments.get(key)
        if d is None:
            return
        assert isinstance(d, v1.Deployment)
        if d.metadata.HasField("deletion_timestamp"):
            return
        sets = await self._claim(d)
        new = next((rs for rs in sets if same_template(rs, d)), None)
        old = sorted((rs for rs in sets if rs is not new), key=lambda rs: (revision_of(rs), rs.metadata.name))
        if d.spec.paused:
            await self._scale_proportionally(d, new, old)
        else:
            if new is None:
                new = await self._create_new(d, old)
            else:
                new = await self._bump_revision(new, old)
            if d.spec.strategy.type == "Recreate":
                await self._recreate(d, new, old)
            else:
                await self._roll(d, new, old)
            await self._clean_history(d, old)
        await self._write_status(d, new, old)

    async def _claim(self, d: v1.Deployment) -> list[v1.ReplicaSet]:
        mine: list[v1.ReplicaSet] = []
        for rs in self.sets.items():
            assert isinstance(rs, v1.ReplicaSet)
            if rs.metadata.namespace != d.metadata.namespace:
                continue
            owner = controller_of(rs)
            matches = _selects(d, rs.spec.template.metadata.labels)
            if owner is not None and owner.uid == d.metadata.uid:
                if matches:
                    mine.append(rs)
                else:
                    await set_controller(self.client, rs, d, adopt=False)
            elif owner is None and matches:
                if (adopted := await set_controller(self.client, rs, d, adopt=True)) is not None:
                    mine.append(adopted)
        return mine

    async def _create_new(self, d: v1.Deployment, old: list[v1.ReplicaSet]) -> v1.ReplicaSet:
        digest = template_hash(d.spec.template)
        rs = v1.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
        rs.metadata.name = f"{d.metadata.name}-{digest}"
        rs.metadata.namespace = d.metadata.namespace
        rs.metadata.labels.update(d.spec.template.metadata.labels)
        rs.metadata.labels[HASH_LABEL] = digest
        revision = max((revision_of(r) for r in old), default=0) + 1
        rs.metadata.annotations[REVISION] = str(revision)
        rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name=d.metadata.name,
                                         uid=d.metadata.uid, controller=True, block_owner_deletion=True)
        rs.spec.template.CopyFrom(d.spec.template)
        rs.spec.template.metadata.labels[HASH_LABEL] = digest
        rs.spec.selector.CopyFrom(d.spec.selector)
        rs.spec.selector.match_labels[HASH_LABEL] = digest
        rs.spec.min_ready_seconds = d.spec.min_ready_seconds
        rs.spec.replicas = 0
        try:
            created: v1.ReplicaSet = await self.client.create(rs)
        except errors.AlreadyExists:
            existing = await self.client.get(v1.ReplicaSet, rs.metadata.name, rs.metadata.namespace)
            assert isinstance(existing, v1.ReplicaSet)
            owner = controller_of(existing)
            if owner is None or owner.uid != d.metadata.uid:
                raise errors.Conflict(f"replica set {rs.metadata.name} exists and is not this deployment's") from None
            return existing
        return created

    async def _bump_revision(self, new: v1.ReplicaSet, old: list[v1.ReplicaSet]) -> v1.ReplicaSet:
        """An old template made current again (a rollback) becomes the newest revision."""
        newest = max((revision_of(r) for r in old), default=0)
        if revision_of(new) > newest:
            return new
        updated = v1.ReplicaSet()
        updated.CopyFrom(new)
        updated.metadata.annotations[REVISION] = str(newest + 1)
        written: v1.ReplicaSet = await self.client.update(updated)
        return written

    # -- strategies -------------------------------------------------------------------

    async def _roll(self, d: v1.Deployment, new: v1.ReplicaSet, old: list[v1.ReplicaSet]) -> None:
        surge, unavailable = surge_and_unavailable(d)
        replicas = d.spec.replicas
        everyone = [new, *old]
        total = sum(rs.spec.replicas for rs in everyone)
        # Pods an old ReplicaSet was told to drop count until it reports them gone: the surge bounds
        # pods, not just the ReplicaSets' replicas.
        pods = sum(max(rs.spec.replicas, rs.status.replicas) for rs in everyone)
        if new.spec.replicas > replicas:
            await self._scale(d, new, replicas)
        elif new.spec.replicas < replicas and pods < replicas + surge:
            await self._scale(d, new, new.spec.replicas + min(replicas + surge - pods, replicas - new.spec.replicas))
            return  # one step at a time: the scale shows up in the informer before the next
        if not any(rs.spec.replicas for rs in old):
            return
        min_available = replicas - unavailable
        new_unavailable = max(0, new.spec.replicas - new.status.available_replicas)
        budget = total - min_available - new_unavailable
        if budget <= 0:
            return
        # Old pods that are not available cost nothing to remove: they go first.
        for rs in old:
            unhealthy = rs.spec.replicas - _available(rs)
            if budget <= 0 or unhealthy <= 0 or not rs.spec.replicas:
                continue
            cut = min(unhealthy, budget, rs.spec.replicas)
            await self._scale(d, rs, rs.spec.replicas - cut)
            budget -= cut
            rs.spec.replicas -= cut
        available = sum(_available(rs) for rs in everyone)
        budget = min(budget, available - min_available)
        for rs in old:  # oldest first
            if budget <= 0:
                break
            if not rs.spec.replicas:
                continue
            cut = min(rs.spec.replicas, budget)
            await self._scale(d, rs, rs.spec.replicas - cut)
            budget -= cut

    async def _recreate(self, d: v1.Deployment, new: v1.ReplicaSet, old: list[v1.ReplicaSet]) -> None:
        for rs in old:
            if rs.spec.replicas:
                await self._scale(d, rs, 0)
        if any(rs.spec.replicas or rs.status.replicas for rs in old):
            return  # wait until every old pod is gone
        if new.spec.replicas != d.spec.replicas:
            await self._scale(d, new, d.spec.replicas)

    async def _scale_proportionally(self, d: v1.Deployment, new: v1.ReplicaSet | None,
                                    old: list[v1.ReplicaSet]) -> None:
        """Paused: a change of replicas only; all of it goes to the newest ReplicaSet with pods."""
        sets = [rs for rs in ([new] if new else []) + old[::-1] if rs.spec.replicas]
        total = sum(rs.spec.replicas for rs in sets)
        if sets and total != d.spec.replicas:
            target = sets[0]
            await self._scale(d, target, max(0, target.spec.replicas + d.spec.replicas - total))

    async def _scale(self, d: v1.Deployment, rs: v1.ReplicaSet, replicas: int) -> None:
        if rs.spec.replicas == replicas:
            return
        surge, _ = surge_and_unavailable(d)
        updated = v1.ReplicaSet()
        updated.CopyFrom(rs)
        direction, before = ("up" if replicas > rs.spec.replicas else "down"), rs.spec.replicas
        updated.spec.replicas = replicas
        updated.metadata.annotations[DESIRED_REPLICAS] = str(d.spec.replicas)
        updated.metadata.annotations[MAX_REPLICAS] = str(d.spec.replicas + surge)
        await self.client.update(updated)
        rs.spec.replicas = replicas
        self._event(d, "ScalingReplicaSet", f"Scaled {direction} replica set {rs.metadata.name} to {replicas} "
                                            f"from {before}")

    async def _clean_history(self, d: v1.Deployment, old: list[v1.ReplicaSet]) -> None:
        limit = d.spec.revision_history_limit if d.spec.HasField("revision_history_limit") else 10
        empty = [rs for rs in old if not rs.spec.replicas and not rs.status.replicas]
        for rs in empty[:max(0, len(empty) - limit)]:
            try:
                await self.client.delete(v1.ReplicaSet, rs.metadata.name, rs.metadata.namespace, uid=rs.metadata.uid)
            except errors.NotFound:
                pass

    # -- status -------------------------------------------------------------------------

    async def _write_status(self, d: v1.Deployment, new: v1.ReplicaSet | None, old: list[v1.ReplicaSet]) -> None:
        everyone = ([new] if new else []) + old
        status = v1.DeploymentStatus()
        status.CopyFrom(d.status)
        status.observed_generation = d.metadata.generation
        status.replicas = sum(rs.status.replicas for rs in everyone)
        status.updated_replicas = new.status.replicas if new else 0
        status.ready_replicas = sum(rs.status.ready_replicas for rs in everyone)
        status.available_replicas = sum(rs.status.available_replicas for rs in everyone)
        status.unavailable_replicas = max(0, d.spec.replicas - status.available_replicas)
        _, unavailable = surge_and_unavailable(d)
        if status.available_replicas >= d.spec.replicas - unavailable:
            _condition(status, self.clock(), "Available", "True", "MinimumReplicasAvailable",
                       "Deployment has minimum availability.")
        else:
            _condition(status, self.clock(), "Available", "False", "MinimumReplicasUnavailable",
                       "Deployment does not have minimum availability.")
        self._progress(d, new, status)
        annotations_changed = new is not None and d.metadata.annotations.get(REVISION) != str(revision_of(new))
        if annotations_changed and new is not None:
            d = await self._set_revision(d, revision_of(new))
        self._requeue_if_stuck(d, status)
        if status == d.status:
            return
        updated = v1.Deployment()
        updated.CopyFrom(d)
        updated.status.CopyFrom(status)
        try:
            await self.client.update_status(updated)
        except (errors.Conflict, errors.NotFound):
            self.queue.add(object_key(d))

    def _requeue_if_stuck(self, d: v1.Deployment, status: v1.DeploymentStatus) -> None:
        """A rollout in progress is looked at again when its deadline passes (requeueStuckDeployment):
        nothing else would happen to a Deployment whose pods never become available."""
        progressing = next((c for c in status.conditions if c.type == "Progressing"), None)
        if progressing is None or progressing.status != "True" or progressing.reason == "NewReplicaSetAvailable":
            return
        left = progressing.last_update_time.seconds + _deadline(d) - self.clock()
        self.queue.add_after(object_key(d), max(0.0, left) + 0.5)

    async def _set_revision(self, d: v1.Deployment, revision: int) -> v1.Deployment:
        updated = v1.Deployment()
        updated.CopyFrom(d)
        updated.metadata.annotations[REVISION] = str(revision)
        try:
            written: v1.Deployment = await self.client.update(updated)
            return written
        except (errors.Conflict, errors.NotFound):
            return d

    def _progress(self, d: v1.Deployment, new: v1.ReplicaSet | None, status: v1.DeploymentStatus) -> None:
        """The Progressing condition as Kubernetes' syncRolloutStatus sets it: True while the rollout
        moves (lastUpdateTime marks the last move), NewReplicaSetAvailable once complete, False with
        ProgressDeadlineExceeded when nothing moved for progressDeadlineSeconds; Unknown while paused."""
        if d.spec.paused:
            _condition(status, self.clock(), "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
            return
        complete = (new is not None and status.updated_replicas == d.spec.replicas
                    and status.replicas == d.spec.replicas and status.available_replicas == d.spec.replicas)
        previous = next((c for c in d.status.conditions if c.type == "Progressing"), None)
        name = new.metadata.name if new else d.metadata.name
        if complete:
            _condition(status, self.clock(), "Progressing", "True", "NewReplicaSetAvailable",
                       f'ReplicaSet "{name}" has successfully progressed.')
            return
        old, now_old = d.status.replicas - d.status.updated_replicas, status.replicas - status.updated_replicas
        moved = (status.updated_replicas > d.status.updated_replicas or now_old < old
                 or status.ready_replicas > d.status.ready_replicas
                 or status.available_replicas > d.status.available_replicas)
        started = (previous is None or previous.reason == "DeploymentPaused"
                   or d.status.observed_generation != d.metadata.generation)
        if moved or started:
            _condition(status, self.clock(), "Progressing", "True", "ReplicaSetUpdated",
                       f'ReplicaSet "{name}" is progressing.', touch=True)
            return
        assert previous is not None
        if previous.reason in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded"):
            return  # a finished rollout is not timed; a timed-out one stays so until it moves again
        if previous.last_update_time.seconds + _deadline(d) <= self.clock():
            _condition(status, self.clock(), "Progressing", "False", "ProgressDeadlineExceeded",
                       f'ReplicaSet "{name}" has timed out progressing.')

    def _event(self, d: v1.Deployment, reason: str, message: str) -> None:
        log.info("deployment %s/%s: %s", d.metadata.namespace, d.metadata.name, message)
        if self.recorder is not None:
            ref = v1.ObjectReference(kind="Deployment", api_version="apps/v1", name=d.metadata.name,
                                     namespace=d.metadata.namespace, uid=d.metadata.uid)
            self.recorder.record(ref, "Normal", reason, message)


def _available(rs: v1.ReplicaSet) -> int:
    """Available pods of `rs` as far as a scale-down may count on them: never more than it keeps (its
    status may still count the pods of a scale-down it has not reported)."""
    return min(rs.status.available_replicas, rs.spec.replicas)


def _deadline(d: v1.Deployment) -> int:
    return d.spec.progress_deadline_seconds if d.spec.HasField("progress_deadline_seconds") else 600


def _condition(status: v1.DeploymentStatus, at: float, type_: str, value: str, reason: str, message: str,
               touch: bool = False) -> None:
    """Set a Deployment condition; lastUpdateTime moves to `at` (the controller's clock) when it changes
    (or `touch`), lastTransitionTime when its status does."""
    stamp = Timestamp()
    stamp.FromNanoseconds(int(at * 1e9))
    cond = next((c for c in status.conditions if c.type == type_), None)
    if cond is None:
        cond = status.conditions.add(type=type_)
    changed = (cond.status, cond.reason, cond.message) != (value, reason, message)
    if cond.status != value:
        cond.last_transition_time.CopyFrom(stamp)
    if changed or touch:
        cond.last_update_time.CopyFrom(stamp)
    cond.status, cond.reason, cond.message = value, reason, message


def _selects(d: v1.Deployment, labels: Mapping[str, str]) -> bool:
    try:
        return LabelSelector.from_api(d.spec.selector).matches(labels)
    except errors.BadRequest:
        return False

