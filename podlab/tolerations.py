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

Tolerations and taints are plain tuples here (not NamedTuples, whose
unpacking is slower), so the scheduler's hot path keeps them precomputed and
never reads protobuf fields while scheduling.
"""

from __future__ import annotations

from collections.abc import Iterable

from podlab.v1 import objects_pb2 as v1

Taint = tuple[str, str, str]  # key, value, effect
# key, operator ("" is Equal), value, effect, tolerationSeconds (meaningful for NoExecute; None: forever)
Toleration = tuple[str, str, str, str, int | None]


def toleration(key: str = "", operator: str = "", value: str = "", effect: str = "",
               seconds: int | None = None) -> Toleration:
    """A toleration by its fields' names."""
    return (key, operator, value, effect, seconds)


def taint_of(taint: v1.Taint) -> Taint:
    return (taint.key, taint.value, taint.effect)


def toleration_of(t: v1.Toleration) -> Toleration:
    return (t.key, t.operator, t.value, t.effect, t.toleration_seconds if t.HasField("toleration_seconds") else None)


def tolerations_of(spec: v1.PodSpec) -> tuple[Toleration, ...]:
    """A pod spec's tolerations as plain values."""
    return tuple(toleration_of(t) for t in spec.tolerations)


def tolerated(tolerations: Iterable[Toleration], key: str, value: str, effect: str) -> bool:
    """Whether any of `tolerations` tolerates the taint key=value:effect (the one place the rule is)."""
    # Plain tuples, unpacked, no call per toleration: the scheduler asks this for every tainted node.
    for t_key, operator, t_value, t_effect, _ in tolerations:
        if (t_effect and t_effect != effect) or (t_key and t_key != key):
            continue
        if operator == "Exists" or (t_value == value and operator in ("", "Equal")):
            return True
    return False


def matching_tolerations(tolerations: Iterable[Toleration], taints: Iterable[Taint]) -> list[Toleration] | None:
    """For each taint, the first toleration that tolerates it; None when some taint is not tolerated."""
    candidates = tuple(tolerations)
    used: list[Toleration] = []
    for taint in taints:
        match = next((t for t in candidates if tolerated((t,), *taint)), None)
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
    used = matching_tolerations(tolerations, [t for t in taints if t[2] == "NoExecute"])
    if used is None:
        return 0
    seconds = [t[4] for t in used if t[4] is not None]
    if not seconds:
        return None
    return max(0, min(seconds))
