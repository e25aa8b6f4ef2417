"""The one "wait until" of the tests: `await eventually(predicate, timeout)`.

It waits for something to become true. Proving that something does *not*
happen is not its job: a controller test asks the controller to quiesce
(`await controller.quiesced()`) and then looks, and time-based behaviour is
driven by an injected clock, never by the wall clock.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from podlab import errors


async def eventually(predicate: Callable[[], Any | Awaitable[Any]], timeout: float = 10.0,
                     message: str = "", interval: float = 0.01) -> Any:
    """Call `predicate()` (sync or async) until it returns something truthy, and return that.

    An ApiError from it counts as not yet. AssertionError after `timeout` seconds, naming
    `message` and the last answer."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = predicate()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except errors.ApiError as err:
            last = err
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "a condition")
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last})")
        await asyncio.sleep(interval)
