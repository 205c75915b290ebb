"""The workflow's global outputs: journaled, and linked under ``<wf>/outputs/``."""

from __future__ import annotations

import os

from dflow.model.io import Outputs

from .layout import place, write_text
from .state import RunContext
from .values import Result, param_type


def publish_globals(ctx: RunContext, outputs: Outputs, res: Result) -> None:
    """Global outputs: journaled, and linked as ``<wf>/outputs/{parameters,artifacts}/<g>``
    to the producing step's ``outputs/`` entry (a file of their own when no step dir
    holds them: the workflow's own template)."""
    node = ctx.journal.get(res.node_id) if res.node_id else None
    step_dir = os.path.join(ctx.wf_dir, node.dir) if node is not None and node.dir else None
    changed = False
    for name, p in outputs.parameters.items():
        g = getattr(p, "global_name", None)
        if g and name in res.params:
            ctx.globals["parameters"][g] = {
                "value": res.params[name],
                "type": res.types.get(name) or param_type(p),
            }
            path = os.path.join(ctx.wf_dir, "outputs", "parameters", g)
            if step_dir is not None:
                place(os.path.join(step_dir, "outputs", "parameters", name), path, "symlink")
            else:
                write_text(path, res.params[name])
            changed = True
    for name, a in outputs.artifacts.items():
        g = getattr(a, "global_name", None)
        produced = res.arts.get(name)
        if g and produced:
            ctx.globals["artifacts"][g] = {"local_path": produced}
            target = (
                os.path.join(step_dir, "outputs", "artifacts", name)
                if step_dir is not None
                else produced
            )
            place(target, os.path.join(ctx.wf_dir, "outputs", "artifacts", g), "symlink")
            changed = True
    if changed:
        ctx.journal.set_meta(global_outputs=ctx.globals)
