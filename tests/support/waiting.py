"""Waiting in async tests for something another task or the event loop brings about."""

import asyncio
import time
from collections.abc import Callable

POLL_SECONDS = 0.01


async def until(condition: Callable[[], bool], within_seconds: float, failure: Callable[[], str]) -> None:
    """Return once `condition()` holds; raise AssertionError(failure()) after `within_seconds`."""
    give_up = time.monotonic() + within_seconds
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(failure())
        await asyncio.sleep(POLL_SECONDS)
