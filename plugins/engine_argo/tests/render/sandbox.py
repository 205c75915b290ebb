"""Run a rendered script template for real, laid out as the Argo container would see it.

``substitute`` replaces ``{{inputs.parameters.x}}`` / ``{{workflow.name}}`` / ``{{pod.name}}``
in the template's env values, raw input artifacts and source the way Argo does (plain text
substitution inside JSON strings, so any value is safe there); ``run_template`` writes each raw
input artifact's data to its path (as Argo's executor does), writes the source to a file and
runs it with the template's command, ``DFLOW_TMP_ROOT`` pointing ``/tmp`` at the sandbox.

``python`` chooses the image's interpreter (default: this one, which has dflow installed);
``isolated=True`` runs it with ``-I -S``: the pod then sees only its standard library and what
the workflow ships, as in a bare ``python:3.x`` image.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

_VAR = re.compile(r"{{\s*([-a-zA-Z0-9_.]+)\s*}}")
_EXPR = re.compile(r"{{=(.*?)}}")
REPO = Path(__file__).resolve().parents[4]


def _scope(values: dict[str, str]) -> dict[str, Any]:
    scope: dict[str, Any] = {}
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = scope
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return scope


def substitute(text: str, values: dict[str, str]) -> str:
    """``{{name}}`` and ``{{=expression}}`` tags replaced as Argo does (an expression's
    string result verbatim, any other result as JSON)."""
    import json

    from dflow.expressions import evaluate

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(f"unresolved Argo variable {{{{{name}}}}}")
        return values[name]

    def expr(m: re.Match) -> str:
        value = evaluate(m.group(1), _scope(values))
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    return _VAR.sub(repl, _EXPR.sub(expr, text))


def place_raw_artifacts(tmpl: dict[str, Any], root: Path, params: dict[str, str]) -> None:
    """Write the template's ``raw`` input artifacts where Argo puts them (``/tmp`` is
    ``root``), after substituting the template's input parameters."""
    values = {f"inputs.parameters.{k}": v for k, v in params.items()}
    for a in (tmpl.get("inputs") or {}).get("artifacts") or []:
        if "raw" in a:
            path = Path(str(root) + substitute(a["path"], values).removeprefix("/tmp"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(substitute(a["raw"]["data"], values))


def in_sandbox(path: str, root: Path, tmp_root: str = "/tmp") -> Path:
    """Where a path of the pod under ``tmp_root`` lies in the sandbox ``root``."""
    prefix = tmp_root.rstrip("/")
    if path != prefix and not path.startswith(prefix + "/"):
        raise ValueError(f"{path} is outside tmp_root {tmp_root}")
    return root / path[len(prefix) :].lstrip("/")


def write_raw_artifacts(
    tmpl: dict[str, Any], root: Path, values: dict[str, str], tmp_root: str = "/tmp"
) -> None:
    """Write each raw input artifact's (substituted) data to its path, as Argo's executor."""
    for art in (tmpl.get("inputs") or {}).get("artifacts") or []:
        if "raw" in art:
            dest = in_sandbox(art["path"], root, tmp_root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(substitute(art["raw"]["data"], values).encode())


def run_template(
    tmpl: dict[str, Any],
    root: Path,
    params: dict[str, str],
    workdir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    python: str | None = None,
    isolated: bool = False,
    tmp_root: str = "/tmp",
) -> subprocess.CompletedProcess:
    """Run the script of ``tmpl`` with input parameters ``params`` (plus Argo globals)."""
    values = {f"inputs.parameters.{k}": v for k, v in params.items()}
    values.update({"workflow.name": "wf-test", "pod.name": "wf-test-123"})
    for p in (tmpl.get("inputs") or {}).get("parameters") or []:
        values.setdefault(f"inputs.parameters.{p['name']}", p.get("value", ""))
    script = tmpl["script"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DFLOW_", "PYTHON"))}
    for e in script.get("env") or []:
        env[e["name"]] = substitute(e["value"], values)
    env["DFLOW_TMP_ROOT"] = str(root)
    env.update(extra_env or {})
    write_raw_artifacts(tmpl, root, values, tmp_root)
    src = root / "script"
    src.write_text(substitute(script["source"], values))
    command = list(script["command"])
    if command[0].startswith("python"):
        command[0:1] = [python or sys.executable, *(["-I", "-S"] if isolated else [])]
    workdir = workdir or root / "cwd"
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [*command, str(src)], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


def template(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for t in manifest["spec"]["templates"]:
        if t["name"] == name:
            return t
    raise KeyError(f"no template {name}: {[t['name'] for t in manifest['spec']['templates']]}")


def place_packages(root: Path, paths: list[str]) -> None:
    """Lay the packages artifact out as the engine uploads it: each path at the top level."""
    dest = root / "inputs" / "artifacts" / "dflow_python_packages"
    dest.mkdir(parents=True, exist_ok=True)
    for p in paths:
        target = dest / os.path.basename(p.rstrip("/"))
        if not target.exists():
            target.symlink_to(p)
