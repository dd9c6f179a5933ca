"""Waiting in tests for something another process does: a server starting, a file landing, a pid ending."""
from __future__ import annotations

import time


def eventually(condition, timeout: float = 120.0, every: float = 0.1) -> bool:
    """Whether `condition()` holds within `timeout` seconds (asked every `every` seconds, and once at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return bool(condition())
