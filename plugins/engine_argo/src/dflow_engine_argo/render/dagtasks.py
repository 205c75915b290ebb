"""DAG tasks and their ``depends``: pydflow's semantics, in a form Argo accepts.

* The terms come from :mod:`dflow.semantics`, the rule the local engine evaluates too: a task
  runs when each task it depends on **Succeeded** (``a.Succeeded``, pydflow's
  ``(a.Succeeded)``; Argo's bare ``a`` would also run it after a Skipped ``a``), or also
  Failed / Errored when that task has ``continue_on_failed`` / ``continue_on_error``
  (``a.Succeeded || a.Failed``).
* Argo refuses ``continueOn`` in a DAG that uses ``depends`` (``workflow/validate/validate.go``
  ``validateDAG``, v3.7.18 and v4.1.2), and only a *target* task's ``continueOn`` keeps its
  failure from failing the DAG (``workflow/controller/dag.go`` ``assessDAGPhase``). So in a DAG
  with ``depends``, a continued task that nothing depends on gets a pod-less sink task
  ``<task>-continue`` (``suspend`` for 0 s) depending on ``<task>.Failed``: the sink becomes
  the target, it runs (and succeeds) exactly when the failure is to be continued, and any
  other failure still reaches the DAG through the omitted sink's branch phase. A DAG without
  any ``depends`` keeps plain ``continueOn``.
* A manifest read back with ``dependencies`` keeps them (a round trip changes nothing).
"""

from __future__ import annotations

from typing import Any

from dflow.semantics import dependency_term, depends_term

from . import helpers

CONTINUE_SUFFIX = "-continue"


def dag_tasks(rp: Any, dag: Any) -> list[dict[str, Any]]:
    """The ``dag.tasks`` of ``dag``, with helper tasks; ``rp`` is the RenderPass."""
    nodes = {t.name: rp.node(t, "tasks") for t in dag.tasks}
    by_name = {t.name: t for t in dag.tasks}
    deps = {t.name: sorted(t.dependency_names()) for t in dag.tasks}
    flags = {t.name: (bool(t.continue_on_failed), bool(t.continue_on_error)) for t in dag.tasks}
    explicit = {t.name: getattr(t, "argo_depends", None) for t in dag.tasks}
    legacy_names = {t.name: getattr(t, "argo_dependencies", None) for t in dag.tasks}
    if any(v is not None for v in legacy_names.values()):
        return _legacy(rp, dag, nodes, deps, flags, legacy_names)
    has_dependents = {d for ds in deps.values() for d in ds}
    uses_depends = (
        any(deps.values())
        or any(explicit.values())
        or any(n.pre or n.post or n.helpers_deps for n in nodes.values())
    )

    def term(d: str) -> str:
        if d not in by_name:
            return depends_term(d)
        return dependency_term(by_name[d], nodes[d].check)  # a success check decides its fan-out

    out = []
    for t in dag.tasks:
        node = nodes[t.name]
        terms = [term(d) for d in deps[t.name]]
        for pre in node.pre:
            if pre["template"].startswith("dflow-slices-path") and terms:
                pre = with_deps(pre, [], " && ".join(terms), False)
            out.append(pre)
        terms += [depends_term(h) for h in node.helpers_deps]
        entry = node.entry
        if uses_depends:
            cont = entry.pop("continueOn", None)
            entry = with_deps(entry, [], explicit[t.name] or " && ".join(terms), False)
            if cont and t.name not in has_dependents and node.check is None:
                out.append(entry)
                entry = _sink(rp, t.name, *flags[t.name])
        out.append(entry)
        for post in node.post:
            dep = depends_term(t.name, failed=True, errored=True)
            out.append(with_deps(post, [], dep, False))
    return out


def _sink(rp: Any, name: str, failed: bool, error: bool) -> dict[str, Any]:
    """The task that absorbs ``name``'s continued failure (see the module docstring)."""
    tname = rp.add_body("dflow-continue", helpers.continue_sink())
    depends = " || ".join(
        f"{name}{s}" for s, on in ((".Failed", failed), (".Errored", error)) if on
    )
    return {"name": name + CONTINUE_SUFFIX, "template": tname, "depends": depends}


def _legacy(
    rp: Any, dag: Any, nodes: dict, deps: dict, flags: dict, legacy_names: dict
) -> list[dict[str, Any]]:
    """A DAG read back from a manifest with ``dependencies``: rendered with them again."""
    out = []
    for t in dag.tasks:
        node = nodes[t.name]
        names = [nodes[d].check or d if d in nodes else d for d in deps[t.name]]
        if legacy_names[t.name] is not None:
            names = list(legacy_names[t.name])
        for pre in node.pre:
            if pre["template"].startswith("dflow-slices-path") and names:
                pre = with_deps(pre, names, "", True)
            out.append(pre)
        entry = node.entry
        entry.pop("continueOn", None)
        entry = with_deps(entry, names + node.helpers_deps, "", True)
        cont = {k: True for k, on in zip(("failed", "error"), flags[t.name], strict=True) if on}
        if cont:
            entry["continueOn"] = cont
        out.append(entry)
        for post in node.post:
            out.append(with_deps(post, [t.name], "", True))
    return out


def with_deps(
    entry: dict[str, Any], names: list[str], depends: str, legacy: bool
) -> dict[str, Any]:
    """``entry`` with ``depends`` (or legacy ``dependencies``) after its arguments."""
    out: dict[str, Any] = {}
    placed = False
    for k, v in entry.items():
        if k in ("when", "withParam", "withSequence", "continueOn", "hooks") and not placed:
            placed = True
            _place(out, names, depends, legacy)
        out[k] = v
    if not placed:
        _place(out, names, depends, legacy)
    return out


def _place(out: dict[str, Any], names: list[str], depends: str, legacy: bool) -> None:
    if legacy and names:
        out["dependencies"] = list(dict.fromkeys(names))
    elif depends:
        out["depends"] = depends
