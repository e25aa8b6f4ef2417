"""The probe hook. Probes themselves are another issue; the worker only asks questions.

A container without a readiness probe is ready when it is running; without a
liveness probe it is alive; without a startup probe it is started when running.
"""

from __future__ import annotations

from podlab.v1 import objects_pb2 as v1


class ProbeManager:
    """Answers readiness/liveness/startup for running containers. This base has no probes."""

    def readiness(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        """True/False from a readiness probe; None when the container has none."""
        return None

    def liveness(self, pod_uid: str, container: str, container_id: str) -> bool:
        """False when a liveness probe says the container must be restarted."""
        return True

    def started(self, pod_uid: str, container: str, container_id: str) -> bool | None:
        """Startup probe verdict; None when the container has none."""
        return None

    def container_started(self, pod: v1.Pod, container: v1.Container, container_id: str,
                          pod_ip: str) -> None:
        """A container of `pod` started: begin probing it."""

    def container_stopped(self, pod_uid: str, container: str) -> None:
        """Stop probing a container."""

    def pod_removed(self, pod_uid: str) -> None:
        """Forget everything about a pod."""


class NoProbes(ProbeManager):
    """The default until probes are implemented."""
