"""Running controllers (and informer factories) in a test: `async with running(a, b): ...`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class Runnable(Protocol):
    async def run(self) -> None: ...


@contextlib.asynccontextmanager
async def running(*runnables: Runnable) -> AsyncIterator[None]:
    """Run each until the block ends, then cancel them; an error from one fails the test."""
    tasks = [asyncio.create_task(r.run()) for r in runnables]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for r in runnables:
            queue = getattr(r, "queue", None)
            if queue is not None:
                queue.close()
