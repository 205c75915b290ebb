"""Retries on TransientError, timeouts, continue_on_failed and success ratios."""

from __future__ import annotations

import time
from pathlib import Path

from dflow import Step, Workflow, argo_range
from dflow.python import OP, FatalError, PythonOPTemplate, TransientError


@OP.function
def flaky(marker: str) -> {"attempts": int}:
    """Fails with a TransientError twice, then succeeds (counts attempts in a file)."""
    path = Path(marker)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    if n < 3:
        raise TransientError(f"attempt {n}: not yet")
    return {"attempts": n}


@OP.function
def slow(seconds: float) -> {"done": bool}:
    time.sleep(seconds)
    return {"done": True}


@OP.function
def maybe_fail(i: int) -> {"i": int}:
    if i % 4 == 3:
        raise FatalError(f"item {i} is bad")
    return {"i": i}


def build(workdir: str = ".") -> Workflow:
    wf = Workflow(name="errors")
    wf.add(
        Step(
            "retry",
            PythonOPTemplate(flaky, retry_on_transient_error=3),
            parameters={"marker": f"{workdir}/flaky-attempts"},
        )
    )
    wf.add(
        Step(
            "timeout",
            PythonOPTemplate(slow, timeout=1),
            parameters={"seconds": 30},
            continue_on_failed=True,
        )
    )
    wf.add(
        Step(
            "ratio",
            PythonOPTemplate(maybe_fail),
            parameters={"i": "{{item}}"},
            with_param=argo_range(8),
            continue_on_success_ratio=0.7,
        )
    )
    return wf


def main() -> Workflow:
    wf = build(str(Path.cwd()))
    wf.submit()
    for s in wf.query_step(type="Pod"):
        print(f"  {s.displayName:<24} {s.phase}")
    print(wf.query_status())
    return wf


if __name__ == "__main__":
    main()
