"""Why a step ran or was reused: compare its key record with the previous one of that step.

Every run of a cached step appends a record to ``<cache>/history/`` (key record, outcome,
run). :func:`explain_step` finds the records of one run of a step and, for each, the nearest
earlier record of the same step (same workflow and step name: :mod:`.identity`, same slice)
from another run, on either engine, and says what differs.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import attrs

from .identity import canonical_identity, step_name_of


@attrs.frozen
class StepExplanation:
    """One run (one slice) of a step: ``outcome`` is "reused", "computed" or "failed"."""

    step: str
    slice: Any
    outcome: str
    key: str
    text: str
    source_run: str | None = None


def _short(value: Any) -> str:
    text = str(value)
    if text.startswith("sha256:"):
        text = text[7:]
    return text[:12] if len(text) == 64 else text


def _changes(kind: str, old: dict, new: dict, fmt: Any) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(f"{kind} `{name}` was added")
        elif name not in new:
            out.append(f"{kind} `{name}` was removed")
        elif old[name] != new[name]:
            out.append(f"{kind} `{name}` changed ({fmt(old[name])} -> {fmt(new[name])})")
    return out


def differences(old: dict, new: dict) -> list[str]:
    """What changed from key record ``old`` to ``new``, in words."""
    if old.get("format") != new.get("format"):
        return ["the cache format changed"]
    reasons = []
    old_op, new_op = old.get("op", {}), new.get("op", {})
    if old_op.get("name") != new_op.get("name"):
        reasons.append(f"the OP changed ({old_op.get('name')} -> {new_op.get('name')})")
    elif old_op.get("source") != new_op.get("source"):
        scripted = new.get("kind") == "script"
        reasons.append("the script changed" if scripted else "the OP source changed")
    reasons += _changes("template field", old.get("template", {}), new.get("template", {}), str)
    if old.get("slice") != new.get("slice"):
        reasons.append(f"the slice changed ({old.get('slice')} -> {new.get('slice')})")
    reasons += _changes("parameter", old.get("parameters", {}), new.get("parameters", {}), str)
    reasons += _changes(
        "input artifact", old.get("artifacts", {}), new.get("artifacts", {}), _digest_text
    )
    return reasons


def _digest_text(value: Any) -> str:
    return "absent" if value is None else f"digest {_short(value)}"


def _matches(identity: str, step: str) -> bool:
    """Whether ``step`` (a step name, a local path, or an identity) names ``identity``."""
    name = identity.split("/", 1)[-1]
    return step == identity or step_name_of(step) == name


def _asked_name(step: str) -> str:
    """The step name in what a user asks about: an identity, a step path or a name."""
    return step_name_of(step.partition("/")[2] or step)


def _histories(root: str, step: str | None, run_id: str) -> list[list[dict]]:
    """The records of each history that may hold ``step``'s (every step's when None): every
    ``history/*.jsonl`` in a directory; in a bucket, only the records of the workflows whose
    step of that name (any step) ran in ``run_id`` (listed by prefix)."""
    if "://" in root:
        from .settings import object_store

        name = None if step is None else _asked_name(step)
        return object_store(root).step_histories(name, run_id)
    base = os.path.join(root, "history")
    groups = []
    for name in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        records = []
        with open(os.path.join(base, name), encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash
                if isinstance(record, dict):
                    records.append(record)
        groups.append(records)
    return groups


def _step_records(root: str, step: str | None, run_id: str) -> dict[str, list[dict]]:
    """{identity: records, oldest first} of the steps matching ``step`` (all when None).
    Records of one step are gathered from every history whatever form their identity takes
    (older local records name the step by its path), so runs on either engine are compared."""
    found: dict[str, list[dict]] = {}
    for records in _histories(root, step, run_id):
        if not records:
            continue
        identity = canonical_identity(str(records[0].get("step", "")))
        if step is None or _matches(identity, step):
            found.setdefault(identity, []).extend(records)
    for records in found.values():
        records.sort(key=lambda r: r.get("created", 0))
    return found


def _explain(record: dict, previous: dict | None) -> str:
    key = str(record.get("key", ""))
    outcome = record.get("outcome")
    if outcome == "reused":
        return f"reused from run {record.get('source_run')} (key {_short(key)})"
    head = "failed (not cached)" if outcome == "failed" else "ran"
    if previous is None:
        return f"{head}: no earlier run of this step is recorded in the cache"
    if previous.get("key") == key:
        why = record.get("lookup") or "missing"
        if why == "missing":
            return f"{head} because the entry of key {_short(key)} was not in the cache (pruned?)"
        return f"{head} because the entry of key {_short(key)} was unusable ({why})"
    reasons = differences(previous.get("record") or {}, record.get("record") or {})
    return f"{head} because " + ("; ".join(reasons) or "its key changed")


def explain_step(run_id: str, step: str | None, root: str | None = None) -> list[StepExplanation]:
    """For each slice of ``step`` (a step name or path; every cached step when None) in run
    ``run_id``: reused (from which run) or why it ran, against the nearest earlier record of
    the same step and slice."""
    if root is None:
        from .settings import cache_settings

        root = cache_settings().root
    result = []
    for identity, records in sorted(_step_records(root, step, run_id).items()):
        latest: dict[str, dict] = {}
        for r in records:
            if r.get("run") == run_id:
                latest[json.dumps(r.get("record", {}).get("slice"))] = r
        for slice_key, record in sorted(latest.items()):
            earlier = [
                r
                for r in records
                if r.get("run") != run_id
                and r.get("created", 0) < record.get("created", 0)
                and json.dumps(r.get("record", {}).get("slice")) == slice_key
                and r.get("outcome") in ("computed", "reused")
            ]
            previous = earlier[-1] if earlier else None
            result.append(
                StepExplanation(
                    identity,
                    (record.get("record") or {}).get("slice"),
                    str(record.get("outcome")),
                    str(record.get("key")),
                    _explain(record, previous),
                    record.get("source_run"),
                )
            )
    return result


def explain_lines(run_id: str, step: str | None, root: str | None = None) -> list[str]:
    """``dflow explain``'s lines (and the HTML report's): the slices of a step reused from
    one run counted in one line, every other step or slice a line of its own."""
    found = explain_step(run_id, step, root)
    lines: list[str] = []
    reused: Counter[Any] = Counter()
    for e in found:
        if e.outcome == "reused" and e.slice is not None:
            reused[(e.step, e.source_run)] += 1
            continue
        where = f"{e.step} slice {e.slice}" if e.slice is not None else e.step
        lines.append(f"{where}: {e.text}")
    for (name, run), count in sorted(reused.items()):
        lines.append(f"{name}: {count} slices reused from run {run}")
    return lines
