"""The API server's watch cache: one store watch per resource, decoded once, fanned out to every watcher.

Kubernetes' cacher (`k8s.io/apiserver/pkg/storage/cacher`): without it every
watcher of pods is its own etcd watch, and every change is sent by etcd,
received and decoded once per watcher. With it, each resource (a kind's key
prefix, all namespaces) has one `_Resource`: it lists the prefix once, then
follows one store watch from that revision, decodes each change once, and
keeps

- `state`: every object as of `revision` (key → the decoded object), which
  serves lists at resourceVersion "0" (any cached state) and, within the
  window, at an exact resourceVersion;
- `window`: the last changes, in revision order, each with the object before
  and after it, so a watch from a recent resourceVersion resumes from memory.

Watchers do not get a queue each: each one is a cursor into the shared
window, read by the watcher's own coroutine, which applies its namespace,
label and field selectors and the ADDED/MODIFIED/DELETED-on-transition rule
(`transition`, the same one the registry's own watch uses). Appending a change
costs the fan-out one wake-up of the waiting watchers, whatever they do; a
watcher that has fallen so far behind that its next change has left the
window is ended (its stream ends cleanly, as Kubernetes ends a slow watcher),
and its client re-watches from the last resourceVersion it saw, or relists.

The contract:
- a watch from resourceVersion r yields every change with revision > r under
  its namespace, in revision order, exactly once, filtered by its selectors,
  as the store's own watch would; "" means from the store's current revision
  (read from the store, so nothing committed before the call shows);
- a resourceVersion the store has compacted raises Gone, as today (the cache
  asks the store: its window may hold history etcd no longer has); one older
  than the window but not compacted is served by a store watch of its own,
  exactly as without the cache;
- when the resource's store watch fails, every watcher of it ends with that
  error (or ends cleanly when the store watch ended cleanly), and the next
  watch starts the resource afresh (Kubernetes terminates all watchers when
  its reflector restarts);
- bookmarks: after `bookmark_seconds` with nothing to send, a watcher yields a
  BOOKMARK at the resource's revision, which its stream has fully delivered;
- objects handed out are shared by every watcher and by lists from the cache:
  immutable by contract. A consumer that mutates what it gets (the in-process
  LocalClient's callers) copies first; the gRPC and REST front ends only read.

Invariants (all state is touched only on the event loop, without an await
between reading and writing it):
- `window` is in revision order; every change with revision > `floor` and
  <= `revision` is in it, none at or below `floor` (trimming drops whole
  revisions: one transaction's changes stay together);
- `state` is the store under the prefix at `revision`; the first entry of the
  window with revision > r holds, for its key, the object as it was at r;
- `base + i` is the sequence number of `window[i]`; a watcher's cursor is the
  sequence number of the next entry it reads; cursor < base means it fell out.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from controlplane.storage import Change, Store
from podlab import errors
from podlab.kinds import Kind, meta
from podlab.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# Changes kept per resource for watches that resume (Kubernetes keeps 100 and grows to cover 75 s).
WINDOW = 8192
# How often the resource's store watch asks for progress, so bookmarks carry a fresh revision.
PROGRESS_SECONDS = 5.0


@dataclass
class ObjectEvent:
    """One watch event. From the cache it is shared by every watcher it goes to: read it, don't change it.

    `memo` is for a front end to keep what it derives from the event (its wire form), once for all.
    """

    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Message | None
    revision: int
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def decode(kind: Kind[Any], value: bytes, revision: int) -> Message:
    """A stored value as the object it holds, with its resourceVersion (not stored) set to `revision`."""
    obj = kind.message.FromString(value)
    meta(obj).resource_version = str(revision)
    return obj


def transition(old: Message | None, new: Message | None, matches: Callable[[Message], bool]) -> str | None:
    """The event a watcher with selector `matches` sees for a change from `old` to `new` (None: absent).

    An object that starts matching is ADDED, one that stops matching is DELETED,
    one that matches before and after is MODIFIED; otherwise there is nothing.
    """
    was, is_ = old is not None and matches(old), new is not None and matches(new)
    if is_:
        return "MODIFIED" if was else "ADDED"
    return "DELETED" if was else None


class _Entry:
    """One change in the window: the key's object before (None: absent) and after (None: deleted)."""

    __slots__ = ("key", "revision", "old", "new", "_events")

    def __init__(self, key: bytes, revision: int, old: Message | None, new: Message | None) -> None:
        self.key, self.revision, self.old, self.new = key, revision, old, new
        self._events: dict[str, ObjectEvent] = {}

    def event(self, type_: str) -> ObjectEvent:
        """The shared event of this change as `type_` (a DELETED carries the last state, at this revision)."""
        made = self._events.get(type_)
        if made is None:
            obj = self.new
            if obj is None:
                assert self.old is not None
                obj = type(self.old)()
                obj.CopyFrom(self.old)
                meta(obj).resource_version = str(self.revision)
            made = self._events[type_] = ObjectEvent(type_, obj, self.revision)
        return made


class _Resource:
    """The cache of one kind: its state, its window and the store watch that feeds them."""

    def __init__(self, store: Store, kind: Kind[Any], prefix: bytes, window: int, start: int = 0) -> None:
        self.store, self.kind, self.prefix, self.limit = store, kind, prefix, window
        self.state: dict[bytes, Message] = {}
        self.window: list[_Entry] = []
        self.revisions: list[int] = []  # window[i].revision, for bisection
        self.base = 0  # sequence number of window[0]
        self.floor = 0  # every change after it is in the window
        self.revision = 0  # state is the store at this revision
        self.failure: BaseException | None = None  # set once the store watch has ended
        self.ended = False
        self.watchers = 0
        self._changed = asyncio.Event()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._run(start), name=f"watch-cache {kind.plural}")

    @property
    def head(self) -> int:
        return self.base + len(self.window)

    async def _run(self, start: int) -> None:
        """List at `start` (0: now), then follow the store from there until it fails or is cancelled."""
        try:
            kvs, revision = await self.store.list(self.prefix, start)
            self.state = {kv.key: decode(self.kind, kv.value, kv.mod_revision) for kv in kvs}
            self.revision = self.floor = revision
            self.ready.set_result(None)
            async for batch in self.store.watch(self.prefix, revision + 1, PROGRESS_SECONDS):
                if isinstance(batch, int):
                    self.revision = max(self.revision, batch)
                else:
                    self._apply(batch)
                self._wake()
        except asyncio.CancelledError:
            self.failure = errors.Unavailable("the API server's watch cache closed")
            raise
        except Exception as err:
            self.failure = err
            log.info("watch cache %s: store watch ended: %s", self.kind.plural, err)
        finally:
            self.ended = True
            if not self.ready.done():
                self.ready.set_exception(self.failure or errors.Unavailable("watch cache closed"))
                self.ready.exception()  # retrieved: the first watcher raises it
            self._wake()

    def _apply(self, batch: Iterable[Change]) -> None:
        for change in batch:
            old = self.state.get(change.key)
            if old is None and change.prev is not None:  # cannot happen on a continuous watch; be exact anyway
                old = decode(self.kind, change.prev, change.revision)
            new = decode(self.kind, change.value, change.revision) if change.value is not None else None
            if new is None:
                self.state.pop(change.key, None)
            else:
                self.state[change.key] = new
            self.window.append(_Entry(change.key, change.revision, old, new))
            self.revisions.append(change.revision)
            self.revision = max(self.revision, change.revision)
        if len(self.window) > self.limit + self.limit // 4:
            self._trim(len(self.window) - self.limit)

    def _trim(self, count: int) -> None:
        """Drop the oldest `count` entries, and the rest of the last one's revision with them."""
        last = self.revisions[count - 1]
        count = bisect.bisect_right(self.revisions, last)
        del self.window[:count], self.revisions[:count]
        self.base += count
        self.floor = last

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def position_after(self, revision: int) -> int:
        """The sequence number of the first entry with a revision above `revision`."""
        return self.base + bisect.bisect_right(self.revisions, revision)

    def state_at(self, revision: int) -> dict[bytes, Message] | None:
        """Key -> object as they were at `revision`, or None when the cache cannot say (outside its window)."""
        if revision == self.revision:
            return self.state
        if not self.floor <= revision < self.revision:
            return None
        state = dict(self.state)
        for entry in reversed(self.window[bisect.bisect_right(self.revisions, revision):]):
            if entry.old is None:
                state.pop(entry.key, None)
            else:
                state[entry.key] = entry.old
        return state

    def follow(self, prefix: bytes, after: int, matches: Callable[[Message], bool],
               bookmark_seconds: float) -> AsyncGenerator[ObjectEvent, None]:
        """The watch of one watcher: changes under `prefix` after revision `after` (>= floor) that it selects.

        Its place in the window is taken now: the window may move on before the first read.
        """
        assert after >= self.floor
        return self._follow(self.position_after(after), prefix, after, matches, bookmark_seconds)

    async def _follow(self, cursor: int, prefix: bytes, after: int, matches: Callable[[Message], bool],
                      bookmark_seconds: float) -> AsyncGenerator[ObjectEvent, None]:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        self.watchers += 1
        try:
            while True:
                if cursor < self.base:
                    log.info("watch cache %s: a watcher fell %d changes behind; ending it", self.kind.plural,
                             self.head - cursor)
                    return
                sent = False
                while cursor < self.head:
                    entry = self.window[cursor - self.base]
                    cursor += 1
                    if entry.revision <= after or not entry.key.startswith(prefix):
                        continue
                    type_ = transition(entry.old, entry.new, matches)
                    if type_ is not None:
                        sent = True
                        yield entry.event(type_)
                        last_sent = loop.time()
                        if cursor < self.base:
                            break  # the window moved on while this watcher waited on its consumer
                if cursor < self.base:
                    continue
                if self.ended:
                    if self.failure is not None:
                        raise self.failure
                    return
                if sent:
                    continue
                changed = self._changed
                wait = max(0.0, last_sent + bookmark_seconds - loop.time()) if bookmark_seconds else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await changed.wait()
                if bookmark_seconds and loop.time() - last_sent >= bookmark_seconds and cursor == self.head:
                    last_sent = loop.time()
                    if self.revision >= after:
                        yield ObjectEvent("BOOKMARK", None, self.revision)
        finally:
            self.watchers -= 1


class WatchCache:
    """The API server's watch caches, one per kind, each started by its first watch or cached list."""

    def __init__(self, store: Store, window: int = WINDOW) -> None:
        self.store = store
        self.window = window
        self._resources: dict[str, _Resource] = {}
        self._closed = False

    def store_watches(self) -> int:
        """How many store watches the cache holds open (one per resource being cached)."""
        return sum(not r.ended for r in self._resources.values())

    def watchers(self, kind: Kind[Any] | None = None) -> int:
        """How many watches the cache is serving (of `kind`, or of every kind)."""
        return sum(r.watchers for name, r in self._resources.items() if kind is None or name == kind.name)

    def revision(self, kind: Kind[Any]) -> int:
        """The store revision the cache of `kind` has reached (0: not cached)."""
        resource = self._resources.get(kind.name)
        return resource.revision if resource is not None and not resource.ended else 0

    async def _resource(self, kind: Kind[Any], prefix: bytes, start: int = 0) -> _Resource:
        """The cache of `kind`, started (its window from revision `start`, 0: now) if it is not running."""
        if self._closed:
            raise errors.Unavailable("the API server's watch cache is closed")
        resource = self._resources.get(kind.name)
        if resource is None or resource.ended:
            resource = self._resources[kind.name] = _Resource(self.store, kind, prefix, self.window, start)
        await asyncio.shield(resource.ready)
        return resource

    async def watch(self, kind: Kind[Any], kind_prefix: bytes, prefix: bytes, after: int | None,
                    matches: Callable[[Message], bool],
                    bookmark_seconds: float) -> tuple[AsyncGenerator[ObjectEvent, None] | None, int]:
        """The events after revision `after` (None: from the store's current revision) under `prefix`,
        and that revision.

        `kind_prefix` is the whole kind's (what the cache follows), `prefix` the watcher's namespace
        within it. Raises Gone for a compacted revision; answers no events when the revision is older
        than the window: the caller then watches the store itself from there.
        """
        if after is None:
            _, after = await self.store.list(_probe(kind_prefix))  # the store's revision now
            start = after
        else:
            start = after
            try:
                await self.store.list(_probe(kind_prefix), after)  # Gone once compacted
            except errors.BadRequest:
                start = 0  # a revision the store has not reached: the watch waits for it, as the store's would
        # A cache this watch starts begins at its revision (a read of the past: MVCC), so it serves it.
        resource = await self._resource(kind, kind_prefix, start)
        if after < resource.floor:
            return None, after
        return resource.follow(prefix, after, matches, bookmark_seconds), after

    async def list(self, kind: Kind[Any], kind_prefix: bytes, prefix: bytes, resource_version: str,
                   exact: bool) -> tuple[list[Message], int] | None:
        """The objects under `prefix` at `resource_version` from memory, in key order, and their revision;
        None when the cache cannot serve it (the caller reads the store).

        "0": whatever the cache holds. "N": not older than N (the cache's state if it has reached N), or
        with `exact` as of N (from the window, if N is in it). Nobody may change what it returns.
        """
        resource = await self._resource(kind, kind_prefix)
        wanted = int(resource_version)
        if wanted == 0:
            at = resource.revision
        elif exact:
            at = wanted
        elif resource.revision >= wanted:
            at = resource.revision
        else:
            return None
        state = resource.state_at(at)
        if state is None:
            return None
        return [state[key] for key in sorted(k for k in state if k.startswith(prefix))], at

    async def close(self) -> None:
        """Stop every resource's store watch; their watchers end with Unavailable."""
        self._closed = True
        resources, self._resources = list(self._resources.values()), {}
        await cancel_and_wait(*(resource.task for resource in resources))


def _probe(kind_prefix: bytes) -> bytes:
    """A prefix no key has (names hold no NUL): a read of it costs the store nothing but says its revision."""
    return kind_prefix + b"\0"

