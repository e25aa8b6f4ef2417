"""`podlab chaos`: break the compose lab on purpose, and watch that it heals safely.

    podlab chaos power-off node2        # the agent AND its pods die, no goodbye
    podlab chaos power-on node2         # the agent starts again (its pods do not)
    podlab chaos partition node2        # agent cut from the control plane; pods keep running
    podlab chaos heal node2
    podlab chaos freeze node2 / thaw node2     # docker pause / unpause the agent
    podlab chaos restart-controlplane | kill-scheduler-leader | restart-etcd
    podlab chaos stop-controlplane | stop-etcd      # down until `restore`
    podlab chaos restore                # undo everything: start, unpause, reconnect

Every action prints one line, `2026-11-23T10:00:00.123Z power-off node2`, and
exits non-zero with a one-line error for a bad node name or a lab that is not
up. The same actions are a Python API (`Lab`), used by tests/lab and the
failover/chaos benchmarks, together with `InvariantChecker`, which proves that
no pod ever runs twice at once.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from lab._cli import CONTEXT, Group
from nodeagent.runtime.base import (
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_TYPE,
)

PROJECT = "podlab"
NODES = ("node1", "node2", "node3")
CONTROL_NETWORK = f"{PROJECT}_control"
SERVER = "127.0.0.1:7443"
SCHEDULER_LEASE = ("podlab-scheduler", "kube-system")

# Pod containers carry the agent's labels; the lab's own services carry compose's.
L_SERVICE, L_PROJECT = "com.docker.compose.service", "com.docker.compose.project"

T = TypeVar("T")


class LabError(Exception):
    """An action cannot run: bad node name, lab not up, Docker not reachable."""


def timestamp() -> str:
    """UTC now as 2026-11-23T10:00:00.123Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def api_call(fn: Callable[[Any], Coroutine[Any, Any, T]], server: str = SERVER,
             timeout: float = 5.0) -> T:
    """Run `fn(client)` on a fresh podlab Client from synchronous code (tests, benchmarks)."""
    from podlab.client import Client

    async def main() -> T:
        async with Client(server, timeout=timeout) as client:
            return await fn(client)
    return asyncio.run(main())


class Lab:
    """The compose lab's containers, seen through the Docker SDK."""

    def __init__(self, server: str = SERVER, echo: Callable[[str], None] | None = None) -> None:
        import docker  # late: `podlab up --runtime sim` and the CLI's help need no engine SDK
        try:
            self.docker = docker.from_env(timeout=30)
            self.docker.ping()
        except Exception as err:  # noqa: BLE001 - any failure here means "no engine"
            raise LabError(f"cannot reach the Docker engine: {err}") from None
        self.server = server
        self.echo = echo or (lambda line: None)

    # -- finding things ------------------------------------------------------------

    def _containers(self, all: bool = True, **filters: Any) -> list[Any]:
        """docker's containers.list, which inspects each container it lists: one removed in
        between (an agent cleaning up, say) makes it fail with NotFound, so list again."""
        import docker

        for _ in range(10):
            try:
                return self.docker.containers.list(all=all, filters=filters)
            except docker.errors.NotFound:
                continue
        return self.docker.containers.list(all=all, filters=filters)

    def service(self, name: str) -> Any:
        """The container of compose service `name`; LabError when the lab does not have it."""
        found = self._containers(label=[f"{L_PROJECT}={PROJECT}", f"{L_SERVICE}={name}"])
        if not found:
            raise LabError(f"the lab is not up: no container for service {name!r} "
                           f"(start it with compose/lab.sh up)")
        return found[0]

    def services(self) -> list[str]:
        containers = self._containers(label=f"{L_PROJECT}={PROJECT}")
        return sorted({c.labels.get(L_SERVICE, "") for c in containers} - {""})

    def node(self, name: str) -> Any:
        if name not in NODES:
            raise LabError(f"unknown node {name!r}: the lab's nodes are {', '.join(NODES)}")
        return self.service(name)

    def pod_containers(self, node: str, all: bool = True) -> list[Any]:
        """Every pod container (sandbox, init, app) the agent of `node` made."""
        return self._containers(all=all, label=[f"{LABEL_MANAGED}=true", f"{LABEL_NODE}={node}"])

    def is_up(self) -> bool:
        try:
            return all(self.service(s).status == "running"
                       for s in ("etcd", "controlplane", "scheduler", *NODES))
        except LabError:
            return False

    def _done(self, action: str) -> None:
        self.echo(f"{timestamp()} {action}")

    # -- the actions ------------------------------------------------------------------

    def power_off(self, node: str) -> None:
        """Kill the agent and every pod container of `node` at once (SIGKILL, no clean-up)."""
        import docker

        agent = self.node(node)
        pods = self.pod_containers(node, all=False)
        for container in [agent, *pods]:
            try:
                container.kill()
            except docker.errors.NotFound:
                pass  # gone since the list: the agent removed it before it died
            except docker.errors.APIError as err:
                if "is not running" not in str(err):  # already dead is fine
                    raise
        self._done(f"power-off {node}")

    def power_on(self, node: str) -> None:
        agent = self.node(node)
        agent.reload()
        if agent.status == "paused":
            agent.unpause()
        agent.start()
        self._done(f"power-on {node}")

    def partition(self, node: str) -> None:
        """Cut the agent off the control network: no heartbeat, no watch; its pods keep running."""
        agent = self.node(node)
        network = self._control_network()
        agent.reload()
        if network.name in agent.attrs["NetworkSettings"]["Networks"]:
            network.disconnect(agent, force=True)
        self._done(f"partition {node}")

    def heal(self, node: str) -> None:
        agent = self.node(node)
        network = self._control_network()
        agent.reload()
        if network.name not in agent.attrs["NetworkSettings"]["Networks"]:
            # The service name is the alias the control plane dials for logs/exec.
            network.connect(agent, aliases=[node])
        self._done(f"heal {node}")

    def freeze(self, node: str) -> None:
        agent = self.node(node)
        agent.reload()
        if agent.status != "paused":
            agent.pause()
        self._done(f"freeze {node}")

    def thaw(self, node: str) -> None:
        agent = self.node(node)
        agent.reload()
        if agent.status == "paused":
            agent.unpause()
        self._done(f"thaw {node}")

    def restart_controlplane(self) -> None:
        self.service("controlplane").restart(timeout=5)
        self._done("restart-controlplane")

    def restart_etcd(self) -> None:
        self.service("etcd").restart(timeout=5)
        self._done("restart-etcd")

    def stop_controlplane(self) -> None:
        """Stop the API server and controllers (SIGTERM, then SIGKILL after 5 s); `restore` starts it."""
        self.service("controlplane").stop(timeout=5)
        self._done("stop-controlplane")

    def stop_etcd(self) -> None:
        self.service("etcd").stop(timeout=5)
        self._done("stop-etcd")

    def scheduler_leader(self) -> str:
        """The compose service whose scheduler holds the Lease (identity = service name)."""
        name, namespace = SCHEDULER_LEASE
        try:
            lease = api_call(lambda c: c.get("Lease", name, namespace), self.server)
        except Exception as err:  # noqa: BLE001 - an unreachable API is a lab that is not up
            raise LabError(f"cannot read Lease {namespace}/{name} from {self.server}: {err}") from None
        holder = lease.spec.holder_identity
        if holder not in self.services():
            raise LabError(f"scheduler leader {holder!r} is not a lab service "
                           f"(give each scheduler --identity=<its service name>)")
        return str(holder)

    def kill_scheduler_leader(self) -> str:
        leader = self.scheduler_leader()
        self.service(leader).kill()
        self._done(f"kill-scheduler-leader {leader}")
        return leader

    def restore(self) -> None:
        """Undo every action: unpause, reconnect and start whatever is down."""
        for name in self.services():
            container = self.service(name)
            container.reload()
            if container.status == "paused":
                container.unpause()
            elif container.status != "running":
                container.start()
            if name in NODES:
                self.heal(name)
        self._done("restore")

    def _control_network(self) -> Any:
        try:
            return self.docker.networks.get(CONTROL_NETWORK)
        except Exception:  # noqa: BLE001
            raise LabError(f"the lab is not up: no network {CONTROL_NETWORK}") from None


# -- the invariant: no pod runs twice at once -------------------------------------------

@dataclass
class Violation:
    at: float  # time.time()
    pod: str  # namespace/name
    copies: list[tuple[str, str]]  # (uid, node)

    def __str__(self) -> str:
        copies = ", ".join(f"uid {uid[:8]} on {node}" for uid, node in self.copies)
        return f"{datetime.fromtimestamp(self.at, UTC):%H:%M:%S.%f} {self.pod}: {copies}"


@dataclass
class InvariantChecker:
    """Samples running app containers every `interval` s in a background thread.

    A violation is one sample in which one pod name has running app containers
    of two UIDs or on two nodes. Only the lab's nodes are looked at (e2e agents
    may share the engine).
    """

    interval: float = 0.2
    nodes: tuple[str, ...] = NODES
    violations: list[Violation] = field(default_factory=list)
    samples: int = 0
    # pod -> {(uid, node): (first seen, last seen)} for timelines
    seen: dict[str, dict[tuple[str, str], list[float]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        import docker
        self._docker = docker.from_env(timeout=10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podlab-invariant-checker", daemon=True)

    def start(self) -> InvariantChecker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._docker.close()

    def __enter__(self) -> InvariantChecker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sample(self) -> dict[str, set[tuple[str, str]]]:
        """pod -> {(uid, node)} of its RUNNING app containers, now."""
        running: dict[str, set[tuple[str, str]]] = {}
        containers = self._docker.api.containers(filters={
            "status": "running", "label": [f"{LABEL_MANAGED}=true", f"{LABEL_TYPE}=app"]})
        for c in containers:
            labels = c.get("Labels") or {}
            node = labels.get(LABEL_NODE, "")
            if node not in self.nodes:
                continue
            pod = f"{labels.get(LABEL_POD_NAMESPACE, '')}/{labels.get(LABEL_POD_NAME, '')}"
            running.setdefault(pod, set()).add((labels.get(LABEL_POD_UID, ""), node))
        return running

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                running = self.sample()
            except Exception as err:  # noqa: BLE001 - the engine may hiccup; say so, keep going
                self.errors.append(f"{timestamp()} {err}")
            else:
                self.samples += 1
                for pod, copies in running.items():
                    times = self.seen.setdefault(pod, {})
                    for copy in copies:
                        times.setdefault(copy, [started, started])[1] = started
                    if len({uid for uid, _ in copies}) > 1 or len({n for _, n in copies}) > 1:
                        self.violations.append(Violation(started, pod, sorted(copies)))
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def double_running(self) -> int:
        """Samples in which some pod name ran twice."""
        return len({v.at for v in self.violations})

    def overlap_seconds(self) -> float:
        """How long, in total, some pod ran twice (sample-resolution)."""
        stamps = sorted({v.at for v in self.violations})
        return round(len(stamps) * self.interval, 1)


# -- scenario helpers (tests/lab, bench/failover, bench/chaos) -------------------------------

def pod_manifest(name: str, command: tuple[str, ...] = ("sleep", "3600"), restart_policy: str = "Always",
                 labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A small busybox pod; the cpu request and shared label make the scheduler spread them."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {"app": "chaos"}},
            "spec": {"restartPolicy": restart_policy, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "busybox", "command": list(command),
                                     "resources": {"requests": {"cpu": "100m", "memory": "16Mi"}}}]}}


class LabApi:
    """Synchronous views of the lab's API objects for tests and benchmarks."""

    def __init__(self, server: str = SERVER) -> None:
        self.server = server

    def call(self, fn: Callable[[Any], Coroutine[Any, Any, T]], timeout: float = 5.0) -> T:
        return api_call(fn, self.server, timeout)

    def pods(self) -> dict[str, Any]:
        """namespace/name -> Pod, every namespace."""
        items, _ = self.call(lambda c: c.list("Pod"))
        return {f"{p.metadata.namespace}/{p.metadata.name}": p for p in items}

    def nodes(self) -> dict[str, Any]:
        items, _ = self.call(lambda c: c.list("Node"))
        return {n.metadata.name: n for n in items}

    def node_ready(self, name: str) -> bool:
        from podlab.podutil import is_node_ready
        node = self.nodes().get(name)
        return node is not None and is_node_ready(node)

    def all_ready(self, names: tuple[str, ...] = NODES) -> bool:
        from podlab.podutil import is_node_ready
        nodes = self.nodes()
        return all(n in nodes and is_node_ready(nodes[n]) for n in names)

    def create(self, manifest: dict[str, Any]) -> Any:
        from podlab.kinds import kind_named
        from podlab.manifest import from_dict
        obj = from_dict(manifest, kind_named(manifest["kind"]))
        return self.call(lambda c: c.create(obj))

    def delete_all_pods(self) -> None:
        """Delete every pod at once (grace 0: the object goes, the agents remove the containers)."""
        async def delete(c: Any) -> None:
            from podlab import errors
            items, _ = await c.list("Pod")
            for p in items:
                try:
                    await c.delete("Pod", p.metadata.name, p.metadata.namespace, grace_period_seconds=0)
                except errors.NotFound:
                    pass
        self.call(delete, timeout=10)


def wait_until(predicate: Callable[[], T | None], timeout: float, interval: float = 0.1,
               message: str = "condition") -> T:
    """Poll `predicate` until truthy; TimeoutError after `timeout` s (exceptions count as false)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - e.g. the API is restarting
            last = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}"
                       + (f" (last error: {last})" if last else ""))


def wipe_pods(lab: Lab, api: LabApi, timeout: float = 60.0) -> list[str]:
    """Delete every pod and wait until no pod container of a lab node is left.

    Returns the names of containers the agents did not remove in time (force-removed
    here so the next scenario starts clean); the caller decides whether that fails.
    """
    def delete_all() -> bool:
        api.delete_all_pods()
        return True

    wait_until(delete_all, 30, 0.5, "the API to delete pods")
    leftovers: list[str] = []
    try:
        wait_until(lambda: not api.pods() and not any(lab.pod_containers(n) for n in NODES),
                   timeout, 0.25, "every pod and pod container to be gone")
    except TimeoutError:
        for node in NODES:
            for c in lab.pod_containers(node):
                leftovers.append(f"{node}:{c.name}:{c.status}:{c.labels.get(LABEL_POD_NAME)}")
                c.remove(force=True)
        api.delete_all_pods()
    return leftovers


def spread_pods(api: LabApi, count: int, prefix: str = "chaos", timeout: float = 60.0,
                finished: bool = True) -> dict[str, Any]:
    """`count` sleeping pods (+ one that runs to completion) Running/Succeeded; name -> Pod."""
    names = [f"{prefix}-{i}" for i in range(count)]
    for name in names:
        api.create(pod_manifest(name))
    if finished:
        api.create(pod_manifest(f"{prefix}-done", ("echo", "done"), "Never"))

    def settled() -> dict[str, Any] | None:
        pods = api.pods()
        ok = all(pods.get(f"default/{n}") is not None and pods[f"default/{n}"].status.phase == "Running"
                 for n in names)
        done = pods.get(f"default/{prefix}-done")
        if finished and (done is None or done.status.phase != "Succeeded"):
            return None
        return pods if ok else None
    return wait_until(settled, timeout, 0.2, f"{count} pods Running")


def busiest_node(pods: dict[str, Any], nodes: tuple[str, ...] = NODES) -> str:
    """The lab node running the most unfinished pods."""
    from podlab.podutil import is_terminal
    counts = {n: 0 for n in nodes}
    for p in pods.values():
        if p.spec.node_name in counts and not is_terminal(p):
            counts[p.spec.node_name] += 1
    return max(counts, key=lambda n: counts[n])


@dataclass
class Failover:
    """Timings of one node loss, seconds after the action (None: never happened)."""

    node: str
    action: str
    pods: dict[str, str]  # namespace/name -> old uid of the unfinished pods that were on the node
    not_ready: float | None = None
    replaced: float | None = None  # every old pod object replaced by a new uid
    scheduled: float | None = None  # every replacement bound to a node
    running: float | None = None  # every replacement Running
    new: dict[str, tuple[str, str]] = field(default_factory=dict)  # pod -> (new uid, node)
    finished_replaced: list[str] = field(default_factory=list)  # finished pods that got a new uid
    started_at: float = 0.0  # time.time() of the action

    def as_dict(self) -> dict[str, Any]:
        return {"node": self.node, "action": self.action, "pods": len(self.pods),
                "not_ready_s": self.not_ready, "replaced_s": self.replaced,
                "scheduled_s": self.scheduled, "running_s": self.running,
                "finished_pods_replaced": self.finished_replaced}


def watch_failover(api: LabApi, node: str, action: str, act: Callable[[], object],
                   before: dict[str, Any], timeout: float = 40.0) -> Failover:
    """Run `act` (which loses `node`) and time NotReady → replaced → scheduled → Running.

    `before` is api.pods() taken just before. Returns when every replacement is
    Running or after `timeout` s (the unset timings say what did not happen).
    """
    from podlab.podutil import is_node_ready, is_terminal
    victims = {k: p.metadata.uid for k, p in before.items()
               if p.spec.node_name == node and not is_terminal(p)}
    finished = {k: p.metadata.uid for k, p in before.items() if is_terminal(p)}
    result = Failover(node, action, victims)
    result.started_at = time.time()
    t0 = time.monotonic()
    act()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        now = round(time.monotonic() - t0, 2)
        try:
            nodes, pods = api.nodes(), api.pods()
        except Exception:  # noqa: BLE001 - the API may be the thing being restarted
            time.sleep(0.1)
            continue
        if result.not_ready is None and node in nodes and not is_node_ready(nodes[node]):
            result.not_ready = now
        fresh = {k: pods[k] for k in victims
                 if k in pods and pods[k].metadata.uid != victims[k]}
        if result.replaced is None and len(fresh) == len(victims):
            result.replaced = now
        if result.scheduled is None and len(fresh) == len(victims) and \
                all(p.spec.node_name for p in fresh.values()):
            result.scheduled = now
        if result.running is None and len(fresh) == len(victims) and \
                all(p.status.phase == "Running" for p in fresh.values()):
            result.running = now
            result.new = {k: (p.metadata.uid, p.spec.node_name) for k, p in fresh.items()}
        result.finished_replaced = [k for k, uid in finished.items()
                                    if k not in pods or pods[k].metadata.uid != uid]
        if result.running is not None:
            break
        time.sleep(0.1)
    return result


def node_containers_of(lab: Lab, node: str, uids: set[str]) -> list[str]:
    """Containers (any state) on `node` that belong to one of `uids`."""
    return [f"{c.name}:{c.status}" for c in lab.pod_containers(node) if c.labels.get(LABEL_POD_UID) in uids]


# -- the CLI -----------------------------------------------------------------------------

@click.group(cls=Group, context_settings=CONTEXT)
def chaos_app() -> None:
    """Break the compose lab on purpose (project podlab).

    NODE is node1, node2 or node3. Each action prints one timestamped line.
    """


NodeArg = click.argument("node")  # node1, node2 or node3: Lab.node names them for any other
ServerOpt = click.option("--server", default=SERVER, show_default=True, envvar="PODLAB_SERVER",
                         show_envvar=True, help="the lab's API server")


def _run(action: Callable[[Lab], object], server: str = SERVER) -> None:
    try:
        action(Lab(server, echo=click.echo))
    except LabError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - one line, not a traceback
        click.echo(f"error: {type(err).__name__}: {err}".splitlines()[0], err=True)
        sys.exit(1)


@chaos_app.command("power-off")
@NodeArg
def power_off(node: str) -> None:
    """Kill NODE's agent and every pod container on it."""
    _run(lambda lab: lab.power_off(node))


@chaos_app.command("power-on")
@NodeArg
def power_on(node: str) -> None:
    """Start NODE's agent again."""
    _run(lambda lab: lab.power_on(node))


@chaos_app.command()
@NodeArg
def partition(node: str) -> None:
    """Disconnect NODE's agent from the control network; its pods keep running."""
    _run(lambda lab: lab.partition(node))


@chaos_app.command()
@NodeArg
def heal(node: str) -> None:
    """Reconnect NODE's agent to the control network."""
    _run(lambda lab: lab.heal(node))


@chaos_app.command()
@NodeArg
def freeze(node: str) -> None:
    """docker pause NODE's agent."""
    _run(lambda lab: lab.freeze(node))


@chaos_app.command()
@NodeArg
def thaw(node: str) -> None:
    """docker unpause NODE's agent."""
    _run(lambda lab: lab.thaw(node))


@chaos_app.command("restart-controlplane")
def restart_controlplane() -> None:
    """Restart the API server / controllers container."""
    _run(Lab.restart_controlplane)


@chaos_app.command("kill-scheduler-leader")
@ServerOpt
def kill_scheduler_leader(server: str) -> None:
    """Kill the scheduler replica holding Lease kube-system/podlab-scheduler."""
    _run(Lab.kill_scheduler_leader, server)


@chaos_app.command("restart-etcd")
def restart_etcd() -> None:
    """Restart etcd."""
    _run(Lab.restart_etcd)


@chaos_app.command("stop-controlplane")
def stop_controlplane() -> None:
    """Stop the API server / controllers container (until `restore`)."""
    _run(Lab.stop_controlplane)


@chaos_app.command("stop-etcd")
def stop_etcd() -> None:
    """Stop etcd (until `restore`)."""
    _run(Lab.stop_etcd)


@chaos_app.command()
def restore() -> None:
    """Undo every action: start, unpause and reconnect whatever is down."""
    _run(Lab.restore)
