"""Argument values and artifact locations: how model values become Argo fields."""

from __future__ import annotations

import json
import re
from typing import Any

from dflow.model.io import (
    MISSING,
    ArgoVar,
    ArtifactRef,
    InputArtifact,
    OutputArtifact,
    OutputParameter,
    _IOBase,
    render_value,
    to_expr,
)
from dflow.serialization import dump_value, type_name

_VAR_WITH_SUBPATH = re.compile(r"^({{[^{}]+}})(/.*)?$")


class RenderError(ValueError):
    """A workflow the Argo renderer cannot express; the message says where and what to do."""


def var(path: str) -> str:
    """``{{path}}``: an Argo variable or (``=...``) expression tag."""
    return "{{" + path + "}}"


def text(value: Any) -> str:
    """Argo text of a parameter value (``{{...}}`` references, JSON for non-strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return render_value(value)


def described(entry: dict[str, Any], param: Any, type_: Any = None) -> dict[str, Any]:
    """Record a parameter's type in ``description`` (``{"type": "int"}``), as pydflow did
    (``type_``: the type when it is inferred rather than declared)."""
    type_ = type_ if type_ is not None else getattr(param, "type", None)
    name = type_name(type_) if type_ is not None else None
    if name:
        entry["description"] = json.dumps({"type": name})
    elif getattr(param, "description", None):
        entry["description"] = str(param.description)
    return entry


class ArgoArtifact(dict):
    """An Argo artifact location kept verbatim (read back from a manifest)."""


class RawArtifact:
    """Text given to a step as a file (Argo ``raw`` artifact)."""

    def __init__(self, data: str) -> None:
        self.data = data


def default_text(value: Any) -> str:
    return value if isinstance(value, str) else dump_value(value)


class Locations:
    """Artifact locations in the configured store: key-only ``s3``/``oss``/``gcs`` entries
    whose bucket, endpoint and credentials come from the Argo artifact repository (secret
    references there, never inline)."""

    def __init__(self, kind: str, repo_prefix: str = "") -> None:
        self.kind = kind if kind in ("s3", "oss", "gcs") else "s3"
        self.repo_prefix = repo_prefix

    def of_key(self, key: str) -> dict[str, Any]:
        if self.kind == "oss":
            return {"oss": {"key": self.repo_prefix + key}}
        return {self.kind: {"key": key}}

    def of_output(self, key: str) -> dict[str, Any]:
        """A key the renderer makes for a step's output, under the repository's prefix for
        every kind (pydflow's ``archiveLocation``: ``<repo_prefix><prefix>...``)."""
        return {self.kind: {"key": self.repo_prefix + key}}


def _is_s3(source: Any) -> bool:
    return type(source).__name__ == "S3Artifact" and getattr(source, "key", None) is not None


def artifact_argument(
    name: str,
    source: Any,
    locs: Locations,
    ref_text: Any,
    where: str,
    local_key: Any = None,
) -> dict[str, Any] | None:
    """The ``arguments.artifacts`` entry feeding artifact ``name`` from ``source``.

    ``ref_text(artifact)`` renders a reference to another step's or template's artifact
    (the renderer redirects sliced outputs there); ``local_key(local_artifact)`` is the
    storage key a LocalArtifact is uploaded to (None: LocalArtifacts are refused).
    """
    if source is None:
        return None
    entry: dict[str, Any] = {"name": name}
    sub_path = None
    if isinstance(source, ArtifactRef):
        if source.slice is not None:
            raise RenderError(
                f"{where}: artifact '{name}' takes a slice ([{source.slice!r}]) of another "
                "artifact; the Argo renderer passes whole artifacts: use Slices on the step"
            )
        sub_path, source = source.sub_path, source.artifact
    if isinstance(source, InputArtifact | OutputArtifact):
        entry["from"] = ref_text(source)
    elif _is_s3(source):
        if getattr(source, "slice", None) is not None:
            raise RenderError(
                f"{where}: artifact '{name}': slices of an S3Artifact are not "
                "supported on Argo; use Slices(input_artifact=[...]) instead"
            )
        entry.update(locs.of_key(source.full_key))
    elif type(source).__name__ == "HTTPArtifact":
        entry["http"] = {"url": source.url}
    elif type(source).__name__ == "LocalArtifact":
        if getattr(source, "slice", None) is not None or local_key is None:
            raise RenderError(
                f"{where}: artifact '{name}' is a LocalArtifact ({source.local_path}), which "
                "only exists on this machine: upload it with upload_artifact() to run on Argo"
            )
        key = local_key(source)
        sel = source.selected_path
        entry.update(locs.of_key(key + "/" + sel.strip("/") if sel else key))
    elif isinstance(source, str):
        m = _VAR_WITH_SUBPATH.match(source)
        if m:
            entry["from"] = m.group(1)
            sub_path = (m.group(2) or "").lstrip("/") or None
        else:
            entry["raw"] = {"data": source}
    elif isinstance(source, ArgoArtifact):
        entry.update({k: v for k, v in source.items() if k != "name"})
    elif isinstance(source, RawArtifact):
        entry["raw"] = {"data": source.data}
    elif isinstance(source, list | tuple | dict):
        raise RenderError(
            f"{where}: artifact '{name}' is a {type(source).__name__} of artifacts; on Argo "
            "only a Python OP step takes one (as parts): upload the files together with "
            "upload_artifact() for other templates"
        )
    else:
        raise RenderError(
            f"{where}: artifact '{name}' has an unsupported source {source!r} (use an "
            "S3Artifact, an HTTPArtifact, or another step's/template's artifact)"
        )
    if sub_path:
        entry["subPath"] = sub_path
    return entry


def is_reference(value: Any) -> bool:
    return isinstance(value, _IOBase)


def big_parameter_argument(
    name: str, value: Any, ref_text: Any, upload: Any = None
) -> dict[str, Any]:
    """A BigParameter input is a file: from another step's big output, raw text when it holds
    ``{{...}}`` references (Argo substitutes them), else a literal uploaded to the store
    (``upload(text)`` gives its key), as pydflow does: a big literal must not make a big
    manifest (etcd refuses objects over about 1.5 MiB)."""
    if isinstance(value, OutputParameter) and value.step is not None and value.save_as_artifact:
        art = OutputArtifact(name=f"dflow_bigpar_{value.name}")
        art.step = value.step
        return {"name": f"dflow_bigpar_{name}", "from": ref_text(art)}
    return {"name": f"dflow_bigpar_{name}", **big_literal(text(value), upload)}


def big_literal(data: str, upload: Any) -> dict[str, Any]:
    """The source of a BigParameter's text: ``raw`` when Argo must substitute references in
    it (or nothing uploads), else the location ``upload(data)`` returns."""
    if "{{" in data or upload is None:
        return {"raw": {"data": data}}
    return upload(data)


def loop_total(step: Any) -> str:
    """Argo text of the number of items of a step's loop ('' when unknown statically)."""
    wp, seq = step.with_param, step.with_sequence
    if wp is not None:
        if isinstance(wp, list | tuple):
            return str(len(wp))
        if isinstance(wp, ArgoVar):
            return var(f"=len(sprig.fromJson({wp.expr}))")
        if isinstance(wp, str):
            try:
                return str(len(json.loads(wp)))
            except ValueError:
                return ""
    if seq is not None:
        if seq.count is not None:
            return text(seq.count)
        if all(isinstance(v, int | type(None)) for v in (seq.start, seq.end)):
            return str(int(seq.end or 0) - int(seq.start or 0) + 1)
    return ""


def _number(value: Any) -> str:
    """An expression of a withSequence bound (a literal, an expression or a parameter)."""
    if isinstance(value, bool):
        raise RenderError(f"argo_sequence bound {value!r} is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return value
    if isinstance(value, ArgoVar):
        return f"asInt({value.expr})"
    return f"asInt({to_expr(value)})"


def sequence_items(seq: Any, where: str) -> Any:
    """The items of a ``withSequence`` as a list (literal bounds) or an expression, so that
    ``Slices(group_size=...)`` can group them like a ``with_param`` list."""
    if seq.format:
        raise RenderError(
            f"{where}: Slices(group_size=...) with argo_sequence(format=...) "
            "has no integer items to slice with; drop format"
        )
    bounds = (seq.start, seq.count, seq.end)
    if all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in bounds):
        start = seq.start or 0
        if seq.count is not None:
            return list(range(start, start + seq.count))
        end = seq.end or 0
        return list(range(start, end + 1) if end >= start else range(start, end - 1, -1))
    start = _number(seq.start) if seq.start is not None else "0"
    stop = (
        f"{start} + {_number(seq.count)}"
        if seq.count is not None
        else f"{_number(seq.end if seq.end is not None else 0)} + 1"
    )
    return ArgoVar(f"toJson(sprig.untilStep({start}, {stop}, 1))")


__all__ = [
    "MISSING",
    "Locations",
    "RenderError",
    "artifact_argument",
    "big_parameter_argument",
    "default_text",
    "described",
    "is_reference",
    "loop_total",
    "text",
    "var",
]
