"""podctl against the real gRPC API server over the in-memory API, in this process: the harness of
podctl's unit tests (tests/unit/test_podctl_*.py; their fixtures are in tests/unit/conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from click.testing import CliRunner

from controlplane.apiserver import serve
from controlplane.registry import object_key
from controlplane.testing import InMemoryApi
from podctl import main
from podlab import errors
from podlab.kinds import kind_of
from podlab.v1 import objects_pb2 as v1
from podlab.v1 import services_pb2_grpc as rpc
from tests.support.fake_agent import FakeAgent

M = TypeVar("M")
T = TypeVar("T")

HELLO = (Path(__file__).resolve().parents[1] / "unit" / "manifests" / "seed003-hello-world-pod.yaml").read_text()
ERROR_POD = HELLO.replace("OnFailure", "Mybe")
INVALID = ('The Pod "hello-world" is invalid: spec.restartPolicy: Unsupported value: "Mybe": '
           'supported values: "Always", "OnFailure", "Never"')


class Fake:
    """The real gRPC API server over the in-memory API (controlplane.testing), on its own loop and thread.

    podctl runs in the test's thread against `address`; the test reads and
    seeds the cluster through `call`, `get`, `seed` and `objects`.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.agent = FakeAgent()
        self.cluster, self.address = self.call(self._start())

    async def _start(self) -> tuple[InMemoryApi, str]:
        cluster = InMemoryApi()
        self._server, port = await serve(cluster.api, "127.0.0.1:0")
        self._agent_server = grpc.aio.server()
        rpc.add_NodeAgentServicer_to_server(self.agent, self._agent_server)
        self.agent_address = f"127.0.0.1:{self._agent_server.add_insecure_port('127.0.0.1:0')}"
        await self._agent_server.start()
        return cluster, f"127.0.0.1:{port}"

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        async def stop() -> None:
            await self._server.stop(0)
            await self._agent_server.stop(0)
            await self.cluster.close()
        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def get(self, kind: str, name: str, namespace: str = "default") -> Any:
        async def get() -> Any:
            try:
                return await self.cluster.get(kind, name, namespace)
            except errors.NotFound:
                return None
        return self.call(get())

    def objects(self, kind: str) -> list[Any]:
        return self.call(self.cluster.list(kind))[0]

    def create(self, obj: M) -> M:
        return self.call(self.cluster.create(obj))

    def seed(self, obj: M) -> M:
        """Store `obj` as given (uid, timestamps, status), as a restored backup would be."""
        return self.call(_seed(self.cluster, obj))

    def node(self, name: str = "node1") -> v1.Node:
        """A Ready node whose agent is this fake's FakeAgent."""
        node = v1.Node(metadata=v1.ObjectMeta(name=name))
        node.status.conditions.add(type="Ready", status="True")
        node.status.agent_endpoint = self.agent_address
        return self.create(node) if self.get("Node", name) is None else self.get("Node", name)

    def running_pod(self, name: str, *containers: str) -> v1.Pod:
        """A pod bound to node1 (created if missing), so the API server proxies its logs and exec."""
        self.node()
        pod = v1.Pod(metadata=v1.ObjectMeta(name=name), spec=v1.PodSpec(node_name="node1"))
        for container in containers or ("app",):
            pod.spec.containers.add(name=container, image="busybox")
        return self.create(pod)


async def _seed(cluster: InMemoryApi, obj: M) -> M:
    kind = kind_of(obj)
    meta = obj.metadata
    if kind.namespaced and not meta.namespace:
        meta.namespace = "default"
    stored = type(obj)()
    stored.CopyFrom(obj)
    stored.metadata.resource_version = ""
    revision = await cluster.store.put(object_key(kind, meta.name, meta.namespace), stored.SerializeToString())
    meta.resource_version = str(revision)
    return obj


def wait_until(predicate: Callable[[], object], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def watch_then_end(fake: Fake, *args: str, during: Callable[[], None] | None = None) -> Result:
    """Run a watching podctl; once its watch is open, run `during`, then end the watch from the
    server's side (as the API server does at its watch timeout): `get -w` ends with it."""
    with futures.ThreadPoolExecutor(1) as pool:
        watching = pool.submit(podctl, "-s", fake.address, *args)
        wait_until(lambda: fake.cluster.open_watches() or watching.done())
        if during is not None:
            during()
            # the change reaches the watcher before the end does: both go through one queue
        fake.call(fake.cluster.end_watches())
        return watching.result(10)


@dataclass
class Result:
    code: int
    out: str
    err: str


def podctl(*args: str, stdin: str | None = None) -> Result:
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
