"""Stopping asyncio tasks without swallowing the stopper's own cancellation."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel `tasks` and wait until each has finished, raising nothing of theirs.

    The idiom `task.cancel(); with suppress(CancelledError): await task` also
    swallows a cancellation of the *caller* that lands while it waits: the
    caller then runs on, and whoever cancelled it waits forever (a node agent
    whose heartbeat was cancelled in that instant never stopped). asyncio.wait
    returns when the tasks are done and lets the caller's cancellation through.
    """
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
