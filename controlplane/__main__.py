"""podlab-controlplane: the API server and, leader-elected, the controllers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvloop
from aiohttp import web

from controlplane.api import Api
from controlplane.apiserver import serve
from controlplane.controllers.deployment import DeploymentController
from controlplane.controllers.evictions import EvictionReplacementController
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.nodelifecycle import NodeLifecycleConfig, NodeLifecycleController
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.etcd import EtcdStore
from controlplane.local import LocalClient
from controlplane.metrics import ControlPlaneMetrics
from controlplane.rest import serve_https
from controlplane.rest.serve import server_context
from controlplane.strategies import StrategyConfig
from podlab.informers import SharedInformerFactory
from podlab.leaderelection import LeaderElector
from podlab.logs import setup_logging
from podlab.metrics import serve_metrics
from podlab.names import SYSTEM_NAMESPACE
from podlab.pki import ClusterPki

log = logging.getLogger("controlplane")


class Runnable(Protocol):
    async def run(self) -> None: ...


@dataclass
class ControlPlaneConfig:
    etcd: str = "http://127.0.0.1:2379"
    listen: str = "0.0.0.0:7443"
    # The Kubernetes REST API, HTTPS only, client certificates from the cluster CA; "" turns it off.
    https_listen: str = "0.0.0.0:6443"
    pki_dir: str = field(default_factory=lambda: os.path.expanduser("~/.podlab/pki"))
    tls_san: list[str] = field(default_factory=list)
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    leader_elect: bool = True
    controllers: bool = True
    watch_cache: bool = True  # serve watches from one store watch per resource (controlplane.watchcache)
    event_ttl: int = 3600
    metrics_port: str = "0.0.0.0:10257"
    node_lifecycle: NodeLifecycleConfig = field(default_factory=NodeLifecycleConfig)

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> ControlPlaneConfig:
        p = argparse.ArgumentParser(prog="podlab-controlplane", description=__doc__)
        env = os.environ.get
        p.add_argument("--etcd", default=env("PODLAB_ETCD", cls.etcd), help="etcd endpoint")
        p.add_argument("--listen", default=env("PODLAB_LISTEN", cls.listen), help="gRPC address")
        p.add_argument("--https-listen", default=env("PODLAB_HTTPS_LISTEN", cls.https_listen),
                       help="host:port of the Kubernetes API over HTTPS (kubectl); empty turns it off")
        p.add_argument("--pki-dir", default=env("PODLAB_PKI_DIR") or None,
                       help="the cluster PKI (ca.crt, apiserver.crt/.key); made here if missing "
                            "(default ~/.podlab/pki)")
        p.add_argument("--tls-san", action="append", default=[],
                       help="an extra name or IP for a serving certificate made here")
        p.add_argument("--identity", default=None, help="leader-election identity")
        p.add_argument("--leader-elect", action=argparse.BooleanOptionalAction, default=True)
        p.add_argument("--controllers", action=argparse.BooleanOptionalAction, default=True,
                       help="run the controllers in this process")
        p.add_argument("--watch-cache", action=argparse.BooleanOptionalAction, default=True,
                       help="serve watches from one etcd watch per resource (off: one etcd watch per watcher)")
        p.add_argument("--event-ttl", type=int, default=cls.event_ttl, help="seconds events live")
        p.add_argument("--metrics", default=cls.metrics_port,
                       help="[host:]port for Prometheus /metrics (the controllers' failover figures); "
                            "empty turns it off")
        nl = NodeLifecycleConfig()
        p.add_argument("--node-grace", type=float, default=nl.node_grace,
                       help="seconds without a heartbeat before a node is Unknown")
        p.add_argument("--pod-eviction-timeout", type=float, default=nl.pod_eviction_timeout,
                       help="further seconds before a lost node's pods are replaced")
        p.add_argument("--eviction-rate", type=float, default=nl.eviction_rate,
                       help="lost nodes per second whose pods may be replaced")
        p.add_argument("--secondary-eviction-rate", type=float, default=nl.secondary_eviction_rate,
                       help="the same, when at least --unhealthy-threshold of nodes are lost")
        p.add_argument("--unhealthy-threshold", type=float, default=nl.unhealthy_threshold)
        p.add_argument("--blind-after", type=float, default=nl.blind_after,
                       help="seconds without a pass that can read nodes and heartbeats (storage, API or "
                            "leadership away) after which every node's grace period starts again")
        a = p.parse_args(argv)
        config = cls(etcd=a.etcd, listen=a.listen, https_listen=a.https_listen, tls_san=a.tls_san,
                     leader_elect=a.leader_elect, controllers=a.controllers, watch_cache=a.watch_cache,
                     event_ttl=a.event_ttl, metrics_port=a.metrics, node_lifecycle=NodeLifecycleConfig(
                         node_grace=a.node_grace, pod_eviction_timeout=a.pod_eviction_timeout,
                         eviction_rate=a.eviction_rate, secondary_eviction_rate=a.secondary_eviction_rate,
                         unhealthy_threshold=a.unhealthy_threshold, blind_after=a.blind_after))
        if a.identity:
            config.identity = a.identity
        if a.pki_dir:
            config.pki_dir = a.pki_dir
        return config


async def run(config: ControlPlaneConfig, stop: asyncio.Event) -> None:
    api = Api.build(EtcdStore(config.etcd), StrategyConfig(
        event_ttl_seconds=config.event_ttl,
        default_toleration_seconds=max(0, round(config.node_lifecycle.pod_eviction_timeout))),
        watch_cache=config.watch_cache)
    api.start()
    for attempt in range(60):
        try:
            await api.registry.ensure_namespaces()
            break
        except Exception as err:  # etcd may still be starting
            log.info("waiting for etcd at %s (%s)", config.etcd, err)
            await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))
    server, port = await serve(api, config.listen)
    https = await _serve_https(api, config)
    log.info("API server listening on %s (port %d)", config.listen, port)
    async with asyncio.TaskGroup() as tasks:
        if config.controllers:
            metrics = ControlPlaneMetrics()
            local = LocalClient(api)
            # One list+watch per kind for every controller; run with them each leadership term.
            informers = SharedInformerFactory(local)
            # The factory first: its task starts first, so a new term's controllers wait for fresh caches.
            controllers: list[Runnable] = [
                informers,
                NodeLifecycleController(local, config.node_lifecycle, api.heartbeats, api.pods, api.events,
                                        metrics, informers=informers),
                EvictionReplacementController(local, api.pods, metrics, informers=informers),
                ReplicaSetController(local, api.events.recorder(ReplicaSetController.name),
                                     informers=informers),
                DeploymentController(local, api.events.recorder(DeploymentController.name),
                                     informers=informers),
                GarbageCollector(local, informers=informers)]
            if config.metrics_port:
                host, _, port_text = config.metrics_port.rpartition(":")
                tasks.create_task(serve_metrics(metrics.registry, host or "0.0.0.0", int(port_text)))

            async def run_all() -> None:
                async with asyncio.TaskGroup() as group:
                    for controller in controllers:
                        group.create_task(controller.run())

            tasks.create_task(_run_controllers(config, api, run_all))
        await stop.wait()
        for task in tasks._tasks:
            task.cancel()
    await server.stop(grace=1.0)
    if https is not None:
        await https.cleanup()
    await api.close()


async def _serve_https(api: Api, config: ControlPlaneConfig) -> web.AppRunner | None:
    """The Kubernetes REST API on --https-listen, with the PKI in --pki-dir (made if missing)."""
    if not config.https_listen:
        return None
    pki = ClusterPki(config.pki_dir)
    if not (pki.apiserver.cert.exists() and pki.ca.cert.exists()):
        pki.ensure(config.tls_san)
    host, _, port_text = config.https_listen.rpartition(":")
    context = server_context(pki.ca.cert, pki.apiserver.cert, pki.apiserver.key)
    runner, port = await serve_https(api, host or "0.0.0.0", int(port_text), context)
    log.info("Kubernetes API listening on https://%s (port %d)", config.https_listen, port)
    return runner


async def _run_controllers(config: ControlPlaneConfig, api: Api,
                           body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run the controllers (under leader election); a crash restarts them, never the API server."""
    while True:
        try:
            if not config.leader_elect:
                await body()
            else:
                elector = LeaderElector(LocalClient(api), "podlab-controller-manager", SYSTEM_NAMESPACE,
                                        config.identity)
                await elector.run(body)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("controllers crashed; restarting them in 2s")
        await asyncio.sleep(2.0)


def main(argv: list[str] | None = None) -> None:
    setup_logging("controlplane")
    config = ControlPlaneConfig.from_args(argv)
    log.info("config: %s", dataclasses.asdict(config))

    async def entry() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await run(config, stop)

    # uvloop: the same asyncio, its loop machinery in C. With gRPC's and the
    # store's callbacks on one thread, it carried ~15% more creates per second.
    uvloop.run(entry())


if __name__ == "__main__":
    main()
