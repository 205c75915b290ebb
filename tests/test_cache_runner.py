"""The runner stores a cache entry from the list of the files it wrote (no second walk of the
outputs): the entry holds exactly what a walk of the outputs finds, for every shape of output,
and a walk is still made where that list cannot be complete (docs/cache.md)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from dflow.python import OP, Artifact, Slices
from dflow.runner import cacheentries as rentries
from dflow.runner import run_op
from dflow.runner.cache import CacheSpec


@OP.function
def plain(x: int) -> {"y": int, "text": str, "blob": Artifact(Path)}:  # noqa: F821
    Path("blob.bin").write_bytes(bytes([x % 256]) * 1000)
    return {"y": x * x, "text": "two lines\n", "blob": Path("blob.bin")}


@OP.function
def shaped(x: int) -> {"files": Artifact(list[Path]), "named": Artifact(dict[str, Path])}:  # noqa: F821
    Path("a/b").mkdir(parents=True)
    Path("a/b/one.txt").write_text(f"one {x}")
    Path("two.txt").write_text(f"two {x}")
    Path("big.bin").write_bytes(os.urandom(6000))  # over the inline limit: an object
    outside = Path("..", "outside.txt")
    outside.write_text("outside the working dir: copied")
    return {
        "files": [Path("a/b/one.txt"), Path("two.txt"), outside.resolve()],
        "named": {"big": Path("big.bin")},
    }


@OP.function
def tree(x: int) -> {"d": Artifact(Path)}:  # noqa: F821
    Path("d/sub").mkdir(parents=True)
    Path("d/sub/f.txt").write_text(str(x))
    Path("d/empty").mkdir()
    return {"d": Path("d")}


@OP.function
def sliced(x: int) -> {"y": int, "out": Artifact(Path)}:  # noqa: F821
    Path(f"out{x}.txt").write_text(str(x))
    return {"y": x + 1, "out": Path(f"out{x}.txt")}


def _run(tmp_path: Path, op: Any, params: dict, **kw: Any) -> tuple[Path, dict | None, dict]:
    """Run ``op`` with the cache on: (its outputs dir, the listing the store was given, the
    stored manifest's files)."""
    step = tmp_path / "step"
    (step / "inputs" / "parameters").mkdir(parents=True)
    for name, value in params.items():
        (step / "inputs" / "parameters" / name).write_text(value)
    spec = CacheSpec(str(tmp_path / "cache"), "run-1", "wf/step", {"image": None})
    given: list = []
    real = rentries.scan_and_store

    def spy(root: str, outputs_dir: str, put: Any = None, listed: Any = None) -> dict:
        given.append(None if listed is None else dict(listed))
        return real(root, outputs_dir, put, listed)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rentries, "scan_and_store", spy)
        with contextlib.redirect_stderr(io.StringIO()):
            result = run_op(
                op,
                inputs_dir=step / "inputs",
                outputs_dir=step / "outputs",
                workdir=step / "work",
                cache=spec,
                **kw,
            )
    assert result.ok, result.message
    (key,) = [n[:-5] for _, _, names in os.walk(tmp_path / "cache" / "entries") for n in names]
    manifest, why = rentries.read_manifest(str(tmp_path / "cache"), key)
    assert why == "" and manifest is not None
    (listed,) = given
    return step / "outputs", listed, manifest["files"]


def _walked(tmp_path: Path, outputs: Path) -> dict:
    """What a walk of ``outputs`` finds, as a manifest lists it."""
    return rentries.scan_and_store(str(tmp_path / "walk"), str(outputs))


def _same(stored: dict, walked: dict) -> list[str]:
    """The differences between two manifests' files (inline or object aside)."""
    fields = ("kind", "size", "sha256", "target")
    diffs = [f"only stored: {rel}" for rel in sorted(set(stored) - set(walked))]
    diffs += [f"not stored: {rel}" for rel in sorted(set(walked) - set(stored))]
    for rel in sorted(set(stored) & set(walked)):
        a = {f: stored[rel].get(f) for f in fields}
        b = {f: walked[rel].get(f) for f in fields}
        if a != b:
            diffs.append(f"{rel}: stored {a}, found {b}")
    return diffs


@pytest.mark.parametrize(
    ("op", "params", "kw"),
    [
        (plain, {"x": "3"}, {}),
        (shaped, {"x": "4"}, {}),
        (
            sliced,
            {"x": "[1, 2, 3, 4]"},
            {
                "slices": Slices(
                    input_parameter=["x"],
                    output_parameter=["y"],
                    output_artifact=["out"],
                    group_size=2,
                ),
                "slice_index": [1, 3],
            },
        ),
    ],
    ids=["parameters-and-a-file", "lists-dicts-nested-outside-big", "a-group-of-slices"],
)
def test_the_entry_lists_what_the_run_wrote_without_walking_it(tmp_path, op, params, kw):
    outputs, listed, stored = _run(tmp_path, op, params, **kw)
    assert listed is not None, "the store walked the outputs instead of using the run's list"
    assert _same(stored, _walked(tmp_path, outputs)) == []
    # and the entry restores what the run wrote, byte for byte
    restored = tmp_path / "restored"
    assert rentries.restore(str(tmp_path / "cache"), {"files": stored}, str(restored)) == ""
    for rel in stored:
        assert (restored / rel).read_bytes() == (outputs / rel).read_bytes(), rel


def test_a_directory_output_is_walked(tmp_path):
    outputs, listed, stored = _run(tmp_path, tree, {"x": "5"})
    assert listed is None  # a copied tree (and its empty dir) is not listed file by file
    assert _same(stored, _walked(tmp_path, outputs)) == []
    assert "artifacts/d/d/empty/.empty_dir" in stored  # the empty dir's marker


def test_outputs_already_there_are_walked(tmp_path):
    stale = tmp_path / "step" / "outputs" / "parameters"
    stale.mkdir(parents=True)
    (stale / "left-over").write_text("from an earlier attempt")
    outputs, listed, stored = _run(tmp_path, plain, {"x": "3"})
    assert listed is None
    assert "parameters/left-over" in stored
    assert _same(stored, _walked(tmp_path, outputs)) == []
