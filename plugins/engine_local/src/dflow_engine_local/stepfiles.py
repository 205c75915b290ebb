"""The files of a step directory, as pydflow's debug mode lays them out (see :mod:`layout`).

Inputs (parameters with their ``.dflow`` type metadata, ``dflow_key``, artifact links, a Python
OP's ``workdir/tmp/inputs``), outputs published from a Result (parameters, ``.dflow``
metadata with the global name, artifact links), the ``script`` of a Python OP step,
``children`` entries, and the files a resumed run rewrites from the journal.
"""

from __future__ import annotations

import functools
import json
import os
import sys

from dflow import catalog
from dflow.cache import runner_cache_json
from dflow.model.dag import DAG
from dflow.model.io import InputParameter, OutputParameter
from dflow.model.op_template import OPTemplate
from dflow.model.step import Step
from dflow.model.steps import Steps
from dflow.python.template import PythonOPTemplate

from .journal import Node
from .layout import (
    StepDir,
    link_shared,
    overwrite,
    place,
    read_text,
    remove,
    remove_stray_temps,
    shared_store,
    write_new,
    write_text,
)
from .nodes import children_holder
from .remote_op import op_spec
from .state import Frame, RunContext, SliceIndex, executor_for, run_cache_settings
from .values import Result, StepError, param_type


def type_text(name: str | None) -> str | None:
    """A recorded type name (``dflow.serialization.type_name``) as pydflow's metadata spells
    it: ``int``, ``typing.List`` (for ``List[int]``), ``mymodule.MyClass``."""
    if not name:
        return None
    if name.startswith("<class '") and name.endswith("'>"):
        name = name[8:-2]
    return name.split("[", 1)[0]


@functools.lru_cache(maxsize=256)
def meta_text(type_name: str | None, global_name: str | None = None) -> str | None:
    """The ``.dflow/<name>`` metadata of a parameter, or None when there is nothing to say."""
    meta = {}
    spelled = type_text(type_name)
    if spelled:
        meta["type"] = spelled
    if global_name:
        meta["globalName"] = global_name
    return json.dumps(meta) if meta else None


def input_type(ctx: RunContext, step: Step, name: str) -> str | None:
    """The type of a step's input parameter, as pydflow types it: the template's or the
    step's declaration, else the type of the parameter passed in, else (an untyped input of a
    Steps/DAG template) the type of a parameter inside the template that it is passed to."""
    tmpl = step.template
    param = step.inputs.parameters.get(name)
    found = param_type(tmpl.inputs.parameters.get(name)) or param_type(param)
    if found:
        return found
    value = getattr(param, "value", None)
    if isinstance(value, InputParameter | OutputParameter) and param_type(value):
        return param_type(value)
    if not isinstance(tmpl, Steps | DAG):
        return None
    inner = ctx.inner_types.get(id(tmpl))
    if inner is None:
        inner = {}
        for s in tmpl.tasks if isinstance(tmpl, DAG) else tmpl.iter_steps():
            for n, p in s.inputs.parameters.items():
                src = p.value
                if isinstance(src, InputParameter) and src.name is not None:
                    outer = src.name
                    if tmpl.inputs.parameters.get(outer) is src:
                        t = param_type(s.template.inputs.parameters.get(n)) or param_type(p)
                        if t:
                            inner.setdefault(outer, t)
        ctx.inner_types[id(tmpl)] = inner
    return inner.get(name)


def groups_dir(ctx: RunContext, group: Node) -> str:
    """Where a fan-out keeps what its items share (pydflow has no dir for the loop itself)."""
    return ctx.wf_dir + "/.groups/" + group.id


def mkdirs(*paths: str) -> None:
    """Make these dirs in order, parents first (one syscall each, none for a stat)."""
    for path in paths:
        try:
            os.mkdir(path)
        except FileExistsError:
            pass


def write_inputs(
    ctx: RunContext,
    sd: StepDir,
    step: Step,
    params: dict,
    types: dict,
    arts: dict,
    group: Node | None,
    slice_index: SliceIndex,
    key: str | None,
    items: dict[str, str] | None = None,
) -> None:
    """``inputs/`` of a step about to run (and a Python OP's ``<tmp_root>/inputs``).

    ``items``: the path inside its artifact of each ``Slices(sub_path=True)`` item. What the
    step reads is written now; metadata and empty dirs go through the mirror."""
    tmpl, mirror = step.template, ctx.mirror
    pars = sd.inputs + "/parameters"
    # a spare holds inputs/{parameters,artifacts}: one rename instead of three mkdirs. Not
    # for a fan-out's slices: there the loop and the workers keep both cores busy, so the
    # writer thread's mkdirs would only add GIL hand-offs (and a rename per slice)
    single = slice_index is None
    # inputs/artifacts, made last, is there when the step's dir was a ``pod`` spare (or a
    # re-run step's): its inputs/ is complete
    spared = single and (
        os.path.isdir(sd.inputs + "/artifacts") or mirror.take_spare("inputs", sd.inputs)
    )
    if not spared:
        mkdirs(sd.inputs, pars)
    sliced = (
        set(step.slices.input_parameter)
        if (step.slices is not None and slice_index is not None)
        else set()
    )
    typed = False
    for name, text in params.items():
        if name in sliced and group is not None:
            # the whole list is written once for the loop; each slice links to it
            shared = groups_dir(ctx, group) + "/inputs/parameters/" + name
            if not os.path.exists(shared):
                write_text(shared, text)
            target, link = os.path.abspath(shared), pars + "/" + name
            if mirror.store is not None:  # one inode for all the slices' links
                link_shared(mirror.store, link, target, symlink=True)
            else:
                place(target, link, "symlink")
        else:
            write_new(pars + "/" + name, text)
        meta = meta_text(types.get(name))
        if meta is not None:
            if not typed:
                mirror.mkdir(pars + "/.dflow")
                typed = True
            mirror.share(pars + "/.dflow/" + name, meta)
    if key:
        mirror.write(pars + "/dflow_key", key)
    given = {n: p for n, p in arts.items() if p is not None}
    if given:
        if not spared:
            mkdirs(sd.inputs + "/artifacts")
        for name, path in given.items():
            place(path, sd.artifact_path("inputs", name), "symlink")
    elif not spared:
        mirror.mkdir(sd.inputs + "/artifacts")
    if not isinstance(tmpl, PythonOPTemplate):
        return
    if given:
        # the OP reads its artifacts where its template says: <tmp_root>/inputs/artifacts/x
        dest = os.path.join(sd.tmp(tmpl.tmp_root), "inputs", "artifacts")
        # workdir, workdir/tmp, .../inputs, .../artifacts: a spare's (one rename) for /tmp
        kind = _workdir_kind(ctx, step)
        if (
            not single
            or os.path.normpath(tmpl.tmp_root) != "/tmp"
            or not mirror.take_spare(kind, sd.workdir)
        ):
            mkdirs(*_down_to(sd.root, dest))
        elif kind == "workdir-out":
            ctx.spared_outputs.add(sd.root)
        for name in given:
            item = (items or {}).get(name)
            if item:
                place_item(
                    sd.artifact_path("inputs", name),
                    os.path.join(dest, name),
                    item,
                    ctx.settings.copy_method,
                )
            else:
                place(
                    sd.artifact_path("inputs", name),
                    os.path.join(dest, name),
                    ctx.settings.copy_method,
                )


def _workdir_kind(ctx: RunContext, step: Step) -> str:
    """The spare a Python OP step's workdir comes from (:class:`layout.SpareDirs`): with the
    worker's output dirs too when it surely makes both (outputs of both kinds, run in the
    pool, no cache whose hit moves a whole outputs dir in)."""
    tmpl = step.template
    if not (tmpl.outputs.parameters and tmpl.outputs.artifacts):
        return "workdir"
    try:
        if executor_for(ctx, step) is not None or runner_cache_json(
            step, tmpl, ctx.wf.name, ctx.wf_id, settings=run_cache_settings(ctx)
        ):
            return "workdir"
    except (StepError, ValueError):  # the attempt reports it
        return "workdir"
    return "workdir-out"


def place_item(src: str, root: str, item: str, method: str) -> None:
    """A ``Slices(sub_path=True)`` item as the OP sees it on Argo too: at ``root/<item>``
    (its path inside the artifact, so its own file name) with a catalog naming it."""
    remove(root)  # a re-run starts from its inputs again
    place(src, os.path.join(root, *item.split("/")), method)
    write_text(
        os.path.join(root, catalog.catalog_dir_name(), "slice"),
        json.dumps({"path_list": [{"dflow_list_item": item}]}),
    )


def _down_to(root: str, path: str) -> list[str]:
    """The dirs from below ``root`` down to ``path``, parents first."""
    chain = [path]
    while os.path.dirname(chain[-1]) != root:
        chain.append(os.path.dirname(chain[-1]))
    return chain[::-1]


def record_outputs(ctx: RunContext, sd: StepDir, tmpl: OPTemplate, res: Result) -> None:
    """``outputs/`` of a finished step from its Result, through the mirror: parameter files
    with metadata, links to the artifacts (``.dflow/<name>`` holds a global name)."""
    mirror = ctx.mirror
    spared = sd.root in ctx.spared_outputs
    ctx.spared_outputs.discard(sd.root)
    if spared and (not res.ok or not res.params or not any(res.arts.values())):
        # a spare made the worker's output dirs (``workdir-out``): as in pydflow, only those
        # the step wrote to stay (a failed step's, an optional artifact's); res.params holds
        # defaults too, so each dir is tried (rmdir leaves one that is not empty)
        produced = os.path.join(sd.tmp("/tmp"), "outputs")  # spares are for tmp_root /tmp
        mirror.rmdir_empty(
            os.path.join(produced, "parameters"), os.path.join(produced, "artifacts"), produced
        )
    if not res.ok and isinstance(tmpl, PythonOPTemplate):
        # pydflow makes a Python OP's tmp_root for every step (one that succeeded wrote there)
        mirror.mkdir(*_down_to(sd.root, sd.tmp(tmpl.tmp_root)))
    if not res.ok and not res.params and not any(res.arts.values()):
        return  # as in pydflow, a step that failed without outputs has no outputs/
    mirror.mkdir(sd.outputs, sd.outputs + "/parameters", sd.outputs + "/artifacts")
    declared = tmpl.outputs.parameters
    typed = False
    # a Python OP's parameter files: the outputs/ files are links to them when alike
    op_params = (
        sd.tmp(tmpl.tmp_root) + "/outputs/parameters"
        if isinstance(tmpl, PythonOPTemplate)
        else None
    )
    for name, text in res.params.items():
        global_name = getattr(declared.get(name), "global_name", None)
        meta = meta_text(res.types.get(name), global_name)
        if meta is not None and not typed:
            mirror.mkdir(sd.outputs + "/parameters/.dflow")
            typed = True
        source = op_params + "/" + name if op_params is not None else None
        sd.write_parameter("outputs", name, text, meta, mirror, source)
    for name, path in res.arts.items():
        if path is None:
            continue
        link = sd.artifact_path("outputs", name)
        if os.path.abspath(path) != link:
            mirror.link(path, link)
        global_name = getattr(tmpl.outputs.artifacts.get(name), "global_name", None)
        if global_name:  # (rare: the write makes the .dflow dir)
            mirror.write(
                os.path.join(sd.outputs, "artifacts", ".dflow", name),
                json.dumps({"globalName": global_name}),
            )


def reset_outputs(ctx: RunContext, sd: StepDir, tmpl: OPTemplate) -> None:
    """A step run again (a retry, a resumed run) starts from empty outputs."""
    ctx.mirror.flush()  # nothing queued for the last attempt may land after this
    sd.reset_outputs()
    if isinstance(tmpl, PythonOPTemplate):
        produced = os.path.join(sd.tmp(tmpl.tmp_root), "outputs")
        if os.path.lexists(produced):
            remove(produced)


# -- the script of a Python OP step ------------------------------------------------------------

_SCRIPT = """\
#!{python}
# dflow's local engine ran this step's OP in a worker process of its pool. This script runs
# it again the same way, on the same inputs: python3 script
import os
import sys

from dflow.runner.__main__ import main

os.environ.update({env!r})
sys.exit(main({argv!r}))
"""


def python_script(ctx: RunContext, tmpl: PythonOPTemplate, request: dict) -> str:
    """A runnable ``script`` equivalent to the pool request of a Python OP step."""
    spec = ctx.op_specs.get(id(tmpl))
    if spec is None:
        try:
            spec = op_spec(tmpl.op_type)
        except (ValueError, TypeError, OSError) as exc:
            spec = ["--op", f"<unavailable: {exc}>"]
        ctx.op_specs[id(tmpl)] = spec
    argv = [
        *spec,
        "--inputs",
        request["inputs_dir"],
        "--parameters",
        request["parameters_dir"],
        "--outputs",
        request["outputs_dir"],
        "--workdir",
        request["workdir"],
        "--workflow-name",
        request["workflow_name"],
    ]
    if request["slice_index"] is not None:
        assert tmpl.slices is not None  # a slice index exists only for a sliced template
        slices = ctx.slices_json.get(id(tmpl))
        if slices is None:  # once per template: a fan-out writes a script per slice
            slices = ctx.slices_json[id(tmpl)] = json.dumps(tmpl.slices.to_dict())
        argv += ["--slice-index", json.dumps(request["slice_index"]), "--slices", slices]
    if request["key"]:
        argv += ["--key", request["key"]]
    for p in request["sys_path"]:
        argv += ["--sys-path", p]
    return _SCRIPT.format(python=sys.executable, env=request["env"], argv=argv)


# -- children ----------------------------------------------------------------------------------


def order_of(ctx: RunContext, frame: Frame, step: Step, index: int | None) -> str | None:
    """The step's key in its parent's ``children``: ``"<group>-<i>"`` in Steps, ``"<task>"``
    in a DAG, ``-<item>`` appended for a loop item; None for hooks and exit handlers."""
    tmpl = frame.template
    orders = ctx.orders.get(id(tmpl))
    if orders is None:
        if hasattr(tmpl, "tasks"):
            orders = {id(t): str(i) for i, t in enumerate(tmpl.tasks)}
        else:
            orders = {
                id(s): f"{gi}-{si}"
                for gi, group in enumerate(tmpl.steps)
                for si, s in enumerate(group)
            }
        ctx.orders[id(tmpl)] = orders
    base = orders.get(id(step))
    if base is None:
        return None
    return base if index is None else f"{base}-{index}"


def restore_files(ctx: RunContext) -> None:
    """A resumed run: the step files say what the journal says.

    The mirror writes a step's files in order, its phase last; a run killed at any point
    leaves the files of some steps behind the journal, and only those (their ``phase`` file
    differs) are rewritten, from the journal. ``children`` files are rebuilt whole. The
    temporary file a killed writer left (``<name>.<pid>.tmp``) goes: in the shared store,
    ``.combined``, the dirs holding ``children`` files and the steps rewritten.
    """
    for where in (ctx.wf_dir, shared_store(ctx.wf_dir), os.path.join(ctx.wf_dir, ".combined")):
        remove_stray_temps(where)
    for node in list(ctx.journal.cache.values()):
        if not node.dir:
            continue
        sd = StepDir(ctx.wf_dir, node.dir)
        if os.path.isdir(sd.root) and read_text(os.path.join(sd.root, "phase")) != node.phase:
            for sub in _LAYOUT_DIRS:
                remove_stray_temps(os.path.join(sd.root, sub))
            write_node_files(sd, node, inputs=False)
        elif node.type in ("Steps", "DAG"):  # its children file is rewritten in place
            remove_stray_temps(sd.root)
        if node.ord:
            ctx.mirror.add_child(
                children_holder(ctx.journal, ctx.wf_dir, node), node.ord, node.dir, schedule=False
            )
    ctx.mirror.flush_children()


#: a step dir's dirs the engine writes (the step's own files are in ``workdir``)
_LAYOUT_DIRS = (
    ".",
    "inputs/parameters",
    "inputs/parameters/.dflow",
    "inputs/artifacts",
    "outputs/parameters",
    "outputs/parameters/.dflow",
    "outputs/artifacts",
    "outputs/artifacts/.dflow",
)


def write_node_files(sd: StepDir, node: Node, name: str | None = None, inputs: bool = True) -> None:
    """A step's files from its journal record, now: a reused step (``reuse_step``), or one a
    killed run left behind the journal (``inputs=False``: they were written before it ran, a
    sliced one links to its loop's whole list; only their metadata may lag). Its ``phase``
    is written last."""
    os.makedirs(sd.root, exist_ok=True)
    overwrite(os.path.join(sd.root, "name"), name or node.name)
    overwrite(os.path.join(sd.root, "type"), node.type)
    for io, section in (("inputs", node.inputs), ("outputs", node.outputs)):
        for kind in ("parameters", "artifacts"):
            os.makedirs(os.path.join(sd.root, io, kind), exist_ok=True)
        for pname, p in (section.get("parameters") or {}).items():
            value = p.get("value")
            meta = (
                None
                if pname == "dflow_key"
                else meta_text(p.get("type"), p.get("globalName") if io == "outputs" else None)
            )
            if io == "inputs" and not inputs:
                if meta is not None:
                    write_new(os.path.join(sd.inputs, "parameters", ".dflow", pname), meta)
                continue
            sd.write_parameter(io, pname, value if isinstance(value, str) else "", meta)
        for aname, a in (section.get("artifacts") or {}).items():
            if a.get("local_path"):
                place(a["local_path"], sd.artifact_path(io, aname), "symlink")
    overwrite(os.path.join(sd.root, "phase"), node.phase)
