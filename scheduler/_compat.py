"""Private stand-ins for podlab.quantity / podlab.podutil while those land.

The scheduler needs three small things from them: a CPU quantity in
millicores, a memory quantity in bytes, and a pod's summed requests. When the
shared modules exist they are used; otherwise these equivalents, which follow
Kubernetes' rules (init containers count as the max, app containers as the
sum; "100m" / "0.5" / "2" for CPU; "128Mi" / "1G" / "1e3" for memory).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

from podlab.v1 import objects_pb2 as v1

_SUFFIX: dict[str, int | Decimal] = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "m": Decimal("0.001"), "u": Decimal("0.000001"), "n": Decimal("0.000000001"),
}


def _parse(text: str) -> Decimal:
    """A quantity as a Decimal; raises ValueError for malformed text."""
    s = text.strip()
    if not s:
        raise ValueError("empty quantity")
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if suffix and s.endswith(suffix):
            number, mult = s[: -len(suffix)], Decimal(_SUFFIX[suffix])
            break
    else:
        number, mult = s, Decimal(1)
    try:
        return Decimal(number) * mult
    except InvalidOperation:
        raise ValueError(f"quantities must match the regular expression: {text!r}") from None


def _cpu_millis(text: str) -> int:
    return math.ceil(_parse(text) * 1000)


def _to_bytes(text: str) -> int:
    return math.ceil(_parse(text))


try:  # pragma: no cover - depends on what has landed on main
    from podlab.quantity import cpu_millis, to_bytes  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    cpu_millis = _cpu_millis
    to_bytes = _to_bytes


def _requests_of(container: v1.Container) -> tuple[int, int]:
    req = container.resources.requests
    lim = container.resources.limits
    # As in Kubernetes' defaulting: a limit without a request means request = limit.
    cpu = req.get("cpu") or lim.get("cpu")
    mem = req.get("memory") or lim.get("memory")
    return (cpu_millis(cpu) if cpu else 0, to_bytes(mem) if mem else 0)


def pod_requests(pod: v1.Pod) -> dict[str, int]:
    """{"cpu": millicores, "memory": bytes} the pod asks the scheduler for.

    Malformed quantities count as zero here: validation is the API server's job,
    and the scheduler must never crash on an object it was handed.
    """
    cpu = mem = 0
    try:
        for c in pod.spec.containers:
            c_cpu, c_mem = _requests_of(c)
            cpu += c_cpu
            mem += c_mem
        for c in pod.spec.init_containers:
            c_cpu, c_mem = _requests_of(c)
            cpu, mem = max(cpu, c_cpu), max(mem, c_mem)
    except ValueError:
        pass
    return {"cpu": cpu, "memory": mem}


def is_node_ready(node: v1.Node) -> bool:
    for cond in node.status.conditions:
        if cond.type == "Ready":
            return cond.status == "True"
    return False
