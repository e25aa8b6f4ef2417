"""Taints and tolerations: which toleration tolerates which taint, and for how long.

The one matcher every component asks (the scheduler's filters, the node
lifecycle controller, DefaultTolerationSeconds admission), with Kubernetes'
semantics (k8s.io/api core/v1 `Toleration.ToleratesTaint`,
`GetMatchingTolerations` and the taint eviction controller's
`getMinTolerationTime`):

- an empty toleration effect matches every effect, else the effects must be equal;
- an empty toleration key matches every key (validation lets it pair only with Exists);
- operator Exists matches any value; Equal (or empty, its default) needs equal values;
  any other operator matches nothing.

Tolerations and taints are plain tuples here, so the scheduler's hot path can
keep them precomputed and never read protobuf fields while scheduling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from podlab.v1 import objects_pb2 as v1


class Taint(NamedTuple):
    key: str
    value: str
    effect: str

    @classmethod
    def of(cls, taint: v1.Taint) -> Taint:
        return cls(taint.key, taint.value, taint.effect)


class Toleration(NamedTuple):
    key: str = ""
    operator: str = ""  # "" is Equal
    value: str = ""
    effect: str = ""
    seconds: int | None = None  # tolerationSeconds (meaningful for NoExecute only); None: forever

    @classmethod
    def of(cls, toleration: v1.Toleration) -> Toleration:
        seconds = toleration.toleration_seconds if toleration.HasField("toleration_seconds") else None
        return cls(toleration.key, toleration.operator, toleration.value, toleration.effect, seconds)

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        """Whether this toleration tolerates the taint key=value:effect."""
        if self.effect and self.effect != effect:
            return False
        if self.key and self.key != key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == value
        return self.operator == "Exists"


def tolerations_of(spec: v1.PodSpec) -> tuple[Toleration, ...]:
    """A pod spec's tolerations as plain values."""
    return tuple(Toleration.of(t) for t in spec.tolerations)


def tolerated(tolerations: Iterable[Toleration], key: str, value: str, effect: str) -> bool:
    """Whether any of `tolerations` tolerates the taint key=value:effect."""
    for toleration in tolerations:
        if toleration.tolerates(key, value, effect):
            return True
    return False


def matching_tolerations(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> list[Toleration] | None:
    """For each taint, the first toleration that tolerates it; None when some taint is not tolerated."""
    candidates = tuple(tolerations)
    used: list[Toleration] = []
    for taint in taints:
        match = next((t for t in candidates if t.tolerates(*taint)), None)
        if match is None:
            return None
        used.append(match)
    return used


def toleration_seconds(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> int | None:
    """How long a pod with `tolerations` may stay on a node with the NoExecute `taints`.

    None: forever (every taint is tolerated, and no toleration used says for
    how long). 0: not at all (some taint is not tolerated, or a toleration used
    says zero or less). Else the shortest tolerationSeconds among the
    tolerations used, the first that tolerates each taint, as Kubernetes'
    taint eviction controller decides.
    """
    used = matching_tolerations(tolerations, [t for t in taints if t.effect == "NoExecute"])
    if used is None:
        return 0
    seconds = [t.seconds for t in used if t.seconds is not None]
    if not seconds:
        return None
    return max(0, min(seconds))
