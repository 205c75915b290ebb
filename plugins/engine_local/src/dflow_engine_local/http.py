"""HTTP steps (``HTTPOPTemplate``), sent by the engine itself like Argo's agent does.

The response body is the output parameter ``result`` (Argo's ``outputs.result``) and, when the
template declares output parameters, each one is read from the response by name: ``body``,
``status_code``. ``success_condition`` (an expr-lang expression over ``response.statusCode``
and ``response.body``) decides success; by default any 2xx status succeeds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dflow import expressions as ex
from dflow.model.op_template import HTTPOPTemplate

from .layout import StepDir, write_text
from .outcome import Outcome
from .state import RunContext, workflow_scope
from .values import render_text


async def attempt_http(
    ctx: RunContext,
    tmpl: HTTPOPTemplate,
    sd: StepDir,
    params: dict,
    display: str,
    step_timeout: Any = None,
) -> Outcome:
    where = f"step '{display}'"
    scope = {"inputs": {"parameters": dict(params)}, "workflow": workflow_scope(ctx)}
    try:
        url = render_text(tmpl.url, scope, where)
        headers = {k: render_text(str(v), scope, where) for k, v in tmpl.headers.items()}
        body = tmpl.body
        if isinstance(body, str):
            body = render_text(body, scope, where).encode()
    except Exception as exc:
        return Outcome("Error", "error", str(exc))
    timeout = float(tmpl.timeout) if tmpl.timeout else 30.0
    if step_timeout is not None:  # Step(timeout=) replaces the template's
        from dflow.model.step import timeout_seconds

        timeout = timeout_seconds(step_timeout, where) or timeout

    def send() -> tuple[int, str]:
        # imported by the first HTTP step: urllib.request costs every run's start 2 ms
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            url, data=body, headers=headers, method=(tmpl.method or "get").upper()
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    try:
        status, text = await asyncio.get_running_loop().run_in_executor(None, send)
    except (OSError, ValueError) as exc:
        return Outcome("Failed", "transient", f"{where}: request to {url} failed: {exc}")
    write_text(sd.log, f"{tmpl.method.upper()} {url} -> {status}\n{text}\n")
    sd.write_parameter("outputs", "result", text)
    for name in tmpl.outputs.parameters:
        value = (
            text if name in ("result", "body") else str(status) if name == "status_code" else None
        )
        if value is not None:
            sd.write_parameter("outputs", name, value)
    ok = 200 <= status < 300
    if tmpl.success_condition:
        try:
            ok = bool(
                ex.evaluate(
                    tmpl.success_condition, {"response": {"statusCode": status, "body": text}}
                )
            )
        except ex.ExpressionError as exc:
            return Outcome("Error", "error", f"{where}: success_condition: {exc}")
    if ok:
        return Outcome("Succeeded", exit_code=0)
    return Outcome("Failed", "failure", f"{where}: HTTP {status} from {url}")
