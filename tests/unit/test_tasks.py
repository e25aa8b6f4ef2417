"""cancel_and_wait: the stopper's own cancellation is never swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from podlab.tasks import cancel_and_wait

pytestmark = pytest.mark.unit


async def _stubborn(cleaning: asyncio.Event, release: asyncio.Event) -> None:
    """A task that takes a while to finish once cancelled (its clean-up awaits)."""
    try:
        await asyncio.Event().wait()
    finally:
        cleaning.set()
        await release.wait()


async def test_a_caller_cancelled_while_it_waits_is_cancelled() -> None:
    cleaning, release = asyncio.Event(), asyncio.Event()
    child = asyncio.create_task(_stubborn(cleaning, release))
    await asyncio.sleep(0)  # the child starts and parks

    async def stopper() -> str:
        await cancel_and_wait(child)
        return "ran on"  # what the suppress(CancelledError) idiom let happen

    stopping = asyncio.create_task(stopper())
    await cleaning.wait()  # the stopper now waits on the child's clean-up
    stopping.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert child.done()


async def test_the_old_idiom_swallows_it() -> None:
    """The defect cancel_and_wait replaces, shown once: the caller runs on after its cancel."""
    cleaning, release = asyncio.Event(), asyncio.Event()
    child = asyncio.create_task(_stubborn(cleaning, release))
    await asyncio.sleep(0)

    async def stopper() -> str:
        child.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await child
        return "ran on"

    stopping = asyncio.create_task(stopper())
    await cleaning.wait()
    stopping.cancel()
    release.set()
    assert await stopping == "ran on"


async def test_finished_and_failed_tasks_raise_nothing() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fail())
    await asyncio.wait([failed])
    await cancel_and_wait(failed, asyncio.create_task(asyncio.Event().wait()))
