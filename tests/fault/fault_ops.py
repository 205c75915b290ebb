"""OPs of the fault suite: steps that misbehave with processes (imported by runner scripts).

``Count``, the counted side effect, is the local engine tests' ``AppendLine``: one
implementation for both suites' kill-and-resume tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dflow.python import OP, OPIO, OPIOSign

_ENGINE_TESTS = str(Path(__file__).resolve().parents[2] / "plugins" / "engine_local" / "tests")
if _ENGINE_TESTS not in sys.path:
    sys.path.insert(0, _ENGINE_TESTS)

from local_engine_ops import AppendLine as Count  # noqa: E402


class Spawn(OP):
    """Starts a child (``sleep``) and a daemonised grandchild (``setsid sleep``), writes their
    pids to ``pids``, then: ``leave`` returns, ``hang`` sleeps, ``deaf`` ignores SIGTERM and
    sleeps. ``fail-after-<n>`` starts nothing: it fails once ``pids`` holds ``n`` pids (its
    siblings' children are running by then)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"mode": str, "pids": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"ok": int})

    def execute(self, op_in):
        if op_in["mode"].startswith("fail-after-"):
            want = int(op_in["mode"].rsplit("-", 1)[1])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _count(op_in["pids"]) < want:
                time.sleep(0.02)
            raise RuntimeError(f"failing on purpose with {_count(op_in['pids'])} pids written")
        child = subprocess.Popen(["sleep", "300"])
        # the shell exits at once: its setsid'd child is an orphan in a session of its own
        subprocess.run(["sh", "-c", f"setsid sleep 301 & echo $! >> {op_in['pids']}"], check=True)
        with open(op_in["pids"], "a") as f:
            f.write(f"{child.pid}\n")
        if op_in["mode"] == "deaf":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if op_in["mode"] in ("hang", "deaf"):
            time.sleep(300)
        return OPIO({"ok": 1})


def _count(path: str) -> int:
    try:
        with open(path) as f:
            return len(f.read().split())
    except OSError:
        return 0


class Fill(OP):
    """Fills the file system holding ``path`` (a file it leaves there), then succeeds; only
    once: it creates ``once`` (elsewhere) and does nothing when it exists."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"path": str, "once": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        if os.path.exists(op_in["once"]):
            return OPIO({"y": 1})
        open(op_in["once"], "w").close()
        try:
            with open(op_in["path"], "ab") as f:
                while True:
                    f.write(bytes(65536))
                    f.flush()
        except OSError:
            pass
        return OPIO({"y": 1})


__all__ = ["Count", "Fill", "Spawn"]
