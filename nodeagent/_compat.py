"""Quantities, QoS and condition helpers: podlab's shared ones when present.

podlab.quantity and podlab.podutil are being written elsewhere; until they
land, the small private fallbacks below keep the agent working with the same
contracts (`cpu_millis("500m") == 500`, `to_bytes("20Mi") == 20971520`).
"""

from __future__ import annotations

import math
import time
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from podlab.v1 import objects_pb2 as v1

_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DEC = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9,
        "T": 1e12, "P": 1e15, "E": 1e18}


def _parse(q: str) -> float:
    q = str(q).strip()
    for suffix, mult in _BIN.items():
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * mult
    for suffix in sorted(_DEC, key=len, reverse=True):
        if suffix and q.endswith(suffix):
            return float(q[: -len(suffix)]) * _DEC[suffix]
    return float(q)


def _cpu_millis(text: str) -> int:
    return math.ceil(_parse(text) * 1000 - 1e-9)


def _to_bytes(text: str) -> int:
    return math.ceil(_parse(text) - 1e-9)


try:  # pragma: no cover - depends on what is on main
    from podlab.quantity import cpu_millis, to_bytes
except ImportError:  # pragma: no cover
    cpu_millis = _cpu_millis  # type: ignore[assignment]
    to_bytes = _to_bytes  # type: ignore[assignment]


def _qos_class(pod: v1.Pod) -> str:
    containers = list(pod.spec.containers) + list(pod.spec.init_containers)
    any_set = False
    guaranteed = True
    for c in containers:
        req, lim = c.resources.requests, c.resources.limits
        for res in ("cpu", "memory"):
            if req.get(res) or lim.get(res):
                any_set = True
            if not lim.get(res):
                guaranteed = False
            elif req.get(res) and req[res] != lim[res]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def now_ts() -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(int(time.time() * 1000))
    return ts


def ts_from_epoch(epoch: float) -> Timestamp:
    ts = Timestamp()
    if epoch > 0:
        ts.FromMilliseconds(int(epoch * 1000))
    return ts


try:  # pragma: no cover
    from podlab.podutil import qos_class
except ImportError:  # pragma: no cover
    qos_class = _qos_class


def set_condition(status: Any, ctype: str, value: bool, reason: str = "",
                  message: str = "") -> None:
    """Set condition `ctype` on a PodStatus/NodeStatus, keeping lastTransitionTime
    when the status does not change."""
    text = "True" if value else "False"
    for cond in status.conditions:
        if cond.type == ctype:
            if cond.status != text:
                cond.last_transition_time.CopyFrom(now_ts())
            cond.status, cond.reason, cond.message = text, reason, message
            return
    cond = status.conditions.add(type=ctype, status=text, reason=reason, message=message)
    cond.last_transition_time.CopyFrom(now_ts())
