"""Import dpdispatcher without its import-time side effects.

On import dpdispatcher attaches a handler writing ``dpdispatcher.log`` into the current working
directory and one printing to stdout. We drop both; each submission's messages are captured
into the step logs instead (see ``capture``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

_lock = threading.Lock()
LOGGER = "dpdispatcher"


def dpdispatcher() -> ModuleType:
    """The dpdispatcher module, imported quietly once."""
    with _lock:
        if "dpdispatcher" in sys.modules:
            return sys.modules["dpdispatcher"]
        logger = logging.getLogger(LOGGER)
        logger.disabled = True
        try:
            import dpdispatcher as module
        except ImportError:
            raise ImportError(
                "DispatcherExecutor needs dpdispatcher: pip install dflow-executor-dispatcher"
            ) from None
        finally:
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
                handler.close()
            logger.disabled = False
        return module


class _ThreadFilter(logging.Filter):
    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName == self.thread_name


@contextlib.contextmanager
def capture(lines: list[str], thread_name: str) -> Iterator[None]:
    """Collect the dpdispatcher messages logged by one thread into ``lines``."""

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(f"[dpdispatcher] {record.levelname}: {record.getMessage()}")

    handler = ListHandler(logging.INFO)
    handler.addFilter(_ThreadFilter(thread_name))
    logger = logging.getLogger(LOGGER)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
