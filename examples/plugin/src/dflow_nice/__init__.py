"""dflow-nice: run script steps under ``nice`` (an example of a third-party executor plugin)."""

from __future__ import annotations

import os
import subprocess

import attrs
from dflow.executor import Executor, JobResult, ScriptJob

__all__ = ["NiceConfig", "NiceExecutor"]


@attrs.frozen
class NiceConfig:
    """``[executors.nice]`` in dflow.toml: how much to lower the priority (0-19)."""

    increment: int = 10

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.increment <= 19:
            raise ValueError(f"nice increment must be between 0 and 19, not {self.increment}")


class NiceExecutor(Executor):
    """Runs each script step under ``nice -n <increment>``."""

    def __init__(self, config: NiceConfig | None = None, **kwargs: int) -> None:
        self.config = config if config is not None else NiceConfig(**kwargs)

    def run(self, job: ScriptJob) -> JobResult:
        argv = ["nice", "-n", str(self.config.increment), *job.command, str(job.script_path)]
        with open(job.log_path, "ab") as log:
            proc = subprocess.Popen(
                argv, cwd=job.workdir, env={**os.environ, **job.env}, stdout=log, stderr=log
            )
            while proc.poll() is None:
                if job.cancelled.wait(0.05):  # timeout or stop: end the script, say so
                    proc.kill()
                    proc.wait()
                    return JobResult(-9, "cancelled", timed_out=True)
        message = "" if proc.returncode == 0 else f"script exited with {proc.returncode}"
        return JobResult(proc.returncode, message)

    def render(self, template):  # on Argo: prefix the command
        template.command = ["nice", "-n", str(self.config.increment), *template.command]
        return template
