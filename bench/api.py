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

This machine's speed drifts by tens of percent from one minute to the next,
so the API, its REST front end and the floor run in alternating rounds
(ROUNDS, three unless --quick) and each figure is the round with the median
throughput; `rounds` lists every round's creates/s.

The same creates also go through the Kubernetes REST front end of the one
API process (HTTPS, JSON bodies, the admin client certificate, one
keep-alive connection per caller), as kubectl and the official clients
send them.

Watch fan-out (`watch_fanout`): N gRPC watchers of pods (N = 10, 100,
1,000; --quick 10 and 100) while pods are created in bursts of BURST
concurrent creates, each burst waiting until every watcher has every pod
(lock-step, so no watcher falls behind and the figures are the fan-out's,
not a queue's). For each N: the API server's and etcd's CPU per delivered
event, and the delivery latency (the create sent → the watcher's receipt).
It runs against two API processes on the same etcd, one with the watch
cache and one started with --no-watch-cache (one etcd watch per watcher, as
before the cache), alternating N by N in the same minutes. The watchers
live in this benchmark's process, whose own CPU is in every latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar, cast

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


ROUNDS = 3
# Issue #14's targets for the create path: API CPU per create, and throughput against the no-op floor.
TARGETS = {"p99_create_ms_max": 20, "throughput_ratio_min": 0.4,
           "api_cpu_us_per_create_max": 550, "throughput_over_noop_min": 0.5}

Round = tuple[tuple[float, list[float]], dict[str, int]]


def _median(rounds: list[Round]) -> Round:
    """The round with the median throughput (the median wall time for the same n)."""
    return sorted(rounds, key=lambda r: r[0][0])[len(rounds) // 2]


BURST = 4
FANOUT_WATCHERS = (10, 100, 1000)
# Deliveries per N stay near 20,000 (bursts of BURST creates), so every N takes about as long.
FANOUT_DELIVERIES = 20_000


async def _fanout(address: str, watchers: int, creates: int, prefix: str,
                  **pids: list[int]) -> tuple[list[float], int, dict[str, float]]:
    """`watchers` watchers of pods, `creates` creates in lock-step bursts: every delivery's latency, how
    many deliveries never came (a watcher ended), and the CPU seconds each of `pids` (and this client)
    spent from the first create to the last delivery (watchers' set-up and warm-up left out)."""
    clients = [Client(address, options=[("grpc.use_local_subchannel_pool", 1)])
               for _ in range(max(1, watchers // 100))]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    waiting: dict[str, int] = {}
    arrived: dict[str, asyncio.Event] = {}

    started: set[int] = set()

    async def watch(w: int, client: Client) -> None:
        async for event in client.watch(v1.Pod, label_selector="app=bench"):
            if event.object is None or event.type != "ADDED":
                continue
            name = event.object.metadata.name
            if "-warm" in name:
                started.add(w)
                continue
            if name in sent:
                latencies.append(time.perf_counter() - sent[name])
            waiting[name] = waiting.get(name, watchers) - 1
            if waiting[name] == 0:
                arrived.setdefault(name, asyncio.Event()).set()

    async def burst(names: list[str]) -> int:
        for name in names:
            arrived.setdefault(name, asyncio.Event())
        await asyncio.gather(*(create(name) for name in names))
        missing = 0
        for name in names:
            try:
                await asyncio.wait_for(arrived[name].wait(), 30)
            except TimeoutError:
                missing += waiting.get(name, watchers)
        return missing

    async def create(name: str) -> None:
        pod = make_pod(0, prefix)
        pod.metadata.name = name
        sent[name] = time.perf_counter()
        await clients[0].create(pod)

    tasks = [asyncio.create_task(watch(i, clients[i % len(clients)])) for i in range(watchers)]
    try:
        # A watcher is in once it has seen a warm-up pod; only when all are does the clock start.
        for attempt in range(300):
            if len(started) == watchers:
                break
            await create(f"{prefix}-warm{attempt}")
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"watch fan-out: only {len(started)} of {watchers} watchers started")
        latencies.clear()
        missing = 0

        def sample() -> dict[str, float]:
            return {name: sum(process_cpu_seconds(p) for p in group) for name, group in pids.items()} | {
                "client": own_cpu_seconds()}

        before = sample()
        for b in range(0, creates, BURST):
            missing += await burst([f"{prefix}-{i}" for i in range(b, min(creates, b + BURST))])
        after = sample()
        return latencies, missing, {name: after[name] - before[name] for name in after}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()


def _watch_fanout(store: Etcd, etcd_pid: list[int], counts: tuple[int, ...],
                  deliveries: int) -> dict[str, object]:
    """The fan-out figures with the watch cache ("after") and without it ("before"), N by N."""
    planes = {"after": ControlPlane(store.endpoint, "--no-controllers")}
    try:
        planes["before"] = ControlPlane(store.endpoint, "--no-controllers", "--no-watch-cache")
        figures: dict[str, object] = {}
        for n in counts:
            creates = max(BURST, deliveries // n // BURST * BURST)
            row: dict[str, object] = {"watchers": n, "creates": creates}
            for label in ("after", "before"):
                plane = planes[label]
                progress(f"api watch fan-out: {n} watchers of pods, {creates} creates, "
                         f"{'with' if label == 'after' else 'without'} the watch cache")
                latencies, missing, cpu = asyncio.run(_fanout(plane.address, n, creates, f"w{label}{n}",
                                                              api=[plane.process.pid], etcd=etcd_pid))
                per = {name: round(seconds / (creates * n) * 1e6, 1) for name, seconds in cpu.items()}
                row[label] = {"api_cpu_us_per_delivered_event": per["api"],
                              "api_cpu_us_per_create": round(cpu["api"] / creates * 1e6),
                              "etcd_cpu_us_per_delivered_event": per["etcd"],
                              "client_cpu_us_per_delivered_event": per["client"],
                              "delivery_p50_ms": summary_ms(latencies)["p50_ms"],
                              "delivery_p99_ms": summary_ms(latencies)["p99_ms"],
                              "delivery_max_ms": summary_ms(latencies)["max_ms"],
                              "missed_deliveries": missing}
            after, before = cast(dict[str, float], row["after"]), cast(dict[str, float], row["before"])
            row["api_cpu_after_over_before"] = round(
                after["api_cpu_us_per_delivered_event"] / max(0.1, before["api_cpu_us_per_delivered_event"]), 3)
            row["p99_after_over_before"] = round(after["delivery_p99_ms"] / max(0.01, before["delivery_p99_ms"]), 3)
            figures[f"n{n}"] = row
        return figures
    finally:
        for plane in planes.values():
            plane.stop()


def run(quick: bool = False) -> dict[str, object]:
    n, rounds = (500, 1) if quick else (10_000, ROUNDS)
    store = Etcd()
    etcd_pid = [store.process.pid]
    noop_address = f"127.0.0.1:{free_port()}"
    noop = python_component("noop-server", "bench.noop_server", noop_address)
    one: list[Round] = []
    rest: list[Round] = []
    floor: list[Round] = []
    try:
        wait_for(lambda: "listening" in noop.output() or not noop.alive(), 30,
                 message="the no-op server to listen")
        port = free_port()
        planes = [ControlPlane(store.endpoint, "--no-controllers", port=port)]
        try:
            address = planes[0].address
            for r in range(rounds):
                progress(f"api round {r + 1}/{rounds}: {n} creates through 1 API process ({CONCURRENCY} "
                         "concurrent), through its REST front end, and against a no-op gRPC server")
                one.append(cpu_per_op(n, partial(asyncio.run, _api(n, address, 1, f"one{r}")),
                                      api=[planes[0].process.pid], etcd=etcd_pid))
                rest.append(cpu_per_op(n, partial(asyncio.run, _rest(n, planes[0], f"rest{r}")),
                                       api=[planes[0].process.pid], etcd=etcd_pid))
                floor.append(cpu_per_op(n, partial(asyncio.run, _api(n, noop_address, 1, f"noop{r}")),
                                        server=[noop.pid]))
            payload = asyncio.run(_stored_bytes(address, "one0-0"))
            progress(f"api: {n} raw etcd puts of the same {len(payload)} bytes")
            raw = cpu_per_op(n, lambda: asyncio.run(_raw(n, store.endpoint, payload)), etcd=etcd_pid)
            planes.append(ControlPlane(store.endpoint, "--no-controllers", port=port))
            progress(f"api: {n} creates through 2 API processes sharing port {port}")
            two = cpu_per_op(n, lambda: asyncio.run(_api(n, address, 4, "two")),
                             api=[p.process.pid for p in planes], etcd=etcd_pid)
        finally:
            for plane in planes:
                plane.stop()
        # A fresh etcd: the creates above left tens of thousands of pods, which every cache's first list
        # (and a watcher's start) would read, and which are not what the fan-out measures.
        fresh = Etcd()
        try:
            fanout = _watch_fanout(fresh, [fresh.process.pid], FANOUT_WATCHERS[:2] if quick else FANOUT_WATCHERS,
                                   FANOUT_DELIVERIES // 10 if quick else FANOUT_DELIVERIES)
        finally:
            fresh.stop()
    finally:
        noop.stop()
        store.stop()
    every = {"api_create_1_process": one, "rest_create_1_process": rest, "api_create_2_processes": [two],
             "raw_etcd_put": [raw], "noop_grpc_create": floor}
    medians = {name: _median(rounds) for name, rounds in every.items()}
    rate = {name: n / secs for name, ((secs, _), _) in medians.items()}
    figures = {name: {"per_second": round(rate[name], 1), **summary_ms(latencies),
                      ("cpu_us_per_put" if name == "raw_etcd_put" else "cpu_us_per_create"): cpu,
                      "rounds": [round(n / secs, 1) for (secs, _), _ in every[name]]}
               for name, ((_, latencies), cpu) in medians.items()}
    api_cpu = medians["api_create_1_process"][1]["api"]
    ratio = {"throughput_1_process_over_etcd": round(rate["api_create_1_process"] / rate["raw_etcd_put"], 3),
             "rest_over_grpc_1_process": round(rate["rest_create_1_process"] / rate["api_create_1_process"], 3),
             "rest_over_etcd": round(rate["rest_create_1_process"] / rate["raw_etcd_put"], 3),
             "throughput_2_processes_over_etcd": round(rate["api_create_2_processes"] / rate["raw_etcd_put"], 3),
             "noop_grpc_over_etcd": round(rate["noop_grpc_create"] / rate["raw_etcd_put"], 3),
             "api_over_noop": round(rate["api_create_1_process"] / rate["noop_grpc_create"], 3)}
    return {
        "config": {"pods": n, "concurrency": CONCURRENCY, "rounds": rounds, "object_bytes": len(payload),
                   "watch_fanout_burst": BURST},
        **figures,
        "ratio": ratio,
        "watch_fanout": fanout,
        "targets": TARGETS,
        "create_path_target_met": (api_cpu <= TARGETS["api_cpu_us_per_create_max"]
                                   and ratio["api_over_noop"] >= TARGETS["throughput_over_noop_min"]),
    }
