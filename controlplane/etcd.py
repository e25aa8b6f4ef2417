"""The etcd Store: keys, optimistic concurrency and watches on a real etcd.

The control plane is the only etcd client. This module speaks etcd's v3 gRPC
API natively on asyncio, using the request/response messages and stubs that
python3-etcd3 ships (`etcd3.etcdrpc`) over a grpc.aio channel, so no thread
bridge sits on the hot path. It implements controlplane.storage.Store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import grpc
from etcd3.etcdrpc import rpc_pb2 as etcd
from etcd3.etcdrpc import rpc_pb2_grpc as etcd_rpc

from controlplane.storage import Change, ChangeBatch, Delete, Guard, KeyValue, KeyValues, Put, prefix_end
from podlab import errors

log = logging.getLogger(__name__)

TIMEOUT = 5.0


def _compare(guard: Guard) -> etcd.Compare:
    result = etcd.Compare.EQUAL if guard.result == "equal" else etcd.Compare.GREATER
    if guard.target == "create":
        return etcd.Compare(key=guard.key, result=result, target=etcd.Compare.CREATE,
                            create_revision=guard.revision)
    return etcd.Compare(key=guard.key, result=result, target=etcd.Compare.MOD,
                        mod_revision=guard.revision)


def _op(op: Put | Delete) -> etcd.RequestOp:
    if isinstance(op, Put):
        return etcd.RequestOp(request_put=etcd.PutRequest(key=op.key, value=op.value, lease=op.lease))
    return etcd.RequestOp(request_delete_range=etcd.DeleteRangeRequest(key=op.key))


@dataclass
class _Pending:
    request: etcd.TxnRequest
    writes: frozenset[bytes]
    guarded: frozenset[bytes]
    future: asyncio.Future[int | None]


class _TxnBatcher:
    """Coalesces concurrent guarded writes into one etcd transaction of nested transactions.

    Each caller's transaction becomes a child of one parent transaction that
    has no conditions of its own; etcd evaluates every child's guards against
    the state before the parent, applies the children whose guards hold, and
    reports each child's outcome. So N independent writes cost one round trip
    and one raft entry, with exactly the semantics of N separate
    transactions — as long as no child writes a key another child reads or
    writes, which the batcher guarantees by deferring such a child to the
    next batch.

    One transaction is in flight at a time (group commit): an idle store
    sends a write at once, and a busy one sends everything that arrived
    during the previous round trip together. With two in flight, nine in
    ten writes went alone, and etcd spends ~150 µs of CPU on a write sent
    alone against ~60 µs on one in a batch.

    Concurrent writers also linger, as a Kafka producer does (linger.ms,
    batch.size) and as PostgreSQL's commit_delay does only while other
    transactions are active: the batch goes when it holds BATCH_TARGET
    writes or after COMMIT_DELAY, whichever comes first. A round trip costs
    the API server ~250 µs of CPU in gRPC whatever it carries, and over gRPC
    one round trip's worth of arrivals is only ~2 writes; at 16 concurrent
    creates the linger took the API's CPU per create from ~540 µs to
    ~370 µs and its latency down, since each caller waits less for the CPU.
    A writer alone (the last batch and the queue hold one write) never waits.
    """

    MAX_BATCH = 128
    MAX_IN_FLIGHT = 1
    COMMIT_DELAY = 0.002
    BATCH_TARGET = 6

    def __init__(self, kv: etcd_rpc.KVStub, rpc_call,
                 timeout: Callable[[float], AbstractAsyncContextManager[object]] = asyncio.timeout) -> None:
        self._kv = kv
        self._rpc = rpc_call
        self._timeout = timeout  # how the linger waits out COMMIT_DELAY (tests end it themselves)
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(self.MAX_IN_FLIGHT)
        self._task: asyncio.Task[None] | None = None
        self._last_batch = 0
        self._filled = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(self, request: etcd.TxnRequest, writes: frozenset[bytes],
                     guarded: frozenset[bytes]) -> int | None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(request, writes, guarded, future))
        if len(self._queue) >= self.BATCH_TARGET:
            self._filled.set()
        self._wakeup.set()
        return await future

    async def _linger(self) -> None:
        """Wait up to COMMIT_DELAY for the queue to hold BATCH_TARGET writes."""
        if len(self._queue) >= self.BATCH_TARGET:
            return
        self._filled.clear()
        with contextlib.suppress(TimeoutError):
            async with self._timeout(self.COMMIT_DELAY):
                await self._filled.wait()

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        written: set[bytes] = set()
        touched: set[bytes] = set()
        rest: list[_Pending] = []
        for item in self._queue:
            if item.future.done():  # its caller was cancelled before the write went: it never happens
                continue
            clash = item.writes & touched or item.guarded & written
            if clash or len(batch) >= self.MAX_BATCH:
                rest.append(item)
                continue
            batch.append(item)
            written |= item.writes
            touched |= item.writes | item.guarded
        self._queue = rest
        return batch

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._slots.acquire()
                if self._last_batch > 1 or len(self._queue) > 1:
                    await self._linger()
                batch = self._take_batch()
                if not batch:  # every queued caller was cancelled
                    self._slots.release()
                    continue
                self._last_batch = len(batch)
                task = asyncio.create_task(self._send(batch))
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Pending]) -> None:
        """Send one batch and answer each caller still waiting.

        A caller cancelled while its write is in flight (its client went
        away) gets no answer, and the others in its batch get theirs.
        """
        try:
            if len(batch) == 1:
                reply = await self._rpc(self._kv.Txn, batch[0].request)
                outcomes = [reply.succeeded]
            else:
                parent = etcd.TxnRequest(success=[etcd.RequestOp(request_txn=p.request) for p in batch])
                reply = await self._rpc(self._kv.Txn, parent)
                outcomes = [response.response_txn.succeeded for response in reply.responses]
            for item, ok in zip(batch, outcomes, strict=True):
                if not item.future.done():
                    item.future.set_result(reply.header.revision if ok else None)
        except Exception as err:
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(err)
        finally:
            self._slots.release()
            if self._queue:
                self._wakeup.set()


class EtcdStore:
    """A connection to etcd with the handful of operations the API server needs."""

    def __init__(self, endpoint: str) -> None:
        target = endpoint.removeprefix("http://").removeprefix("https://")
        self.endpoint = endpoint
        self._channel = grpc.aio.insecure_channel(target, options=[
            ("grpc.keepalive_time_ms", 10_000), ("grpc.keepalive_timeout_ms", 5_000)])
        self._kv = etcd_rpc.KVStub(self._channel)
        self._watch = etcd_rpc.WatchStub(self._channel)
        self._lease = etcd_rpc.LeaseStub(self._channel)
        self._maintenance = etcd_rpc.MaintenanceStub(self._channel)
        self._batcher = _TxnBatcher(self._kv, self._rpc)

    async def close(self) -> None:
        await self._channel.close()

    async def _rpc(self, method, request):
        try:
            return await method(request, timeout=TIMEOUT)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.OUT_OF_RANGE:  # a read at a revision etcd does not hold
                details = err.details() or ""
                raise (errors.Gone if "compacted" in details else errors.BadRequest)(f"etcd: {details}") from None
            raise errors.Unavailable(f"etcd: {err.code().name}: {err.details()}") from None

    async def version(self) -> str:
        return (await self._rpc(self._maintenance.Status, etcd.StatusRequest())).version

    async def get(self, key: bytes) -> KeyValue | None:
        reply = await self._rpc(self._kv.Range, etcd.RangeRequest(key=key))
        if not reply.kvs:
            return None
        kv = reply.kvs[0]
        return KeyValue(kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.lease)

    async def list(self, prefix: bytes, revision: int = 0) -> tuple[KeyValues, int]:
        """Every key under `prefix` at `revision` (0: now), and the revision the read saw."""
        reply = await self._rpc(self._kv.Range, etcd.RangeRequest(key=prefix, range_end=prefix_end(prefix),
                                                                  revision=revision))
        kvs = [KeyValue(kv.key, kv.value, kv.mod_revision, kv.create_revision, kv.lease) for kv in reply.kvs]
        return kvs, revision or reply.header.revision

    async def txn(self, guards: Sequence[Guard], ops: Sequence[Put | Delete]) -> int | None:
        """Apply `ops` atomically if every guard holds. The new revision, or None if a guard failed."""
        request = etcd.TxnRequest(compare=[_compare(g) for g in guards], success=[_op(o) for o in ops])
        return await self._batcher.submit(request, frozenset(o.key for o in ops),
                                          frozenset(g.key for g in guards))

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        reply = await self._rpc(self._kv.Put, etcd.PutRequest(key=key, value=value, lease=lease))
        return reply.header.revision

    async def grant_lease(self, ttl: int) -> int:
        return (await self._rpc(self._lease.LeaseGrant, etcd.LeaseGrantRequest(TTL=ttl))).ID

    async def compact(self, revision: int) -> None:
        await self._rpc(self._kv.Compact, etcd.CompactionRequest(revision=revision, physical=True))

    async def watch(self, prefix: bytes, start_revision: int = 0,
                    progress_every: float = 0.0) -> AsyncIterator[ChangeBatch | int]:
        """Changes under `prefix` from `start_revision` on (0: from now).

        Yields lists of changes, and — every `progress_every` seconds when
        set — a bare int: the store's current revision, for bookmarks.
        Raises Gone when `start_revision` has been compacted, Unavailable when
        etcd goes away.
        """
        requests: asyncio.Queue[etcd.WatchRequest | None] = asyncio.Queue()
        await requests.put(etcd.WatchRequest(create_request=etcd.WatchCreateRequest(
            key=prefix, range_end=prefix_end(prefix), start_revision=start_revision, prev_kv=True)))

        async def request_stream() -> AsyncIterator[etcd.WatchRequest]:
            while (req := await requests.get()) is not None:
                yield req

        async def ask_progress() -> None:
            while True:
                await asyncio.sleep(progress_every)
                await requests.put(etcd.WatchRequest(progress_request=etcd.WatchProgressRequest()))

        call = self._watch.Watch(request_stream())
        progress = asyncio.create_task(ask_progress()) if progress_every > 0 else None
        try:
            async for reply in call:
                if reply.compact_revision:
                    raise errors.Gone(f"too old resource version: {start_revision} "
                                      f"({reply.compact_revision})")
                if reply.canceled:
                    raise errors.Unavailable(f"etcd cancelled the watch: {reply.cancel_reason}")
                if reply.events:
                    yield [Change(e.kv.key, None if e.type == e.DELETE else e.kv.value,
                                  e.prev_kv.value if e.HasField("prev_kv") else None, e.kv.mod_revision)
                           for e in reply.events]
                elif not reply.created:
                    yield reply.header.revision
        except grpc.RpcError as err:
            raise errors.Unavailable(f"etcd watch: {err.code().name}: {err.details()}") from None
        finally:
            if progress:
                progress.cancel()
            await requests.put(None)
            call.cancel()
