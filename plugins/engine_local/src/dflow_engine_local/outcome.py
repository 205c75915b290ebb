"""What one attempt of a leaf step ended in, and whether its retry policy retries it.

Leaves (Python OPs, scripts, HTTP, executor jobs) run with retries per the template's
RetryPolicy: ``transient`` retries a TransientError (a script's exit code 1) and, with
``timeout_is_transient``, a timeout; ``failure`` retries any failure; ``error`` a dead worker;
``always`` both. FatalError (exit code 2) is retried only by ``failure``/``always``.
"""

from __future__ import annotations

import attrs
from dflow.model.op_template import OPTemplate, RetryPolicy, ScriptOPTemplate


@attrs.frozen
class Outcome:
    phase: str
    kind: str | None = None  # transient | fatal | error | type | timeout | died | stopped
    message: str = ""
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.phase == "Succeeded"


def retry_policy(tmpl: OPTemplate) -> RetryPolicy | None:
    """The template's retry policy (core's reading of ``retry_strategy``, as the Argo
    renderer's); HTTP templates have none."""
    return tmpl.retry_policy if isinstance(tmpl, ScriptOPTemplate) else None


def retryable(policy: RetryPolicy | None, out: Outcome) -> bool:
    if policy is None or out.kind == "stopped":
        return False
    on = policy.on
    if on == "always":
        return True
    if on == "error":
        return out.kind == "died"
    if on == "failure":
        return out.kind != "died"
    if out.kind == "timeout":
        return bool(policy.timeout_is_transient)
    return out.kind == "transient"
