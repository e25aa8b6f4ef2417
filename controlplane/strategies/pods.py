"""Pods: admission on create, graceful deletion, and new incarnations (as pkg/registry/core/pod/strategy.go)."""

from __future__ import annotations

import uuid

from google.protobuf.message import Message

from controlplane.defaults import default_pod_spec
from controlplane.podfate import Cause, Fate, pod_fate
from controlplane.strategies.base import REMOVE, DeleteOptions, DeletePlan, Lookup, Replace, Strategy, Terminate
from controlplane.validation.pods import pod_spec_errors, pod_update_errors
from podlab import names
from podlab.kinds import kind_named
from podlab.podutil import now, qos_class
from podlab.v1 import objects_pb2 as v1
from podlab.validation import ErrorList

NODES = kind_named("Node")


class PodStrategy(Strategy):
    status_subresource = True

    def __init__(self) -> None:
        super().__init__(kind_named("Pod"))

    def default(self, obj: Message) -> None:
        super().default(obj)
        assert isinstance(obj, v1.Pod)
        default_pod_spec(obj.spec)

    def field_errors(self, errs: ErrorList, obj: Message) -> None:
        assert isinstance(obj, v1.Pod)
        pod_spec_errors(errs, "spec", obj.spec)

    def update_errors(self, errs: ErrorList, new: Message, old: Message) -> None:
        assert isinstance(new, v1.Pod) and isinstance(old, v1.Pod)
        pod_update_errors(errs, old, new)

    def prepare_for_create(self, obj: Message) -> None:
        """A fresh status and the QoS class (the node-loss tolerations are admission's)."""
        assert isinstance(obj, v1.Pod)
        obj.ClearField("status")
        obj.status.phase = names.PENDING
        obj.status.qos_class = qos_class(obj)
        if obj.spec.node_name:
            # A pod created with spec.nodeName bypasses the scheduler, as in Kubernetes.
            obj.status.conditions.add(type=names.POD_SCHEDULED, status="True", last_transition_time=now())

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
