"""Upstream node e2e behaviours podlab does not run, each with the reason (README's table).

(path under test/e2e/common/, the ginkgo.It / ConformanceIt name, why)
"""

from __future__ import annotations

NEEDS_SERVICES = "needs Services (not built yet)"
NO_PATCH = ("needs PATCH / DeleteCollection, which podlab's API does not have yet (create, get, list, "
            "update, delete, watch)")
NO_REST = "needs the Kubernetes REST API's WebSocket exec/log endpoints (podlab serves exec and logs over gRPC)"
NO_FSGROUP = "needs fsGroup ownership of volumes (podlab accepts fsGroup but does not apply it yet)"

UNSUPPORTED: list[tuple[str, str, str]] = [
    ("node/pods.go", "should contain environment variables for services [NodeConformance] [Conformance]",
     NEEDS_SERVICES),
    ("node/pods.go", "should support remote command execution over websockets [NodeConformance] [Conformance]",
     NO_REST),
    ("node/pods.go", "should support retrieving logs from the container over websockets [NodeConformance] "
     "[Conformance]", NO_REST),
    ("node/pods.go", "should run through the lifecycle of Pods and PodStatus [Conformance]", NO_PATCH),
    ("node/pods.go", "should delete a collection of pods [Conformance]", NO_PATCH),
    ("node/pods.go", "should patch a pod status [Conformance]", NO_PATCH),
    ("node/configmap.go", "should run through a ConfigMap lifecycle [Conformance]", NO_PATCH),
    ("node/secrets.go", "should patch a secret [Conformance]", NO_PATCH),
    ("node/runtime.go", "should be able to pull from private registry with secret [NodeConformance]",
     "needs an image registry and imagePullSecrets (there is no registry here; the offline kit stands in)"),
    ("node/lifecycle_hook.go", "should execute poststart https hook properly [NodeConformance]",
     "the kit's agnhost has no /localhost.crt and /localhost.key for netexec's HTTPS"),
    ("node/lifecycle_hook.go", "should execute prestop https hook properly [NodeConformance]",
     "the kit's agnhost has no /localhost.crt and /localhost.key for netexec's HTTPS"),
    ("node/security_context.go", "should not allow privilege escalation when false [LinuxOnly] "
     "[NodeConformance] [Conformance]",
     "needs the nonewprivs test image (a setuid program) and allowPrivilegeEscalation applied as "
     "no-new-privileges; neither is in podlab yet"),
    ("node/security_context.go", "should run the container as privileged when true [LinuxOnly] "
     "[Feature:HostAccess]", "privileged containers fail on these machines (ENVIRONMENT.md)"),
    ("node/container_probe.go", "should have monotonically increasing restart count [NodeConformance] "
     "[Conformance]", "not run: as upstream builds it, it waits out five liveness restarts and their "
     "CrashLoopBackOff, about ten minutes, over CI's budget"),
    ("storage/empty_dir.go", "when FSGroup is specified [LinuxOnly] [NodeFeature:FSGroup] "
     "(six tests)", NO_FSGROUP),
    ("storage/configmap_volume.go", "should be consumable from pods in volume as non-root with defaultMode "
     "and fsGroup set [LinuxOnly] [NodeFeature:FSGroup]", NO_FSGROUP),
    ("storage/downwardapi_volume.go", "should provide podname as non-root with fsgroup [LinuxOnly] "
     "[NodeFeature:FSGroup]", NO_FSGROUP),
]
