"""kubectl's human-readable printers: table columns, pod STATUS, ages, and describe.

The logic follows kubectl's pkg/printers/internalversion/printers.go, so a
user reading `podctl get pods` sees exactly what kubectl would show for the
same object. Every function takes `now` so output can be frozen in tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from podlab import quantity
from podlab.names import TERMINAL_PHASES
from podlab.podutil import pod_requests
from podlab.selectors import LabelSelector
from podlab.v1 import objects_pb2 as v1

if TYPE_CHECKING:
    from podlab.kinds import Kind

NONE = "<none>"


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- durations -------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """kubectl's duration.HumanDuration: 5s, 2m3s, 6m51s, 15m, 3h, 3h5m, 2d, 2d3h, 1y..."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def ts_set(ts: Timestamp) -> bool:
    return bool(ts.seconds or ts.nanos)


def since(ts: Timestamp, now: datetime) -> str:
    """kubectl's translateTimestampSince: the age of `ts`, "<unknown>" when unset."""
    if not ts_set(ts):
        return "<unknown>"
    return human_duration(now.timestamp() - ts.ToDatetime(UTC).timestamp())


def rfc1123(ts: Timestamp) -> str:
    """Timestamps as kubectl describe prints them: Mon, 02 Jan 2006 15:04:05 +0000."""
    return ts.ToDatetime(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


# -- tables ----------------------------------------------------------------------------

# kubectl's tabwriter: a column is its widest cell plus 3 spaces, and at least 6 wide.
PADDING = 3
MIN_WIDTH = 6


def format_table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> str:
    """Columns padded like kubectl's tabwriter, the last column bare."""
    lines = ([list(headers)] if headers else []) + [list(r) for r in rows]
    if not lines:
        return ""
    widths = [max(MIN_WIDTH, max(len(line[i]) for line in lines) + PADDING)
              for i in range(len(lines[0]))]
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        out.append("".join(cells).rstrip())
    return "\n".join(out) + "\n"


def format_labels(labels: Mapping[str, str]) -> str:
    """kubectl's labels.FormatLabels: k=v pairs sorted by key, comma-separated; <none> if empty."""
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels)) or NONE


# -- pods ------------------------------------------------------------------------------

def _restartable_init(container: v1.Container | None) -> bool:
    return container is not None and container.restart_policy == "Always"


def _later(a: Timestamp | None, b: Timestamp) -> Timestamp | None:
    if not ts_set(b):
        return a
    if a is None or (b.seconds, b.nanos) > (a.seconds, a.nanos):
        return b
    return a


def _condition_true(pod: v1.Pod, kind: str) -> bool:
    return any(c.type == kind and c.status == "True" for c in pod.status.conditions)


@dataclass
class PodSummary:
    ready: str
    status: str
    restarts: str


def pod_summary(pod: v1.Pod, now: datetime) -> PodSummary:
    """READY, STATUS and RESTARTS exactly as kubectl's printPod computes them."""
    restarts = 0
    sidecar_restarts = 0
    total = len(pod.spec.containers)
    ready = 0
    last_restart: Timestamp | None = None
    last_sidecar_restart: Timestamp | None = None
    phase = pod.status.phase
    reason = pod.status.reason or phase
    for cond in pod.status.conditions:
        if cond.type == "PodScheduled" and cond.reason == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.name: c for c in pod.spec.init_containers}
    total += sum(1 for c in pod.spec.init_containers if _restartable_init(c))

    initializing = False
    for i, cs in enumerate(pod.status.init_container_statuses):
        restarts += cs.restart_count
        last_term = cs.last_state.terminated if cs.last_state.HasField("terminated") else None
        if last_term is not None:
            last_restart = _later(last_restart, last_term.finished_at)
        sidecar = _restartable_init(init_specs.get(cs.name))
        if sidecar:
            sidecar_restarts += cs.restart_count
            if last_term is not None:
                last_sidecar_restart = _later(last_sidecar_restart, last_term.finished_at)
        state = cs.state
        if state.HasField("terminated") and state.terminated.exit_code == 0:
            continue
        if sidecar and cs.HasField("started") and cs.started:
            if cs.ready:
                ready += 1
            continue
        if state.HasField("terminated"):
            t = state.terminated
            if not t.reason:
                reason = f"Init:Signal:{t.signal}" if t.signal else f"Init:ExitCode:{t.exit_code}"
            else:
                reason = "Init:" + t.reason
        elif state.HasField("waiting") and state.waiting.reason and \
                state.waiting.reason != "PodInitializing":
            reason = "Init:" + state.waiting.reason
        else:
            reason = f"Init:{i}/{len(pod.spec.init_containers)}"
        initializing = True
        break

    if not initializing or _condition_true(pod, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(pod.status.container_statuses):
            restarts += cs.restart_count
            if cs.last_state.HasField("terminated"):
                last_restart = _later(last_restart, cs.last_state.terminated.finished_at)
            state = cs.state
            if state.HasField("waiting") and state.waiting.reason:
                reason = state.waiting.reason
            elif state.HasField("terminated") and state.terminated.reason:
                reason = state.terminated.reason
            elif state.HasField("terminated"):
                t = state.terminated
                reason = f"Signal:{t.signal}" if t.signal else f"ExitCode:{t.exit_code}"
            elif cs.ready and state.HasField("running"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            has_ready = any(c.type == "Ready" for c in pod.status.conditions)
            reason = "Running" if has_ready else "NotReady"

    deleting = ts_set(pod.metadata.deletion_timestamp)
    if deleting and pod.status.reason == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in TERMINAL_PHASES:
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({since(last_restart, now)} ago)"
    return PodSummary(f"{ready}/{total}", reason, restarts_text)


def pod_ip(pod: v1.Pod) -> str:
    if pod.status.pod_ips:
        return pod.status.pod_ips[0].ip
    return pod.status.pod_ip


def pod_row(pod: v1.Pod, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    s = pod_summary(pod, now)
    row = [pod.metadata.name, s.ready, s.status, s.restarts, since(pod.metadata.creation_timestamp,
                                                                   now)]
    if wide:
        row += [pod_ip(pod) or NONE, pod.spec.node_name or NONE,
                pod.status.nominated_node_name or NONE, NONE]
    return row


# -- nodes -----------------------------------------------------------------------------

def node_status(node: v1.Node) -> str:
    status = []
    for cond in node.status.conditions:
        if cond.type == "Ready":
            status.append("Ready" if cond.status == "True" else "NotReady")
            break
    if not status:
        status.append("Unknown")
    if node.spec.unschedulable:
        status.append("SchedulingDisabled")
    return ",".join(status)


def node_roles(node: v1.Node) -> str:
    roles = set()
    for key, value in node.metadata.labels.items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def node_address(node: v1.Node, kind: str) -> str:
    for addr in node.status.addresses:
        if addr.type == kind:
            return addr.address
    return NONE


def parse_cpu(text: str) -> int:
    """Millicores in a CPU quantity; 0 for an empty or malformed one (printing never fails)."""
    try:
        return quantity.cpu_millis(text) if text.strip() else 0
    except ValueError:
        return 0


def parse_bytes(text: str) -> int:
    """Bytes in a memory quantity; 0 for an empty or malformed one."""
    try:
        return quantity.to_bytes(text) if text.strip() else 0
    except ValueError:
        return 0


format_cpu = quantity.format_cpu
format_bytes = quantity.format_bytes


def node_allocated(node: v1.Node, pods: Sequence[v1.Pod]) -> tuple[int, int]:
    """What the unfinished pods bound to `node` request, in (millicores, bytes)."""
    cpu = mem = 0
    for pod in pods:
        if pod.spec.node_name == node.metadata.name and \
                pod.status.phase not in TERMINAL_PHASES:
            requests = pod_requests(pod)
            cpu += requests["cpu"]
            mem += requests["memory"]
    return cpu, mem


def node_row(node: v1.Node, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    row = [node.metadata.name, node_status(node), node_roles(node),
           since(node.metadata.creation_timestamp, now),
           node.status.node_info.kubelet_version or ""]
    if wide:
        info = node.status.node_info
        cpu, mem = node_allocated(node, pods)
        alloc = node.status.allocatable or node.status.capacity
        row += [node_address(node, "InternalIP"), node_address(node, "ExternalIP"),
                info.os_image or "<unknown>", info.kernel_version or "<unknown>",
                info.container_runtime_version or "<unknown>",
                f"{format_cpu(cpu)}/{alloc.get('cpu', '0')}",
                f"{format_bytes(mem)}/{alloc.get('memory', '0')}"]
    return row


# -- the rest --------------------------------------------------------------------------

def event_object(ev: v1.Event) -> str:
    ref = ev.involved_object
    return f"{ref.kind.lower()}/{ref.name}"


def event_last_seen(ev: v1.Event) -> Timestamp:
    for ts in (ev.last_timestamp, ev.first_timestamp, ev.metadata.creation_timestamp):
        if ts_set(ts):
            return ts
    return ev.last_timestamp


def event_row(ev: v1.Event, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    row = [since(event_last_seen(ev), now), ev.type, ev.reason, event_object(ev)]
    if wide:
        source = ev.source.component or ev.reporting_component
        if ev.source.host:
            source = f"{source}, {ev.source.host}"
        row += [ev.involved_object.field_path, source]
    row.append(ev.message.strip())
    if wide:
        row += [since(ev.first_timestamp, now), str(ev.count or 1), ev.metadata.name]
    return row


def _workload_wide(spec: v1.ReplicaSetSpec | v1.DeploymentSpec | v1.JobSpec) -> list[str]:
    """CONTAINERS, IMAGES and SELECTOR, as kubectl's -o wide shows them for ReplicaSets and Deployments."""
    containers = spec.template.spec.containers
    return [",".join(c.name for c in containers) or NONE, ",".join(c.image for c in containers) or NONE,
            str(LabelSelector.from_api(spec.selector)) or NONE]


def replica_set_row(rs: v1.ReplicaSet, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    row = [rs.metadata.name, str(rs.spec.replicas), str(rs.status.replicas), str(rs.status.ready_replicas),
           since(rs.metadata.creation_timestamp, now)]
    return row + _workload_wide(rs.spec) if wide else row


def deployment_row(d: v1.Deployment, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    row = [d.metadata.name, f"{d.status.ready_replicas}/{d.spec.replicas}", str(d.status.updated_replicas),
           str(d.status.available_replicas), since(d.metadata.creation_timestamp, now)]
    return row + _workload_wide(d.spec) if wide else row


def job_status(job: v1.Job) -> str:
    """kubectl's Job STATUS: the terminal or suspended condition that holds, else Running."""
    if job.metadata.HasField("deletion_timestamp"):
        return "Terminating"
    held = {c.type for c in job.status.conditions if c.status == "True"}
    for condition in ("Complete", "Failed", "Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition in held:
            return condition
    return "Running"


def job_row(job: v1.Job, now: datetime, wide: bool, pods: Sequence[v1.Pod] = ()) -> list[str]:
    """NAME STATUS COMPLETIONS DURATION AGE, as kubectl's printJob."""
    spec, status = job.spec, job.status
    if spec.HasField("completions"):
        completions = f"{status.succeeded}/{spec.completions}"
    elif spec.parallelism > 1:
        completions = f"{status.succeeded}/1 of {spec.parallelism}"
    else:
        completions = f"{status.succeeded}/1"
    duration = ""
    if ts_set(status.start_time):
        start = status.start_time.ToDatetime(UTC).timestamp()
        end = status.completion_time.ToDatetime(UTC).timestamp() if ts_set(status.completion_time) else now.timestamp()
        duration = human_duration(end - start)
    row = [job.metadata.name, job_status(job), completions, duration, since(job.metadata.creation_timestamp, now)]
    return row + _workload_wide(spec) if wide else row


def table_headers(kind: Kind, wide: bool = False, with_namespace: bool = False,
                  show_labels: bool = False) -> list[str]:
    cols = kind.columns
    headers = list(cols.headers)
    if wide and cols.wide:
        headers = list(cols.wide) if cols.wide_replaces else headers + list(cols.wide)
    if with_namespace and kind.namespaced:
        headers.insert(0, "NAMESPACE")
    if show_labels:
        headers.append("LABELS")
    return headers


def table_row(kind: Kind, obj: Message, now: datetime, wide: bool = False, with_namespace: bool = False,
              pods: Sequence[v1.Pod] = (), show_labels: bool = False) -> list[str]:
    """`obj`'s row in its kind's table (`kind` is kind_of(obj))."""
    row = kind.columns.row(obj, now, wide, pods)
    if with_namespace and kind.namespaced:
        row.insert(0, obj.metadata.namespace)
    if show_labels:
        row.append(format_labels(obj.metadata.labels))
    return row


def print_table(objs: Sequence[Message], kind: Kind, now: datetime | None = None,
                wide: bool = False, with_namespace: bool = False, headers: bool = True,
                pods: Sequence[v1.Pod] = (), show_labels: bool = False) -> str:
    """The `get` table for `objs` (all of `kind`), as text ending in a newline.

    `show_labels` adds kubectl's --show-labels column, always the last one.
    """
    now = now or utcnow()
    rows = [table_row(kind, o, now, wide, with_namespace, pods, show_labels) for o in objs]
    return format_table(table_headers(kind, wide, with_namespace, show_labels) if headers else None,
                        rows)
