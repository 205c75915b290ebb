"""``HDF5Datasets`` artifacts: a list or dict of values stored as datasets of one HDF5 file.

``h5py`` is imported only here, when such an artifact is written or read.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "HDF5Datasets artifacts need h5py: pip install h5py (in the image or environment "
            "that runs the OP)"
        ) from None
    return h5py


def write_hdf5(root: Path, value: Any, order: Any = None) -> Path:
    """Store ``value`` (a list or dict of arrays, numbers or strings) in ``root/<uuid>.h5``."""
    h5py = _h5py()
    items = value.items() if isinstance(value, Mapping) else enumerate(value)
    path = Path(root) / f"{uuid.uuid4()}.h5"
    with h5py.File(path, "w") as f:
        for key, item in items:
            name = str(key) if order is None else f"{order}.{key}"
            f.create_dataset(name, data=item)
            f[name].attrs["dflow_key_is_int"] = isinstance(key, int)
    return path


def read_hdf5(root: Path) -> Any:
    """The datasets of every ``.h5`` file under ``root``: a list when all keys are ints,
    else a dict (values read into memory)."""
    h5py = _h5py()
    files = [Path(root)] if Path(root).is_file() else sorted(Path(root).rglob("*.h5"))
    entries: dict[str, Any] = {}
    int_keys = True
    for file in files:
        with h5py.File(file, "r") as f:
            for name, dataset in f.items():
                value = dataset[()]
                entries[name] = value.decode() if isinstance(value, bytes) else value
                int_keys = int_keys and bool(dataset.attrs.get("dflow_key_is_int", False))
    if int_keys:

        def key(name: str) -> tuple[int, ...]:
            return tuple(int(p) for p in name.split("."))

        return [entries[k] for k in sorted(entries, key=key)]
    return entries
