"""The chaos report: a sequence of faults against the compose lab, timed and checked.

Node faults (power-off, partition, freeze) are timed node lost → NotReady →
replaced → scheduled → Running; control-plane faults (restart-controlplane,
kill-scheduler-leader, restart-etcd) are timed until the API answers / a
standby leads / every node is Ready again. The InvariantChecker counts, per
scenario and in total, three figures that must all be 0: `double_running`
(samples in which one pod name ran twice; a frozen agent's pods are stopped by
the node's fence watchdog), `lost_pods` (pods not Running again within the
bound) and `leftover_containers` (containers of replaced or deleted pods still
on a node after it rejoined). Writes
bench/out/chaos-report.json and bench/out/chaos-timeline.png (one power-off
failover: per pod, the old copy and its replacement, with the milestones).

The static-stability outages (lab.outages: control plane stopped 30 s, etcd
stopped 30 s, control plane restarted while a node is partitioned) run on one
set of pods, and count `healthy_containers_stopped`, `healthy_restarts` and
`healthy_replacements` (all must be 0) and, for the partitioned node,
`fenced_before_replacement`. `--quick` leaves them out, and runs one node
fault (power-off) and one control-plane fault: the lab tier runs the same code
for every scenario (tests/lab/test_chaos.py, test_static_stability.py) in the
same CI run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.failover import NODE_GRACE, POD_EVICTION_TIMEOUT, ensure_lab, reset, teardown_lab
from bench.stats import progress
from lab.chaos import (
    NODES,
    InvariantChecker,
    Lab,
    LabApi,
    busiest_node,
    node_containers_of,
    spread_pods,
    wait_until,
    watch_failover,
)
from lab.outages import SCENARIOS as OUTAGES
from lab.outages import outage_violations, run_outage
from nodeagent.runtime.base import LABEL_POD_UID

OUT = Path(__file__).resolve().parent / "out"
PODS = 6
RECOVERY_BOUND = 60.0  # seconds for pods to run again / stale containers to go, after recovery
FIGURES = ("double_running", "lost_pods", "leftover_containers")


def not_running(api: LabApi, names: list[str], timeout: float = RECOVERY_BOUND) -> list[str]:
    """Of the pods `names` (namespace/name), those not Running (any uid) within `timeout`."""
    def missing() -> list[str]:
        try:
            pods = api.pods()
        except Exception:  # noqa: BLE001 - the API may still be coming back
            return names
        return [n for n in names if n not in pods or pods[n].status.phase != "Running"]
    try:
        wait_until(lambda: not missing(), timeout, 0.25, "the pods Running")
    except TimeoutError:
        pass
    return missing()


def stale_containers(lab: Lab, api: LabApi, timeout: float = RECOVERY_BOUND) -> list[str]:
    """Pod containers (any state) on the lab's nodes whose pod uid no pod has any more,
    still there after `timeout`."""
    def stale() -> list[str]:
        uids = {p.metadata.uid for p in api.pods().values()}
        return [f"{n}:{c.name}:{c.status}" for n in NODES for c in lab.pod_containers(n)
                if c.labels.get(LABEL_POD_UID) not in uids]
    try:
        wait_until(lambda: not stale(), timeout, 0.5, "stale containers removed")
    except TimeoutError:
        pass
    return stale()


def node_fault(lab: Lab, api: LabApi, action: str) -> tuple[dict[str, Any], Any, InvariantChecker]:
    act = {"power-off": lab.power_off, "partition": lab.partition, "freeze": lab.freeze}[action]
    with InvariantChecker() as checker:  # from before the pods start: the timeline shows them
        pods = spread_pods(api, PODS, prefix=action)
        node = busiest_node(pods)
        failover = watch_failover(api, node, action, lambda: act(node), pods,
                                  timeout=NODE_GRACE + POD_EVICTION_TIMEOUT + 40)
        recovered = time.monotonic()
        lab.restore()  # power-on / heal / thaw
        wait_until(lambda: api.node_ready(node), 90, 0.25, f"{node} Ready again")
        rejoin = round(time.monotonic() - recovered, 2)
        # The old copies must go from the returning node before the checker stops.
        old = set(failover.pods.values())
        try:
            wait_until(lambda: not node_containers_of(lab, node, old), RECOVERY_BOUND, 0.25,
                       "old copies removed")
        except TimeoutError:
            pass
        leftover = node_containers_of(lab, node, old)
    unfinished = [k for k, p in pods.items() if p.status.phase == "Running"]
    lost = [k for k in failover.pods if k not in failover.new]  # not replaced and Running in time
    lost += [k for k in not_running(api, unfinished) if k not in lost]
    report = {"scenario": action, **failover.as_dict(), "rejoin_ready_s": rejoin,
              "double_running": checker.double_running(), "lost_pods": len(lost),
              "leftover_containers": len(leftover), "lost": lost, "leftovers": leftover,
              "invariant_violations": len(checker.violations),
              "overlap_s": checker.overlap_seconds()}
    return report, failover, checker


def control_fault(lab: Lab, api: LabApi, action: str) -> dict[str, Any]:
    pods = spread_pods(api, PODS, prefix=action, finished=False)
    with InvariantChecker() as checker:
        t0 = time.monotonic()
        if action == "kill-scheduler-leader":
            old = lab.kill_scheduler_leader()
            new = wait_until(lambda: (h := lab.scheduler_leader()) != old and h, 30, 0.1,
                             "a new scheduler leader")
            extra: dict[str, Any] = {"old_leader": old, "new_leader": new}
        else:
            (lab.restart_controlplane if action == "restart-controlplane" else lab.restart_etcd)()
            extra = {}
        wait_until(lambda: api.pods() is not None, 60, 0.1, "the API to answer")
        answered = round(time.monotonic() - t0, 2)
        # A probe pod proves the whole path (API → scheduler → agent) works again.
        api.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{action}-probe"},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                        {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}})
        wait_until(lambda: api.pods()[f"default/{action}-probe"].status.phase == "Running", 60, 0.2,
                   "a new pod Running")
        working = round(time.monotonic() - t0, 2)
        wait_until(api.all_ready, 60, 0.25, "every node Ready")
        lost = not_running(api, [*pods, f"default/{action}-probe"])
        leftover = stale_containers(lab, api)
    return {"scenario": action, "api_answers_s": answered, "new_pod_running_s": working,
            **extra, "double_running": checker.double_running(), "lost_pods": len(lost),
            "leftover_containers": len(leftover), "lost": lost, "leftovers": leftover,
            "invariant_violations": len(checker.violations)}


def draw_timeline(failover: Any, checker: InvariantChecker, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = failover.started_at
    pods = sorted(failover.pods)
    fig, ax = plt.subplots(figsize=(10, 2.0 + 0.6 * len(pods)))
    for row, pod in enumerate(pods):
        for (uid, node), (first, last) in checker.seen.get(pod, {}).items():
            old = uid == failover.pods[pod]
            start, end = max(first - t0, -3.0), last - t0
            ax.barh(row, end - start, left=start, height=0.5,
                    color="#d9534f" if old else "#5cb85c", alpha=0.85)
            # Old copies are short bars ending at the loss: label them on their left.
            ax.text(start - 0.1 if old else start + 0.1, row, f"{node} {uid[:8]}", va="center",
                    fontsize=8, ha="right" if old else "left", color="#a94442" if old else "white")
    marks = [("node lost", 0.0, "black"), ("NotReady", failover.not_ready, "#f0ad4e"),
             ("replaced", failover.replaced, "#5bc0de"), ("Running", failover.running, "#5cb85c")]
    for label, at, color in marks:
        if at is not None:
            ax.axvline(at, color=color, linestyle="--", linewidth=1.2)
            ax.text(at, len(pods) - 0.35, f"{label}\n{at:.1f}s", color=color, fontsize=8,
                    ha="center", va="bottom")
    ax.axvspan(NODE_GRACE + POD_EVICTION_TIMEOUT, NODE_GRACE + POD_EVICTION_TIMEOUT + 2,
               color="grey", alpha=0.12, label="target: timeouts + 2 s")
    ax.set_yticks(range(len(pods)), [p.split("/", 1)[1] for p in pods])
    ax.set_ylim(-0.6, len(pods) + 0.6)
    ax.set_xlabel(f"seconds after {failover.action} {failover.node}")
    ax.set_title(f"podlab failover: {failover.action} {failover.node} — old copies (red), "
                 f"replacements (green), sampled every {checker.interval:.1f} s", fontsize=10)
    ax.set_xlim(-3.0, max(failover.running or 0.0, NODE_GRACE + POD_EVICTION_TIMEOUT + 2) + 3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(quick: bool) -> dict[str, Any]:
    # --quick (CI's smoke) runs one fault of each sort; the lab tier runs every scenario in the same CI run.
    node_faults = ["power-off"] if quick else ["power-off", "partition", "freeze"]  # freeze: the watchdog fences
    control_faults = ["kill-scheduler-leader"] if quick else [
        "restart-controlplane", "kill-scheduler-leader", "restart-etcd"]
    lab, started = ensure_lab()
    api = LabApi()
    scenarios: list[dict[str, Any]] = []
    timeline = OUT / "chaos-timeline.png"
    try:
        for action in node_faults:
            reset(lab, api)
            report, failover, checker = node_fault(lab, api, action)
            progress(f"chaos {action}: {report}")
            scenarios.append(report)
            if action == "power-off":
                draw_timeline(failover, checker, timeline)
        for action in control_faults:
            reset(lab, api)
            report = control_fault(lab, api, action)
            progress(f"chaos {action}: {report}")
            scenarios.append(report)
        for i, action in enumerate([] if quick else OUTAGES):
            if i == 0:  # one set of pods for every outage: each leaves them all Running
                reset(lab, api)
                spread_pods(api, PODS, prefix="steady", finished=False)
            report = run_outage(lab, api, action)
            report["violations"] = outage_violations(report)
            progress(f"chaos {action}: {report}")
            scenarios.append(report)
    finally:
        try:
            reset(lab, api)
        finally:
            teardown_lab(started)
    report = {"config": {"node_grace_s": NODE_GRACE, "pod_eviction_timeout_s": POD_EVICTION_TIMEOUT,
                         "fence_timeout_s": 6.0, "pods": PODS, "recovery_bound_s": RECOVERY_BOUND},
              "scenarios": scenarios,
              **{f: sum(s[f] for s in scenarios) for f in FIGURES},
              "invariant_violations": sum(s["invariant_violations"] for s in scenarios),
              "static_stability_violations": sum(len(s.get("violations", ())) for s in scenarios),
              "freeze_overlap_s": next((s["overlap_s"] for s in scenarios
                                        if s["scenario"] == "freeze"), None),
              "timeline_png": str(timeline)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "chaos-report.json").write_text(json.dumps(report, indent=2))
    return report
