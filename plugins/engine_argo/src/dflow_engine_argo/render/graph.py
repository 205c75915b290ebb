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

import attrs
from dflow import contexts
from dflow.model.dag import DAG
from dflow.model.io import MISSING as _MISSING
from dflow.model.io import (
    ArgoVar,
    OutputArtifact,
    OutputParameter,
    _IOBase,
    output_parameter_type,
    to_expr,
)
from dflow.model.op_template import ScriptOPTemplate
from dflow.model.steps import Steps

from . import artargs, helpers
from .leaf import LeafRenderer, Variant, timeout_text
from .memoize import DEFAULT_MAX_AGE, cache
from .values import (
    Locations,
    RenderError,
    artifact_argument,
    big_parameter_argument,
    default_text,
    described,
    loop_total,
    sequence_items,
    text,
    var,
)

_INVALID = re.compile(r"[^a-zA-Z0-9-]+")
_ITEM_TAG = re.compile(r"{{=?\s*item[^}]*}}")


def sanitize(name: str) -> str:
    return _INVALID.sub("-", str(name)).strip("-")[:100] or "template"


def leaf_base(tmpl: Any) -> str:
    """The Argo name of a leaf template, without the random suffix of an auto-named OP."""
    name = tmpl.name
    op = getattr(tmpl, "op_type", None)
    if op is not None:
        base = op.__name__.replace("_", "-").lower()
        if name == base or re.fullmatch(re.escape(base) + r"-[a-z0-9]{5}", name):
            name = base
    return sanitize(name)


@attrs.define
class Node:
    """A rendered step/task and the helper nodes around it."""

    entry: dict[str, Any]
    pre: list[dict[str, Any]] = attrs.field(factory=list)
    post: list[dict[str, Any]] = attrs.field(factory=list)
    helpers_deps: list[str] = attrs.field(factory=list)  # helper tasks the node waits for
    check: str | None = None  # name of its success check (dependents wait for it)


def _is_leaf(tmpl: Any) -> bool:
    return not isinstance(tmpl, Steps | DAG)


def _slices(step: Any) -> Any:
    return getattr(step.template, "slices", None) if hasattr(step.template, "op_class") else None


def _looped(step: Any) -> bool:
    return step.with_param is not None or step.with_sequence is not None


def group_key(key: str) -> str:
    """A keyed fan-out's key as a whole: ``{{item...}}`` read as ``group`` (dflow_group_key)."""
    return _ITEM_TAG.sub("group", key)


def sub_path_names(step: Any) -> tuple[str, ...]:
    """The input artifacts a ``Slices(sub_path=True)`` step hands over one item at a time."""
    sl = _slices(step)
    return tuple(
        n
        for n in sl.input_artifact
        if n in step.inputs.artifacts and step.inputs.artifacts[n].source is not None
    )


def sliced_outputs(step: Any) -> tuple[str, ...]:
    sl = _slices(step)
    if sl is None or not (_looped(step) or sl.sub_path):
        return ()
    return tuple(n for n in sl.output_artifact if n in step.template.outputs.artifacts)


class RenderPass:
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
        if not _is_leaf(tmpl):
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
            if not _is_leaf(tmpl):
                self.check_whole_step(step, executor)
                return self.composite(tmpl, keyed)
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

    def check_whole_step(self, step: Any, executor: Any) -> None:
        """An executor that turns a step into a Steps/DAG template runs it whole: what only a
        Python OP's own pod does (slices, lists or items of artifacts, success tags) is not
        available there."""
        v = self.variant(step, step.template)
        used = [
            what
            for what, on in (
                ("Slices", v.sliced),
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
        sliced = sl is not None and (_looped(step) or sl.sub_path)
        outs = sliced_outputs(step) if sliced else ()
        group = int(sl.group_size) if sl is not None and sliced and sl.group_size else None
        tag = step.continue_on_num_success is not None or step.continue_on_success_ratio is not None
        parts, art_slices = artargs.shapes(step) if hasattr(tmpl, "op_class") else ((), ())
        timeout = step.timeout_seconds if step.timeout is not None else None
        subs = (
            sub_path_names(step) if sl is not None and sliced and sl.sub_path and not group else ()
        )
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
        )

    def composite(self, tmpl: Any, keyed: bool = False) -> str:
        """The Steps/DAG template; a keyed step's variant declares ``dflow_key`` (so the node
        records its key for ``query_step(key=)``) and, when reusing, is memoized by it."""
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
        if isinstance(tmpl, Steps):
            body["steps"] = self.steps_groups(tmpl)
        else:
            body["dag"] = {"tasks": self.dag_tasks(tmpl)}
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
        for n, p in tmpl.outputs.parameters.items():
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
        leaf = _is_leaf(tmpl)
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
        with_param: Any = step.with_param
        sl = _slices(step)
        if sl is not None and (_looped(step) or sl.sub_path):
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

    def slice_node(
        self, step: Any, kind: str, node: Node, sl: Any, params: list, arts: list, with_param: Any
    ) -> Any:
        where = f"{kind[:-1]} '{step.name}'"
        if sl.sub_path:
            names = list(sub_path_names(step))
            if not names:
                raise RenderError(f"{where}: Slices(sub_path=True) needs a sliced input artifact")
            for n in names:
                self.check_unarchived(step, n, where)
                if not any(a["name"] == n for a in arts):  # the template's own location
                    own = step.template.inputs.artifacts[n].source
                    arts.append(self.artifact_arg(n, own, where))
            init = f"{step.name}-slices-path"
            init_arts, sub_params = [], []
            for i, a in enumerate(arts):
                if a["name"] in names:
                    # the helper reads the catalog only; each item then gets only its own
                    # path (a group takes the whole artifact and picks by position)
                    init_arts.append(artargs.narrow(a, self.catalog_dir, where))
                    if not sl.group_size:
                        item = var(f"item.{a['name']}")
                        arts[i] = artargs.narrow(a, item, where)
                        sub_params.append(
                            {"name": artargs.SUB_PATH_PARAM.format(a["name"]), "value": item}
                        )
            tname = self.add_body(
                "dflow-slices-path",
                helpers.slices_path(
                    names, self.util_image_for(step), self.util_pull_for(step), self.catalog_dir
                ),
            )
            node.pre.append(
                {"name": init, "template": tname, "arguments": {"artifacts": init_arts}}
            )
            node.helpers_deps.append(init)
            with_param = var(f"{kind}.{init}.outputs.parameters.dflow_slices_path")
            if sl.group_size:
                size = int(sl.group_size)
                count = (
                    f"len(sprig.fromJson({kind}['{init}'].outputs.parameters['dflow_slices_path']))"
                )
                params.append({"name": "dflow_slice_index", "value": "{{item}}"})
                params.append(
                    {
                        "name": "dflow_group_items",
                        "value": var(f"=toJson(sprig.untilStep(0, {count}, 1))"),
                    }
                )
                with_param = var(
                    f"=toJson(sprig.untilStep(0, int(({count} + {size - 1}) / {size}), 1))"
                )
            else:
                params.append({"name": "dflow_slice_index", "value": str(sl.slices)})
            params += sub_params  # in the order the template declares them
        elif sl.group_size:
            size = int(sl.group_size)
            if with_param is None and step.with_sequence is not None:
                with_param = sequence_items(step.with_sequence, where)
            if with_param is None:
                raise RenderError(
                    f"{where}: Slices(group_size=...) needs with_param (a list or "
                    "argo_range) or with_sequence"
                )
            params.append({"name": "dflow_slice_index", "value": "{{item}}"})
            params.append({"name": "dflow_group_items", "value": text(with_param)})
            static = getattr(with_param, "static_items", lambda: None)()
            if isinstance(with_param, list | tuple) or static is not None:
                total = len(with_param) if static is None else len(static)
                with_param = list(range((total + size - 1) // size))
            else:
                e = with_param.expr if isinstance(with_param, ArgoVar) else None
                if e is None:
                    raise RenderError(
                        f"{where}: Slices(group_size=...) needs with_param as a "
                        "list, a parameter or argo_range(...)"
                    )
                with_param = ArgoVar(
                    f"toJson(sprig.untilStep(0, int((len(sprig.fromJson({e})) + {size - 1}) / {size}),"
                    " 1))"
                )
        else:
            params.append({"name": "dflow_slice_index", "value": str(sl.slices)})
        outs = sliced_outputs(step)
        if outs:
            init = f"{step.name}-init-artifact"
            keyed = step.key is not None
            tname = self.add_body(
                "dflow-init-artifact",
                helpers.init_artifact(
                    list(outs),
                    self.locs,
                    self.key_prefix,
                    self.util_image_for(step),
                    self.util_pull_for(step),
                    self.catalog_dir,
                    keyed,
                    copy.deepcopy(self.memoize) if keyed else None,
                ),
            )
            pre: dict[str, Any] = {"name": init, "template": tname}
            if keyed:
                group = group_key(text(step.key))
                pre["arguments"] = {
                    "parameters": [
                        {"name": "dflow_group_key", "value": group},
                        {"name": "dflow_key", "value": f"{group}-init-artifact"},
                    ]
                }
                params.append({"name": "dflow_group_key", "value": group})
            node.pre.append(pre)
            node.helpers_deps.append(init)
            params.append(
                {
                    "name": "dflow_artifact_key",
                    "value": var(f"{kind}.{init}.outputs.parameters.dflow_artifact_key"),
                }
            )
        return with_param

    def check_unarchived(self, step: Any, name: str, where: str) -> None:
        """Items of a sub_path slice are paths inside the stored artifact: a tarred output
        has none (Argo stores it as one ``.tgz`` object)."""
        src = step.inputs.artifacts[name].source
        key = getattr(src, "full_key", None) if not isinstance(src, str) else None
        if isinstance(key, str) and key.endswith((".tgz", ".tar.gz")):
            raise RenderError(
                f"{where}: Slices(sub_path=True) over artifact '{name}' stored as one tar archive "
                f"({key}): upload it unarchived (upload_artifact(..., archive=None))"
            )
        up = getattr(src, "step", None)
        if (
            not isinstance(src, OutputArtifact)
            or up is None
            or not _is_leaf(up.template)
            or src.name in sliced_outputs(up)
        ):
            return
        decl = up.template.outputs.artifacts.get(src.name)
        if decl is not None and self.leaf.archive_of(decl) is not None:
            raise RenderError(
                f"{where}: Slices(sub_path=True) over output artifact '{src.name}' of "
                f"{up.kind} '{up.name}', which Argo stores as one tar archive: declare it "
                "unarchived (Artifact(..., archive=None)) or set config['archive_mode'] = None"
            )

    def util_image_for(self, step: Any) -> str:
        return step.util_image or self.util_image

    def util_pull_for(self, step: Any) -> str | None:
        return step.util_image_pull_policy or self.util_pull_policy

    def check_node(self, step: Any, kind: str, node: Node) -> None:
        num, ratio = step.continue_on_num_success, step.continue_on_success_ratio
        tname = self.add_body(
            "dflow-check-success",
            helpers.check_success(self.util_image_for(step), self.util_pull_for(step)),
        )
        name = f"{step.name}-check"
        node.check = name
        node.post.append(
            {
                "name": name,
                "template": tname,
                "arguments": {
                    "parameters": [
                        {
                            "name": "tags",
                            "value": var(
                                f"{kind}.{step.name}.outputs.parameters.dflow_success_tag"
                            ),
                        },
                        {"name": "total", "value": loop_total(step)},
                        {"name": "threshold", "value": str(num if num is not None else ratio)},
                        {"name": "mode", "value": "number" if num is not None else "ratio"},
                    ]
                },
            }
        )

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
