"""Kubernetes' defaults for the API objects that have more than a namespace to default
(SetDefaults_* in pkg/apis/*/v1/defaults.go): pod specs, shared by Pods and every pod
template, and the apps workloads. Each kind's strategy calls its own from `Strategy.default`;
the node-loss tolerations are admission's (controlplane.admission).
"""

from __future__ import annotations

from podlab.names import DEFAULT_GRACE_SECONDS, DEFAULT_SCHEDULER
from podlab.v1 import objects_pb2 as v1

DEFAULT_FILE_MODE = 0o644  # 420


def _default_template(template: v1.PodTemplateSpec) -> None:
    default_pod_spec(template.spec)


def default_replica_set(rs: v1.ReplicaSet) -> None:
    """SetDefaults_ReplicaSet: one replica; the template's pod defaults."""
    if not rs.spec.HasField("replicas"):
        rs.spec.replicas = 1
    _default_template(rs.spec.template)


def default_deployment(d: v1.Deployment) -> None:
    """SetDefaults_Deployment: 1 replica, RollingUpdate 25%/25%, 10 revisions, a 600 s deadline."""
    spec = d.spec
    if not spec.HasField("replicas"):
        spec.replicas = 1
    if not spec.strategy.type:
        spec.strategy.type = "RollingUpdate"
    if spec.strategy.type == "RollingUpdate":
        rolling = spec.strategy.rolling_update
        for field in ("max_unavailable", "max_surge"):
            if not rolling.HasField(field):
                getattr(rolling, field).string_value = "25%"
    if not spec.HasField("revision_history_limit"):
        spec.revision_history_limit = 10
    if not spec.HasField("progress_deadline_seconds"):
        spec.progress_deadline_seconds = 600
    _default_template(spec.template)


def default_pod_spec(spec: v1.PodSpec) -> None:
    """Kubernetes' PodSpec defaults (also for pod templates)."""
    if not spec.restart_policy:
        spec.restart_policy = "Always"
    if not spec.HasField("termination_grace_period_seconds"):
        spec.termination_grace_period_seconds = DEFAULT_GRACE_SECONDS
    if not spec.dns_policy:
        spec.dns_policy = "ClusterFirst"
    if not spec.scheduler_name:
        spec.scheduler_name = DEFAULT_SCHEDULER
    # `serviceAccount` is the deprecated spelling; both read the same once defaulted.
    if not spec.service_account_name:
        spec.service_account_name = spec.service_account or "default"
    spec.service_account = spec.service_account_name
    if not spec.HasField("enable_service_links"):
        spec.enable_service_links = True
    spec.security_context.SetInParent()
    for container in (*spec.init_containers, *spec.containers):
        _default_container(container, spec.host_network)
    for volume in spec.volumes:
        _default_volume(volume)


def image_pull_policy(image: str) -> str:
    """Always for `:latest` or an untagged image, else IfNotPresent (as Kubernetes)."""
    name, _, digest = image.partition("@")
    if digest:
        return "IfNotPresent"
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_container(c: v1.Container, host_network: bool) -> None:
    if not c.image_pull_policy:
        c.image_pull_policy = image_pull_policy(c.image)
    if not c.termination_message_path:
        c.termination_message_path = "/dev/termination-log"
    if not c.termination_message_policy:
        c.termination_message_policy = "File"
    for port in c.ports:
        if not port.protocol:
            port.protocol = "TCP"
        # A host-network pod listens on the node itself: the host port is the container port.
        if host_network and not port.host_port:
            port.host_port = port.container_port
    # A limit without a request requests the limit (this is what makes limits-only pods
    # Guaranteed).
    for name, value in c.resources.limits.items():
        if name not in c.resources.requests:
            c.resources.requests[name] = value
    for probe_field in ("liveness_probe", "readiness_probe", "startup_probe"):
        if c.HasField(probe_field):
            _default_probe(getattr(c, probe_field))
    for hook in ("post_start", "pre_stop"):
        if c.lifecycle.HasField(hook):
            handler = getattr(c.lifecycle, hook)
            if handler.HasField("http_get"):
                _default_http_get(handler.http_get)
    for var in c.env:
        if var.value_from.HasField("field_ref") and not var.value_from.field_ref.api_version:
            var.value_from.field_ref.api_version = "v1"


def _default_probe(probe: v1.Probe) -> None:
    if not probe.timeout_seconds:
        probe.timeout_seconds = 1
    if not probe.period_seconds:
        probe.period_seconds = 10
    if not probe.success_threshold:
        probe.success_threshold = 1
    if not probe.failure_threshold:
        probe.failure_threshold = 3
    if probe.HasField("http_get"):
        _default_http_get(probe.http_get)


def _default_http_get(action: v1.HTTPGetAction) -> None:
    if not action.path:
        action.path = "/"
    if not action.scheme:
        action.scheme = "HTTP"


def _default_volume(volume: v1.Volume) -> None:
    sources = [f.name for f in v1.Volume.DESCRIPTOR.fields if f.name != "name"]
    if not any(volume.HasField(s) for s in sources):
        volume.empty_dir.SetInParent()  # a volume with no source is an emptyDir
    for source in ("config_map", "secret", "downward_api", "projected"):
        if volume.HasField(source):
            holder = getattr(volume, source)
            if not holder.HasField("default_mode"):
                holder.default_mode = DEFAULT_FILE_MODE
    for item in volume.downward_api.items:
        if item.HasField("field_ref") and not item.field_ref.api_version:
            item.field_ref.api_version = "v1"
    for projection in volume.projected.sources:
        for item in projection.downward_api.items:
            if item.HasField("field_ref") and not item.field_ref.api_version:
                item.field_ref.api_version = "v1"


def default_job(job: v1.Job) -> None:
    """SetDefaults_Job: 1 completion and 1 pod at a time, backoffLimit 6, NonIndexed, not suspended;
    an unlabelled Job takes its template's labels."""
    spec = job.spec
    if not spec.HasField("completions") and not spec.HasField("parallelism"):
        spec.completions = 1
        spec.parallelism = 1
    if not spec.HasField("parallelism"):
        spec.parallelism = 1
    if not spec.HasField("backoff_limit"):
        spec.backoff_limit = 6
    if not spec.HasField("completion_mode"):
        spec.completion_mode = "NonIndexed"
    if not spec.HasField("suspend"):
        spec.suspend = False
    if not job.metadata.labels and spec.template.metadata.labels:
        job.metadata.labels.update(spec.template.metadata.labels)
    _default_template(spec.template)
