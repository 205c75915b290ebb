"""A leaf step's path once its node is open: slots, attempts with retries, its outputs.

:func:`run_leaf` restores a step the step cache holds (:func:`cachecheck.probe`), else
waits for a slot (:func:`gated`), runs attempts (:func:`attempts.attempt`)
until one succeeds or the retry policy gives up, then reads the outputs and ends the node.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from functools import partial

from dflow.model.op_template import OPTemplate

from .attempts import attempt
from .cachecheck import probe
from .layout import StepDir
from .leaf import Leaf
from .nodes import outputs_json
from .outcome import Outcome, retry_policy, retryable
from .saves import save_outputs
from .state import Frame, RunContext
from .stepfiles import record_outputs
from .stepio import read_outputs
from .values import Result, StepError


async def run_leaf(ctx: RunContext, frame: Frame, leaf: Leaf) -> Result:
    """Run ``leaf`` to its end: attempts per its retry policy, then its outputs."""
    node, sd = leaf.node, leaf.sd
    tmpl = leaf.step.template
    # served by the step cache: restored now, with no slot taken and no process started
    cached = await probe(ctx, leaf)
    out, number = (cached, 0) if cached is not None else await run_attempts(ctx, frame, leaf)
    res = Result(out.phase, node.id, exit_code=out.exit_code, message=out.message)
    if out.ok:
        try:
            collect_outputs(ctx, tmpl, sd, res, display=node.display_name)
            if tmpl.outputs.artifacts:
                await save_outputs(ctx, leaf, tmpl, res)
        except StepError as exc:
            res.phase, res.message = "Failed", str(exc)
        except OSError as exc:  # a volume's copy, a file the store could not read
            res.phase = "Failed"
            res.message = f"step '{node.display_name}': saving an output: {exc}"
    elif tmpl.outputs.parameters:
        collect_outputs(ctx, tmpl, sd, res, strict=False, display=node.display_name)
    else:
        record_outputs(ctx, sd, tmpl, res)
    progress = None
    try:
        with open(os.path.join(sd.root, "progress")) as f:
            progress = f.read().strip() or None
    except OSError:
        pass
    ctx.nodes.transition(
        node,
        res.phase,
        message=res.message,
        outputs=outputs_json(res, tmpl),
        attempts=number,
        progress=progress,
    )
    return res


async def run_attempts(ctx: RunContext, frame: Frame, leaf: Leaf) -> tuple[Outcome, int]:
    """Attempts until one succeeds or the retry policy gives up: the last one's outcome and
    the number of attempts."""
    node = leaf.node
    policy = retry_policy(leaf.step.template)
    limit = policy.limit if policy is not None else 0
    number = 0
    while True:
        number += 1
        out = await gated(ctx, frame, partial(attempt, ctx, leaf, number))
        if out.ok or number > limit or not retryable(policy, out):
            return out, number
        ctx.journal.update(node, message=f"attempt {number} failed: {out.message}")
        ctx.journal.record(node, out.phase, out.message)  # the attempt's end, for queries


async def gated(ctx: RunContext, frame: Frame, call: Callable[[], Awaitable[Outcome]]) -> Outcome:
    """Wait for a free slot (suspend, workflow and template parallelism), then run."""
    control = ctx.control
    await control.resumed.wait()
    if control.stopping:
        return Outcome("Failed", "stopped", control.stop_message)
    sems = [s for s in (control.wf_sem, frame.sem) if s is not None]
    for s in sems:
        await s.acquire()
    try:
        if control.stopping:
            return Outcome("Failed", "stopped", control.stop_message)
        return await call()
    finally:
        for s in reversed(sems):
            s.release()


def collect_outputs(
    ctx: RunContext,
    tmpl: OPTemplate,
    sd: StepDir,
    res: Result,
    strict: bool = True,
    display: str | None = None,
) -> None:
    """Read what the step produced into ``res``; record it in the step's ``outputs/``."""
    read_outputs(tmpl, sd, res, display or sd_name(sd), strict)
    record_outputs(ctx, sd, tmpl, res)


def sd_name(sd: StepDir) -> str:
    try:
        with open(os.path.join(sd.root, "name")) as f:
            return f.read()
    except OSError:
        return os.path.basename(sd.root)
