"""A step's DPDispatcher submission outlives a killed run: the resumed run adopts its jobs.

DPDispatcher records a submission's jobs (their scheduler ids and states) in
``<remote_root>/<submission hash>.json`` and recovers them when the same submission is built
again (``Submission.try_recover_from_json``). The hash covers the machine (its local and
remote roots), the resources, the work base and the tasks (command, work path and the NAMES
of the forward and backward files, not their contents). So each step keeps its submission
under a stage directory that depends only on the step (its log path), in an attempt directory
named by a marker file: the marker exists from before the submission until the step ends, so
a run that was killed leaves it behind and the resumed run rebuilds the same submission in the
same directory. A step that ends normally drops the marker; its next attempt (a retry or a
rerun) gets a new attempt directory, hence a new hash: it never adopts a finished attempt.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dflow.executor import ScriptJob

from . import staging

#: the stage directory of a step's submission starts with this
PREFIX = "dflow-dispatcher-"
#: names the attempt directory of a submission in flight
MARKER = "in-flight"
#: in an attempt directory: each submission made from it, "<submission hash> <job hash>..."
SUBMISSIONS = "submissions"
#: how long a resumed run waits for a cancelled job of a killed run to end before it submits
#: the step again (Slurm's default KillWait, 30 s, and some: as the Slurm executors wait)
LEFTOVER_WAIT = 45.0


class LeftoverRunning(RuntimeError):
    """A cancelled job of an earlier run was still queued or running after the wait."""


def stage_dir(jobs: Sequence[ScriptJob], stage_root: str | None) -> Path:
    """Where ``jobs`` (one step, or the items of a merged fan-out) stage their submission:
    beside the first job's log (the step directory) or under ``stage_root``, named after the
    jobs' log paths, which stay the same when the workflow is resumed."""
    logs = "\n".join(str(Path(job.log_path).resolve()) for job in jobs)
    key = hashlib.sha1(logs.encode()).hexdigest()[:16]
    anchor = Path(stage_root) if stage_root else Path(jobs[0].log_path).parent
    return anchor / f"{PREFIX}{key}"


def open_attempt(stage: Path, adopt: bool = True) -> tuple[Path, bool]:
    """The attempt directory to submit from, and whether a killed run left it in flight.

    A left attempt keeps its remote side (the jobs' files, DPDispatcher's record); its local
    side is staged again from the step's current files. Without ``adopt`` (jobs that ran on
    this machine, which the local engine killed before resuming: a Shell job is known by its
    pid alone, which another process may have taken since) a left attempt is removed.
    """
    marker = stage / MARKER
    try:
        name = marker.read_text().strip()
    except OSError:
        name = ""
    attempt = stage / name if name and os.sep not in name else None
    if attempt is not None and attempt.is_dir():
        if adopt:
            shutil.rmtree(attempt / "local", ignore_errors=True)
            return attempt, True
        shutil.rmtree(attempt, ignore_errors=True)
    stage.mkdir(parents=True, exist_ok=True)
    attempt = Path(tempfile.mkdtemp(prefix="attempt-", dir=stage))
    partial = stage / f".{MARKER}.{os.getpid()}"
    partial.write_text(attempt.name + "\n")
    os.replace(partial, marker)  # a crash leaves the old marker or the new one, not half
    return attempt, False


def close_attempt(stage: Path, attempt: Path, clean: bool) -> None:
    """The step ended (whatever its outcome): nothing is left to adopt."""
    (stage / MARKER).unlink(missing_ok=True)
    if clean:
        shutil.rmtree(attempt, ignore_errors=True)
        try:
            stage.rmdir()
        except OSError:
            pass  # attempts kept by clean=False, or another step's marker


def adopt(dp: Any, submission: Any) -> tuple[list[str], list[str]]:
    """Take over the jobs a killed run submitted, from DPDispatcher's record of them.

    Returns the scheduler ids of the adopted jobs, and those to submit again: a job that ended
    without its scripts ending by themselves (cancelled, killed, lost by the scheduler) never
    did the work, so it is submitted once more rather than failing the step on the resume. A
    job whose scripts did end (with any exit code of their own) is collected as it is.
    """
    context = submission.machine.context
    recorded = context.check_file_exists(f"{submission.submission_hash}.json")
    if recorded:
        submission.try_recover_from_json()
    # DPDispatcher writes a job's id beside it as soon as the scheduler gives one (Slurm,
    # PBS, LSF, ...), before it updates its record: the latest submission of each job
    found = False
    for job in submission.belonging_jobs:
        name = f"{job.job_hash}_job_id"
        if context.check_file_exists(name):
            latest = context.read_file(name).strip()
            if latest and latest != str(job.job_id or ""):
                job.job_id, job.job_state, found = latest, None, True
    # a run killed between ``sbatch`` and the id file (over SSH, an upload apart) left a
    # job no file names: Slurm knows it by its batch script, which only this job has
    unnamed = [job for job in submission.belonging_jobs if not job.job_id]
    for job, job_id in _queued_by_script(submission, unnamed):
        job.job_id, job.job_state, found = job_id, None, True
    if not (recorded or found):
        return [], []
    submission.update_submission_state()
    status = dp.submission.JobStatus
    adopted, again = [], []
    for job in submission.belonging_jobs:
        job_id = str(job.job_id or "")
        if not job_id:
            continue  # never submitted: DPDispatcher submits it
        ran = all(_ran(context, task) for task in job.job_task_list)
        if job.job_state in (status.terminated, status.failed) and not ran:
            # drop the dead id and its count of failures: the new copy starts afresh
            job.job_id, job.job_state, job.fail_count = "", status.unsubmitted, 0
            job.failure_reason = None
            again.append(job_id)
        else:
            adopted.append(job_id)
    if again or found:
        submission.submission_to_json()  # run_submission recovers from this record again
    return adopted, again


def _queued_by_script(submission: Any, jobs: list[Any]) -> list[tuple[Any, str]]:
    """The Slurm jobs ``slurmctld`` still knows for ``jobs`` (queued, running, or ended
    within its ``MinJobAge``, 300 s by default), found by their batch scripts: DPDispatcher
    runs ``sbatch <job hash>.sub`` in the submission's remote root, whose name holds the
    submission's hash, and Slurm keeps that directory and the script's name (``squeue -o
    %Z``, ``%o``). Other schedulers (and Slurm job arrays, whose tasks share a script) are
    not asked: their jobs are found by their id files alone."""
    from dpdispatcher.machines.slurm import Slurm, SlurmJobArray  # imported quietly by now

    machine = submission.machine
    if not jobs or not isinstance(machine, Slurm) or isinstance(machine, SlurmJobArray):
        return []
    root = str(machine.context.remote_root)
    _machine_ready(machine)
    # Slurm records the submit directory with its links resolved: ask the machine for both
    code, _in, out, _err = machine.context.block_call(
        f"cd {shlex.quote(root)} && pwd -P && "
        "squeue --noheader --states=all --user \"$(id -un)\" --format '%i|%Z|%o'"
    )
    if code != 0:
        return []  # no remote root (nothing was submitted from it), or no queue to ask
    text = out.read()
    resolved, *lines = (
        text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    ).splitlines() or [""]
    roots = {posixpath.normpath(root), posixpath.normpath(resolved.strip() or root)}
    by_script = {posixpath.basename(job.script_file_name): i for i, job in enumerate(jobs)}
    found: dict[int, str] = {}  # (dpdispatcher's Job compares by value: not a key)
    for line in lines:
        job_id, _, rest = line.strip().partition("|")
        workdir, _, script = rest.rpartition("|")
        path = posixpath.normpath(posixpath.join(workdir, script))
        index = by_script.get(posixpath.basename(path))
        if index is not None and posixpath.dirname(path) in roots and job_id.isdigit():
            # the newest job of a script: an older one was cancelled and submitted again
            found[index] = max(found.get(index, job_id), job_id, key=int)
    return [(jobs[i], job_id) for i, job_id in found.items()]


def _ran(context: Any, task: Any) -> bool:
    """Whether a task's script ended by itself: the wrapper recorded an exit status that is
    not a signal's (``scancel`` sends SIGTERM; the wrapper may still write 143)."""
    name = f"{task.task_work_path}{staging.EXIT_FILE}"
    if not context.check_file_exists(name):
        return False
    try:
        return 0 <= int(context.read_file(name).split()[0]) <= 128
    except (ValueError, IndexError):
        return False


_SUBMITTED = re.compile(r"^\[dflow\] submitted (\S+) job (\S+) \(dpdispatcher\)$", re.M)
# lines that close a job id: its result, its cancellation, its resubmission on a resume
_ENDED = re.compile(
    r"^\[dflow\] (?:\S+ job (\S+) via \S+, task "
    r"|cancelled \S+ job (\S+), left by an earlier run"
    r"|\S+ job (\S+), submitted by an earlier run)",
    re.M,
)


def submitted_line(batch: str, job_id: str) -> str:
    """The log line noting a job as soon as DPDispatcher has its scheduler id."""
    return f"[dflow] submitted {batch} job {job_id} (dpdispatcher)\n"


def leftovers(jobs: Sequence[ScriptJob], unnoted: dict[str, str] | None = None) -> dict[str, str]:
    """Scheduler jobs an earlier run noted in these steps' logs and never saw end (id: batch),
    and those of ``unnoted`` (:func:`earlier_jobs`) that the logs do not say ended."""
    left: dict[str, str] = {}
    ended: set[str] = set()
    for job in jobs:
        try:
            text = Path(job.log_path).read_text(errors="replace")
        except OSError:
            continue
        ended |= {i for match in _ENDED.findall(text) for i in match if i}
        for batch, job_id in _SUBMITTED.findall(text):
            left[job_id] = batch
    left.update(unnoted or {})
    return {job_id: batch for job_id, batch in left.items() if job_id not in ended}


def note_submission(attempt: Path, submission: Any) -> None:
    """Record, before anything is submitted, which submission (and which jobs) this attempt
    makes: a run killed between ``sbatch`` and the note of the job in the step's log leaves
    only DPDispatcher's job id file, under the submission's own hash, which a resumed run
    with other settings (another hash) would not look at (:func:`earlier_jobs`)."""
    line = " ".join([submission.submission_hash, *(j.job_hash for j in submission.belonging_jobs)])
    path = attempt / SUBMISSIONS
    try:
        known = path.read_text().splitlines()
    except FileNotFoundError:
        known = []
    if line not in known:
        with open(path, "a") as f:
            f.write(line + "\n")


def earlier_jobs(attempt: Path, submission: Any, batch: str) -> dict[str, str]:
    """The scheduler jobs (id: batch) of the other submissions this attempt recorded: a
    killed run's, made with settings that have changed since. Read from DPDispatcher's job
    id files, which it writes as soon as the scheduler answers."""
    try:
        lines = (attempt / SUBMISSIONS).read_text().splitlines()
    except OSError:
        return {}
    context = submission.machine.context
    # the remote root the user configured; each submission's files are in <root>/<its hash>
    # (dpdispatcher's contexts: bind_submission); a context without one keeps no such files
    root = getattr(context, "temp_remote_root", None)
    paths = []
    for line in lines:
        earlier, *job_hashes = line.split()
        if earlier != submission.submission_hash and root:
            paths += [posixpath.join(str(root), earlier, f"{h}_job_id") for h in job_hashes]
    if not paths:
        return {}
    # the context's own file calls stay inside the current submission's dir: read them as
    # the scheduler's commands are run, on the machine (a missing file is no job: skipped)
    _machine_ready(submission.machine)
    _code, _in, out, _err = context.block_call(
        "cat " + " ".join(shlex.quote(p) for p in paths) + " 2>/dev/null"
    )
    text = out.read()
    ids = (text.decode(errors="replace") if isinstance(text, bytes) else str(text)).split()
    return dict.fromkeys(ids, batch)


def _machine_ready(machine: Any) -> None:
    """A LocalContext runs commands in its remote root, which exists only after the upload."""
    from dpdispatcher.contexts.local_context import LocalContext  # imported quietly by now

    if isinstance(machine.context, LocalContext):
        os.makedirs(machine.context.remote_root, exist_ok=True)


def cancel(dp: Any, submission: Any, job_id: str, wait: float | None = None) -> None:
    """Kill one scheduler job through the submission's machine (scancel, qdel, bkill, ...),
    then wait up to ``wait`` seconds (:data:`LEFTOVER_WAIT`) until the machine no longer reports it queued, running
    or completing: its processes get SIGTERM, and SIGKILL only after the scheduler's grace
    time (Slurm's KillWait), so the step's new copy must not start before. Raises
    :class:`LeftoverRunning` naming the job if it has not ended by then."""
    machine = submission.machine
    _machine_ready(machine)
    stub = dp.Job(job_task_list=[], resources=submission.resources, machine=machine)
    stub.register_job_id(job_id)
    machine.kill(stub)
    status = dp.submission.JobStatus
    alive = (status.waiting, status.running, status.completing, status.unknown)
    wait = LEFTOVER_WAIT if wait is None else wait
    deadline = time.monotonic() + wait
    delay = 0.1
    while (state := machine.check_status(stub)) in alive:
        if time.monotonic() >= deadline:
            raise LeftoverRunning(
                f"{type(machine).__name__} job {job_id}, left by an earlier run of this step, "
                f"was cancelled but is still {state.name} {wait:g} s later"
            )
        time.sleep(delay)
        delay = min(1.0, delay * 1.5)
