"""A whole podlab cluster of real processes: etcd, control plane, scheduler, agents.

Agents reach the control plane through a per-agent Proxy, so a test can
partition one node (proxy.cut()) while its agent keeps running, power it off
(SIGKILL), or freeze it (SIGSTOP).
"""

from __future__ import annotations

import signal
import tempfile
from dataclasses import dataclass, field

from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.procs import ControlPlane, Etcd, Process, free_port, python_component
from tests.support.proxy import Proxy
from tests.support.waiting import eventually


@dataclass
class Agent:
    name: str
    process: Process
    proxy: Proxy
    port: int
    argv: list[str] = field(default_factory=list)


class LocalCluster:
    def __init__(self, etcd: Etcd, nodes: int = 3, runtime: str = "sim",
                 control_plane_flags: tuple[str, ...] = (), agent_flags: tuple[str, ...] = (),
                 scheduler: bool = True, node_prefix: str = "node") -> None:
        self.etcd = etcd
        self.runtime = runtime
        self.agent_flags = agent_flags
        self.root = tempfile.mkdtemp(prefix="podlab-cluster-")
        self.agents: dict[str, Agent] = {}
        self.node_names: list[str] = []
        self.scheduler: Process | None = None
        self.control_plane = ControlPlane(etcd.endpoint, *control_plane_flags)
        try:
            if scheduler:
                self.scheduler = python_component("scheduler", "scheduler", "--server",
                                                  self.control_plane.address, "--metrics-port", "0")
            self.node_names = [f"{node_prefix}{i}" for i in range(1, nodes + 1)]
            for name in self.node_names:
                self.start_agent(name)
        except BaseException:
            self.stop()
            raise

    @property
    def server_address(self) -> str:
        return self.control_plane.address

    def start_agent(self, name: str) -> Agent:
        old = self.agents.get(name)
        proxy = old.proxy if old else Proxy("127.0.0.1", self.control_plane.port)
        port = old.port if old else free_port()
        argv = ["--server", proxy.address, "--node-name", name, "--listen", f"127.0.0.1:{port}",
                "--advertise", f"127.0.0.1:{port}", "--runtime", self.runtime,
                "--root-dir", f"{self.root}/{name}", "--host-ip", self.host_ip(name), *self.agent_flags]
        agent = Agent(name, python_component(name, "nodeagent", *argv), proxy, port, argv)
        self.agents[name] = agent
        return agent

    def host_ip(self, name: str) -> str:
        """Each node its own loopback address, so hostPorts on different nodes never clash."""
        return f"127.0.20.{self.node_names.index(name) + 1}"

    def power_off(self, name: str) -> None:
        self.agents[name].process.kill()

    def freeze(self, name: str) -> None:
        self.agents[name].process.signal(signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        self.agents[name].process.signal(signal.SIGCONT)

    def logs(self) -> str:
        parts = [f"--- controlplane\n{self.control_plane.process.output()[-4000:]}"]
        if self.scheduler:
            parts.append(f"--- scheduler\n{self.scheduler.output()[-3000:]}")
        for agent in self.agents.values():
            parts.append(f"--- {agent.name}\n{agent.process.output()[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for agent in self.agents.values():
            agent.process.stop()
            agent.proxy.close()
        if self.scheduler:
            self.scheduler.stop()
        self.control_plane.stop()


# -- async helpers for tests that drive a cluster through the API ------------------

# `eventually` lives in tests/support/waiting.py, the one "wait until" (imported here for its users).


def sleeper(name: str, node: str = "", restart: str = "Always", command: str = "sleep 3600") -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=name, labels={"app": "test"}))
    pod.spec.restart_policy = restart
    pod.spec.node_name = node
    pod.spec.containers.add(name="app", image="busybox", command=["sh", "-c", command])
    return pod


async def pods_by_name(client: Client) -> dict[str, v1.Pod]:
    items, _ = await client.list(v1.Pod, "default")
    return {p.metadata.name: p for p in items}


async def running_everywhere(client: Client, names: list[str], timeout: float = 30) -> dict[str, v1.Pod]:
    async def check() -> dict[str, v1.Pod] | None:
        pods = await pods_by_name(client)
        ok = all(n in pods and pods[n].status.phase == "Running" for n in names)
        return pods if ok else None
    return await eventually(check, timeout, f"pods {names} Running")


async def all_nodes_ready(client: Client, count: int, timeout: float = 30) -> None:
    async def check() -> bool:
        items, _ = await client.list(v1.Node)
        return len(items) == count and all(
            any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in items)
    await eventually(check, timeout, f"{count} nodes Ready")
