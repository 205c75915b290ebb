"""Steps with an executor: the engine hands a ScriptJob to ``Executor.run``."""

from __future__ import annotations

import subprocess
import sys

from dflow import OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.executor import Executor, JobResult
from dflow.python import PythonOPTemplate
from local_engine_ops import Add


class SubprocessExecutor(Executor):
    """Runs the job where it is, like a scheduler on a shared filesystem would."""

    def __init__(self):
        self.jobs = []

    def run(self, job):
        self.jobs.append(job)
        with open(job.log_path, "ab") as log:
            proc = subprocess.run(
                [*job.command, str(job.script_path)],
                cwd=job.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**__import__("os").environ, **job.env},
            )
        return JobResult(proc.returncode, job_id=str(len(self.jobs)))


def test_script_and_python_steps_through_an_executor(workdir):
    ex = SubprocessExecutor()
    t = ShellOPTemplate(name="echo", script="echo hi > /tmp/outputs/parameters/o")
    t.outputs.parameters = {"o": OutputParameter(value_from_path="/tmp/outputs/parameters/o")}
    a = Step("sh", t, executor=ex)
    b = Step(
        "py",
        PythonOPTemplate(Add, command=[sys.executable]),
        parameters={"a": 20, "b": 22},
        executor=ex,
    )
    wf = Workflow("exec")
    wf.add([a, b])
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    assert wf.query_step(name="sh")[0].outputs.parameters["o"].value == "hi"
    assert wf.query_step(name="py")[0].outputs.parameters["c"].value == 42
    assert len(ex.jobs) == 2
    assert all(not str(p).startswith("/") for j in ex.jobs for p in j.outputs)
