"""One Slurm job's life: submit with ``sbatch``, watch with ``scontrol``, cancel, report.

The same code drives a local Slurm (commands run as subprocesses) and a remote one (commands
run over SSH): both are a :class:`Shell`. Accounting (``sacct``) is not assumed: a finished job's
state, reason and exit code are read from ``scontrol show job`` while the controller keeps it.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path
from typing import Protocol

from dflow.executor import JobResult, ScriptJob

#: states after which a job never runs again
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
    }
)
#: sbatch errors worth another try: the controller is busy or briefly unreachable
TRANSIENT_SUBMIT_ERRORS = (
    "Socket timed out",
    "Unable to contact slurm controller",
    "temporarily unable to accept job",
    "Resource temporarily unavailable",
    "Connection refused",
)
_FIELD = re.compile(r"(?:^|\s)(JobState|Reason|ExitCode)=(\S*)")


class Shell(Protocol):
    """Where Slurm's client commands run (this machine, or a login node over SSH)."""

    def call(self, args: list[str]) -> tuple[int, str, str]:
        """Run ``args`` and return (exit status, stdout, stderr)."""

    def read_text(self, path: str) -> str | None:
        """A text file's content, or None when it does not exist."""


class SubmitError(RuntimeError):
    """sbatch refused the job."""


def submit(shell: Shell, args: list[str], retries: int = 3, backoff: float = 1.0) -> str:
    """Run ``sbatch --parsable <args>`` and return the job id, retrying transient errors."""
    cmd = ["sbatch", "--parsable", *args]
    for attempt in range(retries + 1):
        status, out, err = shell.call(cmd)
        if status == 0 and out.strip():
            # --parsable prints "<id>" or "<id>;<cluster>"
            return out.strip().splitlines()[-1].split(";")[0]
        transient = any(text in err for text in TRANSIENT_SUBMIT_ERRORS)
        if not transient or attempt == retries:
            raise SubmitError(
                f"`{shlex.join(cmd)}` failed with status {status} after {attempt + 1} "
                f"attempt(s): {err.strip() or out.strip()}"
            )
        time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def job_record(shell: Shell, job_id: str) -> dict[str, str] | None:
    """JobState, Reason and ExitCode of a job, or None once the controller forgot it."""
    status, out, err = shell.call(["scontrol", "-o", "show", "job", job_id])
    if status != 0:
        if "Invalid job id" in err:
            return None
        raise RuntimeError(f"`scontrol show job {job_id}` failed: {err.strip()}")
    return dict(_FIELD.findall(out))


def result_from_record(job_id: str, record: dict[str, str]) -> JobResult:
    """Map a finished job's scheduler record to a :class:`JobResult`."""
    state = record.get("JobState", "UNKNOWN")
    reason = record.get("Reason", "None")
    code, _, sig = record.get("ExitCode", "0:0").partition(":")
    exit_code, signal_no = int(code or 0), int(sig or 0)
    message = f"Slurm job {job_id} {state}"
    if reason not in ("None", "", "(null)"):
        message += f" (reason: {reason})"
    if state == "COMPLETED":
        return JobResult(0, message, job_id)
    message += f", exit code {exit_code}" + (f", signal {signal_no}" if signal_no else "")
    if signal_no:
        exit_code = 128 + signal_no
    return JobResult(exit_code or 1, message, job_id, timed_out=state == "TIMEOUT")


def cancel(shell: Shell, job_id: str) -> None:
    """``scancel`` a job; a job that already ended is not an error."""
    shell.call(["scancel", job_id])


_SUBMITTED = re.compile(r"^\[dflow\] submitted Slurm job (\d+) ", re.M)
_ENDED = re.compile(r"^\[dflow\] output of Slurm job (\d+):", re.M)


def cancel_leftovers(shell: Shell, log_path: Path) -> list[str]:
    """``scancel`` the jobs an earlier run of this step submitted and never saw end.

    The step's log records each submission and each end; a submission without an end is a job
    whose runner was killed. A resumed run cancels it before submitting the step again, so
    the step never runs twice at once (as the local engine kills a crashed run's processes).
    """
    try:
        text = Path(log_path).read_text(errors="replace")
    except OSError:
        return []
    ended = set(_ENDED.findall(text))
    left = [job_id for job_id in dict.fromkeys(_SUBMITTED.findall(text)) if job_id not in ended]
    for job_id in left:
        cancel(shell, job_id)
    for job_id in left:
        # the step must not run twice at once: a cancelled job's processes get SIGTERM, and
        # SIGKILL only after the cluster's KillWait (30 s by default)
        if _settle(shell, job_id, LEFTOVER_WAIT):
            append_log(log_path, f"[dflow] cancelled Slurm job {job_id}, left by an earlier run")
        else:
            append_log(
                log_path,
                f"[dflow] cancelled Slurm job {job_id}, left by an earlier run; it had not "
                f"ended {LEFTOVER_WAIT:g} s later (see `scontrol show job {job_id}`)",
            )
    return left


def watch(shell: Shell, job_id: str, job: ScriptJob, interval: float = 1.0) -> JobResult:
    """Poll until the job ends, ``job.cancelled`` is set or ``job.timeout`` passes.

    Polls start fast (trivial jobs end within a second or two) and slow down to ``interval``.
    """
    started = time.monotonic()
    delay = min(0.2, interval)
    while True:
        record = job_record(shell, job_id)
        if record is None:
            return JobResult(
                1, f"Slurm job {job_id} left the controller before its end was seen", job_id
            )
        if record.get("JobState") in TERMINAL_STATES:
            return result_from_record(job_id, record)
        if job.timeout is not None and time.monotonic() - started > job.timeout:
            cancel(shell, job_id)
            _settle(shell, job_id)
            return JobResult(
                124,
                f"Slurm job {job_id} exceeded the step timeout of {job.timeout:g}s and was cancelled",
                job_id,
                timed_out=True,
            )
        if job.cancelled.wait(delay):
            cancel(shell, job_id)
            return JobResult(143, f"Slurm job {job_id} was cancelled (scancel)", job_id)
        delay = min(interval, delay * 1.5)


#: how long a resumed run waits for a killed run's cancelled job to end before submitting
#: the step again (Slurm's default KillWait, 30 s, and some)
LEFTOVER_WAIT = 45.0


def _settle(shell: Shell, job_id: str, limit: float = 5.0) -> bool:
    """Wait up to ``limit`` seconds for a cancelled job to end (so its output file is
    complete, and its processes are gone); whether it did."""
    deadline = time.monotonic() + limit
    while True:
        record = job_record(shell, job_id)
        if record is None or record.get("JobState") in TERMINAL_STATES:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def append_log(path: Path, text: str) -> None:
    """Append ``text`` to the step's log, creating it when needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", errors="replace") as log:
        log.write(text if text.endswith("\n") or not text else text + "\n")


def sbatch_name(job: ScriptJob) -> str:
    """A Slurm job name that says which workflow step it runs."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{job.workflow_id}-{job.name}")[:120]


def batch_script(header: str, workdir: str, body: list[str]) -> str:
    """A batch script: the user's header (its ``#SBATCH`` lines), then ``cd`` and ``body``.

    Options dflow needs (job name, output file) go on the sbatch command line instead, which
    overrides the header and keeps directives after a header's first command from being ignored.
    """
    header = header.strip("\n")
    if not header.startswith("#!"):
        header = "#!/bin/bash" + ("\n" + header if header else "")
    return "\n".join([header, f"cd {shlex.quote(workdir)} || exit 1", *body, ""])


def run_line(command: list[str], script: str, env: dict[str, str]) -> list[str]:
    """Shell lines exporting ``env`` and running ``command script`` as the job's last process."""
    exports = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    return [*exports, "exec " + shlex.join([*command, script])]


def split_command(command: list[str] | str | None) -> list[str] | None:
    """Accept pydflow's ``str | list`` commands."""
    if command is None:
        return None
    return shlex.split(command) if isinstance(command, str) else list(command)
