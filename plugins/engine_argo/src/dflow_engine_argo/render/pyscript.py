"""The container script of a Python OP: a few lines that call ``python -m dflow.runner``.

Nothing a user or an upstream step controls is ever pasted into Python source (pydflow's
quoting bug #8), nor into an environment variable (Argo and Linux cap one at 131,072 bytes:
a 4,000-item stacked output is ~200 kB). Every input parameter of the template reaches the
container as a file: a raw input artifact ``{path: <tmp_root>/inputs/parameters/<name>, raw:
{data: "{{inputs.parameters.<name>}}"}}`` (:func:`parameter_artifacts`). Argo substitutes
the value into the template's JSON text, escaped (``SubstituteParams`` in
``workflow/common/util.go`` at v3.7.18 and v4.1.2), and its executor writes ``raw.data`` to
the path byte for byte (``workflow/artifacts/raw/raw.go``, ``loadArtifact`` in
``workflow/executor/executor.go``, v4.1.2). The runner reads those files. Only the workflow
name travels in the environment. The static parts (names, the OP's location, flags) are
Python literals made with :func:`repr`, and never contain ``{{`` (Argo would substitute it).

The script itself runs on the image's Python, 3.7 or newer (see :mod:`dflow.runner.podimport`).
It puts the shipped packages first on ``sys.path`` before anything else (``pre_script``
included), so the shipped ``dflow`` shadows one installed in the image, and appends
``dflow_deps`` last (see :mod:`.packages`).

``DFLOW_TMP_ROOT`` overrides the template's ``tmp_root`` at run time: tests run the script in a
sandbox with it; in a container it is unset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
from dflow.model.op_template import static_literal

from .packages import DEPS_DIR

PACKAGES_ARTIFACT = "dflow_python_packages"
#: the raw input artifact that carries input parameter <name> (names of artifacts and
#: parameters share Argo's rule ``^[-a-zA-Z0-9_]+$``, validate.go at v4.1.2)
PARAM_ARTIFACT = "dflow_par_{}"


@attrs.frozen
class RunnerSpec:
    """What the script of one Python OP template needs to know (all static)."""

    op_flag: str  # "--op" or "--op-file"
    op_spec: str  # module:qualname, or file.py:qualname inside the packages artifact
    tmp_root: str = "/tmp"
    parameters: Sequence[str] = ()  # input parameters, as files (raw artifacts)
    slices: dict | None = None  # Slices(...) arguments for --slices
    sliced: bool = False  # DFLOW_SLICE_INDEX carries the slice index (or the group index)
    group_size: int | None = None
    group_field: str | None = None  # slice index = item[field] when items are objects
    shuffle: bool = False
    random_seed: int = 0
    keyed: bool = False
    cached: bool = False  # dflow_cache holds the step cache's spec (dflow.runner.cache)
    success_tag: bool = False
    packages: bool = True
    parts: Sequence = ()  # ((artifact, (order, ...)), ...) merged from dflow_<name>_<i>
    art_slices: Sequence = ()  # ((artifact, has_sub_path), ...) narrowed to one item
    pre_script: str = ""
    post_script: str = ""


_PREPARE = """\
def dflow_prepare_artifacts(arts):
    from pathlib import Path

    from dflow import catalog

    def unmark(path):
        if catalog.detect_empty_dir() and os.path.isdir(path):
            catalog.remove_empty_dir_markers(Path(path))

    for name, orders in PARTS:
        # the parts of a list/dict of artifacts, linked into one artifact with a catalog
        dest = os.path.join(arts, name)
        items = []
        for i, order in enumerate(orders):
            part = os.path.join(arts, "dflow_%s_%d" % (name, i))
            if not os.path.lexists(part):
                continue  # an optional part that was not given
            unmark(part)
            target = part
            if os.path.isdir(part):
                obj = catalog.path_object(Path(part))
                if isinstance(obj, Path) and obj != Path(part):
                    target = str(obj)  # one catalogued path, e.g. an uploaded file
            entry = "%d/%s" % (i, os.path.basename(target))
            os.makedirs(os.path.join(dest, str(i)), exist_ok=True)
            os.symlink(os.path.abspath(target), os.path.join(dest, entry))
            items.append({"dflow_list_item": entry, "order": order})
        os.makedirs(dest, exist_ok=True)
        catalog.write_catalog(Path(dest), items)
    for name, has_sub in ART_SLICES:
        # one item of a list/dict artifact (then a path inside it)
        whole = os.path.join(arts, "dflow_whole_" + name)
        if not os.path.lexists(whole):
            continue
        unmark(whole)
        index = dflow_value("dflow_artslice_" + name)
        obj = catalog.path_object(Path(whole))
        try:
            if isinstance(obj, list):
                picked = obj[int(index)]
            elif isinstance(obj, dict):
                picked = obj
                for k in index.split("."):
                    picked = picked[k]
            elif int(index) in (0, -1):
                picked = obj
            else:
                raise IndexError(index)
        except (IndexError, KeyError, ValueError):
            size = len(obj) if isinstance(obj, (list, dict)) else 1
            sys.exit("dflow: input artifact %r holds %d items; item %r does not exist"
                     % (name, size, index))
        if has_sub:
            picked = os.path.join(str(picked), dflow_value("dflow_artsub_" + name))
        os.symlink(os.path.abspath(str(picked)), os.path.join(arts, name))


"""

_BODY = """\
def dflow_value(name, default=None):
    # an input parameter: Argo wrote it to this file (a raw input artifact)
    try:
        with open(os.path.join(ROOT, "inputs", "parameters", name), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return default


def dflow_main(probe=False):
    op = os.path.join(PACKAGES, OP_SPEC) if OP_FLAG == "--op-file" else OP_SPEC
    argv = [OP_FLAG, op, "--inputs", os.path.join(ROOT, "inputs"),
            "--outputs", os.path.join(ROOT, "outputs"), "--workdir", os.getcwd()]
    if SLICES is not None:
        argv += ["--slices", SLICES]
    index = dflow_value("dflow_slice_index", "") if SLICED else ""
    if index != "":
        if GROUP_SIZE:
            import json
            import random

            items = json.loads(dflow_value("dflow_group_items"))
            order = list(range(len(items)))
            if SHUFFLE:
                random.Random(RANDOM_SEED).shuffle(order)
            group = order[int(index) * GROUP_SIZE:(int(index) + 1) * GROUP_SIZE]
            picked = [items[i][GROUP_FIELD] if GROUP_FIELD else items[i] for i in group]
            index = json.dumps([int(i) for i in picked])
        argv += ["--slice-index", index]
    key = dflow_value("dflow_key", "") if KEYED else ""
    if key:
        argv += ["--key", key]
    if os.environ.get("DFLOW_WORKFLOW_NAME"):
        argv += ["--workflow-name", os.environ["DFLOW_WORKFLOW_NAME"]]
    cache = dflow_value("dflow_cache", "") if CACHED else ""
    if cache:
        import json

        cache = json.loads(cache)
        cache["run"] = os.environ.get("DFLOW_WORKFLOW_NAME", "")
        argv += ["--cache", json.dumps(cache)]
    if SUCCESS_TAG:
        argv.append("--success-tag")
    if probe:
        from dflow.runner import cacheop

        if probe == "1":
            return cacheop.probe_main(argv)
        return cacheop.store_main(argv, probe == "stored")
    from dflow.runner.__main__ import main

    return main(argv)


"""

_PATHS = """\
if os.path.isdir(PACKAGES):
    # ours first: the shipped dflow shadows a dflow installed in the image (pydflow)
    sys.path.insert(0, PACKAGES)
    os.environ["PYTHONPATH"] = PACKAGES + os.pathsep + os.environ.get("PYTHONPATH", "")
    if os.path.isdir(os.path.join(PACKAGES, DEPS)):
        sys.path.append(os.path.join(PACKAGES, DEPS))  # the image's own versions first
"""


# An executor's pod runs the script with DFLOW_CACHE_PROBE=1 before it submits the job: the
# step is keyed (without importing the OP) and a hit restored (dflow.runner.cacheop); a miss
# is saved in DFLOW_CACHE_STATE, and the pod that brings the job's outputs back runs it again
# with DFLOW_CACHE_PROBE=stored (or failed) to store them. It comes before pre_script, the
# user's code for the job.
_PROBE = """\
if os.environ.get("DFLOW_CACHE_PROBE"):
    sys.exit(dflow_main(probe=os.environ["DFLOW_CACHE_PROBE"]))

"""

_PREPARE_AT = "    op = os.path.join(PACKAGES, OP_SPEC)"
_PREPARE_CALL = '    dflow_prepare_artifacts(os.path.join(ROOT, "inputs", "artifacts"))\n'


def _static_parts(parts: Sequence) -> list:
    for name, orders in parts:
        static_literal(name, "artifact name")
        for o in orders:
            if isinstance(o, str):
                static_literal(o, "dict key")
    return [(n, list(orders)) for n, orders in parts]


def runner_script(spec: RunnerSpec) -> str:
    """The Python source of the container script for ``spec``."""
    slices = None
    if spec.slices is not None:
        slices = json.dumps(spec.slices, sort_keys=True)
    for name in spec.parameters:
        static_literal(name, "parameter name")
    static_literal(spec.op_spec, "OP")
    static_literal(spec.tmp_root, "tmp_root")
    lines = [
        "# generated by dflow: run one OP with dflow.runner; input parameters arrive as files",
        "import os",
        "import sys",
        "",
        "if sys.version_info < (3, 7):",
        "    sys.exit('dflow: the OP needs Python 3.7 or newer in its image, which has Python '",
        "             + sys.version.split()[0] + ': use another image (e.g. python:3.8)')",
        "",
        f"ROOT = os.environ.get('DFLOW_TMP_ROOT') or {spec.tmp_root.rstrip('/') or '/'!r}",
        f"PACKAGES = os.path.join(ROOT, 'inputs', 'artifacts', {PACKAGES_ARTIFACT!r})",
        f"DEPS = {DEPS_DIR!r}",
        f"OP_FLAG, OP_SPEC = {spec.op_flag!r}, {spec.op_spec!r}",
        f"SLICES = {static_literal(slices, 'slices') if slices else None!r}",
        f"SLICED, KEYED = {bool(spec.sliced)!r}, {bool(spec.keyed)!r}",
        f"GROUP_SIZE, GROUP_FIELD = {spec.group_size!r}, {spec.group_field!r}",
        f"SHUFFLE, RANDOM_SEED = {bool(spec.shuffle)!r}, {int(spec.random_seed)!r}",
        f"SUCCESS_TAG, CACHED = {bool(spec.success_tag)!r}, {bool(spec.cached)!r}",
        "",
    ]
    body = _BODY
    if spec.parts or spec.art_slices:
        lines[-1:-1] = [
            f"PARTS = {_static_parts(spec.parts)!r}",
            f"ART_SLICES = {[(n, bool(sub)) for n, sub in spec.art_slices]!r}",
        ]
        body = _PREPARE + body.replace(_PREPARE_AT, _PREPARE_CALL + _PREPARE_AT)
    lines.append(_PATHS)
    # the pod keys the step as the job would; with parts of artifacts to link (into the
    # inputs it then stages) it does not, and the job checks
    probed = spec.cached and not (spec.parts or spec.art_slices)
    if probed:
        lines += [body, _PROBE]
    if spec.pre_script:
        lines += [spec.pre_script.replace("{tmp_root}", spec.tmp_root), ""]
    text = "\n".join(lines) + "\n" + ("" if probed else body) + "code = dflow_main()\n"
    if spec.post_script:
        text += spec.post_script.replace("{tmp_root}", spec.tmp_root) + "\n"
    return text + "sys.exit(code)\n"


def parameter_artifacts(tmp_root: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """The raw input artifacts that write input parameters ``names`` into files.

    Argo's executor probes an input artifact for a gzip tarball (``isTarball``, via
    ``unarchiveArtifact`` in executor.go at v4.1.2), but raw data is the UTF-8 text of a JSON
    string, which never starts with gzip's magic bytes 0x1f 0x8b (0x8b cannot follow an ASCII
    byte in UTF-8): the file is written as is without an ``archive`` field.
    """
    root = tmp_root.rstrip("/")
    return [
        {
            "name": PARAM_ARTIFACT.format(n),
            "path": f"{root}/inputs/parameters/{n}",
            "raw": {"data": "{{inputs.parameters." + n + "}}"},
        }
        for n in names
    ]


def runner_env(spec: RunnerSpec) -> list[dict[str, str]]:
    """The env entries of the container: only the workflow's name (a short, safe value)."""
    return [{"name": "DFLOW_WORKFLOW_NAME", "value": "{{workflow.name}}"}]
