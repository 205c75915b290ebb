"""Helper templates the renderer adds around some steps.

* ``dflow-init-artifact``: makes the storage prefix every item of a sliced fan-out writes
  its output artifacts into, so they stack into one artifact (Argo does not aggregate
  artifacts of loops). Its output artifacts *are* the stacked artifacts.
* ``dflow-slices-path``: lists the catalog of artifacts for ``Slices(sub_path=True)``; its
  output ``dflow_slices_path`` (``[{"order": i, <art>: <path>}, ...]``) drives the loop.
* ``dflow-check-success``: fails unless enough items of a fan-out succeeded
  (``continue_on_num_success`` / ``continue_on_success_ratio``); its script is
  :mod:`dflow.runner.threshold`.
* ``dflow-continue``: a pod-less no-op (``suspend`` for 0 s) that keeps a continued failure
  of a DAG task from failing the DAG (see ``dagtasks``).

Their scripts read values from environment variables only (never pasted into source).
"""

from __future__ import annotations

from typing import Any

from .values import Locations, text, var

INIT_ROOT = "/tmp/dflow"

_SLICES_PATH_SCRIPT = """\
import json
import os

names = json.loads(os.environ["DFLOW_ARTIFACTS"])
catalog = os.environ.get("DFLOW_CATALOG_DIR_NAME") or ".dflow"
root = os.environ.get("DFLOW_TMP_ROOT") or "/tmp"
items = {}
for name in names:
    art = os.path.join(root, "dflow", "in", name)
    cat = os.path.join(art, catalog) if os.path.isdir(os.path.join(art, catalog)) else art
    for f in sorted(os.listdir(cat)) if os.path.isdir(cat) else []:
        with open(os.path.join(cat, f)) as fh:
            for entry in json.load(fh).get("path_list", []):
                order = entry.get("order")
                items.setdefault(order, {"order": order})[name] = entry["dflow_list_item"]
out = [items[k] for k in sorted(items, key=lambda o: (o is None, o))]
os.makedirs(os.path.join(root, "dflow"), exist_ok=True)
with open(os.path.join(root, "dflow", "slices_path"), "w") as fh:
    json.dump(out, fh)
"""


def _check_script() -> str:
    """The check step's script: core's threshold module itself (the util image has no dflow),
    so Argo judges a fan-out by the rule the local engine uses."""
    from dflow.runner import threshold

    with open(threshold.__file__, encoding="utf-8") as f:
        return f.read()


def _util_script(
    image: str,
    command: list[str],
    source: str,
    env: list | None = None,
    pull_policy: str | None = None,
) -> dict[str, Any]:
    script: dict[str, Any] = {"image": image}
    if pull_policy:
        script["imagePullPolicy"] = pull_policy
    script["command"] = command
    script["source"] = source
    if env:
        script["env"] = env
    return script


def init_artifact(
    names: list[str],
    locs: Locations,
    prefix: str,
    image: str,
    pull_policy: str | None = None,
    catalog_dir: str = ".dflow",
    keyed: bool = False,
    memoize: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Body of the template creating the shared prefix of sliced output artifacts.

    ``keyed`` (a keyed fan-out): the prefix is ``<workflow>/<group key>`` rather than the pod's
    name, and the step records ``dflow_key`` (``<group key>-init-artifact``) so that reusing the
    fan-out can point it at the prefix of the earlier run (``memoize``), pydflow's scheme.
    """
    where = "{{inputs.parameters.dflow_group_key}}" if keyed else "{{pod.name}}"
    key = prefix + "{{workflow.name}}/" + where
    # DFLOW_TMP_ROOT (unset in the container) lets tests run the script in a sandbox
    lines = ["set -e", 'R="${DFLOW_TMP_ROOT:-/tmp}/dflow"']
    for n in names:
        d = f'"$R/out/{n}/{catalog_dir}"'
        # an empty catalog: the prefix exists even when no item writes anything
        lines.append(f"mkdir -p {d} && printf '%s' '{{\"path_list\": []}}' > {d}/init")
    # the key arrives in the environment: no value is ever pasted into the script
    lines.append('printf \'%s\' "$DFLOW_ARTIFACT_KEY" > "$R/key"')
    arts = []
    for n in names:
        entry: dict[str, Any] = {"name": n, "path": f"{INIT_ROOT}/out/{n}", "archive": {"none": {}}}
        entry.update(locs.of_key(f"{key}/{n}"))
        arts.append(entry)
    body: dict[str, Any] = {}
    if keyed:
        body["inputs"] = {"parameters": [{"name": "dflow_group_key"}, {"name": "dflow_key"}]}
    body["outputs"] = {
        "parameters": [{"name": "dflow_artifact_key", "valueFrom": {"path": f"{INIT_ROOT}/key"}}],
        "artifacts": arts,
    }
    if memoize is not None:
        body["memoize"] = memoize
    body["script"] = _util_script(
        image,
        ["sh"],
        "\n".join(lines) + "\n",
        [{"name": "DFLOW_ARTIFACT_KEY", "value": key}],
        pull_policy,
    )
    return body


def slices_path(
    names: list[str], image: str, pull_policy: str | None = None, catalog_dir: str = ".dflow"
) -> dict[str, Any]:
    """Body of the template listing the items of ``sub_path`` sliced artifacts."""
    import json

    env = [{"name": "DFLOW_ARTIFACTS", "value": json.dumps(names)}]
    if catalog_dir != ".dflow":
        env.append({"name": "DFLOW_CATALOG_DIR_NAME", "value": catalog_dir})
    return {
        "inputs": {"artifacts": [{"name": n, "path": f"{INIT_ROOT}/in/{n}"} for n in names]},
        "outputs": {
            "parameters": [
                {"name": "dflow_slices_path", "valueFrom": {"path": f"{INIT_ROOT}/slices_path"}}
            ]
        },
        "script": _util_script(image, ["python3"], _SLICES_PATH_SCRIPT, env, pull_policy),
    }


def check_success(image: str, pull_policy: str | None = None) -> dict[str, Any]:
    """Body of the template checking the success tags of a fan-out."""
    names = ["tags", "total", "threshold", "mode"]
    env = [{"name": f"DFLOW_{n.upper()}", "value": var(f"inputs.parameters.{n}")} for n in names]
    return {
        "inputs": {"parameters": [{"name": n} for n in names]},
        "script": _util_script(image, ["python3"], _check_script(), env, pull_policy),
    }


def continue_sink() -> dict[str, Any]:
    """Body of the no-op that ends at once without a pod: a suspend of 0 s is resumed on the
    controller's first pass (``workflow/controller/operator.go`` ``executeSuspend``: deadline
    ``startedAt + duration`` already passed; v3.7.18 and v4.1.2)."""
    return {"suspend": {"duration": "0"}}


SLICES_PATH_SCRIPT = _SLICES_PATH_SCRIPT


def cache_spec(step: Any, workflow_name: str, default_executor: Any = None) -> str | None:
    """The step cache's spec of a Python OP or script step using the cache (docs/cache.md).
    Not for a script whose success tag the renderer adds, or one with ``save_as_artifact``
    parameters: they run uncached. A script an executor runs elsewhere is keyed by its pod,
    around the submission (:mod:`.cachedscript`). ``default_executor``: the workflow's,
    which runs a step naming none."""
    from dflow.cache import step_cache_json

    tmpl = step.template
    executor = None if step.executor is not None else default_executor
    if not hasattr(tmpl, "op_class") and (
        step.continue_on_num_success is not None
        or step.continue_on_success_ratio is not None
        # a parameter passed as a file at its own path is not read into the key
        or any(p.save_as_artifact for p in tmpl.inputs.parameters.values())
    ):
        return None
    spec = step_cache_json(step, workflow_name, executor)
    if spec is not None and hasattr(tmpl, "op_class") and (step.executor or executor) is not None:
        spec = _with_op(spec, tmpl)
    return spec


def uses_cache(step: Any, tmpl: Any, workflow_name: str, default_executor: Any = None) -> bool:
    """Whether the leaf template ``tmpl`` of ``step`` gets the step cache's spec
    (``dflow_cache``): its step's, or, for an executor's part that declares it (the prepare
    pod of ``SlurmJobTemplate``), its caller's."""
    if cache_spec(step, workflow_name, default_executor) is not None:
        return True
    return "dflow_cache" in tmpl.inputs.parameters


def _with_op(spec: str, tmpl: Any) -> str:
    """``spec`` with the description of the template's OP (``op``), by which an executor's pod
    keys the step before it submits the job, without importing the OP there
    (:mod:`dflow.runner.cacheop`). An OP the job loads from a file (``--op-file``) is
    described by the file shipped, whose bytes the job keys it by (one rule on every engine:
    :func:`dflow.runner.cache.op_identity`)."""
    import json

    from dflow.runner.cacheop import describe

    from .packages import op_location

    try:
        flag, _, path = op_location(tmpl.op_type)
    except ValueError:  # the renderer says why
        return spec
    desc = describe(tmpl.op_class, path if flag == "--op-file" else None)
    if desc is None:
        return spec
    return json.dumps({**json.loads(spec), "op": desc}, sort_keys=True)


def key_and_cache_params(
    step: Any, workflow_name: str, default_executor: Any = None
) -> list[dict[str, str]]:
    """A step's ``dflow_key`` (its key) and ``dflow_cache`` (the step cache's spec, which the
    container script hands to the runner) arguments, for those it has."""
    params = []
    if step.key is not None:
        params.append({"name": "dflow_key", "value": text(step.key)})
    spec = cache_spec(step, workflow_name, default_executor)
    if spec is not None:
        params.append({"name": "dflow_cache", "value": spec})
    return params
