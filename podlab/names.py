"""The API's well-known names: every component spells them from here.

Kubernetes' own values (`k8s.io/api/core/v1`, `pkg/apis/core`): a user's
manifest, kubectl and podlab's components must agree on each of them.
"""

from __future__ import annotations

from typing import Final

# -- namespaces -----------------------------------------------------------------
DEFAULT_NAMESPACE: Final = "default"
SYSTEM_NAMESPACE: Final = "kube-system"
NODE_LEASE_NAMESPACE: Final = "kube-node-lease"
BUILTIN_NAMESPACES: Final = (DEFAULT_NAMESPACE, SYSTEM_NAMESPACE, NODE_LEASE_NAMESPACE)


def namespace_or_default(namespace: str) -> str:
    """`namespace`, or "default" when it is empty (as the API server reads a namespaced request)."""
    return namespace or DEFAULT_NAMESPACE


# -- requests -------------------------------------------------------------------
MAX_REQUEST_BYTES: Final = 3 * 1024 * 1024  # Kubernetes' cap on one request body, on both front ends

# -- pods -----------------------------------------------------------------------
DEFAULT_GRACE_SECONDS: Final = 30  # terminationGracePeriodSeconds when a pod says nothing
DEFAULT_SCHEDULER: Final = "default-scheduler"

PENDING: Final = "Pending"
RUNNING: Final = "Running"
SUCCEEDED: Final = "Succeeded"
FAILED: Final = "Failed"
UNKNOWN: Final = "Unknown"
TERMINAL_PHASES: Final = (SUCCEEDED, FAILED)

# Pod condition types
POD_SCHEDULED: Final = "PodScheduled"
INITIALIZED: Final = "Initialized"
CONTAINERS_READY: Final = "ContainersReady"
READY: Final = "Ready"  # also the node condition

RESTART_ALWAYS: Final = "Always"
RESTART_ON_FAILURE: Final = "OnFailure"
RESTART_NEVER: Final = "Never"

# -- taints ---------------------------------------------------------------------
TAINT_NOT_READY: Final = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE: Final = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE: Final = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE: Final = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE: Final = "node.kubernetes.io/disk-pressure"
NODE_LOSS_TAINTS: Final = (TAINT_NOT_READY, TAINT_UNREACHABLE)

# -- workloads -------------------------------------------------------------------
POD_TEMPLATE_HASH: Final = "pod-template-hash"  # the label telling a Deployment's ReplicaSets apart
REVISION_ANNOTATION: Final = "deployment.kubernetes.io/revision"

# -- garbage collection (metav1) ---------------------------------------------------
# Deletion propagation policies (DeleteOptions.propagationPolicy).
FOREGROUND: Final = "Foreground"
BACKGROUND: Final = "Background"
ORPHAN: Final = "Orphan"
PROPAGATION_POLICIES: Final = (FOREGROUND, BACKGROUND, ORPHAN)
# The finalizers the garbage collector honours: dependents deleted first, or orphaned first.
FINALIZER_DELETE_DEPENDENTS: Final = "foregroundDeletion"
FINALIZER_ORPHAN_DEPENDENTS: Final = "orphan"

# -- podlab's own annotations -----------------------------------------------------
# Marks a pod being evicted: when its agent confirms it stopped, a new pod replaces it.
EVICTED_ANNOTATION: Final = "podlab.io/evicted"
