"""OPs of the fault suite: steps that misbehave with processes (imported by runner scripts)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from dflow.python import OP, OPIO, OPIOSign


class Spawn(OP):
    """Starts a child (``sleep``) and a daemonised grandchild (``setsid sleep``), writes their
    pids to ``pids``, then: ``leave`` returns, ``hang`` sleeps, ``deaf`` ignores SIGTERM and
    sleeps."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"mode": str, "pids": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"ok": int})

    def execute(self, op_in):
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


class Count(OP):
    """Appends ``x`` to the file ``path`` after ``delay`` seconds (one line per run)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "path": str, "delay": float})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        time.sleep(op_in["delay"])
        with open(op_in["path"], "a") as f:
            f.write(f"{op_in['x']}\n")
            f.flush()
            os.fsync(f.fileno())
        return OPIO({"y": op_in["x"] + 1})


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
