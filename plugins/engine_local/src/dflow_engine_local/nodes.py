"""Node bookkeeping: ids, the journal row and step dir of each node, phase transitions.

Node ids are deterministic (the step's key, else ``<wf-id>-<step name>-<5 chars of a digest
of its path>``) so a resubmitted run finds its journaled nodes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from typing import Any

import attrs
from dflow.model.op_template import OPTemplate
from dflow.model.step import Step

from .journal import TERMINAL, Journal, JournalError, Node, now_iso
from .layout import StepDir
from .mirror import Mirror
from .values import Result

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# the node types that hold a ``children`` file (a loop's group lists none: pydflow has no dir)
STRUCTURES = ("Steps", "DAG")
#: the longest a journaled change waits to be committed with others (what other processes see
#: of a running workflow lags by at most this), a finished step's or slice's included
GROUP_COMMIT = 0.05
#: ...or until this many steps or slices have finished since the last commit, whichever comes
#: first: a SIGKILL loses at most that window, whose finished steps a resumed run runs again
GROUP_LEAVES = 32


def suffix(text: str) -> str:
    """Five characters of [0-9a-z] from ``text`` (pydflow's random step-dir suffix, made
    deterministic so a resumed run finds a step's directory again)."""
    n = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")
    out = []
    for _ in range(5):
        n, r = divmod(n, 36)
        out.append(_BASE36[r])
    return "".join(out)


def children_holder(journal: Journal, wf_dir: str, node: Node) -> str:
    """The dir whose ``children`` lists ``node``: its Steps/DAG step's, or the workflow's."""
    parent = journal.get(node.parent_id) if node.parent_id else None
    while parent is not None and parent.type not in STRUCTURES:
        parent = journal.get(parent.parent_id) if parent.parent_id else None
    if parent is None or not parent.dir:
        return wf_dir
    return os.path.join(wf_dir, parent.dir)


@attrs.define(eq=False)
class NodeBook:
    """Opens, adopts and moves nodes: the journal row, the step dir's files, the event."""

    journal: Journal
    mirror: Mirror
    wf_id: str
    wf_dir: str
    seq: int = 0
    on_event: Callable[[Node], None] | None = None  # the plugins' step events
    _flush_scheduled: bool = False
    _unsaved_leaves: int = 0  # steps and slices finished since the last group commit

    def node_id_for(self, name: str, path: str, key: str | None) -> str:
        """The step's id and directory name: its key, or ``<wf-id>-<step name>-<5 chars>``."""
        if key:
            return key
        known = self.journal.by_path.get(path)
        if known is not None:
            return known
        base = f"{self.wf_id}-{_SAFE.sub('-', name).strip('-')}-"
        salt = path
        while True:  # 36**5 names: a wide fan-out may meet a taken one, then salt again
            candidate = base + suffix(salt)
            if candidate not in self.journal.cache:
                return candidate
            salt += "#"

    def dirty(self) -> None:
        """Commit the journal within ``GROUP_COMMIT`` seconds (a group commit).

        Every change waits for the next commit: the control poll's, a full group's of finished
        steps, or this one. Writes go through one connection, so a commit holds every change
        made before it: whatever depends on a finished step (the next step, a fan-out's end) is
        never on record without it. A SIGKILL loses the changes of the last window at most: a
        node journaled Running, or not at all, is run again on resume (docs/processes.md, "What
        a crash loses").
        """
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no running event loop: commit now
                self._flush()
                return
            self._flush_scheduled = True
            loop.call_later(GROUP_COMMIT, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._unsaved_leaves = 0
        with contextlib.suppress(JournalError):  # it stays broken: the next write stops the run
            self.journal.flush()

    def open(
        self,
        parent: Node | None,
        path: str,
        name: str,
        display: str,
        key: str | None,
        type_: str,
        template: OPTemplate,
        node_id: str | None = None,
        inputs: dict | None = None,
        order: str | None = None,
        spare: bool = False,
    ) -> Node:
        """The node of a step (journaled, its dir and files made), new or found again;
        ``spare``: its dir may be one made ahead (:meth:`layout.StepDir.create`)."""
        node_id = node_id or self.node_id_for(name, path, key)
        node = self.journal.get(node_id)
        if node is None:
            self.seq += 1
            # pydflow's layout: a dir per step, none for the workflow's own template, a loop
            # or a step that did not run
            has_dir = parent is not None and type_ not in (
                "Skipped",
                "Omitted",
                "StepGroup",
                "TaskGroup",
            )
            node = Node(
                id=node_id,
                parent_id=parent.id if parent else None,
                path=path,
                seq=self.seq,
                name=name,
                display_name=display,
                key=key,
                type=type_,
                phase="Pending",
                template=getattr(template, "name", ""),
                dir=node_id if has_dir else None,
                inputs=inputs or {},
                ord=order,
            )
            self.journal.put(node)
        else:
            changes: dict[str, Any] = {"type": type_}
            if inputs is not None:
                changes["inputs"] = inputs
            if parent is not None and node.parent_id != parent.id:
                changes["parent_id"] = parent.id
            if order is not None and node.ord != order:
                changes["ord"] = order
            self.journal.update(node, **changes)
        if node.dir:
            sd = StepDir(self.wf_dir, node.dir)
            sd.create(name, type_, self.mirror, spare)
            sd.set_phase(node.phase, self.mirror)
            if node.ord:
                holder = children_holder(self.journal, self.wf_dir, node)
                self.mirror.add_child(holder, node.ord, node.dir)
        self.dirty()
        return node

    def adopt(self, node: Node, parent: Node, order: str | None) -> None:
        """A step done before (an earlier run, ``reuse_step``) is a child here as well."""
        changes: dict[str, Any] = {}
        if node.parent_id != parent.id:
            changes["parent_id"] = parent.id
        if order is not None and node.ord != order:
            changes["ord"] = order
        if changes:
            self.journal.update(node, **changes)
            self.dirty()
        if node.dir and node.ord:
            holder = children_holder(self.journal, self.wf_dir, node)
            self.mirror.add_child(holder, node.ord, node.dir)

    def transition(
        self,
        node: Node,
        phase: str,
        message: str | None = None,
        outputs: dict | None = None,
        **extra: Any,
    ) -> None:
        changes: dict[str, Any] = {"phase": phase, **extra}
        if message is not None:
            changes["message"] = message
        if outputs is not None:
            changes["outputs"] = outputs
        if phase == "Running" and not node.started:
            changes["started"] = now_iso()
        if phase in TERMINAL:
            changes["finished"] = now_iso()
            if not node.started:
                changes["started"] = changes["finished"]
        self.journal.update(node, **changes)
        if node.dir:
            StepDir(self.wf_dir, node.dir).set_phase(phase, self.mirror)
        if self.on_event is not None:
            self.on_event(node)
        if phase in TERMINAL and node.type == "Pod":
            # one commit per group of finished steps, a chain's as a fan-out's: a commit per
            # step was 14-18 SQLite page writes on a chain's critical path, and about half of
            # a slice's journal time
            self._unsaved_leaves += 1
            if self._unsaved_leaves >= GROUP_LEAVES:
                self._flush()
                return
        self.dirty()

    def error(self, parent: Node, path: str, step: Step, message: str) -> Result:
        """A step that could not start (bad input): an Error node of its own."""
        node = self.open(parent, path, step.name, step.name, None, "Pod", step.template)
        self.transition(node, "Error", message=message)
        return Result("Error", node.id, message=message)

    def settle_unfinished(self, why: str) -> None:
        """At the end of a run: every node still Pending or Running becomes Error, so a
        finished workflow never shows a step running (an internal error cut it short)."""
        for node in list(self.journal.cache.values()):
            if node.phase not in TERMINAL:
                self.transition(
                    node,
                    "Error",
                    message=f"the run ended before this step finished: {why}".rstrip(": "),
                )


def outputs_json(res: Result, tmpl: OPTemplate | None = None) -> dict:
    """A node's outputs; with its template, each one's ``globalName`` (as Argo's node
    outputs carry it: ``reuse_step`` presets the new workflow's global outputs from it)."""
    out: dict[str, dict[str, dict[str, Any]]] = {
        "parameters": {k: {"value": v, "type": res.types.get(k)} for k, v in res.params.items()},
        "artifacts": {k: {"local_path": v} for k, v in res.arts.items() if v is not None},
    }
    if tmpl is not None:
        for kind in ("parameters", "artifacts"):
            for name, entry in out[kind].items():
                decl = getattr(tmpl.outputs, kind).get(name)
                if getattr(decl, "global_name", None):
                    entry["globalName"] = decl.global_name
    return out


def result_of(node: Node) -> Result:
    """The Result a journaled node stands for (a step done before is not run again)."""
    outs = node.outputs or {}
    params = {k: v["value"] for k, v in outs.get("parameters", {}).items()}
    types = {k: v.get("type") for k, v in outs.get("parameters", {}).items()}
    arts = {k: v.get("local_path") for k, v in outs.get("artifacts", {}).items()}
    return Result(node.phase, node.id, params, types, arts, message=node.message)
