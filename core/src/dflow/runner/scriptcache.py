"""The step cache for script steps (Shell / PythonScript templates): key, reuse, store.

Standard library only, like :mod:`.cache`, whose entries, history and content digests it
shares: a script's entry is an entry like a Python OP's, with a key record of another kind.
The record holds ``"kind": "script"`` and, as ``op``, ``{"name": "script", "source": <sha256
of the template's script text>}`` (the text before any parameter is substituted: the
parameters are in the record themselves, so both engines compute one key); the template
fields (image, command, env digest, executor kind), the slice, every input parameter as
its text, and each input artifact's content digest. What the caller calls the outputs is a
map of names (``parameters/<name>``, ``artifacts/<name>``) to the paths the script writes:
they are stored as one tree, and restored to those paths.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Any

from .cache import (
    FORMAT,
    CacheSpec,
    Digests,
    Lookup,
    canonical,
    note,
    open_store,
    publish,
    record_history,
    settle,
    sha256_text,
)

KIND = "script"
#: the template field holding the digest of the script text (set by the client)
SCRIPT_FIELD = "script"
_SHOWN = 200


def _shown(text: str) -> str:
    """A parameter's text as recorded: itself (Argo passes scripts text, not JSON), or its
    digest when long."""
    return text if len(text) <= _SHOWN else "sha256:" + sha256_text(text)


def artifact_digest(path: str, digests: Digests, catalog: str) -> str:
    """An input artifact's content digest as a script sees it: a file's, or a directory's
    over its sorted entries, where a catalog directory (``catalog``, ``.dflow``) counts by the
    contents of its files, not their names (which are unique per upload)."""
    if not os.path.isdir(path):
        return digests.tree(path)
    rows: list = []
    for name in sorted(os.listdir(path)):
        full = os.path.join(path, name)
        if name == catalog and os.path.isdir(full) and not os.path.islink(full):
            files = [os.path.join(full, f) for f in os.listdir(full)]
            rows.append([name, "catalog", sorted(digests.tree(f) for f in files)])
        elif os.path.isdir(full) and not os.path.islink(full):
            rows.append([name, "dir", artifact_digest(full, digests, catalog)])
        else:
            rows.append([name, "entry", digests.tree(full)])
    return sha256_text(canonical(rows))


def script_record(
    spec: CacheSpec,
    parameters: dict[str, str],
    artifacts: dict[str, str | None],
    slice_index: Any,
    digests: Digests,
    catalog: str = ".dflow",
) -> dict | None:
    """The key record of a script run on ``parameters`` (name -> text) and ``artifacts``
    (name -> local path, None when absent); None without the script's digest."""
    fields = dict(spec.fields)
    source = fields.pop(SCRIPT_FIELD, None)
    if not source:
        return None
    arts: dict[str, Any] = {}
    for name, path in sorted(artifacts.items()):
        present = path is not None and os.path.lexists(path)
        arts[name] = artifact_digest(path, digests, catalog) if path and present else None
    return {
        "format": FORMAT,
        "kind": KIND,
        "op": {"name": KIND, "source": source},
        "template": fields,
        "slice": list(slice_index) if isinstance(slice_index, (list, tuple)) else slice_index,
        "parameters": {n: _shown(v) for n, v in sorted(parameters.items())},
        "artifacts": arts,
    }


def lookup_script(
    spec: CacheSpec,
    parameters: dict[str, str],
    artifacts: dict[str, str | None],
    slice_index: Any,
    outputs: dict[str, str],
    scratch: str,
    probe: bool = False,
    catalog: str = ".dflow",
) -> Lookup:
    """Key this run; a sound entry of its key is restored to the ``outputs`` paths (name ->
    path), through ``scratch`` (a directory on the outputs' file system). ``probe``: as in
    :func:`.cache.lookup`, a damaged entry is left to the run's own check."""
    try:
        where = open_store(spec)
    except ValueError as exc:  # CacheLocationError: the step runs, uncached
        if not probe:
            note(f"not cached: {exc}")
        return Lookup(spec, why=str(exc))
    digests = Digests(where.digests_dir)
    record = script_record(spec, parameters, artifacts, slice_index, digests, catalog)
    if record is None:
        return Lookup(spec, why="no script digest")
    return settle(
        spec, record, digests, where, lambda m: _restore(where, m, outputs, scratch), probe
    )


def store_script(lk: Lookup, outputs: dict[str, str], scratch: str, ok: bool) -> None:
    """After the run: store the ``outputs`` paths as the entry when it succeeded; record the
    run for ``dflow explain``."""
    if not lk.key or lk.reused or lk.digests is None:
        return
    if not ok:
        outcome = {"outcome": "failed", "lookup": lk.why}
        record_history(lk.spec, lk.key, lk.record, outcome, lk.store)
        return
    staging = os.path.join(scratch, f"cache-store-{uuid.uuid4().hex[:8]}")
    try:
        for name, path in sorted(outputs.items()):
            if os.path.lexists(path):
                _link_tree(path, os.path.join(staging, name))
        os.makedirs(staging, exist_ok=True)
        manifest = publish(lk.spec, lk.key, lk.record or {}, staging, lk.store)
    except OSError as exc:
        note(f"cannot stage the outputs for the cache ({exc})")
        manifest = None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if manifest is None:
        note(f"cannot write the entry of key {lk.key[:12]} under {lk.spec.root}")
    outcome = {"outcome": "computed", "lookup": lk.why}
    record_history(lk.spec, lk.key, lk.record, outcome, lk.store)


def _link_file(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _link_tree(src: str, dst: str) -> None:
    """``src`` (a file, a link or a directory) at ``dst``, files hard-linked where possible."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
    elif os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_file)
    else:
        _link_file(src, dst)


def _restore(where: Any, manifest: dict, outputs: dict[str, str], scratch: str) -> str:
    """Restore the entry into ``scratch``, then move each output to its path; "" when done,
    else why the entry is unusable (the outputs are then left alone)."""
    staging = os.path.join(scratch, f"cache-restore-{uuid.uuid4().hex[:8]}")
    try:
        why = where.restore(manifest, staging)
        if why:
            return why
        for name, path in sorted(outputs.items()):
            src = os.path.join(staging, name)
            if not os.path.lexists(src):
                continue  # an output the script did not write (optional)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            shutil.move(src, path)
        return ""
    except OSError as exc:
        return f"cannot restore ({exc})"
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pod_lookup(
    root: str,
    parameters: list[str],
    artifacts: dict[str, str],
    outputs: dict[str, str],
    scratch: str,
    catalog: str,
) -> Lookup | None:
    """The lookup of a script step in a pod, from the spec and the input parameters written
    as files under ``<root>/inputs/parameters`` (None when the step passes no spec)."""

    def value(name: str) -> str | None:
        try:
            with open(os.path.join(root, "inputs", "parameters", name), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    spec_text = value("dflow_cache")
    if not spec_text:
        return None
    data = json.loads(spec_text)
    data["run"] = os.environ.get("DFLOW_WORKFLOW_NAME", "")
    spec = CacheSpec.from_json(json.dumps(data))
    params = {n: v for n, v in ((n, value(n)) for n in parameters) if v is not None}
    arts: dict[str, str | None] = {
        n: p if os.path.lexists(p) else None for n, p in artifacts.items()
    }
    os.makedirs(scratch, exist_ok=True)
    return lookup_script(spec, params, arts, None, outputs, scratch, catalog=catalog)


def run_cached(
    root: str,
    command: list[str],
    script: str,
    parameters: list[str],
    artifacts: dict[str, str],
    outputs: dict[str, str],
    catalog: str = ".dflow",
) -> int:
    """A script step in a pod (Argo): check the cache, else run ``command + [script]`` and
    store its outputs when it exits with 0; the exit code. The step cache's spec and the
    input parameters are files under ``<root>/inputs/parameters`` (raw input artifacts, as
    for a Python OP); the run is the workflow (``DFLOW_WORKFLOW_NAME``)."""
    import subprocess

    scratch = os.path.join(root, "dflow-cache-scratch")
    lk = _pod_lookup(root, parameters, artifacts, outputs, scratch, catalog)
    if lk is not None and lk.reused:
        return 0
    code = subprocess.call([*command, script])
    if lk is not None:
        store_script(lk, outputs, scratch, code == 0)
    return code


#: the lookup a pod saves for the pod that stores the job's outputs (:func:`saved_lookup`)
STATE_FILE = "dflow-cache-state.json"


def save_lookup(lk: Lookup, state_dir: str) -> bool:
    """Save a missed lookup in ``state_dir``, for the pod that brings the job's outputs back
    and stores them (:func:`saved_lookup`); False when there is nothing to store (no key)."""
    if not lk.key or lk.reused or lk.digests is None:
        return False
    state = {"spec": json.loads(lk.spec.to_json()), "key": lk.key}
    state.update(record=lk.record, why=lk.why)
    os.makedirs(state_dir, exist_ok=True)
    with open(os.path.join(state_dir, STATE_FILE), "w", encoding="utf-8") as f:
        json.dump(state, f)
    return True


def saved_lookup(state_dir: str) -> Lookup | None:
    """The lookup :func:`save_lookup` saved in ``state_dir``, with its store open; None
    without one, or when the store cannot be opened here (noted)."""
    try:
        with open(os.path.join(state_dir, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        return None
    spec = CacheSpec.from_json(json.dumps(state["spec"]))
    try:
        where = open_store(spec)
    except ValueError as exc:  # CacheLocationError
        note(f"not stored: {exc}")
        return None
    digests = Digests(where.digests_dir)
    return Lookup(spec, state["key"], state["record"], False, state["why"], digests, where)


def lookup_for_job(
    root: str,
    parameters: list[str],
    artifacts: dict[str, str],
    outputs: dict[str, str],
    state_dir: str,
    catalog: str = ".dflow",
) -> bool:
    """A script step whose job runs elsewhere, without dflow (``SlurmJobTemplate``'s prepare
    pod): key it as :func:`run_cached` does; True when an entry was restored to the
    ``outputs`` paths, else the lookup is saved in ``state_dir`` for :func:`store_saved`."""
    lk = _pod_lookup(root, parameters, artifacts, outputs, state_dir, catalog)
    if lk is None or lk.reused:
        return lk is not None
    save_lookup(lk, state_dir)
    return False


def store_saved(state_dir: str, outputs: dict[str, str], ok: bool) -> None:
    """After the job of a :func:`lookup_for_job` miss (its collect pod): store the
    ``outputs`` paths as the entry of the saved key when the job succeeded (``ok``), and
    record the run for ``dflow explain``; nothing without a saved lookup."""
    lk = saved_lookup(state_dir)
    if lk is not None:
        store_script(lk, outputs, state_dir, ok)
