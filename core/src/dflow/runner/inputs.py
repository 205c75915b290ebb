"""Read an OP's inputs from an inputs directory and cut them into slices.

Layout: ``<inputs>/parameters/<name>`` holds a parameter's text (``dflow.serialization``),
``<inputs>/artifacts/<name>`` an artifact (a file, or a dir, possibly with a catalog).
"""

from __future__ import annotations

import copy
import json
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import catalog
from ..fileio import read_file
from ..python.errors import SignatureError
from ..python.opio import (
    Artifact,
    HDF5Datasets,
    artifact_has_hdf5,
    artifact_shape,
    is_union,
    sign_type,
    type_str,
)
from ..python.typecheck import get_args
from ..serialization import load_value


def flatten_stacked(value: Any) -> Any:
    """A list stacked by sliced steps (``[{"dflow_list_item": v, "order": i}]`` items, or
    strings of such lists aggregated by a fan-out) as the plain list of values."""
    if not isinstance(value, list) or not value:
        return value
    items: list = []
    for v in value:
        if isinstance(v, str) and v.startswith("[") and "dflow_list_item" in v:
            try:
                v = json.loads(v)
            except ValueError:
                return value
        if isinstance(v, list) and all(isinstance(x, dict) and "dflow_list_item" in x for x in v):
            items.extend(v)
        elif isinstance(v, dict) and "dflow_list_item" in v:
            items.append(v)
        else:
            return value
    items.sort(key=lambda x: (x.get("order") is None, x.get("order") or 0))
    return [x["dflow_list_item"] for x in items]


def _leaf_type(tp: Any) -> type:
    """str or Path: how the paths of an artifact type are handed to the OP."""
    if is_union(tp):  # Union[T, HDF5Datasets]
        rest = [a for a in get_args(tp) if a is not HDF5Datasets]
        return str if rest == [str] else Path if len(rest) != 1 else _leaf_type(rest[0])
    if tp in (str, Path):
        return tp
    item = getattr(tp, "item_type", None)  # NestedDict[...]
    if item is None:
        args = get_args(tp)
        item = args[-1] if args else Path  # the value type of Dict[str, T], List[T], Set[T]
    return str if item is str else Path


def _convert(obj: Any, leaf: type) -> Any:
    if isinstance(obj, dict):
        return {k: _convert(v, leaf) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_convert(v, leaf) for v in obj]
    if leaf is str:
        return str(obj)
    # a catalog's paths are Paths already: Path(path) would parse each again (a reduce
    # step over a 10,000-slice fan-out reads 10,000 of them)
    return obj if isinstance(obj, Path) else Path(obj)


def _holds_hdf5(root: Path) -> bool:
    """An artifact written from HDF5 datasets: .h5 files and no catalog."""
    if root.is_file():
        return root.suffix == ".h5"
    return not catalog.read_catalog(root) and any(root.glob("*.h5"))


def read_artifact(op_name: str, name: str, sign: Artifact, root: Path, whole_list: bool) -> Any:
    """The path object of input artifact ``name`` shaped by its sign (``whole_list``: a
    sliced artifact, returned as its whole list)."""
    if catalog.detect_empty_dir() and not root.is_symlink():
        catalog.remove_empty_dir_markers(root)
    shape = artifact_shape(sign.type)
    if shape == "hdf5" or (artifact_has_hdf5(sign.type) and _holds_hdf5(root)):
        from .hdf5 import read_hdf5

        return read_hdf5(root)
    leaf = _leaf_type(sign.type)
    if whole_list:
        return _sliced_paths(root, leaf)
    index = catalog.catalog_index(root)  # read once: the shape and the items
    obj = catalog.path_object(root, index.items)
    if shape == "path":
        if isinstance(obj, list) and len(obj) == 1:  # upload_artifact("f") catalogs ["f"]
            obj = obj[0]
        return _convert(obj if isinstance(obj, Path) else root, leaf)
    if shape in ("list", "set"):
        if isinstance(obj, dict):
            obj = list(obj.values())
        elif index.declared and not index.items:
            obj = []  # a catalog that lists nothing: an empty list, not the directory
        obj = _convert(obj if isinstance(obj, list) else [obj], leaf)
        return set(obj) if shape == "set" else obj
    if not isinstance(obj, dict):
        raise SignatureError(
            f"OP {op_name}: input artifact '{name}' expects {type_str(sign.type)}, but the "
            f"artifact at {root} holds {'a list' if isinstance(obj, list) else 'one path'}"
        )
    return _convert(obj, leaf)


class SlicedPaths(Sequence):
    """The paths of a sliced artifact that is a list, made on demand: a slice takes one.

    A fan-out's slices share the artifact's catalog (:func:`catalog.catalog_index`), so a
    slice costs the same whatever the number of items."""

    def __init__(self, root: Path, items: list[dict], leaf: type) -> None:
        self.root, self.items, self.leaf = root, items, leaf

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return _convert(self.root / self.items[index]["dflow_list_item"], self.leaf)

    def __repr__(self) -> str:
        return f"SlicedPaths({self.root}, {len(self)} items)"


def _sliced_paths(root: Path, leaf: type) -> Sequence:
    """A sliced artifact as its whole list (one item unless its catalog makes it a list)."""
    index = catalog.catalog_index(root)
    if index.is_list:
        return SlicedPaths(root, index.items, leaf)
    return _convert([catalog.path_object(root, index.items)], leaf)


def read_inputs(
    op_name: str,
    sign: Mapping[str, Any],
    inputs_dir: Path,
    sliced: set[str],
    input_types: Mapping[str, Any] | None = None,
    parameters_dir: Path | None = None,
) -> dict[str, Any]:
    """Every declared input present in ``inputs_dir`` (sliced ones as their whole list);
    parameters are read from ``parameters_dir`` when given."""
    values: dict[str, Any] = {}
    par_dir = (
        os.fspath(parameters_dir) if parameters_dir else os.path.join(inputs_dir, "parameters")
    )
    art_dir = os.path.join(inputs_dir, "artifacts")
    for name, s in sign.items():
        if isinstance(s, Artifact):
            root = Path(art_dir, name)
            if os.path.lexists(root):
                values[name] = read_artifact(op_name, name, s, root, name in sliced)
            continue
        path = os.path.join(par_dir, name)
        if name in sliced:
            whole = _sliced_list(path)
            if whole is not _ABSENT:
                values[name] = whole
            continue
        try:
            text = read_file(path)
        except FileNotFoundError:
            continue
        tp = (input_types or {}).get(name, sign_type(s))
        value = load_value(text, tp)
        values[name] = flatten_stacked(value) if isinstance(value, list) else value
    return values


_ABSENT = object()
# A sliced parameter holds the whole list and every slice of a fan-out reads the same file
# (the engine links each slice's parameter to one copy): a warm worker serving thousands of
# slices decodes it once, not once per slice, which made a fan-out quadratic in its size.
# Keyed by the file's identity, so a rewritten file is read again; the last few lists only.
_SLICED: OrderedDict[tuple, Any] = OrderedDict()
_SLICED_KEEP = 4


def _sliced_list(path: str) -> Any:
    """The decoded, flattened list of a sliced parameter file (``_ABSENT`` if none)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _ABSENT
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if ident in _SLICED:
        _SLICED.move_to_end(ident)
        return _SLICED[ident]
    try:
        text = read_file(path)
    except FileNotFoundError:
        return _ABSENT
    value = load_value(text, list)
    value = flatten_stacked(value) if isinstance(value, list) else value
    _SLICED[ident] = value
    while len(_SLICED) > _SLICED_KEEP:
        _SLICED.popitem(last=False)
    return value


_SEQUENCES = (list, tuple, SlicedPaths)


def select_slice(
    op_name: str, values: Mapping[str, Any], sliced: set[str], index: int
) -> dict[str, Any]:
    """The inputs of slice ``index``: the sliced inputs indexed, the others as they are.

    Sliced inputs must be of equal length: a longer one is an error, never cut short.
    """
    result = dict(values)
    lengths = {n: len(v) for n, v in values.items() if n in sliced and isinstance(v, _SEQUENCES)}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"'{n}' has {k}" for n, k in lengths.items())
        raise SignatureError(
            f"OP {op_name}: sliced inputs differ in length ({listed}); "
            "each sliced input needs one item per slice"
        )
    for name in [n for n in values if n in sliced]:  # in sign order: stable messages
        whole = values[name]
        if not isinstance(whole, _SEQUENCES):
            raise SignatureError(
                f"OP {op_name}: sliced input '{name}' must be a list, got {type(whole).__name__}"
            )
        if not -len(whole) <= index < len(whole):
            raise SignatureError(
                f"OP {op_name}: slice {index} is out of range for input '{name}' "
                f"(a list of {len(whole)})"
            )
        # a copy: the list is shared by the slices a worker serves (see _sliced_list)
        result[name] = copy.deepcopy(whole[index])
    return result
