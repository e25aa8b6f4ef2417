"""Admission: the plugins every create and update passes, after defaulting, around validation.

As Kubernetes' admission chain: mutating plugins run first and may change
the object (DefaultTolerationSeconds adds the node-loss tolerations);
validating plugins run after the kind's own validation and may only refuse
(an ApiError, usually Forbidden or Invalid). Both see the request's
`RequestContext` (controlplane.pipeline), or None for the registry's own
writes outside any request. Plugins do no I/O: the registry calls them in
the middle of a verb, between the read and the guarded write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from google.protobuf.message import Message

from controlplane.pipeline import RequestContext
from podlab.names import NODE_LOSS_TAINTS
from podlab.tolerations import tolerated, tolerations_of
from podlab.v1 import objects_pb2 as v1

CREATE, UPDATE = "CREATE", "UPDATE"


class Attributes(NamedTuple):
    """What one admission call is about (k8s.io/apiserver/pkg/admission.Attributes)."""

    operation: str  # CREATE or UPDATE
    obj: Message
    old: Message | None  # the stored object, on UPDATE
    ctx: RequestContext | None


class MutatingPlugin(Protocol):
    def admit(self, attrs: Attributes) -> None: ...


class ValidatingPlugin(Protocol):
    def validate(self, attrs: Attributes) -> None: ...


class Admission:
    """The chain: every mutating plugin in order, and (after the kind's validation) every validating one."""

    def __init__(self, mutating: Sequence[MutatingPlugin] = (), validating: Sequence[ValidatingPlugin] = ()) -> None:
        self.mutating = tuple(mutating)
        self.validating = tuple(validating)

    def admit(self, attrs: Attributes) -> None:
        for plugin in self.mutating:
            plugin.admit(attrs)

    def validate(self, attrs: Attributes) -> None:
        for plugin in self.validating:
            plugin.validate(attrs)


class DefaultTolerationSeconds:
    """Pods ride out a lost node for `seconds` unless they say otherwise (Kubernetes' plugin of that name).

    Every pod without a toleration for a node-loss taint (not-ready,
    unreachable; NoExecute) gets one with tolerationSeconds = `seconds`.
    """

    def __init__(self, seconds: int) -> None:
        self.tolerations = [v1.Toleration(key=key, operator="Exists", effect="NoExecute", toleration_seconds=seconds)
                            for key in NODE_LOSS_TAINTS]

    def admit(self, attrs: Attributes) -> None:
        pod = attrs.obj
        if not isinstance(pod, v1.Pod):
            return
        if not pod.spec.tolerations:  # most pods: nothing to match
            pod.spec.tolerations.extend(self.tolerations)
            return
        own = tolerations_of(pod.spec)
        pod.spec.tolerations.extend(t for t in self.tolerations if not tolerated(own, t.key, "", "NoExecute"))


def default_admission(default_toleration_seconds: int) -> Admission:
    """The plugins the API server runs, in Kubernetes' order."""
    return Admission(mutating=[DefaultTolerationSeconds(default_toleration_seconds)])
