"""Real workflows on the local engine whose steps run as jobs of a real (throwaway) Slurm.

Steps go through ``SlurmJobTemplate`` (sbatch on this machine) and ``DispatcherExecutor``
(DPDispatcher, Slurm and Shell batch types); chosen per step, per workflow (``context=``) and
from ``dflow.toml``. Failures, ``scancel`` from outside, step timeouts and ``terminate()`` end
the step with the scheduler's message; the job ids are in the step logs.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from dflow import (
    InputArtifact,
    InputParameter,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
)
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate, Slices

pytest.importorskip("dflow_executor_slurm")
pytest.importorskip("dflow_executor_dispatcher")

from dflow_executor_dispatcher import DispatcherExecutor
from dflow_executor_slurm import SlurmJobTemplate

pytestmark = pytest.mark.timeout(120)


class Shout(OP):
    """Upper-cases a message and a file; says which Slurm job it ran in."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"msg": str, "data": Artifact(Path), "job": str})

    def execute(self, op_in):
        import os

        text = (op_in["data"] / "data.txt").read_text()
        Path("shout.txt").write_text(text.upper())
        print("shouting in job", os.environ.get("SLURM_JOB_ID"))
        return OPIO(
            {
                "msg": op_in["msg"].upper(),
                "data": Path("shout.txt"),
                "job": os.environ.get("SLURM_JOB_ID", ""),
            }
        )


class Square(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        return OPIO({"y": op_in["x"] ** 2})


def writer() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="writer",
        script='echo "writer runs in job ${SLURM_JOB_ID:-none}"\n'
        "printf '%s' '{{inputs.parameters.who}} says hi' > /tmp/msg\n"
        "mkdir -p /tmp/files && echo 'some data' > /tmp/files/data.txt\n",
    )
    t.inputs.parameters = {"who": InputParameter()}
    t.outputs.parameters = {"msg": OutputParameter(value_from_path="/tmp/msg")}
    t.outputs.artifacts = {"files": OutputArtifact(path="/tmp/files")}
    return t


def reader() -> ShellOPTemplate:
    t = ShellOPTemplate(name="reader", script="cat /tmp/in/shout.txt > /tmp/out\n")
    t.inputs.artifacts = {"f": InputArtifact(path="/tmp/in")}
    t.outputs.parameters = {"text": OutputParameter(value_from_path="/tmp/out")}
    return t


def chain(wf: Workflow, executor=None) -> None:
    """shell -> Python OP -> shell, outputs passed along; ``executor`` per step (or none)."""
    a = Step("write", writer(), parameters={"who": "alice"}, executor=executor)
    b = Step(
        "shout",
        PythonOPTemplate(Shout, command=[sys.executable]),
        parameters={"msg": a.outputs.parameters["msg"]},
        artifacts={"data": a.outputs.artifacts["files"]},
        executor=executor,
    )
    c = Step("read", reader(), artifacts={"f": b.outputs.artifacts["data"]}, executor=executor)
    wf.add(a)
    wf.add(b)
    wf.add(c)


def step_log(root: Path, wf: Workflow, name: str) -> str:
    [s] = [s for s in wf.query_step(name=name) if s.type == "Pod"]
    return (root / wf.id / s.id / "log.txt").read_text()


def job_ids(text: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"Slurm job (\d+)", text)))


def check_chain(root: Path, wf: Workflow, slurm: bool = True) -> list[str]:
    assert wf.query_status() == "Succeeded", wf.query().status.message
    [shout] = wf.query_step(name="shout")
    assert shout.outputs.parameters["msg"].value == "ALICE SAYS HI"
    assert wf.query_step(name="read")[0].outputs.parameters["text"].value == "SOME DATA"
    ids = []
    for name in ("write", "shout", "read"):
        found = job_ids(step_log(root, wf, name))
        if slurm:
            assert len(found) == 1, f"{name}: {step_log(root, wf, name)}"
            ids += found
    if slurm:
        assert shout.outputs.parameters["job"].value == ids[1]  # ran inside that job
        assert f"writer runs in job {ids[0]}" in step_log(root, wf, "write")
        assert len(set(ids)) == 3
    return ids


def wait_for_job(root: Path, wf: Workflow, name: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [s for s in wf.query_step(name=name) if s.type == "Pod"]
        if pods:
            log = root / wf.id / pods[0].id / "log.txt"
            if log.exists() and job_ids(log.read_text()):
                return job_ids(log.read_text())[0]
        time.sleep(0.1)
    raise AssertionError(f"step {name} never logged a Slurm job id")


def queued(local_slurm) -> set[str]:
    return set(local_slurm.run("squeue", "-h", "-o", "%i").stdout.split())


def new_job(local_slurm, before: set[str], timeout: float = 120) -> str:
    """The id of a job that appears in squeue (DPDispatcher logs ids when the step ends)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = queued(local_slurm) - before
        if fresh:
            return fresh.pop()
        time.sleep(0.1)
    raise AssertionError("no new Slurm job appeared in squeue")


def sleeper(name: str, **kwargs) -> ShellOPTemplate:
    return ShellOPTemplate(name=name, script="echo started; sleep 120\n", **kwargs)


# -- success paths --------------------------------------------------------------------------


def test_chain_through_sbatch(hpc_workdir):
    wf = Workflow("hpc-sbatch")
    chain(wf, SlurmJobTemplate())
    wf.submit()
    ids = check_chain(hpc_workdir, wf)
    assert f"output of Slurm job {ids[1]}" in step_log(hpc_workdir, wf, "shout")
    assert f"shouting in job {ids[1]}" in step_log(hpc_workdir, wf, "shout")


@pytest.mark.parametrize("batch_type", ["Slurm", "Shell"])
def test_chain_through_dispatcher(hpc_workdir, batch_type):
    ex = DispatcherExecutor(machine_dict={"batch_type": batch_type})
    wf = Workflow(f"hpc-dp-{batch_type.lower()}")
    chain(wf, ex)
    wf.submit()
    check_chain(hpc_workdir, wf, slurm=batch_type == "Slurm")
    log = step_log(hpc_workdir, wf, "shout")
    assert f"{batch_type} job" in log and "via LocalContext" in log
    assert "shouting in job" in log


def test_merged_sliced_fan_out_goes_as_two_slurm_jobs(hpc_workdir):
    ex = DispatcherExecutor(merge_sliced_step=True, resources_dict={"group_size": 5})
    fan = Step(
        "sq",
        PythonOPTemplate(
            Square,
            command=[sys.executable],
            slices=Slices(input_parameter=["x"], output_parameter=["y"]),
        ),
        parameters={"x": list(range(10))},
        executor=ex,
    )
    wf = Workflow("hpc-merged")
    wf.add(fan)
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    [group] = [s for s in wf.query_step(name="sq") if s.type == "StepGroup"]
    assert group.outputs.parameters["y"].value == [x * x for x in range(10)]
    items = [s for s in wf.query_step(name="sq") if s.type == "Pod"]
    assert len(items) == 10
    per_item = [job_ids((hpc_workdir / wf.id / s.id / "log.txt").read_text()) for s in items]
    assert all(len(ids) == 1 for ids in per_item), per_item
    assert len({ids[0] for ids in per_item}) == 2  # 10 tasks, 5 per Slurm job


def test_default_executor_from_dflow_toml(hpc_workdir):
    (hpc_workdir / "dflow.toml").write_text(
        'executor = "slurm"\n\n[executors.slurm]\nheader = "#SBATCH --comment=from-toml"\n'
    )
    wf = Workflow("hpc-toml")
    chain(wf)  # no executor on the steps
    wf.submit()
    check_chain(hpc_workdir, wf)
    scripts = list((hpc_workdir / wf.id).glob("*/log.txt.slurm/job.sh"))
    assert len(scripts) == 3 and all("--comment=from-toml" in p.read_text() for p in scripts)


def test_workflow_context_executor_applies_to_every_step(hpc_workdir):
    wf = Workflow("hpc-context", context=SlurmJobTemplate())
    chain(wf)
    wf.submit()
    check_chain(hpc_workdir, wf)


def test_transient_failure_is_retried_as_a_new_job(hpc_workdir):
    t = ShellOPTemplate(
        name="flaky",
        retry_strategy={"limit": 1, "retryPolicy": "OnTransientError"},
        script=f"if [ ! -e {hpc_workdir}/tried ]; then touch {hpc_workdir}/tried; "
        "echo first try fails; exit 1; fi\necho second try works\n",
    )
    wf = Workflow("hpc-retry")
    wf.add(Step("flaky", t, executor=SlurmJobTemplate()))
    wf.submit()
    assert wf.query_status() == "Succeeded", wf.query().status.message
    log = step_log(hpc_workdir, wf, "flaky")
    assert len(job_ids(log)) == 2
    assert "first try fails" in log and "second try works" in log


# -- failures -------------------------------------------------------------------------------


def test_failing_job_fails_its_step_with_the_reason(hpc_workdir):
    t = ShellOPTemplate(name="doomed", script="echo about to fail; exit 3\n")
    wf = Workflow("hpc-fail")
    wf.add(Step("doomed", t, executor=SlurmJobTemplate()))
    wf.submit()
    assert wf.query_status() == "Failed"
    [step] = wf.query_step(name="doomed")
    [job] = job_ids(step_log(hpc_workdir, wf, "doomed"))
    assert step.phase == "Failed"
    assert f"Slurm job {job} FAILED" in step.message and "exit code 3" in step.message
    assert "about to fail" in step_log(hpc_workdir, wf, "doomed")


def test_scancel_from_outside_fails_the_step(hpc_workdir, local_slurm):
    wf = Workflow("hpc-scancel")
    wf.add(Step("long", sleeper("long"), executor=SlurmJobTemplate()))
    wf.submit(wait=False)
    job = wait_for_job(hpc_workdir, wf, "long")
    local_slurm.run("scancel", job)
    assert wf.wait(interval=0.1) == "Failed"
    [step] = wf.query_step(name="long")
    assert step.phase == "Failed" and f"Slurm job {job} CANCELLED" in step.message
    assert f"Slurm job {job} CANCELLED" in step_log(hpc_workdir, wf, "long")


@pytest.mark.parametrize("executor", ["sbatch", "dispatcher"])
def test_terminate_cancels_the_slurm_job(hpc_workdir, local_slurm, executor):
    ex = SlurmJobTemplate() if executor == "sbatch" else DispatcherExecutor()
    wf = Workflow(f"hpc-term-{executor}")
    wf.add(Step("long", sleeper("long"), executor=ex))
    before = queued(local_slurm)
    wf.submit(wait=False)
    job = new_job(local_slurm, before)
    wf.terminate()
    assert wf.wait(interval=0.1) == "Failed"
    deadline = time.monotonic() + 60  # bounds a hang; the job itself sleeps 120 s
    while job in queued(local_slurm) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job not in queued(local_slurm)
    [step] = wf.query_step(name="long")
    assert step.phase == "Failed" and "terminated" in step.message
    assert f"{job}" in step.message


def test_step_timeout_cancels_the_job(hpc_workdir, local_slurm):
    wf = Workflow("hpc-timeout")
    wf.add(Step("slow", sleeper("slow", timeout=3), executor=SlurmJobTemplate()))
    wf.submit()
    assert wf.query_status() == "Failed"
    [step] = wf.query_step(name="slow")
    [job] = job_ids(step_log(hpc_workdir, wf, "slow"))
    assert step.phase == "Failed" and "timed out" in step.message
    assert f"Slurm job {job} exceeded the step timeout" in step.message
    assert job not in queued(local_slurm)
    assert "started" in step_log(hpc_workdir, wf, "slow")


def test_submission_error_fails_the_step_clearly(hpc_workdir):
    t = ShellOPTemplate(name="bad", script="echo never\n")
    wf = Workflow("hpc-badsubmit")
    wf.add(Step("bad", t, executor=SlurmJobTemplate(header="#SBATCH --partition=nosuchpart")))
    wf.submit()
    assert wf.query_status() == "Failed"
    [step] = wf.query_step(name="bad")
    assert "sbatch" in step.message and "nosuchpart" in step_log(hpc_workdir, wf, "bad")


def test_merged_fan_out_maps_each_result_back_to_its_item(hpc_workdir):
    t = ShellOPTemplate(
        name="item",
        script='echo "item {{inputs.parameters.n}} on $(hostname)"\n'
        "[ {{inputs.parameters.n}} = 3 ] && { echo bad item; exit 5; }\n"
        "echo $(({{inputs.parameters.n}} * 10)) > /tmp/out\n",
    )
    t.inputs.parameters = {"n": InputParameter()}
    t.outputs.parameters = {"v": OutputParameter(value_from_path="/tmp/out")}
    ex = DispatcherExecutor(
        machine_dict={"batch_type": "Shell"},
        merge_sliced_step=True,
        resources_dict={"group_size": 2},
    )
    wf = Workflow("hpc-merged-shell")
    wf.add(
        Step(
            "fan",
            t,
            parameters={"n": "{{item}}"},
            with_param=[1, 2, 3, 4],
            executor=ex,
            continue_on_failed=True,
        )
    )
    wf.submit()
    pods = {s.inputs.parameters["n"].value: s for s in wf.query_step(name="fan") if s.type == "Pod"}
    assert sorted(pods) == ["1", "2", "3", "4"]
    assert pods["3"].phase == "Failed" and "exit code 5" in pods["3"].message
    for n in ("1", "2", "4"):
        assert pods[n].phase == "Succeeded", pods[n].message
        assert pods[n].outputs.parameters["v"].value == str(int(n) * 10)
        log = (hpc_workdir / wf.id / pods[n].id / "log.txt").read_text()
        assert f"item {n} on" in log and "Shell job" in log
    assert "bad item" in (hpc_workdir / wf.id / pods["3"].id / "log.txt").read_text()
    shell_jobs = {
        re.search(r"Shell job (\d+)", (hpc_workdir / wf.id / p.id / "log.txt").read_text()).group(1)
        for p in pods.values()
    }
    assert len(shell_jobs) == 2  # one submission, two tasks per job
