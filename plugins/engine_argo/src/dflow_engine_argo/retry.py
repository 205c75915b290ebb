"""Retries with exponential backoff, shared by the Argo Server and Kubernetes clients.

Both SDKs' own urllib3 retries are switched off (``retries = False``) so that this policy
alone decides what is repeated: the SDKs would repeat a non-idempotent create after a
connection reset, and sleep on no schedule a test can observe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import attrs

RETRY_STATUSES = (500, 502, 503, 504)


@attrs.frozen
class Backoff:
    """``retries`` repeats after the first attempt, waiting ``backoff * 2**(n-1)`` before
    repeat ``n``; ``sleep`` is injectable so tests see each pause the client asks for."""

    retries: int = 3
    backoff: float = 0.5
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        return self.backoff * 2 ** (attempt - 1)

    def allows(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based) that just failed may be repeated."""
        return attempt <= self.retries

    def pause(self, attempt: int, log: logging.Logger, what: str, why: str) -> None:
        delay = self.delay(attempt)
        log.warning("%s: %s; retry %d/%d in %.3gs", what, why, attempt, self.retries, delay)
        self.sleep(delay)
