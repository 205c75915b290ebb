"""``SlurmJobTemplate``: run a script step as a Slurm job submitted from this machine."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from dflow.executor import Executor, JobResult, ScriptJob

from . import scheduler


class LocalShell:
    """Slurm's client commands as subprocesses of this process (``SLURM_CONF`` is honoured)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout

    def call(self, args: list[str]) -> tuple[int, str, str]:
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError:
            return 127, "", f"{args[0]}: command not found (is the Slurm client installed?)"
        except subprocess.TimeoutExpired:
            return 124, "", f"Socket timed out: `{shlex.join(args)}` took over {self.timeout}s"
        return done.returncode, done.stdout, done.stderr

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return None


def container_command(
    command: list[str],
    workdir: str,
    image: str | None,
    docker: str | None,
    singularity: str | None,
    podman: str | None,
) -> list[str]:
    """Wrap ``command`` to run inside ``image`` when a container executable is configured."""
    engine = docker or podman
    if not (engine or singularity):
        return command
    if not image:
        raise ValueError(
            "a container executable is set on the executor but the step has no image: "
            "give the step an image or drop docker/singularity/podman_executable"
        )
    if engine:
        return [engine, "run", "--rm", "-v", f"{workdir}:{workdir}", "-w", workdir, image, *command]
    return [singularity, "exec", "-B", workdir, "--pwd", workdir, image, *command]  # type: ignore[list-item]


class SlurmJobTemplate(Executor):
    """Run a script step as a Slurm job (pydflow's signature).

    On the local engine ``run(job)`` writes a batch script (``header``, then ``cd`` into the
    step's work directory and run the step's script), submits it with ``sbatch`` on this machine
    and waits. The work directory must be visible to the compute nodes (a shared filesystem, or
    a one-node cluster). On Argo the template is turned into prepare/run/collect steps on a
    wlm-operator virtual node (``node_selector``), one such Steps template per slice of a
    sliced step.
    """

    threads_slices = True  # the prepare step runs the slice, collect gives its outputs
    #: longest pause between two state polls, seconds
    poll_interval: float = 1.0
    #: extra sbatch attempts when the controller is busy or unreachable
    submit_retries: int = 3

    def __init__(
        self,
        header: str = "",
        node_selector: dict[str, str] | None = None,
        prepare_image: str | None = None,
        prepare_image_pull_policy: str | None = None,
        collect_image: str | None = None,
        collect_image_pull_policy: str | None = None,
        workdir: str = "dflow/workflows/{{workflow.name}}/{{pod.name}}",
        remote_command: list[str] | str | None = None,
        docker_executable: str | None = None,
        singularity_executable: str | None = None,
        podman_executable: str | None = None,
    ) -> None:
        self.header = header
        self.node_selector = node_selector
        self.prepare_image = prepare_image
        self.prepare_image_pull_policy = prepare_image_pull_policy
        self.collect_image = collect_image
        self.collect_image_pull_policy = collect_image_pull_policy
        self.workdir = workdir
        self.remote_command = remote_command
        self.docker_executable = docker_executable
        self.singularity_executable = singularity_executable
        self.podman_executable = podman_executable

    def render(self, template):
        """Steps of prepare, a wlm-operator SlurmJob and collect (Argo engine)."""
        from .argo import render_template

        return render_template(self, template)

    def _shell(self) -> scheduler.Shell:
        return LocalShell()

    def run(self, job: ScriptJob) -> JobResult:
        """Submit ``job`` with sbatch, wait for it, and append its output to ``job.log_path``."""
        if job.cancelled.is_set():
            return JobResult(143, "cancelled before submission")
        workdir = str(Path(job.workdir).resolve())
        stage = job.log_path.with_name(job.log_path.name + ".slurm")
        stage.mkdir(parents=True, exist_ok=True)
        command = scheduler.split_command(self.remote_command) or list(job.command)
        command = container_command(
            command,
            workdir,
            getattr(job, "image", None),
            self.docker_executable,
            self.singularity_executable,
            self.podman_executable,
        )
        script = stage / "job.sh"
        script.write_text(
            scheduler.batch_script(
                self.header,
                workdir,
                scheduler.run_line(command, str(Path(job.script_path).resolve()), job.env),
            )
        )
        out_pattern = str(stage / "slurm-%j.out")
        shell = self._shell()
        scheduler.cancel_leftovers(shell, job.log_path)
        try:
            job_id = scheduler.submit(
                shell,
                [
                    f"--job-name={scheduler.sbatch_name(job)}",
                    f"--output={out_pattern}",
                    str(script),
                ],
                retries=self.submit_retries,
            )
        except scheduler.SubmitError as err:
            scheduler.append_log(job.log_path, f"[dflow] {err}")
            return JobResult(1, str(err))
        scheduler.append_log(job.log_path, f"[dflow] submitted Slurm job {job_id} ({script})")
        result = scheduler.watch(shell, job_id, job, self.poll_interval)
        output = shell.read_text(out_pattern.replace("%j", job_id))
        scheduler.append_log(
            job.log_path,
            f"[dflow] output of Slurm job {job_id}:\n{output or ''}[dflow] {result.message}",
        )
        return result
