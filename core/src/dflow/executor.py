"""Executors: change how a script step runs.

An executor has two faces. ``render(template)`` is the seed's extension point, used by the Argo
engine to rewrite a script template. ``run(job)`` is used by the local engine: it runs one step's
script somewhere else (a Slurm job, a DPDispatcher submission, a container) and waits for it.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .model.op_template import OPTemplate


@attrs.frozen
class ScriptJob:
    """One step's script, ready to run: everything an executor needs, nothing engine-specific.

    The script reads its inputs from ``workdir`` (``inputs`` lists them, relative to workdir)
    and writes the files in ``outputs`` (relative to workdir); the executor must bring those back
    into ``workdir`` before it returns. ``log_path`` receives the job's stdout and stderr (a
    failed step's message shows its tail). ``cancelled`` is set when the job must stop (its
    timeout, or the workflow stopped): cancel it and return.
    """

    name: str
    workflow_id: str
    script_path: Path
    command: tuple[str, ...]
    workdir: Path
    log_path: Path
    env: dict[str, str] = attrs.field(factory=dict)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    timeout: float | None = None
    cancelled: threading.Event = attrs.field(factory=threading.Event, eq=False)


@attrs.frozen
class JobResult:
    """How a job ended. ``exit_code`` 0 is success; ``message`` carries the scheduler's reason."""

    exit_code: int
    message: str = ""
    job_id: str | None = None
    timed_out: bool = False


class Executor(abc.ABC):  # noqa: B024 - every method has a default; ABC marks the role
    """Base class of executors (the seed's ``Executor``)."""

    #: run the items of a sliced fan-out as one submission (see ``run_batch``)
    merge_sliced_step: bool = False
    #: ``render`` may return a Steps template for one slice of a sliced step (Argo): its
    #: steps say which part of the slice they play (``Step.slice_part``)
    threads_slices: bool = False

    @property
    def runs_here(self) -> bool:
        """Whether ``run(job)`` starts the job's processes on this machine, outside any
        scheduler (DPDispatcher's Shell batch in a local context).

        The local engine then puts its own markers in ``job.env`` and kills whatever marked
        process is still running when the step ends, as it does for a script step. An
        executor whose jobs run on another host or under a scheduler (which kills them on
        cancel) keeps the default, False: its jobs never see the engine's local markers.
        """
        return False

    def render(self, template: OPTemplate) -> OPTemplate:
        """Return the template to use on Argo (default: unchanged)."""
        return template

    def run(self, job: ScriptJob) -> JobResult:
        """Run ``job`` and wait for it (local engine).

        Return a :class:`JobResult`; an exception (or any other value) fails the step with
        a message naming this executor, it never stops the workflow.
        """
        raise NotImplementedError(
            f"executor {type(self).__name__} cannot run steps on the local engine"
        )

    def run_batch(self, jobs: Sequence[ScriptJob]) -> list[JobResult]:
        """Run several jobs, as one submission where the backend allows it."""
        return [self.run(job) for job in jobs]


class RemoteExecutor(Executor):
    """Base for executors that run a step's script on a remote host over SSH."""

    def __init__(
        self,
        host: str,
        port: int = 22,
        username: str = "root",
        password: str | None = None,
        private_key_file: str | None = None,
        workdir: str = "~/dflow/workflows/{{workflow.name}}/{{pod.name}}",
        command: list[str] | str | None = None,
        remote_command: list[str] | str | None = None,
        image: str | None = None,
        image_pull_policy: str | None = None,
        map_tmp_dir: bool = True,
        docker_executable: str | None = None,
        singularity_executable: str | None = None,
        podman_executable: str | None = None,
        action_retries: int = -1,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.private_key_file = private_key_file
        self.workdir = workdir
        self.command = command
        self.remote_command = remote_command
        self.image = image
        self.image_pull_policy = image_pull_policy
        self.map_tmp_dir = map_tmp_dir
        self.docker_executable = docker_executable
        self.singularity_executable = singularity_executable
        self.podman_executable = podman_executable
        self.action_retries = action_retries


class ContainerExecutor(Executor):
    """Run a script step in a container (docker, singularity or podman) on the local engine.

    The step's workdir is mounted at the same path, so input and output paths stay valid.
    """

    def __init__(
        self,
        docker: str | None = None,
        singularity: str | None = None,
        podman: str | None = None,
        image_pull_policy: str | None = None,
        image: str | None = None,
    ) -> None:
        chosen = [
            n
            for n, v in (("docker", docker), ("singularity", singularity), ("podman", podman))
            if v
        ]
        if len(chosen) > 1:
            raise ValueError(
                f"ContainerExecutor: give one of docker/singularity/podman, got {chosen}"
            )
        self.engine = chosen[0] if chosen else "docker"
        self.executable = docker or singularity or podman or "docker"
        self.image_pull_policy = image_pull_policy
        self.image = image

    def command_for(self, job: ScriptJob, image: str) -> list[str]:
        """The container command line that runs ``job``'s script."""
        wd = str(job.workdir)
        script = str(job.script_path)
        if self.engine == "singularity":
            return [
                self.executable,
                "exec",
                "--bind",
                f"{wd}:{wd}",
                "--pwd",
                wd,
                f"docker://{image}",
                *job.command,
                script,
            ]
        envs = [arg for k, v in job.env.items() for arg in ("-e", f"{k}={v}")]
        pull = ["--pull", "always"] if self.image_pull_policy == "Always" else []
        return [
            self.executable,
            "run",
            "--rm",
            *pull,
            "-v",
            f"{wd}:{wd}",
            "-v",
            f"{script}:{script}",
            "-w",
            wd,
            *envs,
            image,
            *job.command,
            script,
        ]

    def run(self, job: ScriptJob) -> JobResult:
        import shutil
        import subprocess

        image = self.image or job.env.get("DFLOW_IMAGE")
        if not image:
            raise ValueError(f"step '{job.name}': ContainerExecutor needs the template's image")
        if shutil.which(self.executable) is None:
            return JobResult(127, f"{self.executable} is not installed or not on PATH")
        with open(job.log_path, "ab") as log:
            proc = subprocess.run(
                self.command_for(job, image),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=job.timeout,
            )
        return JobResult(
            proc.returncode,
            "" if proc.returncode == 0 else f"{self.engine} exited with {proc.returncode}",
        )


from ._compat import module_getattr  # noqa: E402

_SCRIPTS = (
    "an executor's render(template) rewrites a template for Argo and run(job) runs a step "
    "locally (see Executor); the generated scripts are the executor plugin's own"
)
__getattr__ = module_getattr(
    __name__, refused={"render_script_with_tmp_root": _SCRIPTS, "run_script": _SCRIPTS}
)
