"""`podctl describe`: kubectl's describe layout for pods, nodes, ReplicaSets and Deployments.

Lines are built with tab-separated cells and laid out by `tabwrite`, which
aligns columns the way Go's text/tabwriter (padding 2) does for kubectl, so
the output lines up exactly as kubectl's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Value

from podlab import printers
from podlab.names import TERMINAL_PHASES
from podlab.podutil import pod_requests, qos_class
from podlab.printers import NONE, rfc1123, since, ts_set
from podlab.v1 import objects_pb2 as v1


def tabwrite(text: str, padding: int = 2) -> str:
    """Lay out tab-separated cells as Go's tabwriter does: a column block is a run of
    consecutive lines that have a cell in that column; each block is as wide as its
    widest cell plus `padding`."""
    lines = text.split("\n")
    cells = [line.split("\t") for line in lines]
    widths = [[0] * len(c) for c in cells]

    def layout(start: int, end: int, col: int) -> None:
        i = start
        while i < end:
            if len(cells[i]) - 1 > col:
                j = i
                while j < end and len(cells[j]) - 1 > col:
                    j += 1
                width = max(len(cells[k][col]) for k in range(i, j)) + padding
                for k in range(i, j):
                    widths[k][col] = width
                layout(i, j, col + 1)
                i = j
            else:
                i += 1

    layout(0, len(cells), 0)
    out = []
    for row, row_widths in zip(cells, widths, strict=True):
        out.append("".join(c.ljust(w) for c, w in zip(row[:-1], row_widths[:-1], strict=True))
                   + row[-1])
    return "\n".join(out)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def multiline(self, level: int, title: str, values: Sequence[str]) -> None:
        if not values:
            self.write(level, f"{title}:\t{NONE}")
            return
        self.write(level, f"{title}:\t{values[0]}")
        for value in values[1:]:
            self.write(level, f"\t{value}")

    def text(self) -> str:
        return tabwrite("\n".join(self.lines)) + "\n"


def _map_lines(data: Mapping[str, str]) -> list[str]:
    return [f"{k}={data[k]}" for k in sorted(data)]


def _port_text(value: Value) -> str:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return str(int(value.number_value))
    if kind == "string_value":
        return value.string_value
    return ""


def probe_text(p: v1.Probe) -> str:
    if p.HasField("http_get"):
        h = p.http_get
        scheme = (h.scheme or "HTTP").lower()
        action = f"http-get {scheme}://{h.host}:{_port_text(h.port)}{h.path}"
    elif p.HasField("tcp_socket"):
        action = f"tcp-socket {p.tcp_socket.host}:{_port_text(p.tcp_socket.port)}"
    elif p.HasField("grpc"):
        action = f"grpc <pod>:{p.grpc.port} {p.grpc.service if p.grpc.HasField('service') else ''}"
    elif p.HasField("exec"):
        action = "exec [" + " ".join(p.exec.command) + "]"
    else:
        action = "unknown"
    return (f"{action} delay={p.initial_delay_seconds}s timeout={p.timeout_seconds or 1}s "
            f"period={p.period_seconds or 10}s #success={p.success_threshold or 1} "
            f"#failure={p.failure_threshold or 3}")


def _state(w: _Writer, title: str, state: v1.ContainerState) -> None:
    if state.HasField("running"):
        w.write(2, f"{title}:\tRunning")
        w.write(3, f"Started:\t{rfc1123(state.running.started_at)}")
    elif state.HasField("waiting"):
        w.write(2, f"{title}:\tWaiting")
        w.write(3, f"Reason:\t{state.waiting.reason}")
        if state.waiting.message:
            w.write(3, f"Message:\t{state.waiting.message}")
    elif state.HasField("terminated"):
        t = state.terminated
        w.write(2, f"{title}:\tTerminated")
        w.write(3, f"Reason:\t{t.reason}")
        if t.message:
            w.write(3, f"Message:\t{t.message}")
        w.write(3, f"Exit Code:\t{t.exit_code}")
        if t.signal:
            w.write(3, f"Signal:\t{t.signal}")
        w.write(3, f"Started:\t{rfc1123(t.started_at)}")
        w.write(3, f"Finished:\t{rfc1123(t.finished_at)}")
    else:
        w.write(2, f"{title}:\tWaiting")


def _env_value(e: v1.EnvVar) -> str:
    if not e.HasField("value_from"):
        return e.value
    src = e.value_from
    if src.HasField("field_ref"):
        return f"({src.field_ref.api_version or 'v1'}:{src.field_ref.field_path})"
    if src.HasField("resource_field_ref"):
        r = src.resource_field_ref
        return f"{r.resource} ({r.container_name})"
    if src.HasField("config_map_key_ref"):
        r = src.config_map_key_ref
        return f"<set to the key '{r.key}' of config map '{r.name}'>"
    if src.HasField("secret_key_ref"):
        r = src.secret_key_ref
        return f"<set to the key '{r.key}' in secret '{r.name}'>"
    return ""


def _container(w: _Writer, c: v1.Container, status: v1.ContainerStatus | None, template: bool = False) -> None:
    w.write(1, f"{' ' if template else ''}{c.name}:")
    if status is not None:
        w.write(2, f"Container ID:\t{status.container_id}")
    w.write(2, f"Image:\t{c.image}")
    if status is not None:
        w.write(2, f"Image ID:\t{status.image_id}")
    ports = [f"{p.container_port}/{p.protocol or 'TCP'}" for p in c.ports]
    host_ports = [f"{p.host_port}/{p.protocol or 'TCP'}" for p in c.ports]
    w.write(2, f"Port:\t{', '.join(ports) or NONE}")
    w.write(2, f"Host Port:\t{', '.join(host_ports) or NONE}")
    for title, items in (("Command", c.command), ("Args", c.args)):
        if items:
            w.write(2, f"{title}:")
            for item in items:
                w.write(3, item)
    if status is not None:
        _state(w, "State", status.state)
        if status.last_state.HasField("terminated"):
            _state(w, "Last State", status.last_state)
        w.write(2, f"Ready:\t{'True' if status.ready else 'False'}")
        w.write(2, f"Restart Count:\t{status.restart_count}")
    for title, resources in (("Limits", c.resources.limits), ("Requests", c.resources.requests)):
        if resources:
            w.write(2, f"{title}:")
            for key in sorted(resources):
                w.write(3, f"{key}:\t{resources[key]}")
    for title, field in (("Liveness", "liveness_probe"), ("Readiness", "readiness_probe"),
                         ("Startup", "startup_probe")):
        if c.HasField(field):
            w.write(2, f"{title}:\t{probe_text(getattr(c, field))}")
    if c.env_from:
        w.write(2, "Environment Variables from:")
        for src in c.env_from:
            if src.HasField("config_map_ref"):
                w.write(3, f"{src.config_map_ref.name}\tConfigMap\tOptional: "
                           f"{str(src.config_map_ref.optional).lower()}")
            if src.HasField("secret_ref"):
                w.write(3, f"{src.secret_ref.name}\tSecret\tOptional: "
                           f"{str(src.secret_ref.optional).lower()}")
    if c.env:
        w.write(2, "Environment:")
        for e in c.env:
            w.write(3, f"{e.name}:\t{_env_value(e)}")
    else:
        w.write(2, f"Environment:\t{NONE}")
    if c.volume_mounts:
        w.write(2, "Mounts:")
        for m in c.volume_mounts:
            mode = "ro" if m.read_only else "rw"
            sub = f",path=\"{m.sub_path}\"" if m.sub_path else ""
            w.write(3, f"{m.mount_path} from {m.name} ({mode}{sub})")
    else:
        w.write(2, f"Mounts:\t{NONE}")


def _volume(w: _Writer, vol: v1.Volume) -> None:
    w.write(1, f"{vol.name}:")
    if vol.HasField("empty_dir"):
        w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
        w.write(2, f"Medium:\t{vol.empty_dir.medium}")
        w.write(2, f"SizeLimit:\t{vol.empty_dir.size_limit or '<unset>'}")
    elif vol.HasField("host_path"):
        w.write(2, "Type:\tHostPath (bare host directory volume)")
        w.write(2, f"Path:\t{vol.host_path.path}")
        w.write(2, f"HostPathType:\t{vol.host_path.type}")
    elif vol.HasField("config_map"):
        w.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)")
        w.write(2, f"Name:\t{vol.config_map.name}")
        w.write(2, f"Optional:\t{str(vol.config_map.optional).lower()}")
    elif vol.HasField("secret"):
        w.write(2, "Type:\tSecret (a volume populated by a Secret)")
        w.write(2, f"SecretName:\t{vol.secret.secret_name}")
        w.write(2, f"Optional:\t{str(vol.secret.optional).lower()}")
    elif vol.HasField("downward_api"):
        w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)")
        w.write(2, "Items:")
        for item in vol.downward_api.items:
            source = item.field_ref.field_path or item.resource_field_ref.resource
            w.write(3, f"{source} -> {item.path}")
    elif vol.HasField("projected"):
        w.write(2, "Type:\tProjected (a volume that contains injected data from multiple "
                   "sources)")
    else:
        w.write(2, "Type:\t<unknown>")


def _toleration(t: v1.Toleration) -> str:
    text = t.key
    if t.value:
        text += f"={t.value}"
    if t.effect:
        text += f":{t.effect}"
    if t.operator == "Exists" and not t.value:
        text += " op=Exists"
    if t.HasField("toleration_seconds"):
        text += f" for {t.toleration_seconds}s"
    return text or "op=Exists"


def _events(w: _Writer, events: Sequence[v1.Event], now: datetime) -> None:
    if not events:
        w.write(0, f"Events:\t{NONE}")
        return
    w.write(0, "Events:")
    w.write(1, "Type\tReason\tAge\tFrom\tMessage")
    w.write(1, "----\t------\t----\t----\t-------")
    for ev in sorted(events, key=lambda e: printers.event_last_seen(e).ToNanoseconds()):
        age = since(printers.event_last_seen(ev), now)
        if ev.count > 1 and ts_set(ev.first_timestamp):
            age = f"{age} (x{ev.count} over {since(ev.first_timestamp, now)})"
        source = ev.source.component or ev.reporting_component
        if ev.source.host:
            source = f"{source}, {ev.source.host}"
        w.write(1, f"{ev.type}\t{ev.reason}\t{age}\t{source}\t{ev.message.strip()}")


def describe_pod(pod: v1.Pod, events: Sequence[v1.Event] = (), now: datetime | None = None) -> str:
    """`kubectl describe pod` for `pod` and the events about it."""
    now = now or printers.utcnow()
    meta, spec, status = pod.metadata, pod.spec, pod.status
    w = _Writer()
    w.write(0, f"Name:\t{meta.name}")
    w.write(0, f"Namespace:\t{meta.namespace}")
    w.write(0, f"Priority:\t{spec.priority if spec.HasField('priority') else 0}")
    if spec.priority_class_name:
        w.write(0, f"Priority Class Name:\t{spec.priority_class_name}")
    w.write(0, f"Service Account:\t{spec.service_account_name or 'default'}")
    node = spec.node_name or NONE
    if spec.node_name and status.host_ip:
        node = f"{spec.node_name}/{status.host_ip}"
    w.write(0, f"Node:\t{node}")
    if ts_set(status.start_time):
        w.write(0, f"Start Time:\t{rfc1123(status.start_time)}")
    w.multiline(0, "Labels", _map_lines(meta.labels))
    w.multiline(0, "Annotations", [f"{k}: {meta.annotations[k]}" for k in sorted(meta.annotations)])
    if ts_set(meta.deletion_timestamp):
        w.write(0, f"Status:\tTerminating (lasts {since(meta.deletion_timestamp, now)})")
        grace = meta.deletion_grace_period_seconds
        w.write(0, f"Termination Grace Period:\t{grace}s")
    else:
        w.write(0, f"Status:\t{status.phase}")
    if status.reason:
        w.write(0, f"Reason:\t{status.reason}")
    if status.message:
        w.write(0, f"Message:\t{status.message}")
    ip = printers.pod_ip(pod)
    w.write(0, f"IP:\t{ip}")
    ips = [p.ip for p in status.pod_ips] or ([ip] if ip else [])
    if ips:
        w.write(0, "IPs:")
        for addr in ips:
            w.write(1, f"IP:\t{addr}")
    else:
        w.write(0, f"IPs:\t{NONE}")
    for title, containers, statuses in (
            ("Init Containers", spec.init_containers, status.init_container_statuses),
            ("Containers", spec.containers, status.container_statuses)):
        if not containers and title == "Init Containers":
            continue
        w.write(0, f"{title}:")
        by_name = {s.name: s for s in statuses}
        for c in containers:
            _container(w, c, by_name.get(c.name))
    if status.conditions:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus")
        for cond in status.conditions:
            w.write(1, f"{cond.type} \t{cond.status} ")
    if spec.volumes:
        w.write(0, "Volumes:")
        for vol in spec.volumes:
            _volume(w, vol)
    else:
        w.write(0, f"Volumes:\t{NONE}")
    w.write(0, f"QoS Class:\t{status.qos_class or qos_class(pod)}")
    w.multiline(0, "Node-Selectors", _map_lines(spec.node_selector))
    w.multiline(0, "Tolerations", [_toleration(t) for t in spec.tolerations])
    _events(w, events, now)
    return w.text()


def describe_node(node: v1.Node, pods: Sequence[v1.Pod] = (), events: Sequence[v1.Event] = (),
                  now: datetime | None = None) -> str:
    """`kubectl describe node` for `node`, the pods on it and the events about it."""
    now = now or printers.utcnow()
    meta, spec, status = node.metadata, node.spec, node.status
    w = _Writer()
    w.write(0, f"Name:\t{meta.name}")
    roles = printers.node_roles(node)
    w.write(0, f"Roles:\t{roles}")
    w.multiline(0, "Labels", _map_lines(meta.labels))
    w.multiline(0, "Annotations", [f"{k}: {meta.annotations[k]}" for k in sorted(meta.annotations)])
    w.write(0, f"CreationTimestamp:\t{rfc1123(meta.creation_timestamp)}")
    taints = [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"
              for t in spec.taints]
    w.multiline(0, "Taints", taints)
    w.write(0, f"Unschedulable:\t{'true' if spec.unschedulable else 'false'}")
    w.write(0, "Conditions:")
    w.write(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
    w.write(1, "----\t------\t-----------------\t------------------\t------\t-------")
    for c in status.conditions:
        w.write(1, f"{c.type} \t{c.status} \t{rfc1123(c.last_heartbeat_time)} \t"
                   f"{rfc1123(c.last_transition_time)} \t{c.reason} \t{c.message}")
    w.write(0, "Addresses:")
    for addr in status.addresses:
        w.write(1, f"{addr.type}:\t{addr.address}")
    for title, resources in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        w.write(0, f"{title}:")
        for key in sorted(resources):
            w.write(1, f"{key}:\t{resources[key]}")
    info = status.node_info
    w.write(0, "System Info:")
    for title, value in (("Machine ID", info.machine_id), ("Kernel Version", info.kernel_version),
                         ("OS Image", info.os_image), ("Operating System", info.operating_system),
                         ("Architecture", info.architecture),
                         ("Container Runtime Version", info.container_runtime_version),
                         ("Kubelet Version", info.kubelet_version)):
        w.write(1, f"{title}:\t{value}")
    if status.agent_endpoint:
        w.write(0, f"Agent Endpoint:\t{status.agent_endpoint}")
    on_node = [p for p in pods if p.spec.node_name == meta.name
               and p.status.phase not in TERMINAL_PHASES]
    w.write(0, f"Non-terminated Pods:\t({len(on_node)} in total)")
    w.write(1, "Namespace\tName\tCPU Requests\tMemory Requests\tAge")
    w.write(1, "---------\t----\t------------\t---------------\t---")
    for pod in on_node:
        requests = pod_requests(pod)
        w.write(1, f"{pod.metadata.namespace}\t{pod.metadata.name}\t{printers.format_cpu(requests['cpu'])}\t"
                   f"{printers.format_bytes(requests['memory'])}\t{since(pod.metadata.creation_timestamp, now)}")
    cpu, mem = printers.node_allocated(node, pods)
    alloc = status.allocatable or status.capacity
    w.write(0, "Allocated resources:")
    w.write(1, "Resource\tRequests")
    w.write(1, "--------\t--------")
    w.write(1, f"cpu\t{printers.format_cpu(cpu)}{_percent(cpu, alloc.get('cpu'), True)}")
    w.write(1, f"memory\t{printers.format_bytes(mem)}{_percent(mem, alloc.get('memory'), False)}")
    _events(w, events, now)
    return w.text()


def _percent(used: int, total: str | None, cpu: bool) -> str:
    if not total:
        return ""
    whole = printers.parse_cpu(total) if cpu else printers.parse_bytes(total)
    return f" ({used * 100 // whole}%)" if whole else ""


__all__ = ["describe_node", "describe_pod", "probe_text", "tabwrite"]


# -- workloads ----------------------------------------------------------------------------------

def _pod_template(w: _Writer, template: v1.PodTemplateSpec) -> None:
    """kubectl's DescribePodTemplate: the template's labels, containers, volumes and placement."""
    spec = template.spec
    w.write(0, "Pod Template:")
    w.multiline(1, "Labels", _map_lines(template.metadata.labels))
    if template.metadata.annotations:
        w.multiline(1, "Annotations", [f"{k}: {template.metadata.annotations[k]}"
                                       for k in sorted(template.metadata.annotations)])
    if spec.service_account_name:
        w.write(1, f"Service Account:\t{spec.service_account_name}")
    for title, containers in (("Init Containers", spec.init_containers), ("Containers", spec.containers)):
        if not containers and title == "Init Containers":
            continue
        w.write(1, f"{title}:")
        for c in containers:
            _container(w, c, None, template=True)
    if spec.volumes:
        w.write(1, "Volumes:")
        for vol in spec.volumes:
            _volume(w, vol)
    else:
        w.write(1, f"Volumes:\t{NONE}")
    if spec.priority_class_name:
        w.write(1, f"Priority Class Name:\t{spec.priority_class_name}")
    w.multiline(1, "Node-Selectors", _map_lines(spec.node_selector))
    w.multiline(1, "Tolerations", [_toleration(t) for t in spec.tolerations])


def _selector_text(selector: v1.LabelSelector) -> str:
    parts = [f"{k}={selector.match_labels[k]}" for k in sorted(selector.match_labels)]
    for e in selector.match_expressions:
        values = ",".join(e.values)
        parts.append({"In": f"{e.key} in ({values})", "NotIn": f"{e.key} notin ({values})",
                      "Exists": e.key, "DoesNotExist": f"!{e.key}"}.get(e.operator, e.key))
    return ",".join(parts)


def _header(w: _Writer, meta: v1.ObjectMeta) -> None:
    w.write(0, f"Name:\t{meta.name}")
    w.write(0, f"Namespace:\t{meta.namespace}")


def _annotations(meta: v1.ObjectMeta) -> list[str]:
    return [f"{k}: {meta.annotations[k]}" for k in sorted(meta.annotations)]


def _int_or_percent(value: Value) -> str:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return str(int(value.number_value))
    return value.string_value if kind == "string_value" else "25%"


def describe_replica_set(rs: v1.ReplicaSet, pods: Sequence[v1.Pod] = (), events: Sequence[v1.Event] = (),
                         now: datetime | None = None) -> str:
    """`kubectl describe replicaset`: `pods` are the ones it controls."""
    now = now or printers.utcnow()
    meta = rs.metadata
    w = _Writer()
    _header(w, meta)
    w.write(0, f"Selector:\t{_selector_text(rs.spec.selector)}")
    w.multiline(0, "Labels", _map_lines(meta.labels))
    w.multiline(0, "Annotations", _annotations(meta))
    owner = next((r for r in meta.owner_references if r.controller), None)
    if owner is not None:
        w.write(0, f"Controlled By:\t{owner.kind}/{owner.name}")
    w.write(0, f"Replicas:\t{rs.status.replicas} current / {rs.spec.replicas} desired")
    phases = [p.status.phase for p in pods if not p.metadata.HasField("deletion_timestamp")]
    w.write(0, f"Pods Status:\t{phases.count('Running')} Running / {phases.count('Pending')} Waiting / "
               f"{phases.count('Succeeded')} Succeeded / {phases.count('Failed')} Failed")
    _pod_template(w, rs.spec.template)
    if rs.status.conditions:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus\tReason")
        w.write(1, "----\t------\t------")
        for c in rs.status.conditions:
            w.write(1, f"{c.type} \t{c.status}\t{c.reason}")
    _events(w, events, now)
    return w.text()


def describe_deployment(d: v1.Deployment, new: v1.ReplicaSet | None = None, old: Sequence[v1.ReplicaSet] = (),
                        events: Sequence[v1.Event] = (), now: datetime | None = None) -> str:
    """`kubectl describe deployment`: `new` is its ReplicaSet of the current template, `old` the others
    that still have pods (kubectl lists those)."""
    now = now or printers.utcnow()
    meta, spec, status = d.metadata, d.spec, d.status
    w = _Writer()
    _header(w, meta)
    w.write(0, f"CreationTimestamp:\t{rfc1123(meta.creation_timestamp)}")
    w.multiline(0, "Labels", _map_lines(meta.labels))
    w.multiline(0, "Annotations", _annotations(meta))
    w.write(0, f"Selector:\t{_selector_text(spec.selector)}")
    w.write(0, f"Replicas:\t{spec.replicas} desired | {status.updated_replicas} updated | {status.replicas} total | "
               f"{status.available_replicas} available | {status.unavailable_replicas} unavailable")
    strategy = spec.strategy.type or "RollingUpdate"
    w.write(0, f"StrategyType:\t{strategy}")
    w.write(0, f"MinReadySeconds:\t{spec.min_ready_seconds}")
    if strategy == "RollingUpdate":
        ru = spec.strategy.rolling_update
        w.write(0, f"RollingUpdateStrategy:\t{_int_or_percent(ru.max_unavailable)} max unavailable, "
                   f"{_int_or_percent(ru.max_surge)} max surge")
    _pod_template(w, spec.template)
    if status.conditions:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus\tReason")
        w.write(1, "----\t------\t------")
        for c in status.conditions:
            w.write(1, f"{c.type} \t{c.status}\t{c.reason}")

    def sets_text(sets: Sequence[v1.ReplicaSet]) -> str:
        return ", ".join(f"{rs.metadata.name} ({rs.status.replicas}/{rs.spec.replicas} replicas created)"
                         for rs in sets) or NONE

    w.write(0, f"OldReplicaSets:\t{sets_text(old)}")
    w.write(0, f"NewReplicaSet:\t{sets_text([new] if new is not None else [])}")
    _events(w, events, now)
    return w.text()


def describe_generic(obj: Message, events: Sequence[v1.Event] = (), now: datetime | None = None) -> str:
    """kubectl's generic describer, for a kind with none of its own: metadata, then the events."""
    now = now or printers.utcnow()
    meta: v1.ObjectMeta = obj.metadata
    w = _Writer()
    _header(w, meta)
    w.multiline(0, "Labels", _map_lines(meta.labels))
    w.multiline(0, "Annotations", _annotations(meta))
    _events(w, events, now)
    return w.text()
