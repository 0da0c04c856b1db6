"""Failed authentications, counted per client address, so tokens cannot be guessed at speed.

After :data:`MAX_FAILURES` failures within :data:`WINDOW`, every request from that
address is refused with 429 and ``Retry-After`` until the oldest failure leaves the
window, a valid token included: otherwise a guesser would learn which guess was
right from the one answer that is not 429. The count lives in the server process
(each ``--workers`` process keeps its own), and the address is the connection's,
so behind a proxy it is the proxy's unless uvicorn is told to trust forwarded headers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

from fastapi import Request

MAX_FAILURES = 10
WINDOW = 60.0
MAX_ADDRESSES = 10_000  # past this many addresses with failures, the stale ones are forgotten


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class FailedLogins:
    """Recent failures per address, in a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW):
        self.max_failures, self.window = max_failures, window
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures[address]
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try again; 0 when it may now."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if len(failures) < self.max_failures:
                if not failures:
                    self._failures.pop(address, None)
                return 0
            return max(1, math.ceil(failures[-self.max_failures] + self.window - now))

    def fail(self, address: str) -> bool:
        """Count one failure; True when it is the one that locks the address out."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > MAX_ADDRESSES:
                self._forget_stale(now)
            failures = self._recent(address, now)
            failures.append(now)
            return len(failures) == self.max_failures

    def _forget_stale(self, now: float) -> None:
        """Drop the addresses whose last failure left the window, so many guessers cannot fill memory."""
        stale = [a for a, failures in self._failures.items() if not failures or failures[-1] <= now - self.window]
        for address in stale:
            del self._failures[address]
