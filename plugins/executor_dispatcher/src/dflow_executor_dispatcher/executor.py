"""``DispatcherExecutor``: run script steps through DPDispatcher (Slurm, PBS, LSF, Shell, ...)."""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dflow.executor import Executor, JobResult, ScriptJob

from . import quiet, recovery, staging

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: DPDispatcher contexts whose jobs start on the submitting machine (lower-cased; its
#: registry accepts the names with and without the ``Context`` suffix)
_LOCAL_CONTEXTS = frozenset({"local", "localcontext", "lazylocal", "lazylocalcontext"})


def update_dict(base: dict, update: dict | None) -> dict:
    """Deep-merge ``update`` into a copy of ``base`` (nested dicts merge, other values replace)."""
    merged = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = update_dict(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class DispatcherExecutor(Executor):
    """Run a script step with DPDispatcher (pydflow's signature).

    ``machine_dict``, ``resources_dict`` and ``task_dict`` are deep-merged over the defaults and
    over the ``machine``/``resources`` sections of ``json_file``. Without ``host`` the machine
    uses a LocalContext (submit from this machine); with ``host``, an SSHContext. A failing job
    is resubmitted ``retry_on_submission_error`` times (0 by default; DPDispatcher's own default
    is 3), unless ``machine_dict`` sets ``retry_count``. On the local engine ``run(job)`` submits
    one task; ``run_batch(jobs)`` submits many in one Submission (``group_size`` tasks per job).
    ``argo_check_interval`` (not in pydflow) sets the class attribute of that name per executor.
    """

    #: seconds between DPDispatcher's state checks (its own default is 30)
    check_interval: float = 1.0
    #: the same in the pod of an Argo step (the scheduler is polled from the cluster)
    argo_check_interval: float = 30.0
    #: where submissions are staged (local_root, and remote_root for LocalContext); by default
    #: beside the step's log, so that a resumed run finds a killed run's submission (recovery.py)
    stage_root: str | None = None

    def __init__(
        self,
        host: str | None = None,
        queue_name: str | None = None,
        port: int = 22,
        username: str = "root",
        password: str | None = None,
        private_key_file: str | None = None,
        image: str | None = None,
        image_pull_policy: str | None = None,
        command: list[str] | str = "python3",
        remote_command: list[str] | str | None = None,
        map_tmp_dir: bool = True,
        machine_dict: dict | None = None,
        resources_dict: dict | None = None,
        task_dict: dict | None = None,
        json_file: str | None = None,
        docker_executable: str | None = None,
        singularity_executable: str | None = None,
        container_args: str = "",
        podman_executable: str | None = None,
        remote_root: str | None = None,
        retry_on_submission_error: int | None = None,
        merge_sliced_step: bool = False,
        pre_script: str = "",
        post_script: str = "",
        clean: bool = True,
        remove_scheduling_strategies: bool = True,
        envs: dict[str, str] | None = None,
        merge_bohrium_job_group: bool = False,
        terminate_grace_period: int | None = None,
        password_secret: str | None = None,
        password_secret_key: str = "password",
        private_key_secret: str | None = None,
        private_key_secret_key: str = "id_rsa",
        argo_check_interval: float | None = None,
    ) -> None:
        self.host = host
        self.queue_name = queue_name
        self.port = port
        self.username = username
        self.password = password
        self.private_key_file = private_key_file
        self.image = image
        self.image_pull_policy = image_pull_policy
        self.command = command
        self.remote_command = remote_command
        self.map_tmp_dir = map_tmp_dir
        self.json_file = json_file
        self.docker_executable = docker_executable
        self.singularity_executable = singularity_executable
        self.container_args = container_args
        self.podman_executable = podman_executable
        self.remote_root = remote_root
        self.retry_on_submission_error = retry_on_submission_error
        self.merge_sliced_step = merge_sliced_step
        self.pre_script = pre_script
        self.post_script = post_script
        self.clean = clean
        self.remove_scheduling_strategies = remove_scheduling_strategies
        self.envs = dict(envs or {})
        self.merge_bohrium_job_group = merge_bohrium_job_group
        self.terminate_grace_period = terminate_grace_period
        # on Argo, credentials come from Kubernetes secrets named here (see argo.py)
        self.password_secret = password_secret
        self.password_secret_key = password_secret_key
        self.private_key_secret = private_key_secret
        self.private_key_secret_key = private_key_secret_key
        if argo_check_interval is not None:
            self.argo_check_interval = float(argo_check_interval)

        sections = self._json_sections(json_file)
        self.machine_dict = update_dict(
            update_dict(self._default_machine(), sections.get("machine")), machine_dict
        )
        self.resources_dict = update_dict(
            update_dict(self._default_resources(), sections.get("resources")), resources_dict
        )
        self.task_dict = update_dict(
            {"task_work_path": "./", "outlog": "log", "errlog": "log"}, task_dict
        )

    def __repr__(self) -> str:
        return f"DispatcherExecutor(host={self.host!r}, batch_type={self.machine_dict.get('batch_type')!r})"

    @staticmethod
    def _json_sections(json_file: str | None) -> dict[str, Any]:
        if json_file is None:
            return {}
        try:
            return json.loads(Path(json_file).read_text())
        except (OSError, ValueError) as err:
            raise ValueError(
                f"DispatcherExecutor(json_file={json_file!r}): cannot read it as JSON ({err}); "
                "give a JSON file with 'machine' and 'resources' sections"
            ) from None

    def _default_machine(self) -> dict[str, Any]:
        retry = self.retry_on_submission_error
        machine: dict[str, Any] = {
            "batch_type": "Slurm",
            "retry_count": retry if retry is not None else 0,
        }
        if self.host is None:
            machine.update(
                context_type="LocalContext", local_root=".", remote_root=self.remote_root
            )
            return machine
        profile: dict[str, Any] = {
            "hostname": self.host,
            "username": self.username,
            "port": self.port,
            "timeout": 10,
        }
        if self.password is not None:
            profile["password"] = self.password
        if self.private_key_file is not None:
            profile["key_filename"] = self.private_key_file
        home = "/root" if self.username == "root" else f"/home/{self.username}"
        machine.update(
            context_type="SSHContext",
            local_root=".",
            remote_profile=profile,
            remote_root=self.remote_root or f"{home}/dflow/workflows",
        )
        return machine

    def _default_resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = {
            "number_node": 1,
            "cpu_per_node": 1,
            "group_size": 1,
            "envs": {"PYTHONUNBUFFERED": "true", **self.envs},
        }
        if self.queue_name is not None:
            resources["queue_name"] = self.queue_name
        return resources

    @property
    def runs_here(self) -> bool:
        """A Shell batch in a local context runs the job's processes on this machine (as
        orphans of the submitting process); a scheduler or a remote host owns the others."""
        context = str(self.machine_dict.get("context_type", "")).lower()
        batch = str(self.machine_dict.get("batch_type", "")).lower()
        return context in _LOCAL_CONTEXTS and batch == "shell"

    def render(self, template):
        """The template of a pod running the step through DPDispatcher (Argo engine)."""
        from . import argo

        return argo.render(self, template)

    def run(self, job: ScriptJob) -> JobResult:
        """Run one step as a one-task Submission and wait for it."""
        return self.run_batch([job])[0]

    def run_batch(self, jobs: Sequence[ScriptJob]) -> list[JobResult]:
        """Run ``jobs`` as ONE Submission of many tasks; one result per job, in order."""
        jobs = list(jobs)
        if not jobs:
            return []
        if any(job.cancelled.is_set() for job in jobs):
            return [JobResult(143, "cancelled before submission")] * len(jobs)
        # the submission's hash follows the order of its tasks: take the jobs in an order that
        # does not depend on when each arrived, so that a resumed run rebuilds the same one
        order = sorted(range(len(jobs)), key=lambda i: str(jobs[i].log_path))
        ordered = self._run_ordered([jobs[i] for i in order])
        results: list[JobResult] = list(ordered)
        for position, index in enumerate(order):
            results[index] = ordered[position]
        return results

    def _run_ordered(self, jobs: list[ScriptJob]) -> list[JobResult]:
        dp = quiet.dpdispatcher()
        # a stage that a resumed run finds again (see recovery.py)
        stage = recovery.stage_dir(jobs, self.stage_root)
        attempt, resumed = recovery.open_attempt(stage, adopt=not self.runs_here)
        local_root = attempt / "local"
        machine_dict = update_dict(self.machine_dict, {"local_root": str(local_root)})
        if machine_dict.get("remote_root") is None:
            machine_dict["remote_root"] = str(attempt / "remote")
        resources_dict = update_dict(
            {"envs": {"DFLOW_WORKFLOW": jobs[0].workflow_id}}, self.resources_dict
        )
        outlog, errlog = self.task_dict.get("outlog"), self.task_dict.get("errlog")
        tasks, dirs = [], []
        for index, job in enumerate(jobs):
            command = self._command(job)
            wrapper = staging.wrapper_script(job, command, self.pre_script, self.post_script)
            task_dir = local_root / f"task.{index:04d}"
            forward = staging.stage_task(job, task_dir, wrapper)
            backward = list(
                dict.fromkeys(
                    [*job.outputs, staging.EXIT_FILE, *(n for n in (outlog, errlog) if n)]
                )
            )
            tasks.append(
                dp.Task(
                    command=f"bash {staging.WRAPPER}",
                    task_work_path=f"{task_dir.name}/",
                    forward_files=forward,
                    backward_files=backward,
                    outlog=outlog,
                    errlog=errlog,
                    task_name=re.sub(r"[^A-Za-z0-9_.-]+", "-", job.name),
                )
            )
            dirs.append(task_dir)
        try:
            machine = dp.Machine.load_from_dict(machine_dict)
            # the SSH session keeps its password; the profile dpdispatcher serialises into
            # its submission records (remote root, ~/.dpdispatcher) must not carry it
            profile = getattr(machine.context, "remote_profile", None)
            if isinstance(profile, dict) and "password" in profile:
                machine.context.remote_profile = {
                    k: v for k, v in profile.items() if k != "password"
                }
            resources = dp.Resources.load_from_dict(resources_dict)
            # an absolute work base: its path is part of the submission's hash, which must
            # not depend on the directory the runner was started from
            submission = dp.Submission(
                work_base=str(local_root), machine=machine, resources=resources, task_list=tasks
            )
        except Exception as err:  # dpdispatcher reports bad dicts in many ways
            recovery.close_attempt(stage, attempt, clean=True)
            message = _settings_error(machine_dict, err)
            for job in jobs:
                _append(job.log_path, f"[dflow] {message}\n")
            return [JobResult(1, message)] * len(jobs)
        submission.generate_jobs()
        batch = str(machine_dict.get("batch_type"))
        tracker = _Tracker(jobs, tasks, batch)
        try:
            self._take_over(dp, submission, jobs, tracker, attempt if resumed else None)
        except recovery.LeftoverRunning as err:
            message = (
                f"DispatcherExecutor: {err}: the step was not submitted again, so that it "
                "does not run twice at once; resume the workflow once that job has ended"
            )
            for job in jobs:
                _append(job.log_path, f"[dflow] {message}\n")
            return [JobResult(1, message)] * len(jobs)
        except Exception as err:  # the scheduler or the record could not be read
            message = (
                f"DispatcherExecutor: cannot check the jobs an earlier (killed) run of this "
                f"step submitted ({_ANSI.sub('', str(err)).strip()[:500]}); resume again once "
                f"the scheduler answers, or delete {stage} to submit the step afresh"
            )
            for job in jobs:
                _append(job.log_path, f"[dflow] {message}\n")
            return [JobResult(1, message)] * len(jobs)
        recovery.note_submission(attempt, submission)  # before anything is submitted
        outcome = _Outcome()
        name = f"dflow-dispatcher-{attempt.name}"
        worker = threading.Thread(
            target=self._submit, args=(submission, outcome), name=name, daemon=True
        )
        lines: list[str] = []
        with quiet.capture(lines, name):
            worker.start()
            stopped = _wait(worker, jobs, submission, tracker)
        worker.join(5 if stopped else None)
        if outcome.error is not None or stopped:
            with contextlib.suppress(Exception):
                submission.download_jobs(include_failed=True)
        tracker.poll(submission)
        results = [
            self._result(
                job,
                task,
                task_dir,
                tracker.ids.get(task.task_hash),
                outcome,
                stopped,
                lines,
                machine_dict,
            )
            for job, task, task_dir in zip(jobs, tasks, dirs, strict=True)
        ]
        clean = self.clean and not worker.is_alive()
        if clean:
            with contextlib.suppress(Exception):
                submission.clean_jobs()
        recovery.close_attempt(stage, attempt, clean)
        return results

    def _take_over(
        self,
        dp: Any,
        submission: Any,
        jobs: list[ScriptJob],
        tracker: _Tracker,
        resumed: Path | None,
    ) -> None:
        """Before submitting: adopt the jobs a killed run left in flight for this submission,
        and cancel those it left for another one (the fan-out was batched differently, or the
        executor's settings changed), so that no step runs twice at once. ``resumed``: the
        attempt directory a killed run left."""
        adopted, again = recovery.adopt(dp, submission) if resumed else ([], [])
        batch = tracker.batch
        for dp_job in submission.belonging_jobs:
            job_id = str(dp_job.job_id or "")
            if job_id in adopted:
                tracker.note(
                    dp_job,
                    f"[dflow] adopted {batch} job {job_id}, submitted by an earlier run that was killed\n",
                )
        for job_id in again:
            tracker.note_all(
                f"[dflow] {batch} job {job_id}, submitted by an earlier run that was killed, "
                "ended without finishing its tasks (cancelled?): submitting it again\n"
            )
        if batch.lower() == "shell":
            # a Shell job is known by its pid alone, which another process may have taken
            # since; on this machine the local engine already killed it (by its markers)
            return
        unnoted = recovery.earlier_jobs(resumed, submission, batch) if resumed else {}
        for job_id, kind in recovery.leftovers(jobs, unnoted).items():
            if job_id in adopted or job_id in again:
                continue
            try:
                recovery.cancel(dp, submission, job_id)
            except recovery.LeftoverRunning:
                raise  # submitting now would run the step twice at once
            except Exception as err:  # the step runs anyway; the log says what may be left
                tracker.note_all(f"[dflow] could not cancel {kind} job {job_id}: {err}\n")
            else:
                note = f"[dflow] cancelled {kind} job {job_id}, left by an earlier run\n"
                tracker.note_all(note)

    def _command(self, job: ScriptJob) -> list[str]:
        command = self.remote_command
        parts = (
            (command.split() if isinstance(command, str) else list(command))
            if command
            else list(job.command)
        )
        return staging.container_command(
            parts,
            getattr(job, "image", None),
            self.docker_executable,
            self.singularity_executable,
            self.podman_executable,
            self.container_args,
        )

    def _submit(self, submission: Any, outcome: _Outcome) -> None:
        try:
            submission.run_submission(
                check_interval=self.check_interval, clean=False, continue_on_failure=True
            )
        except BaseException as err:  # reported per job by the caller
            outcome.error = err

    def _result(
        self,
        job: ScriptJob,
        task: Any,
        task_dir: Path,
        job_id: str | None,
        outcome: _Outcome,
        stopped: str | None,
        lines: list[str],
        machine: dict[str, Any],
    ) -> JobResult:
        code = staging.exit_code(task_dir)
        missing = staging.collect_outputs(job, task_dir) if code == 0 else []
        where = f"{machine.get('batch_type')} job {job_id or '(not submitted)'} via {machine.get('context_type')}"
        if stopped == "timeout":
            result = JobResult(
                124,
                f"dpdispatcher task {where} exceeded the step timeout of {job.timeout:g}s and was stopped",
                job_id,
                True,
            )
        elif stopped:
            result = JobResult(143, f"dpdispatcher task {where} was cancelled", job_id)
        elif code == 0 and not missing:
            result = JobResult(0, f"dpdispatcher task finished ({where})", job_id)
        elif code == 0:
            result = JobResult(
                1, f"dpdispatcher task {where} did not produce: {', '.join(missing)}", job_id
            )
        else:
            detail = (
                f": {_ANSI.sub('', str(outcome.error)).strip()[:1500]}" if outcome.error else ""
            )
            status = (
                f"exit code {code}"
                if code is not None
                else "no exit code (the task did not finish)"
            )
            result = JobResult(
                code or 1, f"dpdispatcher task {where} failed with {status}{detail}", job_id
            )
        logs = staging.read_logs(task_dir, task.outlog, task.errlog)
        kept = "" if self.clean else f" (files kept in {task_dir})"
        _append(
            job.log_path,
            f"[dflow] {where}, task {task.task_hash[:12]}{kept}\n{logs}"
            + "".join(_ANSI.sub("", line) + "\n" for line in lines)
            + f"[dflow] {result.message}\n",
        )
        return result


class _Outcome:
    error: BaseException | None = None


class _Tracker:
    """Which scheduler job runs each task, noted in the step's log as soon as DPDispatcher
    has its id: a resumed run cancels what a killed run noted and never saw end."""

    def __init__(self, jobs: list[ScriptJob], tasks: list[Any], batch: str) -> None:
        self.logs = {task.task_hash: job.log_path for job, task in zip(jobs, tasks, strict=True)}
        self.batch = batch
        #: task hash -> scheduler job id (kept after cancellation drops tasks from jobs)
        self.ids: dict[str, str] = {}

    def note(self, dp_job: Any, text: str) -> None:
        for task in list(dp_job.job_task_list):
            if task.task_hash in self.logs:
                _append(self.logs[task.task_hash], text)
                self.ids[task.task_hash] = str(dp_job.job_id)

    def note_all(self, text: str) -> None:
        for log in dict.fromkeys(self.logs.values()):
            _append(log, text)

    def poll(self, submission: Any) -> None:
        """Note the ids DPDispatcher got since the last poll (it runs on another thread)."""
        for dp_job in list(submission.belonging_jobs):
            job_id = str(dp_job.job_id or "")
            if job_id and any(
                self.ids.get(task.task_hash) != job_id for task in list(dp_job.job_task_list)
            ):
                self.note(dp_job, recovery.submitted_line(self.batch, job_id))


def _wait(
    worker: threading.Thread, jobs: list[ScriptJob], submission: Any, tracker: _Tracker
) -> str | None:
    """Wait for the submission; stop it on cancellation or timeout. Returns why it stopped."""
    timeouts = [job.timeout for job in jobs if job.timeout is not None]
    deadline = time.monotonic() + min(timeouts) if timeouts else None
    while worker.is_alive():
        worker.join(0.1)
        tracker.poll(submission)
        reason = None
        if any(job.cancelled.is_set() for job in jobs):
            reason = "cancelled"
        elif deadline is not None and time.monotonic() > deadline:
            reason = "timeout"
        if reason and worker.is_alive():
            # kills the scheduler jobs (scancel for Slurm) and lets run_submission return
            with contextlib.suppress(Exception):
                submission.remove_unfinished_tasks()
            return reason
    return None


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", errors="replace") as log:
        log.write(text)


class DispatcherArtifact:
    """pydflow's ``DispatcherArtifact`` (a Bohrium/remote custom artifact): kept so that imports
    work; downloading such artifacts is not supported by this plugin yet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def download(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            "DispatcherArtifact downloads are not supported yet; fetch the files with "
            "DPDispatcher directly or declare them as step outputs"
        )


def _settings_error(machine_dict: dict, err: Exception) -> str:
    """What went wrong building the submission: its SSH connection (made when the machine is
    loaded) or the settings themselves."""
    # ConnectionError: refused, reset; socket.gaierror: an unknown host; paramiko's
    # NoValidConnectionsError is an OSError too, its SSHException (authentication) is not
    connection = isinstance(err, ConnectionError | TimeoutError | socket.gaierror) or (
        type(err).__module__.startswith("paramiko")
    )
    profile = machine_dict.get("remote_profile") or {}
    if connection and isinstance(profile, dict) and profile.get("hostname"):
        where = f"{profile.get('username') or ''}@{profile['hostname']}:{profile.get('port') or 22}"
        return (
            f"DispatcherExecutor: cannot connect to {where.lstrip('@')} over SSH: {err}; check "
            "the host, port and credentials, and that the machine is up"
        )
    return f"DispatcherExecutor: invalid machine/resources settings: {err}"
