"""PodStatus from what the runtime holds: container statuses, conditions, phase."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from nodeagent.plan import TERMINAL, Plan, by_name
from nodeagent.probes import ProbeManager
from nodeagent.runtime.base import EXITED, RUNNING, ContainerInfo
from podlab.podutil import qos_class, set_condition
from podlab.v1 import objects_pb2 as v1


@dataclass
class StatusInputs:
    """Everything the status depends on besides the pod and its containers."""

    phase: str
    plan: Plan
    pod_ip: str
    host_ip: str
    now: float
    # container name -> (waiting reason, message): image pull / config / mount problems
    blocked: dict[str, tuple[str, str]] = field(default_factory=dict)
    reason: str = ""
    message: str = ""
    # container id -> its termination message (exited containers that have one)
    messages: dict[str, str] = field(default_factory=dict)


def ts_from_epoch(epoch: float) -> Timestamp:
    """A Timestamp for a runtime's epoch seconds; unset (zero) for 0, "never"."""
    ts = Timestamp()
    if epoch > 0:
        ts.FromMilliseconds(int(epoch * 1000))
    return ts


def _terminated(info: ContainerInfo, state: v1.ContainerState, inputs: StatusInputs) -> None:
    t = state.terminated
    t.message = inputs.messages.get(info.id, "")
    t.exit_code = info.exit_code
    t.reason = ("OOMKilled" if info.oom_killed else "Completed" if info.exit_code == 0
                else "Error")
    t.started_at.CopyFrom(ts_from_epoch(info.started_at))
    t.finished_at.CopyFrom(ts_from_epoch(info.finished_at))
    t.container_id = f"docker://{info.id}"
    if info.exit_code > 128:
        t.signal = info.exit_code - 128


def container_status(pod: v1.Pod, c: v1.Container, attempts: list[ContainerInfo],
                     inputs: StatusInputs, probes: ProbeManager, is_init: bool) -> v1.ContainerStatus:
    cs = v1.ContainerStatus(name=c.name, image=c.image)
    latest = attempts[0] if attempts else None
    previous = next((a for a in attempts[1:] if a.state == EXITED), None)
    uid = pod.metadata.uid
    cs.started = False
    if latest is None or latest.state not in (RUNNING, EXITED):
        reason, message = inputs.blocked.get(c.name, ("", ""))
        if not reason:
            reason = "PodInitializing" if (is_init or not inputs.plan.initialized) else "ContainerCreating"
            if not is_init and inputs.plan.initialized:
                reason = "ContainerCreating"
        cs.state.waiting.reason, cs.state.waiting.message = reason, message
        if latest is not None:
            cs.restart_count = latest.attempt
        if previous is not None:
            _terminated(previous, cs.last_state, inputs)
        return cs
    cs.container_id = f"docker://{latest.id}"
    cs.image_id = latest.image_id
    cs.restart_count = latest.attempt
    if latest.state == RUNNING:
        cs.state.running.started_at.CopyFrom(ts_from_epoch(latest.started_at))
        started = probes.started(uid, c.name, latest.id)
        cs.started = started is not False
        ready = probes.readiness(uid, c.name, latest.id)
        cs.ready = cs.started and (ready is None or ready)
        if is_init and c.restart_policy != "Always":
            cs.ready = False
        if previous is not None:
            _terminated(previous, cs.last_state, inputs)
        return cs
    # exited
    ready_at = inputs.plan.backing_off.get(c.name)
    if ready_at is not None and inputs.phase not in TERMINAL:
        delay = max(0, round(ready_at - latest.finished_at))
        cs.state.waiting.reason = "CrashLoopBackOff"
        cs.state.waiting.message = (f"back-off {delay}s restarting failed container={c.name} "
                                    f"pod={pod.metadata.name}_{pod.metadata.namespace}({uid})")
        _terminated(latest, cs.last_state, inputs)
    else:
        _terminated(latest, cs.state, inputs)
        if previous is not None:
            _terminated(previous, cs.last_state, inputs)
        if is_init and latest.exit_code == 0:
            cs.ready = True
    return cs


def build_status(pod: v1.Pod, containers: list[ContainerInfo], inputs: StatusInputs,
                 probes: ProbeManager) -> v1.PodStatus:
    """The pod's status; conditions keep their lastTransitionTime from `pod.status`."""
    status = v1.PodStatus()
    status.CopyFrom(pod.status)
    del status.init_container_statuses[:]
    del status.container_statuses[:]
    status.phase = inputs.phase
    status.host_ip = inputs.host_ip
    status.pod_ip = inputs.pod_ip
    del status.pod_ips[:]
    if inputs.pod_ip:
        status.pod_ips.add(ip=inputs.pod_ip)
    if not status.HasField("start_time"):
        status.start_time.CopyFrom(ts_from_epoch(inputs.now))
    status.qos_class = qos_class(pod)
    status.reason, status.message = inputs.reason, inputs.message
    attempts = by_name(containers)
    for c in pod.spec.init_containers:
        status.init_container_statuses.append(
            container_status(pod, c, attempts.get(c.name, []), inputs, probes, True))
    for c in pod.spec.containers:
        status.container_statuses.append(
            container_status(pod, c, attempts.get(c.name, []), inputs, probes, False))
    terminal = inputs.phase in TERMINAL
    set_condition(status, "PodScheduled", True)
    if inputs.plan.initialized or terminal and not inputs.plan.init_failed:
        set_condition(status, "Initialized", True)
    else:
        pending = [s.name for s in status.init_container_statuses
                   if not (s.state.HasField("terminated") and s.state.terminated.exit_code == 0)
                   and not (s.state.HasField("running") and s.started)]
        set_condition(status, "Initialized", False, "ContainersNotInitialized",
                      f"containers with incomplete status: [{' '.join(pending)}]")
    unready = [s.name for s in status.container_statuses if not s.ready]
    if terminal:
        set_condition(status, "ContainersReady", False, "PodCompleted")
        set_condition(status, "Ready", False, "PodCompleted")
    elif unready:
        msg = f"containers with unready status: [{' '.join(unready)}]"
        set_condition(status, "ContainersReady", False, "ContainersNotReady", msg)
        set_condition(status, "Ready", False, "ContainersNotReady", msg)
    else:
        set_condition(status, "ContainersReady", True)
        set_condition(status, "Ready", True)
    return status
