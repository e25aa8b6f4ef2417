"""The one "wait until" helper the tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Return once `condition()` holds, checking every `interval` seconds; TimeoutError after `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(interval)
