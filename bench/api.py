"""API create throughput and latency against raw etcd puts of the same bytes.

Starts a real etcd and a real control plane process, creates N pods through
the API with a fixed number of concurrent clients, then puts the same
serialized bytes straight into etcd with the same concurrency.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from etcd3.etcdrpc import rpc_pb2 as etcd
from etcd3.etcdrpc import rpc_pb2_grpc as etcd_rpc

from bench.stats import progress, summary_ms
from podlab.client import Client
from podlab.v1 import objects_pb2 as v1
from tests.support.procs import ControlPlane, Etcd

CONCURRENCY = int(__import__("os").environ.get("BENCH_CONCURRENCY", "16"))


def make_pod(i: int) -> v1.Pod:
    pod = v1.Pod(metadata=v1.ObjectMeta(name=f"bench-{i}", labels={"app": "bench"}))
    c = pod.spec.containers.add(name="app", image="nginx:1.25", command=["nginx", "-g", "daemon off;"])
    c.resources.requests["cpu"] = "10m"
    c.resources.requests["memory"] = "16Mi"
    c.ports.add(container_port=80)
    return pod


async def _drive(n: int, one) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            t = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


async def _bench(n: int, etcd_endpoint: str, api_address: str) -> dict[str, object]:
    async with Client(api_address) as client:
        await client.create(make_pod(-1))  # warm the connection
        progress(f"api: creating {n} pods through the API ({CONCURRENCY} concurrent)")
        api_secs, api_lat = await _drive(n, lambda i: client.create(make_pod(i)))
        stored = await client.get(v1.Pod, "bench-0")
    payload = stored.SerializeToString()
    channel = grpc.aio.insecure_channel(etcd_endpoint.removeprefix("http://"))
    kv = etcd_rpc.KVStub(channel)
    progress(f"api: {n} raw etcd puts of the same {len(payload)} bytes")
    raw_secs, raw_lat = await _drive(n, lambda i: kv.Put(etcd.PutRequest(
        key=f"/bench/raw/{i}".encode(), value=payload), timeout=5))
    await channel.close()
    api_rate, raw_rate = n / api_secs, n / raw_secs
    return {
        "config": {"pods": n, "concurrency": CONCURRENCY, "object_bytes": len(payload)},
        "api_create": {"per_second": round(api_rate, 1), **summary_ms(api_lat)},
        "raw_etcd_put": {"per_second": round(raw_rate, 1), **summary_ms(raw_lat)},
        "ratio": {"throughput_api_over_etcd": round(api_rate / raw_rate, 3)},
        "targets": {"p99_create_ms_max": 20, "throughput_ratio_min": 0.4},
    }


def run(quick: bool = False) -> dict[str, object]:
    n = 500 if quick else 10_000
    store = Etcd()
    try:
        cp = ControlPlane(store.endpoint, "--no-controllers")
        try:
            return asyncio.run(_bench(n, store.endpoint, cp.address))
        finally:
            cp.stop()
    finally:
        store.stop()
