"""API create throughput and latency against raw etcd puts of the same bytes.

Starts a real etcd and real control plane processes, creates N pods through
the API with a fixed number of concurrent callers, then puts the same
serialized bytes straight into etcd with the same concurrency from the same
kind of client. Runs twice: one API process, and two API processes sharing
the port (the API server is stateless; gRPC binds with SO_REUSEPORT), to show
where the limit is.

Two figures say where the CPU goes: the CPU time each process spent per
create (API server, etcd, the benchmark's own client), and the same creates
against a no-op gRPC server (`bench.noop_server`) from the same client: the
floor that gRPC in Python sets before the API server does any work.
Pods are built before the clock starts, as the raw puts' bytes are.

The same creates also go through the Kubernetes REST front end of the one
API process (HTTPS, JSON bodies, the admin client certificate, one
keep-alive connection per caller), as kubectl and the official clients
send them.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

import aiohttp
import grpc
from etcd3.etcdrpc import rpc_pb2 as etcd
from etcd3.etcdrpc import rpc_pb2_grpc as etcd_rpc

from bench.stats import own_cpu_seconds, process_cpu_seconds, progress, summary_ms
from podlab.client import Client
from podlab.manifest import to_dict
from podlab.pki import ClusterPki
from podlab.v1 import objects_pb2 as v1
from tests.support.procs import ControlPlane, Etcd, free_port, python_component, wait_for

T = TypeVar("T")

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))


def make_pod(i: int, prefix: str = "bench") -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=f"{prefix}-{i}", labels={"app": "bench"}))
    c = pod.spec.containers.add(name="app", image="nginx:1.25", command=["nginx", "-g", "daemon off;"])
    c.resources.requests["cpu"] = "10m"
    c.resources.requests["memory"] = "16Mi"
    c.ports.add(container_port=80)
    return pod


async def _drive(n: int, one) -> tuple[float, list[float]]:
    """Run one(i) for i in range(n) from CONCURRENCY callers; wall time and per-call latencies."""
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker(w: int) -> None:
        for i in queue:
            t = time.perf_counter()
            await one(i, w)
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


def cpu_per_op(n: int, work: Callable[[], T], **pids: list[int]) -> tuple[T, dict[str, int]]:
    """Run work(); its result and the CPU microseconds per op of each named process group and the client."""
    def sample() -> dict[str, float]:
        return {name: sum(process_cpu_seconds(p) for p in group) for name, group in pids.items()} | {
            "client": own_cpu_seconds()}

    before = sample()
    result = work()
    after = sample()
    return result, {name: round((after[name] - before[name]) / n * 1e6) for name in after}


async def _api(n: int, address: str, connections: int, prefix: str) -> tuple[float, list[float]]:
    # Separate connections, so the kernel can spread them over API processes.
    clients = [Client(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(connections)]
    try:
        for i, client in enumerate(clients):
            await client.create(make_pod(-1 - i, prefix))  # warm every connection
        pods = [make_pod(i, prefix) for i in range(n)]
        return await _drive(n, lambda i, w: clients[w % connections].create(pods[i]))
    finally:
        for client in clients:
            await client.close()


async def _rest(n: int, plane: ControlPlane, prefix: str) -> tuple[float, list[float]]:
    pki = ClusterPki(plane.pki_dir)
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
    url = f"{plane.https_url}/api/v1/namespaces/default/pods"
    connector = aiohttp.TCPConnector(ssl=context, limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def create(body: bytes) -> None:
            async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as reply:
                if reply.status != 201:
                    raise RuntimeError(f"REST create answered {reply.status}: {await reply.text()}")
                await reply.read()

        await asyncio.gather(*(create(json.dumps(to_dict(make_pod(-1 - w, prefix))).encode())
                               for w in range(CONCURRENCY)))  # warm every connection
        bodies = [json.dumps(to_dict(make_pod(i, prefix))).encode() for i in range(n)]
        return await _drive(n, lambda i, w: create(bodies[i]))


async def _stored_bytes(address: str, name: str) -> bytes:
    """The object as the API stored it: what the raw puts write."""
    async with Client(address) as client:
        return (await client.get(v1.Pod, name)).SerializeToString()


async def _raw(n: int, endpoint: str, payload: bytes) -> tuple[float, list[float]]:
    channel = grpc.aio.insecure_channel(endpoint.removeprefix("http://"))
    kv = etcd_rpc.KVStub(channel)
    try:
        return await _drive(n, lambda i, w: kv.Put(etcd.PutRequest(key=f"/bench/raw/{i}".encode(),
                                                                     value=payload), timeout=5))
    finally:
        await channel.close()


def _noop_floor(n: int) -> tuple[tuple[float, list[float]], dict[str, int]]:
    address = f"127.0.0.1:{free_port()}"
    server = python_component("noop-server", "bench.noop_server", address)
    try:
        wait_for(lambda: "listening" in server.output() or not server.alive(), 30,
                 message="the no-op server to listen")
        return cpu_per_op(n, lambda: asyncio.run(_api(n, address, 1, "noop")), server=[server.pid])
    finally:
        server.stop()


def run(quick: bool = False) -> dict[str, object]:
    n = 500 if quick else 10_000
    store = Etcd()
    etcd_pid = [store.process.pid]
    try:
        port = free_port()
        planes = [ControlPlane(store.endpoint, "--no-controllers", port=port)]
        try:
            address = planes[0].address
            progress(f"api: {n} creates through 1 API process ({CONCURRENCY} concurrent)")
            (one_secs, one_lat), one_cpu = cpu_per_op(
                n, lambda: asyncio.run(_api(n, address, 1, "one")),
                api=[planes[0].process.pid], etcd=etcd_pid)
            progress(f"api: {n} creates through the REST front end of that process ({CONCURRENCY} concurrent)")
            (rest_secs, rest_lat), rest_cpu = cpu_per_op(
                n, lambda: asyncio.run(_rest(n, planes[0], "rest")),
                api=[planes[0].process.pid], etcd=etcd_pid)
            payload = asyncio.run(_stored_bytes(address, "one-0"))
            progress(f"api: {n} raw etcd puts of the same {len(payload)} bytes")
            (raw_secs, raw_lat), raw_cpu = cpu_per_op(
                n, lambda: asyncio.run(_raw(n, store.endpoint, payload)), etcd=etcd_pid)
            planes.append(ControlPlane(store.endpoint, "--no-controllers", port=port))
            progress(f"api: {n} creates through 2 API processes sharing port {port}")
            (two_secs, two_lat), two_cpu = cpu_per_op(
                n, lambda: asyncio.run(_api(n, address, 4, "two")),
                api=[p.process.pid for p in planes], etcd=etcd_pid)
        finally:
            for plane in planes:
                plane.stop()
    finally:
        store.stop()
    progress(f"api: {n} creates against a no-op gRPC server")
    (noop_secs, noop_lat), noop_cpu = _noop_floor(n)
    raw_rate = n / raw_secs
    return {
        "config": {"pods": n, "concurrency": CONCURRENCY, "object_bytes": len(payload)},
        "api_create_1_process": {"per_second": round(n / one_secs, 1), **summary_ms(one_lat),
                                 "cpu_us_per_create": one_cpu},
        "rest_create_1_process": {"per_second": round(n / rest_secs, 1), **summary_ms(rest_lat),
                                  "cpu_us_per_create": rest_cpu},
        "api_create_2_processes": {"per_second": round(n / two_secs, 1), **summary_ms(two_lat),
                                   "cpu_us_per_create": two_cpu},
        "raw_etcd_put": {"per_second": round(raw_rate, 1), **summary_ms(raw_lat), "cpu_us_per_put": raw_cpu},
        "noop_grpc_create": {"per_second": round(n / noop_secs, 1), **summary_ms(noop_lat),
                             "cpu_us_per_create": noop_cpu},
        "ratio": {"throughput_1_process_over_etcd": round(n / one_secs / raw_rate, 3),
                  "rest_over_grpc_1_process": round(one_secs / rest_secs, 3),
                  "rest_over_etcd": round(n / rest_secs / raw_rate, 3),
                  "throughput_2_processes_over_etcd": round(n / two_secs / raw_rate, 3),
                  "noop_grpc_over_etcd": round(n / noop_secs / raw_rate, 3)},
        "targets": {"p99_create_ms_max": 20, "throughput_ratio_min": 0.4},
    }
