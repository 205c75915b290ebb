"""One instance of a step: its inputs, its node, and running its template.

Leaves (Python OPs, scripts, HTTP) run with retries per the template's RetryPolicy:
``transient`` retries a TransientError (a script's exit code 1) and, with
``timeout_is_transient``, a timeout; ``failure`` retries any failure; ``error`` a dead worker;
``always`` both. FatalError (exit code 2) is retried only by ``failure``/``always``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import attrs
from dflow.model.io import (
    MISSING,
    step_input_names,
    step_input_value,
)
from dflow.model.op_template import HTTPOPTemplate, ScriptOPTemplate
from dflow.python.template import PythonOPTemplate
from dflow.serialization import dump_value

from . import scripts
from .artifacts import prefetch
from .journal import TERMINAL, Node, now_iso
from .layout import StepDir, write_text
from .pool import WorkerDied, WorkerTimeout
from .stepfiles import (
    children_holder,
    input_type,
    order_of,
    python_script,
    record_outputs,
    reset_outputs,
    write_inputs,
)
from .stepio import input_artifacts, map_paths, read_outputs
from .values import Result, StepError, render_text

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def suffix(text: str) -> str:
    """Five characters of [0-9a-z] from ``text`` (pydflow's random step-dir suffix, made
    deterministic so a resumed run finds a step's directory again)."""
    n = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")
    out = []
    for _ in range(5):
        n, r = divmod(n, 36)
        out.append(_BASE36[r])
    return "".join(out)


@attrs.define
class Outcome:
    phase: str
    kind: str | None = None  # transient | fatal | error | type | timeout | died | stopped
    message: str = ""
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.phase == "Succeeded"


def _retryable(policy: Any, out: Outcome) -> bool:
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


class LeafRunner:
    """Mixed into the interpreter: node bookkeeping and leaf execution."""

    # -- nodes ------------------------------------------------------------------------------

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

    def open_node(
        self,
        parent: Node | None,
        path: str,
        name: str,
        display: str,
        key: str | None,
        type_: str,
        template: Any,
        node_id: str | None = None,
        inputs: dict | None = None,
        order: str | None = None,
    ) -> Node:
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
            sd.create(name, type_, self.mirror)
            sd.set_phase(node.phase, self.mirror)
            if node.ord:
                self.mirror.add_child(children_holder(self, node), node.ord, node.dir)
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
            self.mirror.add_child(children_holder(self, node), node.ord, node.dir)

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
        self.emit(node)
        if phase in TERMINAL and node.type == "Pod":
            self.journal.flush()  # a finished leaf is never run again after a crash
        else:
            self.dirty()

    def error_node(self, parent: Node, path: str, step: Any, message: str) -> Result:
        node = self.open_node(parent, path, step.name, step.name, None, "Pod", step.template)
        self.transition(node, "Error", message=message)
        return Result("Error", node.id, message=message)

    @staticmethod
    def outputs_json(res: Result, tmpl: Any = None) -> dict:
        """A node's outputs; with its template, each one's ``globalName`` (as Argo's node
        outputs carry it: ``reuse_step`` presets the new workflow's global outputs from it)."""
        out = {
            "parameters": {
                k: {"value": v, "type": res.types.get(k)} for k, v in res.params.items()
            },
            "artifacts": {k: {"local_path": v} for k, v in res.arts.items() if v is not None},
        }
        if tmpl is not None:
            for kind in ("parameters", "artifacts"):
                for name, entry in out[kind].items():
                    decl = getattr(tmpl.outputs, kind).get(name)
                    if getattr(decl, "global_name", None):
                        entry["globalName"] = decl.global_name
        return out

    @staticmethod
    def result_of(node: Node) -> Result:
        outs = node.outputs or {}
        params = {k: v["value"] for k, v in outs.get("parameters", {}).items()}
        types = {k: v.get("type") for k, v in outs.get("parameters", {}).items()}
        arts = {k: v.get("local_path") for k, v in outs.get("artifacts", {}).items()}
        return Result(node.phase, node.id, params, types, arts, message=node.message)

    # -- one instance ----------------------------------------------------------------------

    async def run_instance(
        self,
        frame: Any,
        step: Any,
        path: str,
        display: str,
        item: Any,
        slice_index: Any,
        group: Node | None = None,
        index: int | None = None,
    ) -> Result:
        """Run one instance of ``step`` (``index``: its item number in a loop)."""
        parent = group or frame.node
        where = f"step '{display}'"
        tmpl = step.template
        try:
            scope = frame.scope(self, item)
            key = render_text(step.key, scope, where) if step.key else None
            node_id = self.node_id_for(step.name, path, key)
            old = self.journal.get(node_id)
            if old is not None and old.phase == "Succeeded":
                self.adopt(old, parent, order_of(self, frame, step, index))
                res = self.result_of(old)
                self.publish_globals(tmpl, res)
                return res
            params, types, shown = self.input_parameters(step, scope, where, slice_index)
            await prefetch(self, [a.source for a in step.inputs.artifacts.values()])
            arts, items = input_artifacts(self, frame, step, scope, where, slice_index)
        except StepError as exc:
            return self.error_node(parent, path, step, str(exc))
        inputs = {
            "parameters": {
                n: {"value": shown.get(n, v), "type": types.get(n)} for n, v in params.items()
            },
            "artifacts": {n: {"local_path": p} for n, p in arts.items() if p is not None},
        }
        if key:
            inputs["parameters"]["dflow_key"] = {"value": key, "type": None}
        if isinstance(tmpl, ScriptOPTemplate | HTTPOPTemplate):
            type_ = "Pod"
        else:
            type_ = "DAG" if hasattr(tmpl, "tasks") else "Steps"
        node = self.open_node(
            parent,
            path,
            step.name,
            display,
            key,
            type_,
            tmpl,
            node_id,
            inputs,
            order_of(self, frame, step, index),
        )
        sd = StepDir(self.wf_dir, node.dir)
        write_inputs(self, sd, step, params, types, arts, group, slice_index, key, items)
        if type_ != "Pod":
            self.transition(node, "Running")
            child = self.instance_frame(tmpl, node, path, params, arts)
            try:
                res = await self.run_frame(child)
            except StepError as exc:
                res = Result("Error", node.id, message=str(exc))
            res.node_id = node.id
            record_outputs(self, sd, tmpl, res)
            self.transition(
                node, res.phase, message=res.message, outputs=self.outputs_json(res, tmpl)
            )
            return res
        res = await self.run_leaf(frame, step, node, sd, params, types, arts, slice_index, key)
        if res.ok:
            self.publish_globals(tmpl, res)
        return res

    def input_parameters(
        self, step: Any, scope: dict, where: str, slice_index: Any
    ) -> tuple[dict[str, str], dict[str, str | None], dict[str, str]]:
        tmpl = step.template
        params, types, shown = {}, {}, {}
        sliced = (
            set(step.slices.input_parameter)
            if (step.slices is not None and slice_index is not None)
            else set()
        )
        for name in step_input_names(step, "parameters"):
            p = step.inputs.parameters.get(name) or tmpl.inputs.parameters[name]
            value = step_input_value(step, name)  # the template may have changed since
            if value is MISSING:
                raise StepError(f"{where}: input parameter '{name}' has no value and no default")
            params[name] = self.texts.param_text(p, value, scope, where)
            types[name] = input_type(self, step, name)
            if name in sliced and isinstance(slice_index, int):
                try:
                    whole = self.texts.parsed_list(params[name])
                    shown[name] = dump_value(whole[slice_index])
                except (ValueError, IndexError, TypeError):
                    pass
        return params, types, shown

    # -- leaves ------------------------------------------------------------------------------

    def retry_policy(self, tmpl: Any) -> Any:
        policy = getattr(tmpl, "retry_strategy", None)
        from dflow.model.op_template import RetryPolicy, retry_policy_from

        if policy is not None and not isinstance(policy, RetryPolicy):
            policy = retry_policy_from(policy)
        return policy

    async def run_leaf(
        self,
        frame: Any,
        step: Any,
        node: Node,
        sd: StepDir,
        params: dict,
        types: dict,
        arts: dict,
        slice_index: Any,
        key: str | None,
    ) -> Result:
        tmpl = step.template
        policy = self.retry_policy(tmpl)
        limit = policy.limit if policy is not None else 0
        attempt = 0
        while True:
            attempt += 1
            out = await self.gated(
                frame,
                lambda n=attempt: self.attempt(step, node, sd, params, arts, slice_index, key, n),
            )
            if out.ok or attempt > limit or not _retryable(policy, out):
                break
            self.journal.update(node, message=f"attempt {attempt} failed: {out.message}")
            self.journal.record(node, out.phase, out.message)  # the attempt's end, for queries
        res = Result(out.phase, node.id, exit_code=out.exit_code, message=out.message)
        if out.ok:
            try:
                self.collect_outputs(tmpl, sd, res, display=node.display_name)
            except StepError as exc:
                res.phase, res.message = "Failed", str(exc)
        elif tmpl.outputs.parameters:
            self.collect_outputs(tmpl, sd, res, strict=False, display=node.display_name)
        else:
            record_outputs(self, sd, tmpl, res)
        progress = None
        try:
            with open(os.path.join(sd.root, "progress")) as f:
                progress = f.read().strip() or None
        except OSError:
            pass
        self.transition(
            node,
            res.phase,
            message=res.message,
            outputs=self.outputs_json(res, tmpl),
            attempts=attempt,
            progress=progress,
        )
        return res

    async def gated(self, frame: Any, run: Any) -> Outcome:
        """Wait for a free slot (suspend, workflow and template parallelism), then run."""
        await self.resumed.wait()
        if self.stopping:
            return Outcome("Failed", "stopped", self.stop_message)
        sems = [s for s in (self.wf_sem, frame.sem) if s is not None]
        for s in sems:
            await s.acquire()
        try:
            if self.stopping:
                return Outcome("Failed", "stopped", self.stop_message)
            return await run()
        finally:
            for s in reversed(sems):
                s.release()

    async def attempt(
        self,
        step: Any,
        node: Node,
        sd: StepDir,
        params: dict,
        arts: dict,
        slice_index: Any,
        key: str | None,
        attempt: int,
    ) -> Outcome:
        """One attempt; an unexpected exception is the step's Error, never a step left
        Running in a finished workflow."""
        try:
            return await self._attempt(step, node, sd, params, arts, slice_index, key, attempt)
        except Exception as exc:  # noqa: BLE001 - reported on the step, with its type
            message = f"step '{node.display_name}': {type(exc).__name__}: {exc}"
            with contextlib.suppress(OSError), open(sd.log, "a", encoding="utf-8") as log:
                log.write(f"[dflow] {message}\n")
            return Outcome("Error", "error", message)

    async def _attempt(
        self,
        step: Any,
        node: Node,
        sd: StepDir,
        params: dict,
        arts: dict,
        slice_index: Any,
        key: str | None,
        attempt: int,
    ) -> Outcome:
        tmpl = step.template
        if node.attempts:  # an attempt before this one (or a run before this one) wrote some
            reset_outputs(self, sd, tmpl)
        self.transition(node, "Running", attempts=attempt)
        display = node.display_name
        if isinstance(tmpl, PythonOPTemplate):
            executor = self.executor_for(step)
            if executor is None:
                return await self.attempt_python(
                    tmpl, node, sd, slice_index, key, display, step.timeout_seconds
                )
            from .remote_op import attempt_python_job

            return await attempt_python_job(
                self, executor, tmpl, node, sd, slice_index, key, display, step.timeout_seconds
            )
        if isinstance(tmpl, ScriptOPTemplate):
            return await self.attempt_script(step, tmpl, node, sd, params, arts, display)
        if isinstance(tmpl, HTTPOPTemplate):
            from .http import attempt_http

            return await attempt_http(self, tmpl, sd, params, display, step.timeout)
        return Outcome("Error", "error", f"step '{display}': template {tmpl!r} cannot run locally")

    async def attempt_python(
        self,
        tmpl: Any,
        node: Node,
        sd: StepDir,
        slice_index: Any,
        key: str | None,
        display: str,
        timeout: float | None,
    ) -> Outcome:
        tmp = sd.tmp(tmpl.tmp_root)  # the OP's tmp_root: workdir/tmp, as in pydflow
        request = {
            "template": self.registry_index[id(tmpl)],
            "inputs_dir": os.path.join(tmp, "inputs"),
            "outputs_dir": os.path.join(tmp, "outputs"),
            "parameters_dir": os.path.join(sd.inputs, "parameters"),
            "workdir": sd.workdir,
            "slice_index": slice_index,
            "key": key,
            "workflow_name": self.wf_id,
            "progress_file": os.path.join(sd.root, "progress"),
            "success_tag": False,
            "log": sd.log,
            "pid_file": sd.pid,
            "env": self.env_strings(tmpl),
            "sys_path": self.package_paths(tmpl),
        }
        self.mirror.write(sd.script, python_script(self, tmpl, request))
        try:
            phase, error, message, code = await self.pool.run(request, timeout, self.cancel)
        except WorkerDied as exc:
            return Outcome(
                "Error",
                "died",
                f"worker died (exit code {exc.exit_code}) while running step '{display}'",
                exc.exit_code,
            )
        except WorkerTimeout:
            return Outcome(
                "Failed",
                "timeout",
                f"step '{display}' timed out after {timeout:g} s (its worker was killed)",
            )
        except asyncio.CancelledError:
            if self.stopping:
                return Outcome("Failed", "stopped", self.stop_message)
            raise
        if phase == "Succeeded":
            return Outcome("Succeeded", exit_code=0)
        return Outcome("Failed", error, f"step '{display}' failed: {message}", code)

    def env_strings(self, tmpl: Any) -> dict[str, str]:
        env = {}
        for k, v in (getattr(tmpl, "envs", None) or {}).items():
            env[k] = v.value if hasattr(v, "value") and not isinstance(v, str) else str(v)
        return {k: str(v) for k, v in env.items() if v is not None}

    def package_paths(self, tmpl: Any) -> list[str]:
        out = []
        for p in getattr(tmpl, "python_packages", None) or []:
            p = os.path.abspath(p)
            out.append(os.path.dirname(p.rstrip("/")))
        return out

    def executor_for(self, step: Any) -> Any:
        from dflow.executor import Executor

        if isinstance(step.executor, Executor):
            return step.executor
        ctx = getattr(self.wf, "context", None)
        if isinstance(ctx, Executor):
            return ctx
        if not hasattr(self, "_default_executor"):
            try:  # `executor = "..."` in dflow.toml applies to every step without one
                from dflow.backends import get_default_executor

                self._default_executor = get_default_executor()
            except Exception as exc:
                raise StepError(f"the configured default executor cannot be built: {exc}")
        return self._default_executor

    async def attempt_script(
        self, step: Any, tmpl: Any, node: Node, sd: StepDir, params: dict, arts: dict, display: str
    ) -> Outcome:
        executor = self.executor_for(step)
        mapped = map_paths(tmpl, sd, arts, executor is not None, self.settings.copy_method)
        scope = {
            "inputs": {
                "parameters": dict(params),
                "artifacts": {
                    n: {"path": mapped.get(a.path, "")} for n, a in tmpl.inputs.artifacts.items()
                },
            },
            "outputs": {
                "parameters": {
                    n: {"path": mapped.get(p.value_from_path or "", "")}
                    for n, p in tmpl.outputs.parameters.items()
                },
                "artifacts": {
                    n: {"path": mapped.get(a.path or "", "")}
                    for n, a in tmpl.outputs.artifacts.items()
                },
            },
            "workflow": self.workflow_scope(),
            "pod": {"name": node.id},
        }
        text = scripts.paths_to_variables(tmpl.script, scripts.declared_paths(tmpl))
        try:
            text = render_text(text, scope, f"script of step '{display}'")
        except StepError as exc:
            return Outcome("Error", "error", str(exc))
        write_text(sd.script, text)
        env = {**os.environ, **self.env_strings(tmpl), "TMPDIR": os.path.join(sd.workdir, "tmp")}
        os.makedirs(env["TMPDIR"], exist_ok=True)
        timeout = step.timeout_seconds  # the step's own timeout, else its template's
        if executor is not None:
            return await self.run_executor(executor, tmpl, node, sd, env, timeout, display, mapped)
        try:
            async with self.script_sem:
                code, timed_out = await scripts.run_subprocess(
                    [*tmpl.command, sd.script],
                    sd.workdir,
                    env,
                    sd.log,
                    timeout,
                    self.cancel,
                    pid_path=sd.pid,
                )
        except asyncio.CancelledError:
            if self.stopping:
                return Outcome("Failed", "stopped", self.stop_message)
            raise
        if timed_out:
            return Outcome(
                "Failed",
                "timeout",
                f"step '{display}' timed out after {timeout:g} s (its process group was killed)",
            )
        if code == 0:
            return Outcome("Succeeded", exit_code=0)
        kind = "transient" if code == 1 else ("fatal" if code == 2 else "error")
        tail = scripts.log_tail(sd.log)
        return Outcome(
            "Failed",
            kind,
            f"step '{display}': script exited with code {code}"
            + (f"; log tail:\n{tail}" if tail else ""),
            code,
        )

    async def run_executor(
        self,
        executor: Any,
        tmpl: Any,
        node: Node,
        sd: StepDir,
        env: dict,
        timeout: float | None,
        display: str,
        mapped: dict,
    ) -> Outcome:
        from dflow.executor import ScriptJob

        ins = tuple(mapped[a.path] for a in tmpl.inputs.artifacts.values() if a.path in mapped)
        outs = tuple(
            mapped[p]
            for p in [x.value_from_path for x in tmpl.outputs.parameters.values()]
            + [x.path for x in tmpl.outputs.artifacts.values()]
            if p in mapped
        )
        job = ScriptJob(
            name=node.id,
            workflow_id=self.wf_id,
            script_path=Path(sd.script),
            command=tuple(tmpl.command),
            workdir=Path(sd.workdir),
            log_path=Path(sd.log),
            env={k: v for k, v in env.items() if k not in os.environ or os.environ[k] != v},
            inputs=ins,
            outputs=outs,
            timeout=timeout,
        )
        from .batch import job_outcome, run_job

        result = await run_job(self, executor, job)  # cancellation, timeout, merged fan-outs
        return job_outcome(self, executor, result, display, python=False, log=sd.log)

    def collect_outputs(
        self, tmpl: Any, sd: StepDir, res: Result, strict: bool = True, display: str | None = None
    ) -> None:
        """Read what the step produced into ``res``; record it in the step's ``outputs/``."""
        read_outputs(tmpl, sd, res, display or sd_name(sd), strict)
        record_outputs(self, sd, tmpl, res)


def sd_name(sd: StepDir) -> str:
    try:
        with open(os.path.join(sd.root, "name")) as f:
            return f.read()
    except OSError:
        return os.path.basename(sd.root)
