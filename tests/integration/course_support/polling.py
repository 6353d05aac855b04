"""Waiting for something to become true, against a deadline: never a fixed sleep."""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

import pytest

from .timeouts import READY_TIMEOUT

T = TypeVar("T")


def poll_until(condition: Callable[[], Optional[T]], timeout: float,
               interval: float = 0.02) -> Optional[T]:
    """Calls `condition` until it returns something other than None or False, or until
    `timeout` seconds have passed (then returns None). The short sleep between calls only
    paces the polling; the deadline is what bounds the wait."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def wait_until(condition: Callable[[], Optional[T]], what: str,
               timeout: float = READY_TIMEOUT) -> T:
    """Polls `condition` until it returns something true; fails the test, saying `what` did
    not happen, after `timeout` seconds."""
    result = poll_until(condition, timeout)
    if not result:
        pytest.fail(f"{what} did not happen within {timeout} s", pytrace=False)
    return result
