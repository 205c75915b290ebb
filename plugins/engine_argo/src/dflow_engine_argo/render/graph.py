"""One rendering pass over a workflow: templates, Steps groups and DAG tasks.

Template names are stable: a Python OP template's random suffix is dropped (``add-x8k2p`` ->
``add``), structurally equal leaf templates share one Argo template, and distinct templates
with the same name get ``-2``, ``-3``... in traversal order. Steps/DAG templates are named
before their bodies are rendered, so recursion references the template instead of unrolling.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from dflow import contexts
from dflow.model.dag import DAG
from dflow.model.io import MISSING as _MISSING
from dflow.model.io import (
    PVC,
    ArgoVar,
    OutputArtifact,
    OutputParameter,
    _IOBase,
    output_parameter_type,
    to_expr,
)
from dflow.model.op_template import ScriptOPTemplate
from dflow.model.saves import volume_reads, volume_saves
from dflow.model.steps import Steps

from . import artargs, helpers
from .helpersteps import (
    HelperSteps,
    Node,
    is_leaf,
    looped,
    sliced_outputs,
    step_slices,
    sub_path_names,
)
from .leaf import LeafRenderer, Variant, timeout_text
from .memoize import DEFAULT_MAX_AGE, cache
from .values import (
    Locations,
    RenderError,
    artifact_argument,
    big_parameter_argument,
    default_text,
    described,
    text,
    var,
)

_INVALID = re.compile(r"[^a-zA-Z0-9-]+")


def sanitize(name: str) -> str:
    return _INVALID.sub("-", str(name)).strip("-")[:100] or "template"


def slice_parameters(v: Variant, keyed: bool) -> list[str]:
    """What the fan-out hands each slice of a sliced step (helpersteps.slice_node)."""
    names = ["dflow_slice_index"]
    if v.sliced_outputs:
        names.append("dflow_artifact_key")
        if keyed:
            names.append("dflow_group_key")
    return names


def leaf_base(tmpl: Any) -> str:
    """The Argo name of a leaf template, without the random suffix of an auto-named OP."""
    name = tmpl.name
    op = getattr(tmpl, "op_type", None)
    if op is not None:
        base = op.__name__.replace("_", "-").lower()
        if name == base or re.fullmatch(re.escape(base) + r"-[a-z0-9]{5}", name):
            name = base
    return sanitize(name)


class RenderPass(HelperSteps):
    """State of one ``render`` call."""

    def __init__(
        self,
        workflow: Any,
        *,
        locs: Locations,
        key_prefix: str,
        default_image: str,
        util_image: str,
        util_pull_policy: str | None,
        catalog_dir: str = ".dflow",
        archive_mode: str | None = "tar",
        save_keys: bool = False,
    ) -> None:
        self.workflow = workflow
        self.locs = locs
        self.key_prefix = key_prefix
        self.default_image = default_image
        self.util_image = util_image
        self.util_pull_policy = util_pull_policy
        self.catalog_dir = catalog_dir
        self.archive_mode = archive_mode
        self.save_keys = save_keys
        self.templates: dict[str, dict[str, Any]] = {}
        self.by_obj: dict[tuple[int, bool], str] = {}
        self.leaf_cache: dict[tuple, str] = {}
        self.bodies: dict[tuple[str, str], str] = {}
        self.packages: dict[str, list[str]] = {}
        self.secrets: list[Any] = []
        self.local_uploads: dict[str, str] = {}  # storage key -> local path (LocalArtifacts)
        self.data_uploads: dict[str, str] = {}  # storage key -> text (BigParameter literals)
        self.memoize: dict[str, Any] | None = None  # memoize of keyed templates (reuse)
        self.keep: list[Any] = []  # objects whose id() is used as a cache key stay alive
        self.claims: dict[str, PVC] = {}  # shared volumes (.pvc()) by claim name: the first
        # the sliced steps whose executor's Steps template (one slice) is being rendered
        self.slicing: list[Variant] = []
        self.leaf = LeafRenderer(self)
        try:  # the same default as on the local engine: context=, else dflow.toml's
            self.default_executor = contexts.default_executor(workflow)
        except Exception as exc:
            raise RenderError(f"the configured default executor cannot be built: {exc}") from None
        self.context = contexts.workflow_context(workflow)

    # -- names ------------------------------------------------------------------------------
    def alloc(self, base: str) -> str:
        name, i = base, 1
        while name in self.templates:
            i += 1
            name = f"{base}-{i}"
        self.templates[name] = {}  # reserved; filled in when rendered
        return name

    def add_body(self, base: str, body: dict[str, Any]) -> str:
        sig = (base, json.dumps(body, sort_keys=True, default=str))
        name = self.bodies.get(sig)
        if name is None:
            name = self.alloc(base)
            self.templates[name] = {"name": name, **body}
            self.bodies[sig] = name
        return name

    # -- templates --------------------------------------------------------------------------
    def template(self, tmpl: Any, step: Any = None) -> str:
        keyed = step is not None and step.key is not None
        for pvc in tmpl.pvcs:  # OPTemplate(pvcs=[...]): claims its own mounts name
            self.claims.setdefault(pvc.name, pvc)
        if not is_leaf(tmpl):
            return self.composite(tmpl, keyed)
        sent = step is not None and isinstance(tmpl, ScriptOPTemplate)
        executor = (step.executor or self.default_executor) if sent else None
        if executor is not None:
            try:
                mine = copy.deepcopy(tmpl)
                mine.name = leaf_base(tmpl)  # what the executor derives names from is stable
                mine.step_cached = self.variant(step, mine).cached  # its pods may key the step
                tmpl = executor.render(mine)
            except NotImplementedError as exc:
                raise RenderError(
                    f"step '{step.name}': executor {type(executor).__name__} cannot render "
                    f"templates for Argo ({exc or 'render() is not implemented'}); use it with "
                    "the local engine or pick an executor that supports Argo"
                ) from None
            except (TypeError, ValueError) as exc:
                raise RenderError(
                    f"step '{step.name}': executor {type(executor).__name__}: {exc}"
                ) from None
            self.keep.append(tmpl)
            if not is_leaf(tmpl):
                whole = self.variant(step, step.template)
                self.check_whole_step(step, executor, whole)
                return self.composite(tmpl, keyed, whole if whole.sliced else None)
        if self.context is not None and contexts.applies_to(tmpl):
            tmpl = contexts.render_template(self.context, tmpl)
            self.keep.append(tmpl)
        variant = self.variant(step, tmpl) if step is not None else Variant()
        resource = getattr(step, "use_resource", None) if step is not None else None
        ck = (id(tmpl), variant, id(resource))
        name = self.leaf_cache.get(ck)
        if name is None:
            body = self.leaf.body(tmpl, variant, resource)
            if variant.timeout is not None:  # Argo times out leaf templates only: a variant
                body["timeout"] = timeout_text(variant.timeout)
            base = leaf_base(tmpl) + ("-resource" if resource is not None else "")
            name = self.add_body(base, body)
            self.leaf_cache[ck] = name
        return name

    def check_whole_step(self, step: Any, executor: Any, v: Variant) -> None:
        """An executor that turns a step into a Steps/DAG template runs it whole: what only a
        Python OP's own pod does (lists or items of artifacts, success tags; slices, unless
        the executor threads them through: ``Executor.threads_slices``) is not available
        there."""
        threads = executor.threads_slices and not (v.group_size or v.sub_path_arts)
        slices = "Slices with group_size or sub_path" if executor.threads_slices else "Slices"
        used = [
            what
            for what, on in (
                (slices, v.sliced and not threads),
                ("lists of artifacts", v.parts),
                ("items of artifacts", v.art_slices),
                ("continue_on_num_success/ratio", v.success_tag),
            )
            if on
        ]
        if used:
            raise RenderError(
                f"step '{step.name}': executor {type(executor).__name__} runs the step as a "
                f"Steps template on Argo, which cannot take {', '.join(used)}; use "
                "DispatcherExecutor for it, or a step per item"
            )

    def variant(self, step: Any, tmpl: Any) -> Variant:
        sl = getattr(tmpl, "slices", None) if hasattr(tmpl, "op_class") else None
        sliced = sl is not None and (looped(step) or sl.sub_path)
        outs = sliced_outputs(step) if sliced else ()
        group = int(sl.group_size) if sl is not None and sliced and sl.group_size else None
        tag = step.continue_on_num_success is not None or step.continue_on_success_ratio is not None
        parts, art_slices = artargs.shapes(step) if hasattr(tmpl, "op_class") else ((), ())
        timeout = step.timeout_seconds if step.timeout is not None else None
        subs = (
            sub_path_names(step) if sl is not None and sliced and sl.sub_path and not group else ()
        )
        reads, saves = volume_reads(step), volume_saves(step)
        for _, pvc in reads + saves:
            self.claims.setdefault(pvc.name, pvc)
        whole = self.slicing[-1] if self.slicing else None
        if whole is not None and step.slice_part == "run":  # runs the OP on one slice
            sliced = True
        elif whole is not None and step.slice_part == "outputs":  # gives the slice's outputs
            outs = whole.sliced_outputs
        return Variant(
            keyed=step.key is not None,
            sliced=sliced,
            group_size=group,
            sliced_outputs=outs,
            success_tag=tag,
            parts=parts,
            art_slices=art_slices,
            timeout=timeout,
            sub_path_arts=subs,
            cached=helpers.uses_cache(step, tmpl, self.workflow.name, self.default_executor),
            volume_reads=tuple((n, p.name, p.subpath) for n, p in reads),
            volume_saves=tuple((n, p.name, p.subpath) for n, p in saves),
        )

    def composite(self, tmpl: Any, keyed: bool = False, slicing: Variant | None = None) -> str:
        """The Steps/DAG template; a keyed step's variant declares ``dflow_key`` (so the node
        records its key for ``query_step(key=)``) and, when reusing, is memoized by it. With
        ``slicing`` (the variant of a sliced step an executor rendered as this template, one
        slice of it), it takes the slice's parameters and hands them to the steps playing
        their part of the slice (``Step.slice_part``)."""
        name = self.by_obj.get((id(tmpl), keyed))
        if name is not None:
            return name
        name = self.alloc(sanitize(tmpl.name))
        self.by_obj[(id(tmpl), keyed)] = name
        self.keep.append(tmpl)
        body: dict[str, Any] = {"name": name}
        if tmpl.annotations:
            body["metadata"] = {"annotations": {k: str(v) for k, v in tmpl.annotations.items()}}
        inputs = self.composite_inputs(tmpl)
        if keyed:
            inputs.setdefault("parameters", []).append({"name": "dflow_key"})
        if slicing is not None:
            inputs.setdefault("parameters", []).extend(
                {"name": n} for n in slice_parameters(slicing, keyed)
            )
        if inputs:
            body["inputs"] = inputs
        outputs = self.composite_outputs(tmpl)
        if outputs:
            body["outputs"] = outputs
        if tmpl.parallelism is not None:
            body["parallelism"] = int(tmpl.parallelism)
        if keyed and self.memoize is not None:
            body["memoize"] = copy.deepcopy(self.memoize)
        elif tmpl.memoize_key:
            body["memoize"] = {
                "key": tmpl.memoize_key,
                "maxAge": DEFAULT_MAX_AGE,
                "cache": cache("dflow-memoize"),
            }
        if slicing is not None:
            self.slicing.append(slicing)
        try:
            if isinstance(tmpl, Steps):
                body["steps"] = self.steps_groups(tmpl)
            else:
                body["dag"] = {"tasks": self.dag_tasks(tmpl)}
        finally:
            if slicing is not None:
                self.slicing.pop()
        self.templates[name] = body
        return name

    def composite_inputs(self, tmpl: Any) -> dict[str, Any]:
        params = []
        for n, p in tmpl.inputs.parameters.items():
            entry: dict[str, Any] = {"name": n}
            if p.has_value:
                entry["value"] = text(p.value)
            params.append(described(entry, p))
        arts = []
        for n, a in tmpl.inputs.artifacts.items():
            entry = {"name": n}
            if a.optional:
                entry["optional"] = True
            arts.append(entry)
        return {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}

    def composite_outputs(self, tmpl: Any) -> dict[str, Any]:
        where = f"template '{tmpl.name}'"
        params = []
        big: list[dict[str, Any]] = []
        for n, p in tmpl.outputs.parameters.items():
            src = p.value_from_parameter
            if p.save_as_artifact and isinstance(src, OutputParameter) and src.step is not None:
                # a big parameter is a file: this output is the artifact its source step
                # stored it as (pydflow's dflow_bigpar_<name>), which readers take as a file
                stored = OutputArtifact(name=f"dflow_bigpar_{src.name}")
                stored.step = src.step
                file: dict[str, Any] = {"name": f"dflow_bigpar_{n}", "from": self.ref_text(stored)}
                if p.global_name:
                    file["globalName"] = p.global_name
                big.append(file)
                if not p.save_both:
                    continue
            vf: dict[str, Any] = {}
            if p.value_from_parameter is not None:
                vf["parameter"] = text(p.value_from_parameter)
            elif p.value_from_expression is not None:
                e = p.value_from_expression
                vf["expression"] = e.expr if isinstance(e, ArgoVar) else str(e)
            elif p.value is not _MISSING:
                vf["expression"] = to_expr(p.value)
            else:
                raise RenderError(
                    f"{where}: output parameter '{n}' needs value_from_parameter "
                    "or value_from_expression"
                )
            if p.default is not _MISSING:
                vf["default"] = default_text(p.default)
            entry: dict[str, Any] = {"name": n, "valueFrom": vf}
            if p.global_name:
                entry["globalName"] = p.global_name
            # the source's type, as the local engine types it (one rule: output_parameter_type)
            params.append(described(entry, p, output_parameter_type(p)))
        arts = []
        for n, a in tmpl.outputs.artifacts.items():
            entry = {"name": n}
            if a._from is not None:
                src = a._from.artifact if hasattr(a._from, "artifact") else a._from
                entry["from"] = self.ref_text(src) if isinstance(src, _IOBase) else str(src)
            elif a.from_expression is not None:
                e = a.from_expression
                entry["fromExpression"] = e.expr if isinstance(e, ArgoVar) else str(e)
            else:
                raise RenderError(f"{where}: output artifact '{n}' needs _from or from_expression")
            if a.global_name:
                entry["globalName"] = a.global_name
            if a.optional:
                entry["optional"] = True
            arts.append(entry)
        arts += big
        return {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}

    def ref_text(self, art: Any) -> str:
        """A reference to an artifact; a sliced fan-out's output is its init step's artifact."""
        step = getattr(art, "step", None)
        if (
            isinstance(art, OutputArtifact)
            and step is not None
            and art.name in sliced_outputs(step)
        ):
            group = "tasks" if step.is_task else "steps"
            return var(f"{group}.{step.name}-init-artifact.outputs.artifacts.{art.name}")
        return str(art)

    # -- steps and tasks --------------------------------------------------------------------
    def node(self, step: Any, kind: str) -> Node:
        tmpl = step.template
        where = f"{kind[:-1]} '{step.name}'"
        node = Node({"name": step.name})
        params: list[dict[str, Any]] = []
        arts: list[dict[str, Any]] = []
        leaf = is_leaf(tmpl)
        for name, p in step.inputs.parameters.items():
            if not p.has_value:
                continue
            decl = tmpl.inputs.parameters.get(name)
            if decl is not None and decl.has_value and text(decl.value) == text(p.value):
                continue  # the template's default: Argo applies it
            if leaf and decl is not None and decl.save_as_artifact:
                arts.append(big_parameter_argument(name, p.value, self.ref_text, self.upload_text))
                continue
            v = p.value
            if (
                isinstance(v, OutputParameter)
                and v.save_as_artifact
                and not v.save_both
                and v.step is not None
            ):
                raise RenderError(
                    f"{where}: parameter '{name}' reads big parameter '{v.name}' of step "
                    f"'{v.step.name}', which is stored as a file: declare '{name}' as a "
                    "BigParameter too (or save_both=True on the output)"
                )
            params.append({"name": name, "value": text(v)})
        python_op = leaf and hasattr(tmpl, "op_class")
        for name, a in step.inputs.artifacts.items():
            if isinstance(a.source, PVC):
                continue  # the step's script links it (volumes.py)
            if self.special_artifact(name, a.source, where, python_op, params, arts):
                continue
            entry = self.artifact_arg(name, a.source, where)
            decl = tmpl.inputs.artifacts.get(name)
            if entry is not None and decl is not None and decl.source is not None:
                own = self.artifact_arg(name, decl.source, where)
                if own == entry:
                    continue  # the template's own location
            if entry is not None:
                arts.append(entry)
        if step.slice_part is not None and self.slicing:
            # the slice's parameters, as the composite received them
            wanted = {"run": ("dflow_slice_index",), "outputs": ("dflow_artifact_key",)}
            params += [
                {"name": n, "value": var(f"inputs.parameters.{n}")}
                for n in wanted.get(step.slice_part, ())
                if n in slice_parameters(self.slicing[-1], False)
            ]
        with_param: Any = step.with_param
        sl = step_slices(step)
        if sl is not None and (looped(step) or sl.sub_path):
            with_param = self.slice_node(step, kind, node, sl, params, arts, with_param)
        params += helpers.key_and_cache_params(step, self.workflow.name, self.default_executor)
        entry = node.entry
        entry["template"] = self.template(tmpl, step)
        args = {k: v for k, v in (("parameters", params), ("artifacts", arts)) if v}
        if args:
            entry["arguments"] = args
        if step.when is not None:
            entry["when"] = text(step.when)
        if with_param is not None:
            entry["withParam"] = text(with_param)
        elif step.with_sequence is not None:
            entry["withSequence"] = step.with_sequence.rendered()
        cont = {
            k: True
            for k, on in (("failed", step.continue_on_failed), ("error", step.continue_on_error))
            if on
        }
        if cont:
            entry["continueOn"] = cont
        hooks = self.hooks(step, kind)
        if hooks:
            entry["hooks"] = hooks
        if step.continue_on_num_success is not None or step.continue_on_success_ratio is not None:
            self.check_node(step, kind, node)
        return node

    def artifact_arg(self, name: str, source: Any, where: str) -> dict[str, Any] | None:
        return artifact_argument(name, source, self.locs, self.ref_text, where, self.local_key)

    def upload_text(self, data: str) -> dict[str, Any]:
        """The location of ``data`` in the store, recorded for the engine to upload before
        submitting (content-hashed key: the same text is stored once)."""
        digest = hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]
        key = f"{self.key_prefix}dflow/bigpar/{digest}"
        self.data_uploads[key] = data
        return self.locs.of_key(key)

    def local_key(self, art: Any) -> str:
        return artargs.local_key(art, self.key_prefix, self.local_uploads)

    def special_artifact(
        self, name: str, source: Any, where: str, python_op: bool, params: list, arts: list
    ) -> bool:
        """Render a list/dict of artifacts (parts) or an item of one (slice); False when
        ``source`` is neither."""
        if artargs.is_many(source):
            if not python_op:
                return False  # artifact_argument explains
            for i, (_, part) in enumerate(artargs.parts(source, where, name)):
                if artargs.is_many(part) or artargs.narrowed(part) is not None:
                    raise RenderError(
                        f"{where}: artifact '{name}': item {i} is itself sliced "
                        "or a list; on Argo parts are whole artifacts"
                    )
                arts.append(self.artifact_arg(artargs.PART.format(name, i), part, where))
            return True
        cut = artargs.narrowed(source)
        if cut is None or not python_op:
            return False
        whole, index, sub = cut
        artargs.check_index(index, where, name)
        entry = self.artifact_arg(name, whole, where)
        if entry is None:
            return True
        arts.append(entry)
        params.append({"name": artargs.SLICE_PARAM + name, "value": text(index)})
        if sub:
            params.append({"name": artargs.SUB_PARAM + name, "value": text(sub)})
        return True

    def hooks(self, step: Any, kind: str) -> dict[str, Any]:
        out = {}
        for attr, hook_name, phase in (
            ("success_hook", "success", "Succeeded"),
            ("running_hook", "running", "Running"),
            ("failure_hook", "failure", "Failed"),
        ):
            hook = getattr(step, attr, None)
            if hook is None:
                continue
            expression = hook.expression or f"{kind}['{step.name}'].status == '{phase}'"
            h: dict[str, Any] = {
                "template": self.template(hook.template, hook),
                "expression": expression,
            }
            sub = self.node(hook, kind).entry.get("arguments")
            if sub:
                h["arguments"] = sub
            out[hook_name] = h
        return out

    def steps_groups(self, tmpl: Steps) -> list[list[dict[str, Any]]]:
        groups: list[list[dict[str, Any]]] = []
        for group in tmpl.steps:
            nodes = [self.node(s, "steps") for s in group]
            pre = [e for n in nodes for e in n.pre]
            post = [e for n in nodes for e in n.post]
            if pre:
                groups.append(pre)
            groups.append([n.entry for n in nodes])
            if post:
                groups.append(post)
        return groups

    def dag_tasks(self, dag: DAG) -> list[dict[str, Any]]:
        from .dagtasks import dag_tasks

        return dag_tasks(self, dag)
