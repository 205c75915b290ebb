"""Artifact arguments Argo cannot take as they are: lists/dicts of artifacts, slices, local files.

* A **list or dict of artifacts** given as one input artifact travels as parts
  ``dflow_<name>_<i>`` (one Argo artifact each); the Python OP's container script links them
  into ``inputs/artifacts/<name>/<i>/...`` with a catalog (orders: list positions or dict
  keys, dotted for nested dicts), so the runner sees one list/dict artifact.
* A **slice** (``art[i]``, ``S3Artifact(...)[i]``) downloads the whole artifact to
  ``inputs/artifacts/dflow_whole_<name>``; the script picks item ``i`` of its catalog (then
  the ``sub_path`` of the reference, if any) and links it as ``inputs/artifacts/<name>``.
  The index (``{{item}}`` allowed) arrives in the parameter ``dflow_artslice_<name>``.
* A **LocalArtifact** exists on this machine only: it gets a content-hash storage key,
  recorded for the engine to upload before submitting (like the OP packages).
"""

from __future__ import annotations

import os
from typing import Any

from dflow.model.io import ArtifactRef

from . import packages as pk
from .values import RenderError

PART = "dflow_{}_{}"
WHOLE_PREFIX = "dflow_whole_"
SLICE_PARAM = "dflow_artslice_"
SUB_PARAM = "dflow_artsub_"
SUB_PATH_PARAM = "dflow_{}_sub_path"  # Slices(sub_path=True): the item's path (pydflow's name)
_KEYED = ("s3", "oss", "gcs", "azure", "hdfs", "artifactory")


def is_many(source: Any) -> bool:
    return isinstance(source, list | tuple | dict)


def parts(source: Any, where: str, name: str) -> list[tuple[int | str, Any]]:
    """``[(order, source)]`` of a list (int orders) or a (nested) dict (dotted str orders);
    ``None`` items are dropped as the local engine drops them."""
    if isinstance(source, dict):
        out: list[tuple[int | str, Any]] = []
        _dict_parts(source, "", out, where, name)
        return out
    out = []
    for i, item in enumerate(source):
        if is_many(item):
            raise RenderError(
                f"{where}: artifact '{name}' is a list holding a {type(item).__name__}; on "
                "Argo a list of artifacts must be flat: pass a flat list or a dict of lists' items"
            )
        if item is not None:
            out.append((i, item))
    return out


def _dict_parts(src: dict, prefix: str, out: list, where: str, name: str) -> None:
    for k, v in src.items():
        key = f"{prefix}{k}"
        if "{{" in key:
            raise RenderError(f"{where}: artifact '{name}': dict key {key!r} contains '{{{{'")
        if isinstance(v, dict):
            _dict_parts(v, key + ".", out, where, name)
        elif isinstance(v, list | tuple):
            raise RenderError(
                f"{where}: artifact '{name}': item {key!r} is a list; on Argo a dict of artifacts "
                "holds single artifacts (or nested dicts): give each item its own key"
            )
        elif v is not None:
            out.append((key, v))


def narrowed(source: Any) -> tuple[Any, Any, str | None] | None:
    """``(whole source, index, sub_path)`` of a sliced source, None when it is not sliced."""
    if isinstance(source, ArtifactRef) and source.slice is not None:
        return source.artifact, source.slice, source.sub_path
    index = getattr(source, "slice", None)
    if index is not None and hasattr(source, "selected_path") and not isinstance(source, str):
        whole = source.__class__.from_dict(
            {k: v for k, v in source.to_dict().items() if k not in ("slice", "sub_path")}
        )
        return whole, index, source.selected_path
    return None


def narrow(entry: dict[str, Any], sub: str, where: str) -> dict[str, Any]:
    """A copy of artifact argument ``entry`` narrowed to ``sub`` inside it.

    Argo applies ``subPath`` to ``from``/``fromExpression`` artifacts only
    (``workflow/controller/scope.go`` ``resolveArtifact``, v3.7.18 and v4.1.2); a located
    artifact is narrowed in its key, as pydflow does.
    """
    out = dict(entry)
    if "from" in out or "fromExpression" in out:
        out["subPath"] = _join(out.get("subPath", ""), sub)
        return out
    for kind in _KEYED:
        if isinstance(out.get(kind), dict) and "key" in out[kind]:
            loc = dict(out[kind])
            loc["key"] = _join(loc["key"], sub)
            out[kind] = loc
            return out
    raise RenderError(
        f"{where}: artifact '{entry['name']}' ({', '.join(sorted(out))}) cannot "
        "be sliced by sub path on Argo: give an uploaded artifact (S3Artifact, "
        "upload_artifact) or another step's output"
    )


def sub_path_item(name: str, path: str, catalog_dir: str) -> tuple[str, dict[str, Any]]:
    """Where one item of a ``Slices(sub_path=True)`` artifact lands in the pod, and the raw
    catalog artifact naming it: the item keeps its path (and so its own file name) inside the
    artifact, as in pydflow, and the runner finds it through the catalog."""
    param = SUB_PATH_PARAM.format(name)
    item = f"{path.rstrip('/')}/{{{{inputs.parameters.{param}}}}}"
    # toJson: the item's path is quoted as JSON whatever characters it holds
    data = (
        f'{{"path_list": [{{"dflow_list_item": {{{{=toJson(inputs.parameters[\'{param}\'])}}}}}}]}}'
    )
    return item, {
        "name": f"dflow_{name}_catalog",
        "path": f"{path.rstrip('/')}/{catalog_dir}/slice",
        "raw": {"data": data},
    }


def _join(base: str, sub: str) -> str:
    return (base.rstrip("/") + "/" + sub.lstrip("/")).lstrip("/") if base else sub


def check_index(index: Any, where: str, name: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int | str):
        raise RenderError(
            f"{where}: artifact '{name}' takes item {index!r}; on Argo an item is an int, a "
            "dict key or a '{{...}}' string (slices like [1:3] are not supported)"
        )


def shapes(step: Any) -> tuple[tuple, tuple]:
    """What a step's artifact arguments add to its template: ``(parts, slices)`` with
    ``parts = ((name, (order, ...)), ...)`` and ``slices = ((name, has_sub_path), ...)``."""
    many, sliced = [], []
    where = f"step '{step.name}'"
    for name, a in step.inputs.artifacts.items():
        src = a.source
        if is_many(src):
            many.append((name, tuple(o for o, _ in parts(src, where, name))))
        else:
            cut = narrowed(src)
            if cut is not None:
                sliced.append((name, bool(cut[2])))
    return tuple(many), tuple(sliced)


def local_key(art: Any, prefix: str, uploads: dict[str, str]) -> str:
    """The storage key of a LocalArtifact's content (recorded in ``uploads``)."""
    path = os.path.abspath(art.local_path)
    if not os.path.exists(path):
        raise RenderError(
            f"LocalArtifact {art.local_path!r} does not exist: create it or fix "
            "the path before rendering for Argo"
        )
    digest = pk.content_hash(path)[:32]
    key = f"{prefix}dflow/local/{digest}/{os.path.basename(path.rstrip('/')) or 'root'}"
    uploads[key] = path
    return key
