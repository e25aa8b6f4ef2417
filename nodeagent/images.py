"""Making a container's image available, as the kubelet's image manager does.

The pull policy is decided here, and the kubelet's events are recorded here;
the runtime only says whether an image is present and pulls one.

* Never: the image must be present, else ErrImageNeverPull.
* IfNotPresent: a present image is used as is ("already present on machine").
* Always: the image is pulled every time a container starts -- except that
  when the pull fails and the image is present, the local copy is used and the
  agent says so. podlab's labs have no registry, and `image: nginx` (whose
  default policy is Always) must still run there.

A failed pull raises ImagePullError(ErrImagePull); the pod worker then backs
off and reports ImagePullBackOff.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from nodeagent.runtime import ImagePullError, Runtime
from podlab.events import NORMAL, WARNING

log = logging.getLogger("podlab.nodeagent.images")

# event(type, reason, message), as PodWorker records one about a container.
Record = Callable[[str, str, str], None]


async def ensure_image(runtime: Runtime, image: str, policy: str, event: Record) -> None:
    """Make `image` available under `policy`, recording the kubelet's events; raises ImagePullError."""
    present = await runtime.image_present(image)
    if policy == "Never":
        if not present:
            message = f'Container image "{image}" is not present with pull policy of Never'
            event(WARNING, "ErrImageNeverPull", message)
            raise ImagePullError("ErrImageNeverPull", message)
        event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return
    if present and policy != "Always":
        event(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return
    event(NORMAL, "Pulling", f'Pulling image "{image}"')
    started = time.monotonic()
    try:
        await runtime.pull_image(image)
    except ImagePullError as err:
        if present:
            log.warning("pull of %s failed (%s); using the local image", image, err.message)
            event(NORMAL, "Pulled", f'Container image "{image}" already present on machine '
                  "(the pull failed; using it offline)")
            return
        event(WARNING, "Failed", f'Failed to pull image "{image}": {err.message}')
        raise ImagePullError("ErrImagePull", f'failed to pull image "{image}": {err.message}') from err
    event(NORMAL, "Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s')
