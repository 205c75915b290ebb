"""Executors: change how a script step runs, for one step or a whole workflow.

    python examples/executors.py

An executor subclasses ``dflow.executor.Executor``. On the local engine its ``run(job)``
runs one step's script (``job.command`` + ``job.script_path``, in ``job.workdir``, logging to
``job.log_path``) and returns a ``JobResult``; on Argo its ``render(template)`` rewrites the
step's template. This one runs scripts at a lower CPU priority (``nice``). The same mechanism
carries the Slurm and DPDispatcher executors (docs/slurm.md) and plugins' executors
(docs/writing-a-plugin.md).
"""

from __future__ import annotations

import os
import subprocess

from dflow import OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.executor import Executor, JobResult, ScriptJob


class NiceExecutor(Executor):
    """Runs each script step under ``nice -n <increment>``."""

    def __init__(self, increment: int = 10) -> None:
        self.increment = increment

    @property
    def runs_here(self) -> bool:  # its processes run on this machine: the engine reaps them
        return True

    def run(self, job: ScriptJob) -> JobResult:
        argv = ["nice", "-n", str(self.increment), *job.command, str(job.script_path)]
        with open(job.log_path, "ab") as log:
            proc = subprocess.Popen(
                argv, cwd=job.workdir, env={**os.environ, **job.env}, stdout=log, stderr=log
            )
            while proc.poll() is None:
                if job.cancelled.wait(0.05):  # the step timed out or the workflow stopped
                    proc.kill()
                    proc.wait()
                    return JobResult(-9, "cancelled", timed_out=True)
        message = "" if proc.returncode == 0 else f"nice: script exited with {proc.returncode}"
        return JobResult(proc.returncode, message)

    def render(self, template):  # on Argo: prefix the command
        template.command = ["nice", "-n", str(self.increment), *template.command]
        return template


def niceness() -> ShellOPTemplate:
    t = ShellOPTemplate(name="niceness", image="alpine:3.20", script="nice > /tmp/nice.txt")
    t.outputs.parameters = {"nice": OutputParameter(value_from_path="/tmp/nice.txt")}
    return t


def build() -> Workflow:
    wf = Workflow(name="executors")
    wf.add(
        [
            Step("plain", niceness()),
            Step("niced", niceness(), executor=NiceExecutor(10)),
        ]
    )
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    for name in ("plain", "niced"):
        print(f"{name}: niceness {wf.query_step(name=name)[0].outputs.parameters['nice'].value}")
    return wf


if __name__ == "__main__":
    main()
