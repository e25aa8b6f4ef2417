"""Static stability in the compose lab: a control-plane or etcd outage stops no pod (issue #19).

Three outages, each against pods already Running on every node, used by
tests/lab/test_static_stability.py and `python -m bench chaos`:

- `controlplane-down`: the control plane stopped for `outage` s (30 s), then started;
- `etcd-down`: etcd stopped for `outage` s, then started;
- `controlplane-restart-partitioned`: the busiest node partitioned, then the
  control plane restarted while it is cut off, then healed once its pods run elsewhere.

Figures (the JSON of one scenario), from the engine's own event stream and the
API, over the whole scenario:
- `healthy_containers_stopped`: pod containers (any kind) that died on nodes
  that were not partitioned (must be 0);
- `healthy_restarts`: container restarts of their pods (restartCount, must be 0);
- `healthy_replacements`: their pods that got a new uid (must be 0);
- for the partitioned node: `fenced_before_replacement` (every old app
  container died before the first replacement container started),
  `fence_margin_s` (how long before), and `double_running` (InvariantChecker
  samples in which one pod name ran twice, must be 0);
- `held_nodes`: nodes whose Node says, in condition LeaseOutage, that they kept
  their pods running through the outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab.chaos import NODES, InvariantChecker, Lab, LabApi, busiest_node, node_containers_of, wait_until
from nodeagent.runtime.base import LABEL_MANAGED, LABEL_NODE, LABEL_POD_NAME, LABEL_POD_UID, LABEL_TYPE

SCENARIOS = ("controlplane-down", "etcd-down", "controlplane-restart-partitioned")
OUTAGE_S = 30.0
NODE_GRACE, POD_EVICTION_TIMEOUT = 4.0, 4.0  # the lab's control-plane defaults
RECOVERY_BOUND = 60.0


@dataclass
class ContainerEvent:
    at: float  # time.time()
    action: str  # "start" or "die"
    node: str
    pod: str  # name
    uid: str
    type: str  # app, init, sandbox


@dataclass
class Before:
    """What ran before the outage: pod name -> (uid, node, restarts)."""

    pods: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    @classmethod
    def take(cls, pods: dict[str, Any]) -> Before:
        out = cls()
        for key, p in pods.items():
            if p.status.phase == "Running":
                out.pods[key] = (p.metadata.uid, p.spec.node_name, _restarts(p))
        return out


def _restarts(pod: Any) -> int:
    return sum(c.restart_count for c in pod.status.container_statuses)


def container_events(lab: Lab, since: float, until: float) -> list[ContainerEvent]:
    """Starts and deaths of the lab nodes' pod containers between `since` and `until`."""
    out = []
    for e in lab.docker.events(since=int(since), until=int(until) + 1, decode=True, filters={
            "type": "container", "event": ["start", "die"], "label": f"{LABEL_MANAGED}=true"}):
        attrs = e.get("Actor", {}).get("Attributes", {})
        at = e.get("timeNano", 0) / 1e9
        if attrs.get(LABEL_NODE) not in NODES or not since <= at <= until:
            continue
        out.append(ContainerEvent(at, e.get("Action", e.get("status", "")), attrs[LABEL_NODE],
                                  attrs.get(LABEL_POD_NAME, ""), attrs.get(LABEL_POD_UID, ""),
                                  attrs.get(LABEL_TYPE, "")))
    return out


def held_nodes(api: LabApi) -> list[str]:
    """Nodes whose condition LeaseOutage says their pods kept running through the last outage."""
    from podlab.podutil import node_condition
    held = []
    for name, node in api.nodes().items():
        cond = node_condition(node, "LeaseOutage")
        if cond is not None and cond.reason == "PodsKeptRunning":
            held.append(name)
    return sorted(held)


def _api_answers(api: LabApi) -> bool:
    return api.pods() is not None


def run_outage(lab: Lab, api: LabApi, scenario: str, outage: float = OUTAGE_S,
               sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """One scenario against the pods Running now (spread over every node); its figures.

    Leaves the lab healed with every node Ready and every pod Running (replacements
    included), so the next scenario can reuse the pods."""
    now = api.pods()
    before = Before.take(now)
    partitioned: str | None = None
    with InvariantChecker() as checker:
        t0 = time.time()
        started = time.monotonic()
        if scenario in ("controlplane-down", "etcd-down"):
            (lab.stop_controlplane if scenario == "controlplane-down" else lab.stop_etcd)()
            sleep(outage)  # the outage itself, not a wait for a condition
            lab.restore()
        elif scenario == "controlplane-restart-partitioned":
            partitioned = busiest_node(now)
            lab.partition(partitioned)
            sleep(2.0)  # the partitioned agent is already failing when the control plane goes
            lab.restart_controlplane()
        else:
            raise ValueError(f"unknown outage scenario {scenario!r}")
        wait_until(lambda: _api_answers(api), RECOVERY_BOUND, 0.25, "the API to answer again")
        back = time.monotonic()
        victims = {k: uid for k, (uid, node, _) in before.pods.items() if node == partitioned}
        replaced_s = None
        if partitioned is not None:
            # The partitioned node's pods come back elsewhere; only then does it heal.
            def replaced() -> bool:
                pods = api.pods()
                return all(k in pods and pods[k].metadata.uid != uid
                           and pods[k].status.phase == "Running" for k, uid in victims.items())
            wait_until(replaced, NODE_GRACE + POD_EVICTION_TIMEOUT + RECOVERY_BOUND, 0.25,
                       f"the pods of partitioned {partitioned} Running elsewhere")
            replaced_s = round(time.monotonic() - started, 2)
            lab.heal(partitioned)
        wait_until(api.all_ready, RECOVERY_BOUND, 0.25, "every node Ready again")

        def running() -> bool:
            pods = api.pods()
            return all(k in pods and pods[k].status.phase == "Running" for k in before.pods)
        wait_until(running, RECOVERY_BOUND, 0.25, "every pod Running again")
        recovered_s = round(time.monotonic() - started, 2)
        if partitioned is not None:
            old = set(victims.values())
            wait_until(lambda: not node_containers_of(lab, partitioned, old), RECOVERY_BOUND, 0.25,
                       f"{partitioned} to remove the replaced pods' containers")
        # A wrong eviction of a healthy node would come within node grace + eviction timeout
        # of the controller seeing again: that window must pass before anything is counted.
        window = NODE_GRACE + POD_EVICTION_TIMEOUT + 1.0
        wait_until(lambda: time.monotonic() - back > window and api.all_ready(),
                   window + RECOVERY_BOUND, 0.5, "the eviction window after recovery to pass")
        t1 = time.time()
    after = api.pods()
    events = container_events(lab, t0, t1)
    healthy = [n for n in NODES if n != partitioned]
    healthy_pods = {k: v for k, v in before.pods.items() if v[1] in healthy}
    report: dict[str, Any] = {
        "scenario": scenario, "api_back_s": round(back - started, 2), "recovered_s": recovered_s,
        "pods": len(before.pods), "partitioned": partitioned,
        "healthy_containers_stopped": sum(1 for e in events if e.action == "die" and e.node in healthy),
        "healthy_restarts": sum(_restarts(after[k]) - r for k, (uid, _, r) in healthy_pods.items()
                                if k in after and after[k].metadata.uid == uid),
        "healthy_replacements": sum(1 for k, (uid, _, _) in healthy_pods.items()
                                    if k not in after or after[k].metadata.uid != uid),
        "double_running": checker.double_running(),
        "invariant_violations": len(checker.violations),
        "held_nodes": held_nodes(api),
        "lost_pods": sum(1 for k in before.pods if k not in after or after[k].status.phase != "Running"),
        "leftover_containers": 0,
    }
    if partitioned is not None:
        names = {k.split("/", 1)[1] for k in victims}
        old = set(victims.values())
        died = [e.at for e in events if e.action == "die" and e.uid in old and e.type == "app"]
        starts = [e.at for e in events if e.action == "start" and e.pod in names and e.uid not in old]
        fenced_at = max(died) if len(died) >= len(victims) else None
        first = min(starts) if starts else None
        report.update({
            "replaced_s": replaced_s,
            "victims": len(victims),
            "fenced_s": round(fenced_at - t0, 2) if fenced_at else None,
            "first_replacement_started_s": round(first - t0, 2) if first else None,
            "fenced_before_replacement": fenced_at is not None and first is not None and fenced_at < first,
            "fence_margin_s": round(first - fenced_at, 2) if fenced_at and first else None,
            "leftover_containers": len(node_containers_of(lab, partitioned, old)),
        })
    return report


def outage_violations(report: dict[str, Any]) -> list[str]:
    """What in a scenario's figures breaks the guarantee (empty: it held)."""
    bad = [f"{k}={report[k]}" for k in ("healthy_containers_stopped", "healthy_restarts",
                                         "healthy_replacements", "double_running", "lost_pods",
                                         "leftover_containers") if report[k]]
    if report["partitioned"] is not None and not report["fenced_before_replacement"]:
        bad.append(f"fenced_before_replacement=False (fenced {report['fenced_s']} s, first "
                   f"replacement started {report['first_replacement_started_s']} s)")
    return bad
