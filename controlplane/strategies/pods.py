"""Pods: admission on create, graceful deletion, and new incarnations (as pkg/registry/core/pod/strategy.go)."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from controlplane.podfate import Cause, Fate, pod_fate
from controlplane.strategies.base import REMOVE, DeleteOptions, DeletePlan, Lookup, Replace, Strategy, Terminate
from podlab import names
from podlab.defaults import default_node_loss_tolerations
from podlab.kinds import kind_named
from podlab.podutil import now, qos_class
from podlab.v1 import objects_pb2 as v1

NODES = kind_named("Node")


class PodStrategy(Strategy):
    status_subresource = True

    def __init__(self, toleration_seconds: int) -> None:
        super().__init__(kind_named("Pod"))
        # tolerationSeconds given to pods for the node-loss taints, as Kubernetes'
        # DefaultTolerationSeconds admission plugin does.
        self.toleration_seconds = toleration_seconds
        self._node_loss_tolerations = default_node_loss_tolerations(toleration_seconds)

    def prepare_for_create(self, obj: Message) -> None:
        """A fresh status, the QoS class, and the node-loss tolerations."""
        assert isinstance(obj, v1.Pod)
        obj.ClearField("status")
        obj.status.phase = names.PENDING
        obj.status.qos_class = qos_class(obj)
        if obj.spec.node_name:
            # A pod created with spec.nodeName bypasses the scheduler, as in Kubernetes.
            obj.status.conditions.add(type=names.POD_SCHEDULED, status="True", last_transition_time=now())
        self._add_node_loss_tolerations(obj)

    def prepare_for_update(self, new: Message, old: Message) -> None:
        super().prepare_for_update(new, old)
        assert isinstance(new, v1.Pod)
        self._add_node_loss_tolerations(new)

    def _add_node_loss_tolerations(self, pod: v1.Pod) -> None:
        """Kubernetes' DefaultTolerationSeconds: ride out a lost node for a while, unless told otherwise."""
        for toleration in self._node_loss_tolerations:
            if not any(t.key == toleration.key and t.effect in ("", "NoExecute") or
                       (not t.key and t.operator == "Exists") for t in pod.spec.tolerations):
                pod.spec.tolerations.append(toleration)

    async def delete_plan(self, obj: Message, options: DeleteOptions, lookup: Lookup) -> DeletePlan:
        """A pod on a live node terminates gracefully; its agent confirms the end with grace 0.

        Grace 0, an unbound pod, or a pod whose node is gone (nobody would
        confirm): removed now. The agent's confirmation of an evicted pod that
        would restart swaps in its replacement.
        """
        assert isinstance(obj, v1.Pod)
        grace = options.grace_period_seconds
        if grace != 0 and obj.spec.node_name and await lookup.exists(NODES, obj.spec.node_name):
            if grace is None:
                grace = (obj.spec.termination_grace_period_seconds
                         if obj.spec.HasField("termination_grace_period_seconds") else names.DEFAULT_GRACE_SECONDS)
            return Terminate(grace)
        evicted = obj.metadata.annotations.get(names.EVICTED_ANNOTATION)
        if options.uid and evicted is not None and pod_fate(obj, Cause.EVICTED) is Fate.REPLACE:
            return Replace("Evicted", evicted, "eviction")
        return REMOVE

    def new_incarnation(self, old: Message) -> v1.Pod:
        """The same name and spec, a new UID, no node: what a lost or evicted pod comes back as."""
        assert isinstance(old, v1.Pod)
        new = v1.Pod()
        new.CopyFrom(old)
        new.metadata.uid = str(uuid.uuid4())
        new.metadata.creation_timestamp.CopyFrom(now())
        new.metadata.ClearField("deletion_timestamp")
        new.metadata.ClearField("deletion_grace_period_seconds")
        new.metadata.annotations.pop(names.EVICTED_ANNOTATION, None)
        new.spec.node_name = ""
        self.prepare_for_create(new)
        return new
