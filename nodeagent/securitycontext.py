"""The kubelet's checks of a container's security context against its image."""

from __future__ import annotations

from nodeagent.env import ContainerConfigError
from podlab.v1 import objects_pb2 as v1


def run_as_user(pod: v1.Pod, c: v1.Container) -> int | None:
    """The container's runAsUser, else the pod's, else None (the image's user)."""
    sc, psc = c.security_context, pod.spec.security_context
    if sc.HasField("run_as_user"):
        return sc.run_as_user
    return psc.run_as_user if psc.HasField("run_as_user") else None


def verify_run_as_non_root(pod: v1.Pod, c: v1.Container, image_user: str) -> None:
    """The kubelet's verifyRunAsNonRoot: with runAsNonRoot, the container must not run as
    root, by its runAsUser or else by its image's user (`image_user`, as the image's config
    says it: "", "1234", "1234:5", "nobody"). Raises ContainerConfigError
    (CreateContainerConfigError)."""
    sc, psc = c.security_context, pod.spec.security_context
    non_root = sc.run_as_non_root if sc.HasField("run_as_non_root") else (
        psc.run_as_non_root if psc.HasField("run_as_non_root") else False)
    if not non_root:
        return
    who = f'(pod: "{pod.metadata.name}_{pod.metadata.namespace or "default"}({pod.metadata.uid})", ' \
          f"container: {c.name})"
    uid = run_as_user(pod, c)
    if uid is not None:
        if uid == 0:
            raise ContainerConfigError(f"container's runAsUser breaks non-root policy {who}")
        return
    user = image_user.split(":", 1)[0]
    if user and not user.isdigit():
        raise ContainerConfigError(f"container has runAsNonRoot and image has non-numeric user ({user}), "
                                   f"cannot verify user is non-root {who}")
    if not user or int(user) == 0:
        raise ContainerConfigError(f"container has runAsNonRoot and image will run as root {who}")
