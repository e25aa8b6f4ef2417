"""CrashLoopBackOff timing: the first restart is immediate, then base, 2*base, ... up to cap.

The streak is derived from the container's attempt number (so an agent restart
does not reset it), and is reset when a container ran for `reset_after` seconds.
"""

from __future__ import annotations

from nodeagent.runtime.base import ContainerInfo


def crash_delay(streak: int, base: float, cap: float) -> float:
    """Seconds to wait before restart number `streak + 1` of a streak (0 for the first)."""
    if streak <= 0:
        return 0.0
    return float(min(base * 2 ** min(streak - 1, 30), cap))


class CrashBackoff:
    """Per-(pod uid, container name) back-off. Pure arithmetic over ContainerInfo."""

    def __init__(self, base: float = 10.0, cap: float = 300.0, reset_after: float = 600.0) -> None:
        self.base = base
        self.cap = cap
        self.reset_after = reset_after
        self._reset_attempt: dict[tuple[str, str], int] = {}

    def ready_at(self, exited: ContainerInfo) -> float:
        """When the exited container may be restarted (epoch seconds)."""
        key = (exited.pod_uid, exited.container_name)
        ran = exited.finished_at - exited.started_at if exited.started_at else 0.0
        if ran >= self.reset_after:
            self._reset_attempt[key] = exited.attempt
        streak = exited.attempt - self._reset_attempt.get(key, 0)
        return exited.finished_at + crash_delay(streak, self.base, self.cap)

    def delay(self, exited: ContainerInfo) -> float:
        return self.ready_at(exited) - exited.finished_at

    def forget(self, pod_uid: str) -> None:
        for key in [k for k in self._reset_attempt if k[0] == pod_uid]:
            del self._reset_attempt[key]
