"""NodeAffinity: spec.nodeSelector and required/preferred node affinity.

Filter: the node's labels must match every nodeSelector pair and, when
required affinity is set, at least one of its terms (all requirements of a
term; an empty term matches nothing). Operators In, NotIn, Exists,
DoesNotExist, Gt, Lt; matchFields supports metadata.name. Score: the summed
weights of the preferred terms the node matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scheduler.framework import (
    SUCCESS,
    FilterPlugin,
    NodeInfo,
    PodInfo,
    Requirement,
    ScorePlugin,
    Status,
    Term,
    normalize_to_max,
    unschedulable,
)

ERR_REASON = "node(s) didn't match Pod's node affinity/selector"
_MISMATCH = unschedulable("NodeAffinity", ERR_REASON, unresolvable=True)


def requirement_matches(req: Requirement, labels: Mapping[str, str]) -> bool:
    key, op, values = req
    value = labels.get(key)
    if op == "In":
        return value is not None and value in values  # type: ignore[operator]
    if op == "NotIn":
        return value is None or value not in values  # type: ignore[operator]
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        if value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        return number > values if op == "Gt" else number < values  # type: ignore[operator]
    return False  # an unknown operator matches nothing


def term_matches(term: Term, node: NodeInfo) -> bool:
    exprs, fields = term
    if not exprs and not fields:
        return False
    if any(not requirement_matches(r, node.labels) for r in exprs):
        return False
    return all(requirement_matches(r, {"metadata.name": node.name}) for r in fields)


class NodeAffinity(FilterPlugin, ScorePlugin):
    name = "NodeAffinity"

    def prefilter(self, pod: PodInfo) -> bool:
        return bool(pod.node_selector) or pod.required_terms is not None

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        labels = node.labels
        for key, value in pod.node_selector.items():
            if labels.get(key) != value:
                return _MISMATCH
        terms = pod.required_terms
        if terms is not None and not any(term_matches(t, node) for t in terms):
            return _MISMATCH
        return SUCCESS

    def prescore(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> bool:
        return bool(pod.preferred_terms)

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return sum(w for w, term in pod.preferred_terms if term_matches(term, node))

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize_to_max(scores)
