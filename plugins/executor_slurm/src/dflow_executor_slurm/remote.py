"""``SlurmRemoteExecutor``: run a script step as a Slurm job on a login node reached over SSH."""

from __future__ import annotations

import posixpath
import shlex
import stat
import time
import uuid
from pathlib import Path

from dflow.executor import JobResult, RemoteExecutor, ScriptJob

from . import scheduler


class SSHShell:
    """Commands and file transfers on a remote host (paramiko, imported on first use).

    Authentication goes through paramiko's API only: a password is never put on a command
    line, in a script or in a log.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str | None,
        private_key_file: str | None,
        attempts: int = 3,
        timeout: float = 30.0,
    ) -> None:
        import paramiko

        self.target = f"{username}@{host}:{port}"
        self.timeout = timeout
        for attempt in range(attempts):
            client = paramiko.SSHClient()
            # like pydflow's `ssh -o StrictHostKeyChecking=no`: hosts are named by the user
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(
                    host,
                    port=port,
                    username=username,
                    password=password,
                    key_filename=private_key_file,
                    timeout=timeout,
                    allow_agent=False,
                    look_for_keys=password is None and private_key_file is None,
                )
                break
            except (paramiko.SSHException, OSError) as err:
                client.close()
                if attempt == attempts - 1:
                    raise ConnectionError(f"cannot connect to {self.target}: {err}") from None
                time.sleep(2**attempt)
        self.client = client
        self.sftp = client.open_sftp()

    def close(self) -> None:
        self.sftp.close()
        self.client.close()

    def call(self, args: list[str]) -> tuple[int, str, str]:
        _, stdout, stderr = self.client.exec_command(shlex.join(args), timeout=self.timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out, err

    def read_text(self, path: str) -> str | None:
        try:
            with self.sftp.open(path) as remote:
                return remote.read().decode(errors="replace")
        except FileNotFoundError:
            return None

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        with self.sftp.open(path, "w") as remote:
            remote.write(text.encode())
        self.sftp.chmod(path, mode)

    def put(self, local: Path, remote: str) -> None:
        """Upload a file or a directory tree."""
        if local.is_dir():
            self.call(["mkdir", "-p", remote])
            for child in local.iterdir():
                self.put(child, posixpath.join(remote, child.name))
        else:
            self.sftp.put(str(local), remote)
            self.sftp.chmod(remote, local.stat().st_mode & 0o777)

    def get(self, remote: str, local: Path) -> bool:
        """Download a file or a directory tree; False when ``remote`` does not exist."""
        try:
            info = self.sftp.stat(remote)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(info.st_mode or 0):
            local.mkdir(parents=True, exist_ok=True)
            for name in self.sftp.listdir(remote):
                self.get(posixpath.join(remote, name), local / name)
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            self.sftp.get(remote, str(local))
        return True


class SlurmRemoteExecutor(RemoteExecutor):
    """Run a script step as a Slurm job on ``host`` over SSH (pydflow's signature).

    On the local engine ``run(job)`` uploads the step's inputs and script into ``workdir`` on
    the remote host (``{{workflow.name}}`` and ``{{pod.name}}`` are filled in), submits a batch
    script built from ``header`` with ``sbatch``, polls every ``interval`` seconds, downloads the
    step's outputs and appends the job's output to the step log.
    """

    #: extra sbatch attempts when the controller is busy or unreachable
    submit_retries: int = 3

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
        header: str = "",
        interval: int = 3,
        pvc: object | None = None,
        password_secret: str | None = None,
        password_secret_key: str = "password",
        private_key_secret: str | None = None,
        private_key_secret_key: str = "id_rsa",
    ) -> None:
        super().__init__(
            host,
            port,
            username,
            password,
            private_key_file,
            workdir,
            command,
            remote_command,
            image,
            image_pull_policy,
            map_tmp_dir,
            docker_executable,
            singularity_executable,
            podman_executable,
            action_retries,
        )
        self.header = header
        self.interval = interval
        self.pvc = pvc
        # on Argo, credentials come from Kubernetes secrets named here (see argo.py)
        self.password_secret = password_secret
        self.password_secret_key = password_secret_key
        self.private_key_secret = private_key_secret
        self.private_key_secret_key = private_key_secret_key

    def __repr__(self) -> str:
        # never show the password
        return (
            f"SlurmRemoteExecutor(host={self.host!r}, port={self.port}, username={self.username!r})"
        )

    def render(self, template):
        """A DPDispatcher pod submitting the step with sbatch over SSH (Argo engine)."""
        from .argo import render_remote

        return render_remote(self, template)

    def connect(self) -> SSHShell:
        """Open an SSH session to the login node."""
        attempts = 3 if self.action_retries < 0 else self.action_retries + 1
        return SSHShell(
            self.host, self.port, self.username, self.password, self.private_key_file, attempts
        )

    def remote_workdir(self, job: ScriptJob) -> str:
        """``workdir`` with the workflow and a unique pod name filled in, relative to home."""
        path = self.workdir.replace("{{workflow.name}}", job.workflow_id)
        path = path.replace("{{pod.name}}", f"{job.name}-{uuid.uuid4().hex[:8]}")
        return path[2:] if path.startswith("~/") else path

    def run(self, job: ScriptJob) -> JobResult:
        """Upload, submit, wait, download; the job id and output go to ``job.log_path``."""
        if job.cancelled.is_set():
            return JobResult(143, "cancelled before submission")
        try:
            shell = self.connect()
        except ConnectionError as err:
            scheduler.append_log(job.log_path, f"[dflow] {err}")
            return JobResult(1, str(err))
        try:
            return self._run(shell, job)
        finally:
            shell.close()

    def _run(self, shell: SSHShell, job: ScriptJob) -> JobResult:
        status, out, err = shell.call(
            ["sh", "-c", 'mkdir -p "$1/.dflow" && cd "$1" && pwd', "sh", self.remote_workdir(job)]
        )
        if status != 0:
            message = f"cannot create the work directory on {shell.target}: {err.strip()}"
            scheduler.append_log(job.log_path, f"[dflow] {message}")
            return JobResult(1, message)
        workdir = out.strip()
        for name in job.inputs:
            local = Path(job.workdir) / name
            if local.exists():
                parent = posixpath.dirname(posixpath.join(workdir, name))
                shell.call(["mkdir", "-p", parent])
                shell.put(local, posixpath.join(workdir, name))
        script = posixpath.join(workdir, ".dflow", Path(job.script_path).name)
        shell.put(Path(job.script_path), script)
        command = scheduler.split_command(self.remote_command) or list(job.command)
        batch = posixpath.join(workdir, ".dflow", "job.sh")
        shell.write_text(
            batch,
            scheduler.batch_script(
                self.header, workdir, scheduler.run_line(command, script, job.env)
            ),
            0o755,
        )
        output = posixpath.join(workdir, ".dflow", "slurm-%j.out")
        scheduler.cancel_leftovers(shell, job.log_path)
        try:
            job_id = scheduler.submit(
                shell,
                [f"--job-name={scheduler.sbatch_name(job)}", f"--output={output}", batch],
                retries=self.submit_retries,
            )
        except scheduler.SubmitError as err:
            scheduler.append_log(job.log_path, f"[dflow] {shell.target}: {err}")
            return JobResult(1, str(err))
        scheduler.append_log(
            job.log_path, f"[dflow] submitted Slurm job {job_id} on {shell.target} ({workdir})"
        )
        result = scheduler.watch(shell, job_id, job, float(self.interval))
        missing = [
            name
            for name in job.outputs
            if not shell.get(posixpath.join(workdir, name), Path(job.workdir) / name)
        ]
        text = shell.read_text(output.replace("%j", job_id)) or ""
        note = (
            f"[dflow] outputs missing on {shell.target}: {', '.join(missing)}\n" if missing else ""
        )
        scheduler.append_log(
            job.log_path,
            f"[dflow] output of Slurm job {job_id}:\n{text}{note}[dflow] {result.message}",
        )
        return result
