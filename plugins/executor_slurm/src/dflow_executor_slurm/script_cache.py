"""The step cache for a step sent through ``SlurmJobTemplate`` on Argo (docs/cache.md).

The job runs the bare script (no dflow on the Slurm node), so the pods around it key and
store the step: the prepare and collect templates declare ``dflow_cache``, which makes the
Argo renderer ship dflow's pod runtime, write the input parameters as files and run them with
``python3`` around their shell script (the renderer's step-cache container). Their
``cache_call`` (a declared field of the template) is what that container runs after its
set-up, in place of ``run_cached``:

* prepare runs its shell script (inputs and task staged, ``KEY_PATH`` written), then keys the
  step as :func:`dflow.runner.scriptcache.run_cached` does (one key on both engines); a hit is
  restored where collect reads the job's outputs, with exit status 0, and ``CACHED_PATH``
  says ``true``: the run step's ``when`` skips the job. A miss saves the lookup on the node.
* collect copies the outputs (its shell script), then stores them as the saved key's entry
  when the job's exit status is 0.

A Python OP's prepare pod keys the step with its runner script (``argo._cache_lines``); its
collect pod stores the job's outputs under the key prepare saved (:func:`store_op`).

Nothing a user controls is pasted into the Python source: names and paths are Python literals
made with :func:`repr`, checked to hold no ``{{``.
"""

from __future__ import annotations

from typing import Any

from dflow.model.op_template import static_literal

from .argo import CACHE_PARAM, CACHED_PATH, KEY_PATH, MOUNT, RESULTS

#: the node's folder as the pods mount it (a trailing slash: the tests map the node's paths by it)
_NODE = MOUNT.rstrip("/") + "/"
#: the pod's own shell script, first
_RUN = ["import subprocess  # noqa: E402", "", "CODE = subprocess.call(['sh', SCRIPT])"]


def _outputs(tmpl: Any) -> dict[str, str]:
    """The step's outputs as the cache names them, with their paths in the pod."""
    return {n: static_literal(path, "path") for n, path in tmpl.cache_output_paths().items()}


def add(tmpl: Any, prepare: Any, collect: Any) -> None:
    """Make ``prepare`` and ``collect`` (ShellOPTemplates of ``render_template``) key the
    script step ``tmpl`` and store its job's outputs."""
    from dflow.model.io import InputParameter

    keyed = [static_literal(n, "parameter name") for n in tmpl.inputs.parameters]
    arts = {n: static_literal(a.path, "path") for n, a in tmpl.inputs.artifacts.items() if a.path}
    outs = _outputs(tmpl)
    rel = {n: p.lstrip("/") for n, p in outs.items()}
    prepare.inputs.parameters[CACHE_PARAM] = InputParameter()
    prepare.cache_call = [
        *_RUN,
        "if CODE:",
        "    sys.exit(CODE)",
        "from dflow.runner.scriptcache import lookup_for_job  # noqa: E402",
        "",
        f"with open({KEY_PATH!r}, encoding='utf-8') as f:",
        f"    NODE = os.path.join({_NODE!r}, f.read())",
        f"OUT = os.path.join(NODE, 'out', {RESULTS!r})",
        f"OUTS = {{n: os.path.join(OUT, p) for n, p in {rel!r}.items()}}",
        f"HIT = lookup_for_job(ROOT, {keyed!r}, {arts!r}, OUTS, NODE)",
        "if HIT:  # as the job leaves it, for collect",
        "    os.makedirs(OUT, exist_ok=True)",
        "    with open(os.path.join(OUT, '.dflow-exit-code'), 'w') as f:",
        "        f.write('0\\n')",
        f"with open({CACHED_PATH!r}, 'w') as f:",
        "    f.write('true' if HIT else 'false')",
    ]
    _store_in(collect, "scriptcache", f"store_saved(NODE, {outs!r}, CODE == 0)")


def store_op(tmpl: Any, collect: Any) -> None:
    """Make ``collect`` store the outputs of Python OP ``tmpl``'s job under the key its
    prepare pod saved on the node (``dflow.runner.cacheop.store_outputs``), when the job's
    exit status is 0; nothing when prepare saved none (it could not key the step: the job's
    runner then checked and stored)."""
    root = static_literal((getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/"), "tmp_root")
    _store_in(collect, "cacheop", f"store_outputs(NODE, {root + '/outputs'!r}, CODE == 0)")


def _store_in(collect: Any, module: str, call: str) -> None:
    """``collect`` runs its shell script (the job's outputs copied to their paths), then
    ``call`` of ``dflow.runner.<module>`` with ``NODE`` (the job's folder on the node, where
    prepare saved its lookup) and ``CODE`` (the job's exit status), and exits with it."""
    from dflow.model.io import InputParameter

    name = call.split("(", 1)[0]
    collect.inputs.parameters[CACHE_PARAM] = InputParameter()
    collect.cache_call = [
        *_RUN,
        f"from dflow.runner.{module} import {name}  # noqa: E402",
        "",
        "with open(os.path.join(ROOT, 'inputs', 'parameters', 'dflow_slurm_key')) as f:",
        f"    NODE = os.path.join({_NODE!r}, f.read())",
        call,
        "sys.exit(CODE)",
    ]
