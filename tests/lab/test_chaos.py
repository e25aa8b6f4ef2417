"""Chaos against the 3-node compose lab: node loss, partitions, control-plane restarts.

Every scenario runs under the InvariantChecker (no pod name with running app
containers of two UIDs or on two nodes in any 200 ms sample), and spreads six
`sleep 3600` pods (restartPolicy Always) plus one `echo done` pod
(restartPolicy Never) that must never be replaced.
"""

from __future__ import annotations

import os
import random
import threading
import time

from lab.chaos import (
    NODES,
    InvariantChecker,
    Lab,
    LabApi,
    busiest_node,
    node_containers_of,
    pod_manifest,
    spread_pods,
    wait_until,
    watch_failover,
)
from tests.lab.conftest import podctl

NODE_GRACE, POD_EVICTION_TIMEOUT = 4.0, 4.0
BOUND = 20.0  # scheduling + container start on a busy 2-core machine
PODS = 6


def _assert_no_overlap(checker: InvariantChecker) -> None:
    assert checker.samples > 0, f"the invariant checker never sampled: {checker.errors}"
    assert not checker.violations, "a pod ran twice at once:\n" + "\n".join(
        str(v) for v in checker.violations[:20])


def _assert_replaced_elsewhere(failover, node: str) -> None:
    assert failover.running is not None, f"replacements not all Running: {failover.as_dict()}"
    assert failover.running <= NODE_GRACE + POD_EVICTION_TIMEOUT + BOUND, failover.as_dict()
    assert failover.not_ready is not None and failover.not_ready <= NODE_GRACE + 3, failover.as_dict()
    for pod, (uid, where) in failover.new.items():
        assert uid != failover.pods[pod], f"{pod} kept its uid"
        assert where != node, f"{pod} came back on the lost node {node}"
    assert not failover.finished_replaced, f"finished pods were replaced: {failover.finished_replaced}"


def _stale_gone(lab: Lab, node: str, uids: set[str], timeout: float = 30) -> None:
    wait_until(lambda: not node_containers_of(lab, node, uids), timeout, 0.25,
               f"{node} to remove the containers of replaced uids "
               f"(left: {node_containers_of(lab, node, uids)})")


def test_power_off_node_replaces_its_pods_elsewhere_with_new_uids(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    lab = scenario
    pods = spread_pods(api, PODS)
    node = busiest_node(pods)
    failover = watch_failover(api, node, "power-off", lambda: lab.power_off(node), pods,
                              timeout=NODE_GRACE + POD_EVICTION_TIMEOUT + BOUND + 5)
    print("power-off failover:", failover.as_dict())
    _assert_replaced_elsewhere(failover, node)

    lab.power_on(node)
    wait_until(lambda: api.node_ready(node), 60, 0.25, f"{node} to rejoin Ready")
    _stale_gone(lab, node, set(failover.pods.values()))
    _assert_no_overlap(checker)


def test_partitioned_node_fences_its_pods_before_replacements_run(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    lab = scenario
    pods = spread_pods(api, PODS)
    node = busiest_node(pods)
    failover = watch_failover(api, node, "partition", lambda: lab.partition(node), pods,
                              timeout=NODE_GRACE + POD_EVICTION_TIMEOUT + BOUND + 5)
    print("partition failover:", failover.as_dict())
    _assert_replaced_elsewhere(failover, node)
    # Fenced: the old containers stopped even though the agent never heard of the replacement.
    old = set(failover.pods.values())
    running_old = [c.name for c in lab.pod_containers(node, all=False)
                   if c.labels.get("io.podlab.pod.uid") in old]
    assert not running_old, f"the partitioned agent did not fence: {running_old}"

    lab.heal(node)
    wait_until(lambda: api.node_ready(node), 60, 0.25, f"{node} to be Ready after heal")
    _stale_gone(lab, node, old)
    _assert_no_overlap(checker)


def test_frozen_agent_overlap_is_recorded_and_ends_after_thaw(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    """A paused agent cannot fence: its pods run on while replacements start.

    This is the known limit of self-fencing (a hung kubelet in Kubernetes does
    the same); the test records the overlap and proves it ends after thaw.
    """
    lab = scenario
    pods = spread_pods(api, PODS)
    node = busiest_node(pods)
    failover = watch_failover(api, node, "freeze", lambda: lab.freeze(node), pods,
                              timeout=NODE_GRACE + POD_EVICTION_TIMEOUT + BOUND + 5)
    print("freeze failover:", failover.as_dict())
    _assert_replaced_elsewhere(failover, node)
    lab.thaw(node)
    thawed = time.monotonic()
    _stale_gone(lab, node, set(failover.pods.values()))
    cleaned = time.monotonic() - thawed
    wait_until(lambda: api.node_ready(node), 60, 0.25, f"{node} Ready after thaw")
    overlapping = sorted({v.pod for v in checker.violations})
    print(f"freeze: overlap {checker.overlap_seconds()} s over pods {overlapping}; "
          f"old containers removed {cleaned:.1f} s after thaw")
    # Whatever overlapped was only the frozen node's old copies, now gone.
    assert set(overlapping) <= set(failover.pods), overlapping


def _create_retrying(api: LabApi, manifest: dict, deadline: float) -> None:
    """Create, retrying through an outage; AlreadyExists means an earlier try landed."""
    from podlab import errors
    while True:
        try:
            api.create(manifest)
            return
        except errors.AlreadyExists:
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _create_in_background(api: LabApi, names: list[str], spacing: float) -> threading.Thread:
    failures: list[BaseException] = []

    def work() -> None:
        deadline = time.monotonic() + 90
        for name in names:
            try:
                _create_retrying(api, pod_manifest(name), deadline)
            except BaseException as err:  # noqa: BLE001 - reported by the test
                failures.append(err)
            time.sleep(spacing)
    thread = threading.Thread(target=work, name="pod-creator")
    thread.failures = failures
    thread.start()
    return thread


def _all_running(api: LabApi, names: list[str]) -> bool:
    pods = api.pods()
    return all(pods.get(f"default/{n}") is not None and pods[f"default/{n}"].status.phase == "Running"
               for n in names)


def test_controlplane_restart_under_load_loses_no_pod(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    lab = scenario
    names = [f"load-{i}" for i in range(8)]
    creator = _create_in_background(api, names, spacing=0.5)
    time.sleep(1.0)  # let some creations land before the restart (load, not a wait)
    lab.restart_controlplane()
    # While it comes back podctl either answers or says so in one clear line.
    out = podctl("get", "pods")
    assert out.returncode == 0 or "Unable to connect to the server" in out.stderr + out.stdout, out
    wait_until(lambda: podctl("get", "pods").returncode == 0, 60, 0.5, "podctl to answer again")
    creator.join(120)
    assert not creator.failures, creator.failures
    wait_until(lambda: _all_running(api, names), 60, 0.25, "every pod created during the restart Running")
    _assert_no_overlap(checker)


def test_scheduler_leader_kill_under_load_hands_over_and_binds_once(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    lab = scenario
    leader = lab.scheduler_leader()
    names = [f"sched-{i}" for i in range(10)]
    bindings: dict[str, set[str]] = {}
    stop = threading.Event()

    def observe() -> None:
        # Every (uid -> node) ever seen: a pod bound twice would show two nodes.
        while not stop.is_set():
            try:
                for p in api.pods().values():
                    if p.spec.node_name:
                        bindings.setdefault(p.metadata.uid, set()).add(p.spec.node_name)
            except Exception:  # noqa: BLE001, S110 - the next poll retries
                pass
            stop.wait(0.1)
    observer = threading.Thread(target=observe, name="binding-observer")
    observer.start()
    try:
        creator = _create_in_background(api, names, spacing=0.3)
        time.sleep(0.9)
        killed_at = time.monotonic()
        assert lab.kill_scheduler_leader() == leader
        new_leader = wait_until(lambda: (h := lab.scheduler_leader()) != leader and h, 15, 0.2,
                                "a standby scheduler to take the lease")
        print(f"scheduler leader {leader} killed; {new_leader} leads after "
              f"{time.monotonic() - killed_at:.1f} s")
        creator.join(60)
        assert not creator.failures, creator.failures
        wait_until(lambda: _all_running(api, names), 60, 0.25, "every pod bound and Running")
    finally:
        stop.set()
        observer.join(5)
    assert all(len(nodes) == 1 for nodes in bindings.values()), bindings
    events, _ = api.call(lambda c: c.list("Event", "default"))
    scheduled: dict[str, int] = {}
    for e in events:
        if e.reason == "Scheduled":
            scheduled[e.involved_object.uid] = scheduled.get(e.involved_object.uid, 0) + max(e.count, 1)
    pods = api.pods()
    for name in names:
        uid = pods[f"default/{name}"].metadata.uid
        assert scheduled.get(uid, 0) <= 1, f"{name} was bound {scheduled[uid]} times"
    _assert_no_overlap(checker)


def test_etcd_restart_loses_and_corrupts_no_object(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    lab = scenario
    spread_pods(api, PODS)

    def snapshot() -> dict[str, tuple[str, bytes, str]]:
        return {k: (p.metadata.uid, p.spec.SerializeToString(deterministic=True), p.spec.node_name)
                for k, p in api.pods().items()}
    before = snapshot()
    nodes_before = set(api.nodes())
    lab.restart_etcd()
    after = wait_until(lambda: snapshot(), 60, 0.5, "the API to answer after the etcd restart")
    assert after == before
    assert set(api.nodes()) == nodes_before
    wait_until(lambda: api.all_ready(), 60, 0.25, "every node Ready after the etcd restart")
    names = [k.split("/", 1)[1] for k in before if not k.endswith("-done")]
    wait_until(lambda: _all_running(api, names), 30, 0.25, "every pod still Running")
    assert snapshot() == before
    _assert_no_overlap(checker)


# -- a seeded random sequence ------------------------------------------------------------------

def _recover(lab: Lab, api: LabApi, names: list[str]) -> None:
    lab.restore()
    wait_until(lambda: api.all_ready(), 90, 0.25, "every node Ready")
    wait_until(lambda: _all_running(api, names), NODE_GRACE + POD_EVICTION_TIMEOUT + 60, 0.25,
               "every pod Running again")


ACTIONS = ("power-off", "partition", "restart-controlplane", "kill-scheduler-leader", "restart-etcd")


def test_seeded_random_chaos_sequence_keeps_every_pod_running_once(
        scenario: Lab, api: LabApi, checker: InvariantChecker) -> None:
    """PODLAB_CHAOS_SEED replays a sequence; PODLAB_CHAOS_SECONDS sets its length (default 50)."""
    lab = scenario
    seed = int(os.environ.get("PODLAB_CHAOS_SEED") or random.randrange(1_000_000))
    print(f"chaos seed: {seed} (replay with PODLAB_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    duration = float(os.environ.get("PODLAB_CHAOS_SECONDS", "50"))
    pods = spread_pods(api, PODS, finished=False)
    names = [k.split("/", 1)[1] for k in pods]
    started, steps = time.monotonic(), []
    while time.monotonic() - started < duration:
        action, node = rng.choice(ACTIONS), rng.choice(NODES)
        hold = rng.uniform(0.5, 12.0)  # how long the fault lasts: below and above fencing
        steps.append(f"{action} {node} {hold:.1f}s")
        print(f"seed {seed} step {len(steps)}: {steps[-1]}")
        if action == "power-off":
            lab.power_off(node)
        elif action == "partition":
            lab.partition(node)
        elif action == "restart-controlplane":
            lab.restart_controlplane()
        elif action == "kill-scheduler-leader":
            lab.kill_scheduler_leader()
        else:
            lab.restart_etcd()
        time.sleep(hold)  # the fault's duration (not a wait for a condition); the checker samples
        _recover(lab, api, names)
        assert not checker.violations, (f"seed {seed}, after steps {steps}: "
                                        + "; ".join(str(v) for v in checker.violations[:10]))
    print(f"seed {seed}: {len(steps)} steps, {checker.samples} samples, no pod ran twice")
    _assert_no_overlap(checker)
