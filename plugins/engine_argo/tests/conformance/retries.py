"""retryStrategy: whether another attempt starts, and what it sees of the last one
(processNodeRetries and the lastRetry variables of executeTemplate, operator.go v3.7.18;
the same rules in v4.1.2)."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .nodes import duration_seconds, failed_or_error, fulfilled, parse_duration, parse_time
from .templating import TemplateError, evaluate

if TYPE_CHECKING:
    from .controller import Operator
    from .execute import Opts


def last_retry_params(last: dict[str, Any] | None) -> dict[str, str]:
    """The ``lastRetry.*`` variables of the next attempt (operator.go, v3.7.18)."""
    out = {
        "lastRetry.exitCode": "0",
        "lastRetry.duration": "0",
        "lastRetry.status": "",
        "lastRetry.message": "",
    }
    if last is not None:
        code = (last.get("outputs") or {}).get("exitCode")
        if code is not None:
            out["lastRetry.exitCode"] = str(code)
        out["lastRetry.status"] = last["phase"]
        out["lastRetry.duration"] = _go_float(duration_seconds(last))
        out["lastRetry.message"] = last.get("message") or ""
    return out


def _go_float(value: float) -> str:
    """fmt.Sprint of a float64 (shortest form, ``%v``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def process_retries(
    op: Operator, node: dict[str, Any], strategy: dict[str, Any], opts: Opts
) -> tuple[dict[str, Any], bool, Exception | None]:
    """processNodeRetries (operator.go, v3.7.18): decide whether another attempt starts."""
    if fulfilled(node):
        return node, True, None
    ids, last = op.nodes.retry_children(node)
    if not ids or last is None or not fulfilled(last):
        return node, True, None
    name = node["name"]
    if not failed_or_error(last):
        node["outputs"] = copy.deepcopy(last.get("outputs"))
        if node["outputs"] is None:
            node.pop("outputs")
        return op.nodes.mark(name, "Succeeded"), True, None
    wfd = op.workflow_deadline()
    if op.shutdown or (wfd is not None and time.time() > wfd):
        msg = (
            f"Stopped with strategy '{op.shutdown}'"
            if op.shutdown
            else f"retry exceeded workflow deadline {datetime.fromtimestamp(wfd, UTC)}"
        )
        return op.nodes.mark(name, last["phase"], msg), True, None
    backoff = strategy.get("backoff")
    limit = strategy.get("limit")
    limit_n = int(limit) if limit is not None else None
    if backoff:
        max_deadline = None
        if backoff.get("maxDuration"):
            first = op.nodes.get(ids[0])
            start = parse_time(first.get("startedAt")).timestamp()
            max_deadline = start + parse_duration(backoff["maxDuration"])
            if time.time() > max_deadline:
                return op.nodes.mark(name, last["phase"], "Max duration limit exceeded"), True, None
        if not backoff.get("duration"):
            return node, False, TemplateError("no base duration specified for retryStrategy")
        wait = parse_duration(backoff["duration"])
        factor = backoff.get("factor")
        if factor is not None and int(factor) > 0:
            wait = wait * int(factor) ** (len(ids) - 1)
        if backoff.get("cap"):
            wait = min(wait, parse_duration(backoff["cap"]))
        finished = parse_time(last.get("finishedAt")).timestamp()
        waiting = finished + wait
        if max_deadline is not None and waiting > max_deadline:
            return (
                op.nodes.mark(name, last["phase"], "Backoff would exceed max duration limit"),
                True,
                None,
            )
        if time.time() < waiting and limit_n is not None and len(ids) <= limit_n:
            op.requeue_after(waiting - time.time())
            return op.nodes.mark(name, node["phase"], f"Backoff for {_humanize(wait)}"), False, None
        if max_deadline is not None:
            opts.execution_deadline = max_deadline
        op.nodes.mark(name, node["phase"], "")
    policy = strategy.get("retryPolicy") or "OnFailure"
    on_failed = policy in ("Always", "OnFailure")
    on_error = policy in ("Always", "OnError")
    if policy == "OnTransientError":
        on_failed = on_error = False  # our pods never fail with a transient error message
    elif policy not in ("Always", "OnError", "OnFailure"):
        return node, False, TemplateError(f"{policy} is not a valid RetryPolicy")
    if (last["phase"] == "Failed" and not on_failed) or (last["phase"] == "Error" and not on_error):
        return op.nodes.mark(name, last["phase"], last.get("message") or ""), True, None
    if limit_n is not None and len(ids) > limit_n:
        return op.nodes.mark(name, last["phase"], "No more retries left"), True, None
    if strategy.get("expression"):
        scope = {"retries": str(len(ids) - 1)}
        scope.update({k: v for k, v in last_retry_params(last).items()})
        code = (last.get("outputs") or {}).get("exitCode")
        scope["lastRetry.exitCode"] = str(code) if code is not None else "-1"
        try:
            go_on = evaluate(strategy["expression"], scope)
        except TemplateError as exc:
            return node, False, exc
        if go_on is not True:
            return (
                op.nodes.mark(name, last["phase"], "retryStrategy.expression evaluated to false"),
                True,
                None,
            )
    return node, True, None


def _humanize(seconds: float) -> str:
    """humanize.Duration, as in the ``Backoff for ...`` message."""
    s = int(seconds)
    if s < 60:
        return f"{s} seconds" if s != 1 else "1 second"
    m = s // 60
    return f"{m} minutes" if m != 1 else "1 minute"
