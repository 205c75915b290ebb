"""Artifact catalogs: how a directory artifact says it holds a list or a dict of paths.

An artifact that is a list, a dict or a nested dict of paths is stored as one directory with a
catalog dir (``.dflow`` by default) holding JSON files ``{"path_list": [item, ...]}``. Each
item is ``{"dflow_list_item": "<path relative to the artifact root>", "order": <order>}``:
an int order is a list position, a str order a dict key (dotted for nested dicts: ``"a.b"``).
Several catalog files (one per producer, e.g. per slice of a fan-out) merge into one.

Object stores drop empty directories, so empty dirs get an ``.empty_dir`` marker file on the
way out and lose it on the way in (``config["detect_empty_dir"]``).
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fileio import read_file, write_file

EMPTY_DIR_MARKER = ".empty_dir"
_config_module: Any = None


def _config() -> Mapping[str, Any]:
    global _config_module
    if _config_module is None:
        try:  # by module path: ``dflow.config`` may also be the name of the dict
            _config_module = importlib.import_module("dflow.config")
        except ImportError:
            _config_module = False
    if _config_module is False:
        return {}
    return getattr(_config_module, "config", {})


def catalog_dir_name() -> str:
    """The name of the catalog dir inside artifacts (``config["catalog_dir_name"]``)."""
    return _config().get("catalog_dir_name") or ".dflow"


def detect_empty_dir() -> bool:
    """Whether empty dirs get ``.empty_dir`` markers (``config["detect_empty_dir"]``)."""
    return bool(_config().get("detect_empty_dir", True))


def write_catalog(root: Path, items: list[dict]) -> Path:
    """Write one catalog file into ``root``'s catalog dir and return its path."""
    cat_dir = os.path.join(root, catalog_dir_name())
    try:  # os-level (a fan-out writes one per slice): pathlib's mkdir stats first
        os.mkdir(cat_dir)
    except (FileExistsError, FileNotFoundError):  # the latter: write_file makes the dirs
        pass
    path = os.path.join(cat_dir, str(uuid.uuid4()))
    write_file(path, json.dumps({"path_list": items}))
    return Path(path)


def _order_key(item: dict) -> tuple:
    order = item.get("order")
    if order is None:
        return (0, 0, "")
    if isinstance(order, (int, float)) and not isinstance(order, bool):
        return (1, order, "")
    return (2, 0, str(order))


def read_catalog(root: Path) -> list[dict]:
    """All catalog items of ``root`` merged and sorted by order ([] without a catalog)."""
    cat_dir = Path(root) / catalog_dir_name()
    if not cat_dir.is_dir():
        return []
    items: list[dict] = []
    for entry in sorted(os.scandir(cat_dir), key=lambda e: e.name):
        if not entry.is_file():
            continue
        try:
            data = json.loads(read_file(entry.path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"artifact catalog {entry.path} is not valid JSON: {exc}") from exc
        items.extend(data.get("path_list", []) if isinstance(data, dict) else [])
    items.sort(key=_order_key)
    return items


@dataclass(frozen=True)
class CatalogIndex:
    """The merged catalog of an artifact, read once and shared: never modify ``items``."""

    items: list[dict]  # sorted by order, as read_catalog returns them
    keyed: bool  # some order is a str: the artifact is a dict
    #: the artifact has catalog files: with no items it is an empty list (a sliced fan-out
    #: without items stacked nothing; ``upload_artifact([])``), not one path
    declared: bool = False

    @property
    def is_list(self) -> bool:
        """Whether the artifact is a list of its items (see :func:`path_object`)."""
        single = len(self.items) == 1 and self.items[0].get("order") is None
        return (bool(self.items) or self.declared) and not self.keyed and not single


_INDEXES: OrderedDict[tuple, CatalogIndex] = OrderedDict()
_INDEXES_KEEP = 8


def catalog_index(root: str | os.PathLike) -> CatalogIndex:
    """:func:`read_catalog` of ``root``, parsed once per catalog and kept (the last few).

    Every slice of a fan-out over a sliced artifact takes one item of the same catalog; parsing
    it per slice made such a fan-out quadratic in its size. A catalog is known by its files'
    identities (device, inode, size, mtime), so a rewritten or added file is read again: the
    cost per call is one scan of the catalog dir and a stat per catalog file.
    """
    cat_dir = os.path.join(root, catalog_dir_name())
    try:
        with os.scandir(cat_dir) as scan:
            files = [(e.name, e.stat()) for e in scan if e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return CatalogIndex([], False)
    key = tuple(sorted((n, s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns) for n, s in files))
    found = _INDEXES.get(key)
    if found is not None:
        _INDEXES.move_to_end(key)
        return found
    items = read_catalog(Path(root))
    found = CatalogIndex(items, any(isinstance(it.get("order"), str) for it in items), bool(files))
    if key:
        _INDEXES[key] = found
        while len(_INDEXES) > _INDEXES_KEEP:
            _INDEXES.popitem(last=False)
    return found


def _set_nested(target: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = value


def path_object(root: Path, items: list[dict] | None = None) -> Any:
    """The path object an artifact stands for.

    A list of paths for int orders, a (nested) dict for str orders, the single path of a
    single item without order, and ``Path(root)`` itself when there is no catalog.
    """
    root = Path(root)
    if items is None:
        items = read_catalog(root)
    if not items:
        return root
    orders = [it.get("order") for it in items]
    if len(items) == 1 and orders[0] is None:
        return root / items[0]["dflow_list_item"]
    if any(isinstance(o, str) for o in orders):
        result: dict = {}
        for i, (it, o) in enumerate(zip(items, orders)):
            _set_nested(result, str(o if o is not None else i), root / it["dflow_list_item"])
        return result
    return [root / it["dflow_list_item"] for it in items]


def _rel(path: Any, base: Path) -> str:
    p = Path(path)
    if p.is_absolute():
        p = p.relative_to(base)
    return p.as_posix()


def items_for(path_obj: Any, base: Path, order: Any = None) -> list[dict]:
    """The catalog items of a path object whose paths lie under ``base`` (the inverse of
    ``path_object``). ``order`` is the order of a single path (e.g. a slice index)."""
    base = Path(base)
    if isinstance(path_obj, Mapping):
        items: list[dict] = []
        _dict_items(path_obj, base, "", items)
        return items
    if isinstance(path_obj, (list, tuple, set, frozenset)):
        seq = sorted(path_obj, key=str) if isinstance(path_obj, (set, frozenset)) else path_obj
        return [
            {"dflow_list_item": _rel(p, base), "order": i}
            for i, p in enumerate(seq)
            if p is not None
        ]
    item: dict[str, Any] = {"dflow_list_item": _rel(path_obj, base)}
    if order is not None:
        item["order"] = order
    return [item]


def _dict_items(obj: Mapping, base: Path, prefix: str, out: list[dict]) -> None:
    for key, value in obj.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _dict_items(value, base, dotted + ".", out)
        elif value is not None:
            out.append({"dflow_list_item": _rel(value, base), "order": dotted})


def mark_empty_dirs(root: Path) -> int:
    """Put an ``.empty_dir`` marker into every empty dir under ``root``; return how many."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if not dirnames and not filenames:
            Path(dirpath, EMPTY_DIR_MARKER).touch()
            count += 1
    return count


def remove_empty_dir_markers(root: Path) -> int:
    """Remove the ``.empty_dir`` markers under ``root``; return how many."""
    root = Path(root)
    if root.is_file():
        return 0
    count = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        if EMPTY_DIR_MARKER in filenames:
            os.unlink(os.path.join(dirpath, EMPTY_DIR_MARKER))
            count += 1
    return count
