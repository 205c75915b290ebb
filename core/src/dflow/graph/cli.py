"""``dflow graph ID|script.py`` and ``dflow report ID`` (registered by :mod:`dflow.cli`).

A script is imported with ``__name__`` set to ``"__dflow_graph__"`` (not ``"__main__"``), so
code under ``if __name__ == "__main__":`` (where scripts usually submit) does not run; the
Workflow objects it leaves in module-level variables are the ones drawn. With several, pick
one with ``--workflow NAME``.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from html import escape
from pathlib import Path
from typing import Any

FORMATS = ("mermaid", "dot", "svg", "html")
RUN_NAME = "__dflow_graph__"


def workflows_in_script(path: str) -> list[Any]:
    """The Workflow objects a script binds to module-level names, imported as a module."""
    from ..model.workflow import Workflow

    script = Path(path)
    if not script.is_file():
        raise SystemExit(f"dflow graph: error: no such script: {path}")
    sys.path.insert(0, str(script.resolve().parent))  # its sibling modules import as in a run
    try:
        namespace = runpy.run_path(str(script), run_name=RUN_NAME)
    finally:
        sys.path.pop(0)
    found: list[Any] = []
    for value in namespace.values():
        if isinstance(value, Workflow) and all(value is not w for w in found):
            found.append(value)
    return found


def _pick(workflows: list[Any], name: str | None, script: str) -> Any:
    names = ", ".join(w.name for w in workflows)
    if name is not None:
        for wf in workflows:
            if wf.name == name:
                return wf
        raise SystemExit(
            f"dflow graph: error: {script} has no workflow named {name!r} (has: {names})"
        )
    if not workflows:
        raise SystemExit(
            f"dflow graph: error: {script} leaves no Workflow in a module-level variable "
            "(it is imported, not run as __main__: build the workflow outside "
            "'if __name__ == \"__main__\":' and submit inside it)"
        )
    if len(workflows) > 1:
        raise SystemExit(
            f"dflow graph: error: {script} builds {len(workflows)} workflows ({names}): "
            "choose one with --workflow NAME"
        )
    return workflows[0]


def _page(title: str, svg_text: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>\n<body>\n{svg_text}</body></html>\n"
    )


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_graph(args: argparse.Namespace) -> int:
    from . import draw
    from .report import build_report

    if args.target.endswith(".py"):
        wf = _pick(workflows_in_script(args.target), args.workflow, args.target)
        fmt = "svg" if args.format == "html" else args.format
        text = draw(wf, fmt, phases=False)
        _emit(_page(wf.name, text) if args.format == "html" else text, args.output)
        return 0
    from ..model.workflow import Workflow

    wf = Workflow(id=args.target, engine=args.engine)
    text = build_report(wf) if args.format == "html" else draw(wf, args.format, phases=True)
    _emit(text, args.output)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..model.workflow import Workflow
    from .report import write_report

    path = write_report(Workflow(id=args.id, engine=args.engine), args.output)
    print(f"report of {args.id}: {Path(path).resolve()}")
    return 0


def add_graph_command(sub: Any) -> None:
    """Register ``dflow graph`` on the ``dflow`` parser's subcommands."""
    p = sub.add_parser(
        "graph",
        help="draw a workflow (by id, or built by a script.py)",
        description="Draw a submitted workflow (by id, coloured by phase) or the workflow a "
        "script builds. A script is imported with __name__ != '__main__' (code under "
        "'if __name__ == \"__main__\":' does not run) and the Workflow objects in its "
        "module-level variables are drawn; pick one with --workflow when there are several.",
    )
    p.add_argument("target", help="workflow id, or a Python script that builds a Workflow")
    p.add_argument("-f", "--format", choices=FORMATS, default="mermaid")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")
    p.add_argument("-w", "--workflow", help="the workflow's name, when a script builds several")
    p.set_defaults(func=cmd_graph)


def add_report_command(sub: Any) -> None:
    """Register ``dflow report`` on the ``dflow`` parser's subcommands."""
    p = sub.add_parser("report", help="write the HTML report of a workflow run")
    p.add_argument("id")
    p.add_argument("-o", "--output", help="file to write (default: <id>-report.html)")
    p.set_defaults(func=cmd_report)
