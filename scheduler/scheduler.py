"""The scheduler: informers feed the cache and queue; one loop places pods; binds run concurrently.

Shape (client-go's, and Kubernetes' scheduler's):

    Node informer ─┐                      ┌─▶ bind task ×parallelism ─▶ client.bind (CAS)
    Pod informer ──┴─▶ cache + queue ─▶ schedule_one ─┤
                                                      └─▶ status writer / events (unschedulable)

`schedule_one` never awaits the API: it filters, scores, assumes the pod on
the chosen node in the cache (so the next pod sees the node as used), and
hands the bind to a task. A failed bind forgets the assumption and requeues
the pod with back-off, if it still exists and still needs a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from podlab import errors
from podlab.client import ApiClient, Client, Informer
from podlab.events import EventRecorder
from podlab.leaderelection import LeaderElector
from podlab.metrics import serve_metrics
from podlab.names import DEFAULT_SCHEDULER, TERMINAL_PHASES
from podlab.v1 import objects_pb2 as v1
from scheduler.cache import SchedulerCache
from scheduler.config import SchedulerConfig
from scheduler.framework import Framework, PodInfo
from scheduler.metrics import SchedulerMetrics
from scheduler.plugins import default_plugins
from scheduler.queue import QueueClosed, QueuedPod, SchedulingQueue

log = logging.getLogger("podlab.scheduler")

COMPONENT = DEFAULT_SCHEDULER
STATUS_RETRIES = 5


def _extra(pod: PodInfo | v1.Pod, **more: Any) -> dict[str, Any]:
    if isinstance(pod, PodInfo):
        return {"component": "scheduler", "pod": pod.key, "uid": pod.uid, **more}
    meta = pod.metadata
    return {"component": "scheduler", "pod": f"{meta.namespace}/{meta.name}", "uid": meta.uid,
            **more}


def set_pod_condition(status: v1.PodStatus, type_: str, value: str, reason: str,
                      message: str) -> bool:
    """Set one pod condition; True when it changed. lastTransitionTime moves only on a flip."""
    for cond in status.conditions:
        if cond.type == type_:
            if (cond.status, cond.reason, cond.message) == (value, reason, message):
                return False
            if cond.status != value:
                cond.last_transition_time.GetCurrentTime()
            cond.status, cond.reason, cond.message = value, reason, message
            cond.last_probe_time.Clear()
            return True
    cond = status.conditions.add(type=type_, status=value, reason=reason, message=message)
    cond.last_transition_time.GetCurrentTime()
    return True


def pod_scheduled_condition(pod: v1.Pod) -> tuple[str, str, str] | None:
    for cond in pod.status.conditions:
        if cond.type == "PodScheduled":
            return cond.status, cond.reason, cond.message
    return None


class Scheduler:
    """Places unbound pods on nodes.

    `run()` campaigns for the lease when `config.leader_elect` (only the
    leader schedules; it starts from a fresh list of nodes and pods each time
    it takes over) and serves metrics when `config.metrics_port` is set.
    Runs until cancelled. `ready` is set while the caches are synced and the
    loop is running.
    """

    def __init__(self, client: ApiClient, config: SchedulerConfig | None = None,
                 framework: Framework | None = None) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.metrics = SchedulerMetrics()
        self.ready = asyncio.Event()
        self._framework = framework
        self.elector: LeaderElector | None = None
        # Called after each successful bind (tests and benchmarks observe with it).
        self.on_bound: Callable[[PodInfo, str], None] | None = None
        self._reset()
        self.metrics.queue_depth = lambda: self.queue.pending()
        self.metrics.is_leader = lambda: self.ready.is_set()

    def _reset(self) -> None:
        cfg = self.config
        if self._framework is None:
            filters, scores = default_plugins(cfg.weights)
            self.framework = Framework(filters, scores, cfg.percentage_of_nodes_to_score)
        else:
            self.framework = self._framework
        self.cache = SchedulerCache(assume_ttl=cfg.assume_ttl)
        self.queue = SchedulingQueue(cfg.initial_backoff, cfg.max_backoff,
                                     cfg.max_unschedulable_seconds)
        self.events = EventRecorder(self.client, COMPONENT)
        self.pod_informer = Informer(self.client, v1.Pod, on_change=self._on_pod)
        self.node_informer = Informer(self.client, v1.Node, on_change=self._on_node)
        self._binds = asyncio.Semaphore(cfg.parallelism)
        self._tasks: set[asyncio.Task[None]] = set()
        self._status_wanted: dict[str, tuple[str, str]] = {}  # key -> (uid, message)
        self._status_writers: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        cfg = self.config
        async with asyncio.TaskGroup() as tg:
            if cfg.metrics_port:
                tg.create_task(serve_metrics(self.metrics.registry, cfg.metrics_host, cfg.metrics_port))
            if cfg.leader_elect:
                self.elector = LeaderElector(
                    self.client, cfg.lease_name, cfg.lease_namespace, cfg.identity,
                    cfg.lease_duration, cfg.renew_deadline, cfg.retry_period)
                tg.create_task(self.elector.run(self.run_leading))
            else:
                tg.create_task(self.run_leading())

    async def run_leading(self) -> None:
        """List, watch and schedule until cancelled (the leader's part)."""
        self._reset()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.node_informer.run(), name="node-informer")
                tg.create_task(self.pod_informer.run(), name="pod-informer")
                await self.node_informer.synced.wait()
                await self.pod_informer.synced.wait()
                log.info("caches synced: %d nodes, %d pods", len(self.cache.node_list()),
                         len(self.cache), extra={"component": "scheduler"})
                tg.create_task(self.events.run(), name="events")
                tg.create_task(self._housekeeping(), name="housekeeping")
                self.ready.set()
                await self._loop()
        finally:
            self.ready.clear()
            self.queue.close()
            for task in list(self._tasks) + list(self._status_writers.values()):
                task.cancel()
            await asyncio.gather(*self._tasks, *self._status_writers.values(),
                                 return_exceptions=True)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.cache.cleanup_expired():
                self.queue.move_all_to_active("AssumedPodExpired")

    async def _loop(self) -> None:
        n = 0
        with contextlib.suppress(QueueClosed):
            while True:
                qp = await self.queue.pop()
                await self.schedule_one(qp)
                n += 1
                if n % 16 == 0:
                    # Let informer handlers and bind completions run between cycles.
                    await asyncio.sleep(0)

    def idle(self) -> bool:
        """Whether the scheduler has nothing left to do until something changes.

        No pod is active, backing off or in a cycle, and no bind or status write
        is outstanding; pods parked unschedulable wait for a cluster change (or
        their `max_unschedulable_seconds`). It says nothing of watch events not
        yet delivered (compare the informers' `resource_version`) nor of events
        not yet written (`events.flush()`). Tests use it to prove nothing more
        will happen, instead of sleeping.
        """
        pending = self.queue.pending()
        return (not pending["active"] and not pending["backoff"] and not pending["in_flight"]
                and not self._tasks and not self._status_writers)

    # -- informer handlers -------------------------------------------------------------

    def responsible_for(self, pod: v1.Pod) -> bool:
        name = pod.spec.scheduler_name
        return not name or name == self.config.scheduler_name

    def _on_node(self, key: str, old: Message | None, new: Message | None) -> None:
        if new is None:
            self.cache.remove_node(key)
            return
        if self.cache.set_node(new):
            self.queue.move_all_to_active("NodeAdd" if old is None else "NodeUpdate")

    def _on_pod(self, key: str, old: Message | None, new: Message | None) -> None:
        old_pod: v1.Pod | None = old
        pod: v1.Pod | None = new
        if old_pod is not None and (pod is None or pod.metadata.uid != old_pod.metadata.uid):
            self._pod_gone(key, old_pod)
        if pod is None:
            return
        uid = pod.metadata.uid
        if pod.spec.node_name:
            self.queue.delete(key, uid)
            if pod.status.phase in TERMINAL_PHASES:
                if self.cache.remove_pod(uid):
                    self.queue.move_all_to_active("PodFinished")
            else:
                self.cache.add_pod(pod)
            return
        if (pod.metadata.HasField("deletion_timestamp") or pod.status.phase in TERMINAL_PHASES
                or not self.responsible_for(pod)):
            self.queue.delete(key, uid)
            return
        if self.cache.is_assumed(uid):
            return  # our bind is on the wire; its outcome decides what happens next
        self.queue.add(PodInfo(pod))

    def _pod_gone(self, key: str, pod: v1.Pod) -> None:
        uid = pod.metadata.uid
        self.queue.delete(key, uid)
        self._status_wanted.pop(key, None)
        if self.cache.remove_pod(uid):
            self.queue.move_all_to_active("PodDelete")

    # -- one cycle ---------------------------------------------------------------------

    async def schedule_one(self, qp: QueuedPod) -> None:
        """Schedule one popped pod: assume + start its bind, or record why it can't run."""
        info = qp.info
        started = time.perf_counter()
        try:
            result = self.framework.schedule(info, self.cache.node_list())
        except Exception:
            log.exception("scheduling failed", extra=_extra(info))
            self.metrics.attempts.labels("error").inc()
            self.queue.add_backoff(qp)
            return
        if result.node is None:
            assert result.error is not None
            self.metrics.attempt_duration.observe(time.perf_counter() - started)
            self.metrics.attempts.labels("unschedulable").inc()
            message = result.error.message()
            log.info("pod unschedulable: %s", message, extra=_extra(info, attempts=qp.attempts))
            self.queue.add_unschedulable(qp)
            self._report_unschedulable(info, message)
            return
        self.cache.assume(info, result.node)
        self.queue.done(qp)
        self.metrics.attempt_duration.observe(time.perf_counter() - started)
        self.metrics.attempts.labels("scheduled").inc()
        self._status_wanted.pop(info.key, None)
        await self._binds.acquire()
        task = asyncio.create_task(self._bind(qp, result.node))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, qp: QueuedPod, node: str) -> None:
        info = qp.info
        try:
            await self.client.bind(info.namespace, info.name, info.uid, node)
        except errors.ApiError as err:
            self.cache.forget(info)
            self.metrics.binds.labels(err.reason).inc()
            log.info("bind to %s failed: %s", node, err, extra=_extra(info, node=node))
            current: v1.Pod | None = self.pod_informer.get(info.key)
            if (current is not None and current.metadata.uid == info.uid
                    and not current.spec.node_name
                    and not current.metadata.HasField("deletion_timestamp")):
                qp.info = PodInfo(current)
                self.queue.add_backoff(qp)
            # The node we counted on may be gone, or its pods changed: look again.
            self.queue.move_all_to_active("BindFailed")
            return
        finally:
            self._binds.release()
        self.cache.finish_binding(info)
        self.metrics.binds.labels("ok").inc()
        self.metrics.e2e_duration.observe(time.monotonic() - qp.initial_timestamp)
        log.debug("bound to %s", node, extra=_extra(info, node=node))
        self.events.pod_event(info.pod, "Normal", "Scheduled",
                           f"Successfully assigned {info.key} to {node}")
        if self.on_bound is not None:
            self.on_bound(info, node)

    # -- reporting ----------------------------------------------------------------------

    def _report_unschedulable(self, info: PodInfo, message: str) -> None:
        """Set PodScheduled=False/Unschedulable and record FailedScheduling, once per message."""
        current: v1.Pod = self.pod_informer.get(info.key) or info.pod
        if pod_scheduled_condition(current) == ("False", "Unschedulable", message):
            return
        if self._status_wanted.get(info.key) == (info.uid, message):
            return
        self._status_wanted[info.key] = (info.uid, message)
        self.events.pod_event(current, "Warning", "FailedScheduling", message)
        if info.key not in self._status_writers:
            task = asyncio.create_task(self._write_status(info.key))
            self._status_writers[info.key] = task
            task.add_done_callback(lambda _: self._status_writers.pop(info.key, None))

    async def _write_status(self, key: str) -> None:
        """Write the wanted condition until it is there (fresh get on Conflict)."""
        pod: v1.Pod | None = None
        for _ in range(STATUS_RETRIES):
            wanted = self._status_wanted.get(key)
            if wanted is None:
                return
            uid, message = wanted
            if pod is None:
                pod = self.pod_informer.get(key)
            if pod is None or pod.metadata.uid != uid or pod.spec.node_name:
                return
            update = v1.Pod()
            update.CopyFrom(pod)
            if not set_pod_condition(update.status, "PodScheduled", "False", "Unschedulable",
                                     message):
                if self._status_wanted.get(key) == wanted:
                    del self._status_wanted[key]
                return
            try:
                await self.client.update_status(update)
            except errors.Conflict:
                try:
                    pod = await self.client.get(v1.Pod, *reversed(key.split("/", 1)))
                except errors.NotFound:
                    return
                continue
            except errors.NotFound:
                return
            except errors.ApiError as err:
                log.info("pod status not written: %s", err,
                         extra={"component": "scheduler", "pod": key})
                return
            pod = None
            if self._status_wanted.get(key) == wanted:
                del self._status_wanted[key]
                return


async def run_forever(config: SchedulerConfig, client_factory: Callable[[str], Awaitable[Client]]
                      | None = None) -> None:
    """Connect to `config.server` and run a Scheduler until cancelled."""
    if client_factory is None:
        client = Client(config.server)
    else:
        client = await client_factory(config.server)
    try:
        await Scheduler(client, config).run()
    finally:
        await client.close()
