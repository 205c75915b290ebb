"""The executor: the step's command, prefixed with ``nice -n N``."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import attrs
from dflow.executor import Executor, JobResult, ScriptJob


@attrs.frozen
class NiceConfig:
    """``[executors.nice]`` in dflow.toml."""

    niceness: int = 10


class NiceExecutor(Executor):
    """Runs a script step with ``nice -n <niceness>`` on the local machine."""

    def __init__(self, niceness: int = 10) -> None:
        if not 0 <= niceness <= 19:
            raise ValueError(f"NiceExecutor: niceness must be 0..19, got {niceness}")
        self.niceness = niceness

    def run(self, job: ScriptJob) -> JobResult:
        cmd = ["nice", "-n", str(self.niceness), *job.command, str(job.script_path)]
        env = {**os.environ, **job.env}
        with open(job.log_path, "ab") as log:
            log.write(f"[nice] running at niceness {self.niceness}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=job.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = None if job.timeout is None else time.monotonic() + job.timeout
            while (code := proc.poll()) is None:
                if job.cancelled.is_set() or (deadline and time.monotonic() > deadline):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    if job.cancelled.is_set():
                        return JobResult(-9, "cancelled")
                    return JobResult(-9, f"timed out after {job.timeout} s", timed_out=True)
                time.sleep(0.05)
        return JobResult(code, "" if code == 0 else f"script exited with {code}")
