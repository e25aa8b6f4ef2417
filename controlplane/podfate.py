"""Pod fate: whether a pod that lost its node, or was evicted, comes back, and how.

The one place that decides it, keyed on the pod's controller (DESIGN "Pod
fate"); the node lifecycle controller, the eviction replacement controller,
the eviction verb and the pod strategy's delete plan all ask `pod_fate`:

- a bare pod (no controller) that has not finished comes back as itself: the
  same name and spec, a new UID, no node (`REPLACE`);
- a pod with a controller -- a ReplicaSet, a Job, a DaemonSet, ... -- is not
  brought back here: it goes (or, already Failed, stays as the record) and
  its controller decides what replaces it (`OWNER`);
- a StatefulSet's pod has an identity that must never run twice: it goes
  only once its old node is known to be fenced (`AWAIT_FENCE` until then);
- a finished pod stays finished (`GONE`: nothing comes back).

"Finished" depends on the cause: a pod on a lost node did not stop, so any
one not Succeeded (nor Failed for good, under restartPolicy Never) is lost
work; an evicted pod was stopped on purpose, so only a restartPolicy Never
pod -- which would not have run again -- is finished.
"""

from __future__ import annotations

import enum

from podlab import names
from podlab.kinds import controller_ref
from podlab.v1 import objects_pb2 as v1

STATEFUL_SET = "StatefulSet"


class Cause(enum.Enum):
    NODE_LOST = "NodeLost"  # its node stopped renewing its heartbeat
    EVICTED = "Evicted"  # stopped on purpose: the eviction API or node pressure


class Fate(enum.Enum):
    REPLACE = "replace"  # a new incarnation under the same name (one transaction swaps them)
    OWNER = "owner"  # the pod goes; its controller makes what replaces it
    AWAIT_FENCE = "await-fence"  # nothing yet: only once the old node is known fenced
    GONE = "gone"  # finished: nothing comes back


def pod_fate(pod: v1.Pod, cause: Cause, node_fenced: bool = False) -> Fate:
    """What becomes of `pod` after `cause`; `node_fenced`: its node is known to run nothing any more."""
    if _finished(pod, cause):
        return Fate.GONE
    ref = controller_ref(pod)
    if ref is None:
        return Fate.REPLACE
    if ref.kind == STATEFUL_SET and not node_fenced:
        return Fate.AWAIT_FENCE
    return Fate.OWNER


def _finished(pod: v1.Pod, cause: Cause) -> bool:
    never = pod.spec.restart_policy == names.RESTART_NEVER
    if cause is Cause.EVICTED:
        # Its phase is what the stop made of it, not how it would have ended.
        return never
    return pod.status.phase == names.SUCCEEDED or (pod.status.phase == names.FAILED and never)
