"""Ports on 127.0.0.1 for test servers, and one where connections are surely refused.

A port that was bound and released can be taken by any other process (another test, another
engineer's server) before it is used: :func:`free_ports` is only for servers that must be
given a number, and :func:`refused_port` holds its port for as long as a test needs it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now (held together, so all differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections while the block runs: bound and never
    listening, so nothing else can listen there meanwhile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


__all__ = ["free_ports", "refused_port"]
