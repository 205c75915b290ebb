"""The HTML report of a run (``wf.report(path)``, ``dflow report ID``): ONE self-contained file.

No network: the CSS, the SVG graph and a few lines of script are inline. Everything that comes
from the user or the run (names, values, messages, logs) is HTML-escaped. Works on a running
workflow too (a snapshot, stamped with the time it was taken).
"""

from __future__ import annotations

import datetime as dt
import os
from html import escape
from pathlib import Path
from typing import Any

from . import svg
from .model import build_graph
from .phases import GROUP_TYPES, collect, field
from .style import PHASE_COLORS

FAILED = ("Failed", "Error")
LOG_LINES = 30  # last lines shown per log
MAX_ROWS = 2000  # step table rows (failed steps always come first)
MAX_LOGS = 40  # steps whose (collapsed) log excerpt is included besides the failed ones
HIDDEN = ("dflow_", "main-logs")

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:26px 0 8px}
.meta{color:#52606d;font-size:13px} .meta b{color:#1f2933}
.phase{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;border:1px solid}
.graph{overflow:auto;border:1px solid #e4e7eb;border-radius:6px;padding:6px;max-height:80vh}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border-bottom:1px solid #e4e7eb;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f7fa;position:sticky;top:0} td.msg{max-width:420px;white-space:pre-wrap}
code,pre{font-family:Menlo,Consolas,monospace;font-size:12px}
pre{background:#f5f7fa;padding:8px;border-radius:4px;overflow:auto;max-height:360px;margin:4px 0}
details{margin:4px 0} summary{cursor:pointer} .failed summary{color:#c62828;font-weight:bold}
#filter{margin:0 0 8px;padding:4px 6px;width:280px} .note{color:#7b8794;font-size:12px}
ul.io{margin:0;padding-left:14px}
"""
# filters the step table as one types; nothing else runs
_JS = """
document.getElementById('filter').addEventListener('input', function (ev) {
  var q = ev.target.value.toLowerCase();
  var rows = document.querySelectorAll('#steps tbody tr');
  for (var i = 0; i < rows.length; i++) {
    rows[i].style.display = rows[i].textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  }
});
"""


def _time(text: Any) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def duration(started: Any, finished: Any, now: dt.datetime | None = None) -> str:
    """``1m 05s`` between two Argo timestamps (until ``now`` while running)."""
    start, end = _time(started), _time(finished) or (now if started else None)
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {sec:02d}s"


def _badge(phase: str) -> str:
    fill, stroke = PHASE_COLORS.get(phase, ("#fff", "#999"))
    return (
        f'<span class="phase" style="background:{fill};border-color:{stroke}">'
        f"{escape(phase)}</span>"
    )


def _artifact(art: Any) -> str:
    """A local path as a file:// link; an object-store key as text."""
    local = field(art, "local_path")
    if local:
        uri = Path(local).resolve().as_uri()
        return f'<a href="{escape(uri)}">{escape(str(local))}</a>'
    for store in ("s3", "oss", "gcs"):
        key = field(field(art, store, {}), "key")
        if key:
            return f"<code>{escape(store)}://{escape(str(key))}</code>"
    return ""


def _io(section: Any) -> str:
    items = []
    for name, p in sorted((field(section, "parameters", {}) or {}).items()):
        if not name.startswith(HIDDEN):
            value = str(field(p, "value", ""))
            value = value if len(value) <= 200 else value[:199] + "…"
            items.append(f"<li><b>{escape(name)}</b> = <code>{escape(value)}</code></li>")
    for name, art in sorted((field(section, "artifacts", {}) or {}).items()):
        if not name.startswith(HIDDEN):
            items.append(f"<li><b>{escape(name)}</b>: {_artifact(art)}</li>")
    return f'<ul class="io">{"".join(items)}</ul>' if items else ""


def _log_tail(workflow: Any, step: Any) -> str:
    try:
        text = workflow.logs(field(step, "id"))
    except Exception as exc:  # a missing log must not cost the whole report
        return f"(log unavailable: {exc})"
    lines = (text or "").rstrip("\n").splitlines()
    shown = lines[-LOG_LINES:]
    cut = f"… {len(lines) - len(shown)} earlier lines\n" if len(lines) > len(shown) else ""
    return cut + "\n".join(shown) if shown else "(empty log)"


def _leaves(steps: list[Any]) -> list[Any]:
    """Steps that did work (pods, skips, suspends), failed first, then in start order."""
    containers = {"Steps", "DAG", "Retry", *GROUP_TYPES}
    leaves = [s for s in steps if field(s, "type") not in containers]
    return sorted(
        leaves,
        key=lambda s: (field(s, "phase") not in FAILED, str(field(s, "startedAt", ""))),
    )


def build_report(workflow: Any, now: dt.datetime | None = None) -> str:
    """The report of a submitted workflow as HTML text."""
    from .runtime import graph_from_steps

    now = now or dt.datetime.now(dt.UTC)
    wf_id = workflow.id
    info = workflow.query()
    status_info = field(info, "status", {}) or {}
    phase = str(field(status_info, "phase", "Unknown"))
    steps = list(workflow.query_step())
    status = collect(steps, wf_id)
    by_id = {field(s, "id"): s for s in steps}
    graph = build_graph(workflow) if workflow.entrypoint is not None else None
    if graph is None and () in status:
        graph = graph_from_steps(steps, wf_id)
    started, finished = field(status_info, "startedAt"), field(status_info, "finishedAt")
    body = [
        f"<h1>{escape(str(wf_id))} {_badge(phase)}</h1>",
        f'<p class="meta"><b>Started</b> {escape(str(started or "-"))} &nbsp; '
        f"<b>Finished</b> {escape(str(finished or '-'))} &nbsp; "
        f"<b>Duration</b> {escape(duration(started, finished, now))} &nbsp; "
        f"<b>Report taken</b> {escape(now.strftime('%Y-%m-%d %H:%M:%S UTC'))}</p>",
    ]
    message = field(status_info, "message")
    if message:
        body.append(f'<p class="meta"><b>Message</b> {escape(str(message))}</p>')
    if phase in ("Running", "Pending"):
        body.append('<p class="note">The workflow is still running: this is a snapshot.</p>')
    body.append("<h2>Graph</h2>")
    body.append(
        f'<div class="graph">{svg.render(graph, status)}</div>'
        if graph is not None
        else '<p class="note">No steps reported yet.</p>'
    )
    leaves = _leaves(steps)
    failed = [s for s in leaves if field(s, "phase") in FAILED]
    if failed:
        body.append("<h2>Failures</h2>")
        for s in failed:
            body.append(
                f'<details class="failed" open><summary>{escape(_where(s, by_id))} '
                f"{_badge(str(field(s, 'phase')))}</summary>"
                f"<p>{escape(str(field(s, 'message', '')))}</p>"
                f"<pre>{escape(_log_tail(workflow, s))}</pre></details>"
            )
    body.append(f"<h2>Steps ({len(leaves)})</h2>")
    body.append('<input id="filter" type="search" placeholder="filter steps…">')
    body.append(_table(leaves[:MAX_ROWS], by_id, now))
    if len(leaves) > MAX_ROWS:
        body.append(
            f'<p class="note">{len(leaves) - MAX_ROWS} more steps not shown; '
            f"<code>dflow get {escape(str(wf_id))}</code> lists them all.</p>"
        )
    body.append(_cache_section(str(wf_id)))
    others = [s for s in leaves if field(s, "phase") not in FAILED and field(s, "type") == "Pod"][
        :MAX_LOGS
    ]
    if others:
        body.append("<h2>Logs</h2>")
        for s in others:
            body.append(
                f"<details><summary>{escape(_where(s, by_id))}</summary>"
                f"<pre>{escape(_log_tail(workflow, s))}</pre></details>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>dflow report: {escape(str(wf_id))}</title>"
        f'<meta name="viewport" content="width=device-width"><style>{_CSS}</style></head>\n'
        f"<body>\n{chr(10).join(body)}\n<script>{_JS}</script>\n</body></html>\n"
    )


def _cache_section(run_id: str) -> str:
    """Why each cached step ran or where it was reused from (``dflow explain ID``); empty
    when the run has no record in the configured cache."""
    from ..cache.explain import explain_lines

    try:
        lines = explain_lines(run_id, None)
    except (OSError, ValueError) as exc:  # a bucket refusing us, a bad [cache] location
        return f'<h2>Step cache</h2><p class="note">Not read: {escape(str(exc))}</p>'
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines[:MAX_ROWS])
    more = (
        f'<p class="note">{len(lines) - MAX_ROWS} more lines: <code>dflow explain '
        f"{escape(run_id)}</code> lists them all.</p>"
        if len(lines) > MAX_ROWS
        else ""
    )
    return f'<h2>Step cache</h2><ul class="io">{items}</ul>{more}'


def _where(step: Any, by_id: dict[str, Any]) -> str:
    """A step's position: ``outer/square(3:3)``."""
    parts, node, seen = [str(field(step, "displayName", field(step, "name", "")))], step, set()
    while field(node, "boundaryID") in by_id and field(node, "boundaryID") not in seen:
        seen.add(field(node, "boundaryID"))
        node = by_id[field(node, "boundaryID")]
        if field(node, "boundaryID") and field(node, "type") not in GROUP_TYPES:
            parts.append(str(field(node, "displayName", "")))
    return "/".join(reversed(parts))


def _table(leaves: list[Any], by_id: dict[str, Any], now: dt.datetime) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Step", "Key", "Phase", "Duration", "Inputs", "Outputs", "Message")
    )
    rows = []
    for s in leaves:
        rows.append(
            "<tr>"
            f"<td>{escape(_where(s, by_id))}</td>"
            f"<td>{escape(str(field(s, 'key', '') or ''))}</td>"
            f"<td>{_badge(str(field(s, 'phase', 'Pending')))}</td>"
            f"<td>{escape(duration(field(s, 'startedAt'), field(s, 'finishedAt'), now))}</td>"
            f"<td>{_io(field(s, 'inputs', {}))}</td>"
            f"<td>{_io(field(s, 'outputs', {}))}</td>"
            f'<td class="msg">{escape(str(field(s, "message", "") or ""))}</td>'
            "</tr>"
        )
    return f'<table id="steps"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def write_report(workflow: Any, path: str | os.PathLike | None = None) -> str:
    """Write the report of ``workflow`` to ``path`` (default ``<id>-report.html``); return it."""
    if not workflow.id:
        raise ValueError(
            f"workflow '{workflow.name}' has no id: submit it first (or use Workflow(id=...)) "
            "before writing its report"
        )
    target = Path(path) if path is not None else Path(f"{workflow.id}-report.html")
    target.write_text(build_report(workflow), encoding="utf-8")
    return str(target)
