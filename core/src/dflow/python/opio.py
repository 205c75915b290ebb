"""Signs of OP inputs and outputs: ``OPIO``, ``OPIOSign``, ``Artifact``, ``Parameter``.

An ``OPIOSign`` maps each input or output name to its sign: a plain type (a parameter), a
``Parameter``/``BigParameter`` (a parameter with a default or a global name), or an
``Artifact`` (a file, a directory, or a list/dict of them, passed as paths).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Union

from .typecheck import get_args, get_origin, is_union


class _Missing:
    """The "no default" sentinel (a value nobody passes by accident)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Dict(MutableMapping):
    """A plain dict behind the ``MutableMapping`` interface (pydflow's ``OPIO``/``OPIOSign``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data: dict[str, Any] = dict(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._data!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Dict):
            return self._data == other._data
        if isinstance(other, dict):
            return self._data == other
        return NotImplemented


class OPIO(_Dict):
    """The values an OP receives (``op_in``) or returns (``op_out``), by name."""


class OPIOSign(_Dict):
    """The declared signs of an OP's inputs or outputs, by name."""


class NestedDict:
    """Marker for nested dicts of paths: ``NestedDict[Path]``, ``NestedDict[str]``.

    A value is a dict whose values are paths (of the given type) or nested dicts of them.
    """

    item_type: Any = None
    _cache: dict[Any, type] = {}

    def __class_getitem__(cls, item: Any) -> type:
        if item not in (str, Path):
            raise TypeError(f"NestedDict[{_type_str(item)}]: the item type must be str or Path")
        if item not in cls._cache:
            name = f"NestedDict[{item.__name__}]"
            cls._cache[item] = type(name, (NestedDict,), {"item_type": item, "__qualname__": name})
        return cls._cache[item]


class HDF5Datasets:
    """Marker: an artifact whose items are stored as datasets of an HDF5 file (needs ``h5py``)."""


_PATH_TYPES = (str, Path)


def _path_item(tp: Any) -> bool:
    return tp in _PATH_TYPES or (is_union(tp) and set(get_args(tp)) <= set(_PATH_TYPES))


def artifact_shape(tp: Any) -> str | None:
    """The shape of an artifact type: "path", "list", "set", "dict", "nested", "hdf5", or None
    when the type is not allowed for an artifact."""
    if is_union(tp):
        members = [a for a in get_args(tp) if a is not HDF5Datasets]
        if len(members) == len(get_args(tp)):
            return "path" if _path_item(tp) else None
        rest = Union[tuple(members)] if len(members) > 1 else members[0]  # runtime union
        return artifact_shape(rest)
    if tp is HDF5Datasets:
        return "hdf5"
    if tp in _PATH_TYPES:
        return "path"
    if isinstance(tp, type) and issubclass(tp, NestedDict) and tp.item_type is not None:
        return "nested"
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, set) and len(args) == 1 and _path_item(args[0]):
        return "list" if origin is list else "set"
    if origin is dict and len(args) == 2 and args[0] is str and _path_item(args[1]):
        return "dict"
    return None


def artifact_has_hdf5(tp: Any) -> bool:
    """Whether an artifact type is ``HDF5Datasets`` or a union with it."""
    return tp is HDF5Datasets or (is_union(tp) and HDF5Datasets in get_args(tp))


class Artifact:
    """Sign of an artifact: a path (or list/set/dict/nested dict of paths) passed to the OP."""

    def __init__(
        self,
        type: Any,
        archive: str | None = "default",
        save: Any = None,
        optional: bool = False,
        global_name: str | None = None,
        sub_path: bool = True,
        **kwargs: Any,
    ) -> None:
        if artifact_shape(type) is None:
            raise TypeError(
                f"Artifact({_type_str(type)}): an artifact's type must be one of str, Path, "
                "List[str|Path], Set[str|Path], Dict[str, str|Path], NestedDict[str|Path], "
                "HDF5Datasets or Union[<one of them>, HDF5Datasets]; use a parameter for values"
            )
        self.type = type
        self.archive = archive
        self.save = save
        self.optional = optional
        self.global_name = global_name
        self.sub_path = sub_path
        self.extra = kwargs

    @property
    def shape(self) -> str:
        return artifact_shape(self.type)  # type: ignore[return-value]

    def __repr__(self) -> str:
        opt = ", optional=True" if self.optional else ""
        return f"Artifact({_type_str(self.type)}{opt})"


class Parameter:
    """Sign of a parameter with options: a default value or a global output name."""

    def __init__(
        self, type: Any, global_name: str | None = None, default: Any = MISSING, **kwargs: Any
    ) -> None:
        self.type = type
        self.global_name = global_name
        self.default = default
        self.extra = kwargs

    @property
    def has_default(self) -> bool:
        return self.default is not MISSING

    def __repr__(self) -> str:
        default = f", default={self.default!r}" if self.has_default else ""
        return f"{type(self).__name__}({_type_str(self.type)}{default})"


class BigParameter(Parameter):
    """A parameter too big for the workflow manifest: passed as a file, like an artifact."""

    def __init__(self, type: Any, default: Any = MISSING, **kwargs: Any) -> None:
        super().__init__(type, global_name=None, default=default, **kwargs)


def sign_type(sign: Any) -> Any:
    """The value type of a sign (a plain type is its own sign)."""
    return sign.type if isinstance(sign, (Artifact, Parameter)) else sign


def _type_str(tp: Any) -> str:
    """A short readable name of a type: ``int``, ``List[Path]``, ``NestedDict[str]``."""
    if isinstance(tp, type) and not get_args(tp):
        return tp.__qualname__ if tp.__module__ not in ("builtins", "pathlib") else tp.__name__
    return _MODULE_PREFIX.sub("", repr(tp))


#: the module paths dropped from a type's repr; Python 3.13 defines Path in pathlib._local
_MODULE_PREFIX = re.compile(r"\b(?:typing|pathlib(?:\._\w+)?|dflow\.python\.opio)\.")


type_str = _type_str


NestedDictBase = NestedDict
NestedDictStr = NestedDict.__class_getitem__(str)  # NestedDict[str]: not a generic to mypy
NestedDictPath = NestedDict.__class_getitem__(Path)

from .._compat import module_getattr  # noqa: E402

__getattr__ = module_getattr(
    __name__,
    refused={
        "ArtifactAllowedTypes": "Artifact(type) checks its type itself: str, Path, List/Set/Dict "
        "of them, NestedDict[str|Path], HDF5Datasets",
        "HDF5Dataset": "mark the artifact with HDF5Datasets; its items arrive as plain values",
    },
)
