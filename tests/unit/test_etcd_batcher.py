"""The etcd store's group commit, against an etcd that evaluates transactions in a dict.

What a caller sees: every write answers as if it had been its own transaction;
concurrent writes share round trips, sent when the batch reaches its target or
the commit delay ends; a writer alone is sent at once, without the delay; two
writes of one key never share a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from etcd3.etcdrpc import rpc_pb2 as etcd

from controlplane.etcd import _TxnBatcher
from controlplane.storage import Guard, Put
from tests.support.waiting import eventually

pytestmark = pytest.mark.unit


class DictEtcd:
    """Txn over a dict: create-revision guards and puts, nested transactions, one revision per round trip."""

    def __init__(self) -> None:
        self.created: dict[bytes, int] = {}
        self.revision = 1
        self.round_trips: list[int] = []  # writes carried by each
        self.sent = asyncio.Event()  # a round trip has begun

    def Txn(self) -> None:  # the method the batcher names; DictEtcd.rpc dispatches on it
        raise AssertionError("called through rpc")

    def _apply(self, request: etcd.TxnRequest) -> bool:
        for compare in request.compare:
            assert compare.target == etcd.Compare.CREATE and compare.result == etcd.Compare.EQUAL
            if self.created.get(compare.key, 0) != compare.create_revision:
                return False
        for op in request.success:
            self.created.setdefault(op.request_put.key, self.revision)
        return True

    async def rpc(self, method, request: etcd.TxnRequest) -> etcd.TxnResponse:
        self.sent.set()
        await asyncio.sleep(0.001)  # a round trip
        self.revision += 1
        children = [op.request_txn for op in request.success if op.HasField("request_txn")]
        reply = etcd.TxnResponse(header=etcd.ResponseHeader(revision=self.revision))
        if not children:
            self.round_trips.append(1)
            reply.succeeded = self._apply(request)
            return reply
        self.round_trips.append(len(children))
        reply.succeeded = True
        for child in children:
            reply.responses.add().response_txn.succeeded = self._apply(child)
        return reply


def create(key: bytes) -> tuple[etcd.TxnRequest, frozenset[bytes], frozenset[bytes]]:
    guard, put = Guard(key, 0, target="create"), Put(key, b"v")
    request = etcd.TxnRequest(
        compare=[etcd.Compare(key=guard.key, target=etcd.Compare.CREATE, result=etcd.Compare.EQUAL,
                              create_revision=0)],
        success=[etcd.RequestOp(request_put=etcd.PutRequest(key=put.key, value=put.value))])
    return request, frozenset([key]), frozenset([key])


class Linger:
    """The batcher's linger timeout, ended only by the test: `lingering` is the open one, if any."""

    def __init__(self) -> None:
        self.lingering: asyncio.Timeout | None = None
        self.lingered = 0  # how many times a batch lingered

    @contextlib.asynccontextmanager
    async def timeout(self, delay: float) -> AsyncIterator[asyncio.Timeout]:
        async with asyncio.timeout(None) as timeout:
            self.lingering, self.lingered = timeout, self.lingered + 1
            try:
                yield timeout
            finally:
                self.lingering = None

    def end(self) -> None:
        """The commit delay is over."""
        assert self.lingering is not None
        self.lingering.reschedule(asyncio.get_running_loop().time())


@pytest.fixture
def store() -> DictEtcd:
    return DictEtcd()


@pytest.fixture
def linger() -> Linger:
    return Linger()


async def queued(batcher: _TxnBatcher, n: int) -> None:
    """Wait until `n` writes wait in the batcher's queue."""
    await eventually(lambda: len(batcher._queue) == n)


async def test_concurrent_writes_share_round_trips_and_each_gets_its_own_answer(store: DictEtcd) -> None:
    batcher = _TxnBatcher(store, store.rpc)
    keys = [f"/k/{i}".encode() for i in range(64)]
    results = await asyncio.gather(*(batcher.submit(*create(k)) for k in [*keys, keys[0], keys[1]]))
    # The 64 new keys were written; the two repeats lost their create guard, as alone they would.
    assert all(r is not None for r in results[:64])
    assert results[64:] == [None, None]
    assert set(store.created) == set(keys)
    assert sum(store.round_trips) == 66
    assert len(store.round_trips) <= 8, store.round_trips


async def test_a_writer_alone_is_not_delayed(store: DictEtcd, linger: Linger) -> None:
    batcher = _TxnBatcher(store, store.rpc, linger.timeout)  # a linger would never end
    for i in range(20):
        assert await asyncio.wait_for(batcher.submit(*create(f"/alone/{i}".encode())), timeout=2) is not None
    assert store.round_trips == [1] * 20
    assert linger.lingered == 0


async def test_concurrent_writers_wait_the_commit_delay_and_go_together(store: DictEtcd, linger: Linger) -> None:
    batcher = _TxnBatcher(store, store.rpc, linger.timeout)
    first = [asyncio.create_task(batcher.submit(*create(f"/a/{i}".encode()))) for i in range(2)]
    await eventually(lambda: linger.lingering is not None)
    later = [asyncio.create_task(batcher.submit(*create(f"/b/{i}".encode()))) for i in range(3)]
    await queued(batcher, 5)
    assert store.round_trips == [] and not store.sent.is_set()  # inside the delay: nothing goes
    linger.end()
    await asyncio.wait_for(asyncio.gather(*first, *later), timeout=5)
    assert store.round_trips == [5]


async def test_a_batch_that_reaches_its_target_goes_without_waiting_out_the_delay(
        store: DictEtcd, linger: Linger) -> None:
    batcher = _TxnBatcher(store, store.rpc, linger.timeout)  # the delay never ends by itself
    first = [asyncio.create_task(batcher.submit(*create(f"/a/{i}".encode()))) for i in range(2)]
    await eventually(lambda: linger.lingering is not None)
    rest = [asyncio.create_task(batcher.submit(*create(f"/b/{i}".encode())))
            for i in range(_TxnBatcher.BATCH_TARGET - 2)]
    await asyncio.wait_for(asyncio.gather(*first, *rest), timeout=2)
    assert store.round_trips == [_TxnBatcher.BATCH_TARGET]


async def test_two_writes_of_one_key_never_share_a_batch(store: DictEtcd) -> None:
    batcher = _TxnBatcher(store, store.rpc)
    results = await asyncio.gather(*(batcher.submit(*create(b"/same")) for _ in range(5)))
    assert sorted(r is None for r in results) == [False, True, True, True, True]
    assert store.round_trips == [1] * 5


async def test_a_caller_cancelled_in_flight_leaves_the_rest_of_its_batch_answered(store: DictEtcd) -> None:
    batcher = _TxnBatcher(store, store.rpc)
    tasks = [asyncio.create_task(batcher.submit(*create(f"/c/{i}".encode()))) for i in range(8)]
    await asyncio.wait_for(store.sent.wait(), timeout=2)
    tasks[0].cancel()  # its client went away, as a killed scheduler's binds do
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert store.round_trips == [8]
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, int) for r in results[1:]), results


async def test_a_caller_cancelled_before_its_write_goes_never_writes(store: DictEtcd, linger: Linger) -> None:
    batcher = _TxnBatcher(store, store.rpc, linger.timeout)
    tasks = [asyncio.create_task(batcher.submit(*create(f"/d/{i}".encode()))) for i in range(3)]
    await eventually(lambda: linger.lingering is not None)
    await queued(batcher, 3)
    assert store.round_trips == []  # lingering: nothing sent yet
    tasks[0].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tasks[0]
    linger.end()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, int) for r in results[1:])
    assert set(store.created) == {b"/d/1", b"/d/2"}
