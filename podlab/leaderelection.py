"""Leader election through the API with v1.Lease objects (client-go's algorithm).

Every candidate polls one Lease (kind Lease, e.g. kube-system/podlab-scheduler):

- no Lease: create it naming ourselves (AlreadyExists = someone was faster);
- someone else holds it: take over only once its record (resourceVersion)
  has not changed for `lease_duration`, measured on *our own* monotonic clock
  since we last saw it change, so wall clocks never need to agree;
- we hold it: renew every `retry_period`; if no renewal succeeds within
  `renew_deadline` of the last one, step down (`renew_deadline` <
  `lease_duration` guarantees we stop before a candidate may start).

Every write is `client.update` carrying the resourceVersion read, so two
candidates racing for one record cannot both win: the loser gets Conflict.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from podlab import errors
from podlab.client import ApiClient
from podlab.tasks import cancel_and_wait
from podlab.v1 import objects_pb2 as v1

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2


class LeaderElector:
    """Campaigns for one Lease and runs a callback only while holding it.

    Raises ValueError unless lease_duration > renew_deadline > retry_period > 0.
    `clock` (monotonic seconds) and `sleep` are the time it runs on.
    """

    def __init__(self, client: ApiClient, name: str, namespace: str = "kube-system",
                 identity: str = "", lease_duration: float = 4.0, renew_deadline: float = 3.0,
                 retry_period: float = 0.5,
                 on_stopped_leading: Callable[[], Awaitable[None] | None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not identity:
            raise ValueError("leader election needs a non-empty identity")
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0, got "
                             f"{lease_duration}, {renew_deadline}, {retry_period}")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_stopped_leading = on_stopped_leading
        # Every reading and every wait goes through these two, so a test can drive time.
        self._clock = clock
        self._sleep = sleep
        self._observed_rv = ""
        self._observed_time = 0.0
        self._last_renew = 0.0
        self.holder = ""  # who holds the lease, as last seen
        self.is_leader = False
        self.transitions = 0  # how many times this elector became leader

    # -- one attempt ----------------------------------------------------------------

    def _observe(self, lease: v1.Lease) -> None:
        if lease.metadata.resource_version != self._observed_rv:
            self._observed_rv = lease.metadata.resource_version
            self._observed_time = self._clock()
        self.holder = lease.spec.holder_identity

    def _stamp(self, lease: v1.Lease, acquired: bool) -> None:
        spec = lease.spec
        spec.holder_identity = self.identity
        spec.lease_duration_seconds = max(1, math.ceil(self.lease_duration))
        spec.renew_time.GetCurrentTime()
        if acquired:
            spec.acquire_time.GetCurrentTime()

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when we hold the lease afterwards. Raises ApiError (transport)."""
        try:
            lease = await self.client.get(v1.Lease, self.name, self.namespace)
        except errors.NotFound:
            fresh = v1.Lease(api_version="coordination.k8s.io/v1", kind="Lease")
            fresh.metadata.name, fresh.metadata.namespace = self.name, self.namespace
            self._stamp(fresh, acquired=True)
            try:
                created = await self.client.create(fresh)
            except (errors.AlreadyExists, errors.Conflict):
                return False
            self._observe(created)
            return True
        self._observe(lease)
        holder = lease.spec.holder_identity
        if holder and holder != self.identity and \
                self._clock() < self._observed_time + self.lease_duration:
            return False
        update = v1.Lease()
        update.CopyFrom(lease)
        taking_over = holder != self.identity
        self._stamp(update, acquired=taking_over)
        if taking_over:
            update.spec.lease_transitions = lease.spec.lease_transitions + 1
        try:
            updated = await self.client.update(update)
        except (errors.Conflict, errors.NotFound):
            return False
        self._observe(updated)
        return True

    async def release(self) -> bool:
        """Give the lease up now (holder cleared) so a candidate need not wait it out."""
        try:
            lease = await self.client.get(v1.Lease, self.name, self.namespace)
            if lease.spec.holder_identity != self.identity:
                return False
            update = v1.Lease()
            update.CopyFrom(lease)
            update.spec.holder_identity = ""
            update.spec.lease_duration_seconds = 1
            update.spec.renew_time.GetCurrentTime()
            await self.client.update(update)
            return True
        except errors.ApiError as err:
            log.info("could not release lease %s/%s: %s", self.namespace, self.name, err)
            return False

    # -- the loop -------------------------------------------------------------------

    async def _attempt(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                return await self.try_acquire_or_renew()
        except (errors.ApiError, TimeoutError) as err:
            log.debug("lease %s/%s: attempt failed: %s", self.namespace, self.name, err)
            return False

    async def acquire(self) -> None:
        """Return once we hold the lease (retrying every retry_period, jittered)."""
        while True:
            if await self._attempt(self.renew_deadline):
                self._last_renew = self._clock()
                return
            await self._sleep(self.retry_period * (1 + random.random() * JITTER_FACTOR))

    async def _renew_until_lost(self) -> None:
        """Renew every retry_period; return when leadership is lost."""
        while True:
            await self._sleep(self.retry_period)
            while True:
                remaining = self._last_renew + self.renew_deadline - self._clock()
                if remaining <= 0:
                    log.warning("lease %s/%s: failed to renew within %.1fs", self.namespace,
                                self.name, self.renew_deadline)
                    return
                if await self._attempt(remaining):
                    self._last_renew = self._clock()
                    break
                if self.holder and self.holder != self.identity:
                    log.warning("lease %s/%s: taken over by %s", self.namespace, self.name,
                                self.holder)
                    return
                await self._sleep(min(self.retry_period, max(remaining, 0.0)))

    async def run(self, on_started_leading: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Campaign forever; run `on_started_leading()` as a task whenever we lead.

        The task is cancelled as soon as leadership is lost (then we campaign
        again). If the task returns, we release the lease and return; if it
        raises, we release and re-raise. Cancelling `run` cancels the task and
        releases the lease.
        """
        while True:
            await self.acquire()
            self.is_leader = True
            self.transitions += 1
            log.info("lease %s/%s: %s became leader", self.namespace, self.name, self.identity)
            work = asyncio.create_task(on_started_leading(), name=f"leading:{self.name}")
            renew = asyncio.create_task(self._renew_until_lost(), name=f"renew:{self.name}")
            try:
                await asyncio.wait({work, renew}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                # Stop the work before anything else: once we may have lost the
                # lease, not one more write may go out on its behalf.
                await cancel_and_wait(work, renew)
                lost = renew.done() and not renew.cancelled() and renew.exception() is None
                self.is_leader = False
                if not lost:
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.shield(self.release())
                if self.on_stopped_leading is not None:
                    result = self.on_stopped_leading()
                    if result is not None:
                        await result
            if not lost:
                if not work.cancelled() and work.exception() is not None:
                    raise work.exception()  # type: ignore[misc]
                return
            log.info("lease %s/%s: %s stopped leading", self.namespace, self.name, self.identity)


__all__ = ["LeaderElector"]
