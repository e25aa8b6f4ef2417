"""Failover time: from powering off a node to every one of its pods Running elsewhere.

Runs against the compose lab (compose/lab.sh), not LocalCluster: the lab is
what users run, its agents are containers that `podlab chaos power-off` can
kill together with their pods, exactly as a lost machine would. The lab is
brought up when it is not up, and torn down afterwards only in that case.

Each repetition: six busybox pods spread over the three nodes, power off the
node running most of them, time power-off → every replacement Running, power
the node on, wait for Ready, wipe. Target: p99 ≤ node_grace +
pod_eviction_timeout + 2 s.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.stats import percentile, progress
from lab.chaos import (
    InvariantChecker,
    Lab,
    LabApi,
    busiest_node,
    spread_pods,
    wait_until,
    watch_failover,
    wipe_pods,
)

REPO = Path(__file__).resolve().parents[1]
NODE_GRACE, POD_EVICTION_TIMEOUT = 4.0, 4.0  # the lab's control-plane defaults
PODS = 6


def ensure_lab() -> tuple[Lab, bool]:
    """The lab, started when it is not up; and whether this call started it."""
    try:
        if Lab().is_up():
            return Lab(), False
    except Exception:  # noqa: BLE001, S110 - no engine yet: lab.sh up starts one
        pass
    progress("bringing the lab up (compose/lab.sh up)")
    subprocess.run(["bash", str(REPO / "compose" / "lab.sh"), "up"], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return Lab(), True


def teardown_lab(started: bool) -> None:
    if started:
        progress("tearing the lab down (compose/lab.sh down)")
        subprocess.run(["bash", str(REPO / "compose" / "lab.sh"), "down"], cwd=REPO,
                       stdout=subprocess.DEVNULL, check=False)


def reset(lab: Lab, api: LabApi) -> None:
    lab.restore()
    wait_until(api.all_ready, 90, 0.25, "every lab node Ready")
    wipe_pods(lab, api)


def one_failover(lab: Lab, api: LabApi, action: str = "power-off", prefix: str = "failover") -> Any:
    """Spread pods, lose the busiest node by `action`, time it, recover. Returns the Failover."""
    act = {"power-off": lab.power_off, "partition": lab.partition, "freeze": lab.freeze}[action]
    pods = spread_pods(api, PODS, prefix=prefix)
    node = busiest_node(pods)
    failover = watch_failover(api, node, action, lambda: act(node), pods,
                              timeout=NODE_GRACE + POD_EVICTION_TIMEOUT + 40)
    reset(lab, api)
    return failover


def run(quick: bool) -> dict[str, Any]:
    repetitions = 2 if quick else 10
    lab, started = ensure_lab()
    api = LabApi()
    results = []
    try:
        reset(lab, api)
        with InvariantChecker() as checker:
            for i in range(repetitions):
                f = one_failover(lab, api)
                results.append(f)
                progress(f"failover {i + 1}/{repetitions}: {f.as_dict()}")
    finally:
        try:
            reset(lab, api)
        finally:
            teardown_lab(started)
    running = [f.running for f in results if f.running is not None]
    timeouts = NODE_GRACE + POD_EVICTION_TIMEOUT
    p99 = percentile(running, 99)
    return {
        "setup": "compose lab (3 docker node agents), power-off = kill agent + its pod containers",
        "config": {"node_grace_s": NODE_GRACE, "pod_eviction_timeout_s": POD_EVICTION_TIMEOUT,
                   "heartbeat_s": 1.0, "fence_timeout_s": 6.0, "pods": PODS,
                   "repetitions": repetitions},
        "failover_p50_s": round(percentile(running, 50), 2),
        "failover_p99_s": round(p99, 2),
        "failover_max_s": round(max(running, default=0.0), 2),
        "not_ready_p50_s": round(percentile([f.not_ready for f in results if f.not_ready], 50), 2),
        "replaced_p50_s": round(percentile([f.replaced for f in results if f.replaced], 50), 2),
        "replaced_to_running_p50_s": round(percentile(
            [f.running - f.replaced for f in results if f.running and f.replaced], 50), 2),
        "timeouts_s": timeouts,
        "target_p99_s": timeouts + 2,
        "target_met": len(running) == repetitions and p99 <= timeouts + 2,
        "incomplete": repetitions - len(running),
        "invariant_violations": len(checker.violations),
        "runs": [f.as_dict() for f in results],
    }
