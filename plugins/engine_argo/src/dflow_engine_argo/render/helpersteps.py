"""The helper steps a rendering pass adds around a step, and what decides them.

* A sliced fan-out (``Slices`` with ``with_param``/``with_sequence``, or ``sub_path``) gets its
  init steps before it: ``dflow-slices-path`` lists a ``sub_path`` artifact's items (each
  slice then gets only its own path), and ``dflow-init-artifact`` prepares the stacked
  outputs' location (with the group's key for a keyed fan-out); its own arguments gain the
  slice index, the group's items and the artifact key.
* A step with ``continue_on_num_success``/``continue_on_success_ratio`` gets a
  ``dflow-check-success`` step after it.

:class:`HelperSteps` is the part of :class:`~.graph.RenderPass` that renders them.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

import attrs
from dflow.model.dag import DAG
from dflow.model.io import ArgoVar, OutputArtifact
from dflow.model.steps import Steps

from . import artargs, helpers
from .values import RenderError, loop_total, sequence_items, text, var

_ITEM_TAG = re.compile(r"{{=?\s*item[^}]*}}")


@attrs.define
class Node:
    """A rendered step/task and the helper nodes around it."""

    entry: dict[str, Any]
    pre: list[dict[str, Any]] = attrs.field(factory=list)
    post: list[dict[str, Any]] = attrs.field(factory=list)
    helpers_deps: list[str] = attrs.field(factory=list)  # helper tasks the node waits for
    check: str | None = None  # name of its success check (dependents wait for it)


def is_leaf(tmpl: Any) -> bool:
    """Whether ``tmpl`` renders as one pod's template (not a Steps or DAG template)."""
    return not isinstance(tmpl, Steps | DAG)


def step_slices(step: Any) -> Any:
    """The ``Slices`` of a Python OP step's template, or None."""
    return getattr(step.template, "slices", None) if hasattr(step.template, "op_class") else None


def looped(step: Any) -> bool:
    """Whether ``step`` fans out over ``with_param`` or ``with_sequence``."""
    return step.with_param is not None or step.with_sequence is not None


def group_key(key: str) -> str:
    """A keyed fan-out's key as a whole: ``{{item...}}`` read as ``group`` (dflow_group_key)."""
    return _ITEM_TAG.sub("group", key)


def sub_path_names(step: Any) -> tuple[str, ...]:
    """The input artifacts a ``Slices(sub_path=True)`` step hands over one item at a time."""
    sl = step_slices(step)
    return tuple(
        n
        for n in sl.input_artifact
        if n in step.inputs.artifacts and step.inputs.artifacts[n].source is not None
    )


def sliced_outputs(step: Any) -> tuple[str, ...]:
    """The output artifacts a sliced fan-out stacks (in its init artifact's location)."""
    sl = step_slices(step)
    if sl is None or not (looped(step) or sl.sub_path):
        return ()
    return tuple(n for n in sl.output_artifact if n in step.template.outputs.artifacts)


class HelperSteps:
    """The helper steps of :class:`~.graph.RenderPass` (a mixin: it uses the pass's
    ``add_body`` and ``artifact_arg``, and the attributes below)."""

    catalog_dir: str
    key_prefix: str
    locs: Any
    memoize: Any
    leaf: Any
    util_image: str
    util_pull_policy: str | None

    if TYPE_CHECKING:  # RenderPass's

        def add_body(self, base: str, body: dict[str, Any]) -> str: ...

        def artifact_arg(self, name: str, source: Any, where: str) -> dict[str, Any] | None: ...

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
            or not is_leaf(up.template)
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
