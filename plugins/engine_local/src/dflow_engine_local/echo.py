"""Steps' output on the console as they write it, as pydflow's debug mode shows it.

A step's output goes to its ``log.txt`` (its workers and scripts write there directly, never
through the runner). While an attempt runs, the runner reads what was added to that log every
:data:`LogEcho.INTERVAL` seconds and writes the complete lines to ``sys.stdout`` (the
caller's, as pydflow tees each step's output there); the rest when the attempt ends. Lines
dflow writes itself (``[dflow] ...``: kills, executor jobs) stay in the log: the run's own
messages say what matters of them. ``[engines.local] echo_logs = false`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

_OURS = b"[dflow] "


class LogEcho:
    """Follows the logs of the running attempts and copies their new lines to the console."""

    INTERVAL = 0.2

    def __init__(self) -> None:
        self.followed: dict[str, list] = {}  # log path -> [bytes read, partial last line]
        self.task: asyncio.Future | None = None

    def follow(self, log: str) -> None:
        """An attempt starts writing ``log``: echo what it adds (not earlier attempts')."""
        try:
            size = os.stat(log).st_size
        except OSError:
            size = 0
        self.followed[log] = [size, b""]
        if self.task is None:
            self.task = asyncio.ensure_future(self._poll())

    def done(self, log: str) -> None:
        """The attempt ended: echo the rest of what it wrote."""
        state = self.followed.pop(log, None)
        if state is not None:
            self._read(log, state, final=True)

    def close(self) -> None:
        """The run ends: echo what every followed log still holds."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        for log in list(self.followed):
            self.done(log)

    async def _poll(self) -> None:
        try:
            while self.followed:
                await asyncio.sleep(self.INTERVAL)
                for log, state in list(self.followed.items()):
                    self._read(log, state, final=False)
        finally:
            if self.task is asyncio.current_task():
                self.task = None  # the next attempt to start polls again

    def _read(self, log: str, state: list, final: bool) -> None:
        try:
            if os.stat(log).st_size <= state[0] and not (final and state[1]):
                return  # one stat per log and tick when nothing was written
            with open(log, "rb") as f:
                f.seek(state[0])
                data = f.read()
        except OSError:
            return
        state[0] += len(data)
        text = state[1] + data
        cut = len(text) if final else text.rfind(b"\n") + 1
        state[1] = text[cut:]
        lines = [
            line for line in text[:cut].splitlines(keepends=True) if not line.startswith(_OURS)
        ]
        if lines:
            out = b"".join(lines)
            _write(out.decode("utf-8", "replace") + ("" if out.endswith(b"\n") else "\n"))


def _write(text: str) -> None:
    # the caller's stream as it is now (pytest's capture, the live view's redirection); a
    # caller that closed its output loses the echo, never the run
    stream = sys.stdout
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(text)
        stream.flush()
