"""OPs shared by the local engine tests."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dflow.python import OP, OPIO, Artifact, BigParameter, FatalError, OPIOSign, TransientError


class Hello(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "num": int, "foo": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"msg": str, "bar": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in):
        content = op_in["foo"].read_text()
        Path("output.txt").write_text(content * op_in["num"])
        return OPIO({"msg": op_in["msg"] * op_in["num"], "bar": Path("output.txt")})


class Square(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    def execute(self, op_in):
        return OPIO({"y": op_in["x"] ** 2})


class Sum(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"xs": list})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"total": int})

    def execute(self, op_in):
        return OPIO({"total": sum(int(x) for x in op_in["xs"])})


class Add(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"a": int, "b": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"c": int})

    def execute(self, op_in):
        return OPIO({"c": op_in["a"] + op_in["b"]})


class AppendLine(OP):
    """A counted side effect: after ``delay`` s, append ``x`` to the file ``path`` (one line
    per run, on disk before the step succeeds); ``y`` is ``x + 1``, for chains."""

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


class Boom(OP):
    """mode: exit (os._exit(3)), raise, sleep, badtype, transient, fatal, ok."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"mode": str, "counter": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out": int})

    def execute(self, op_in):
        mode = op_in["mode"]
        counter = op_in["counter"]
        n = 0
        if counter:
            n = int(Path(counter).read_text()) + 1 if os.path.exists(counter) else 1
            Path(counter).write_text(str(n))
        print(f"running mode {mode} attempt {n}")
        if mode == "exit":
            os._exit(3)
        if mode == "raise":
            raise RuntimeError("boom on purpose")
        if mode == "sleep":
            time.sleep(60)
        if mode == "badtype":
            return OPIO({"out": "not an int"})
        if mode == "transient":
            raise TransientError("try again")
        if mode == "flaky" and n < 3:
            raise TransientError("flaky")
        if mode == "fatal":
            raise FatalError("give up")
        if mode == "slow-then-ok" and n < 2:
            time.sleep(60)
        return OPIO({"out": n})


class Duplicate(OP):
    """Sliced: msg list and file list in, stacked msg and file out."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"msg": str, "log": Artifact(Path)})

    def execute(self, op_in):
        text = op_in["data"].read_text()
        name = f"log-{op_in['msg']}.txt"
        Path(name).write_text(text * 2)
        return OPIO({"msg": op_in["msg"] * 2, "log": Path(name)})


class Progress(OP):
    progress_total = 4

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    def execute(self, op_in):
        for i in range(4):
            self.progress_current = i + 1
        return OPIO()


class Big(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"data": BigParameter(dict)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"data": BigParameter(dict)})

    def execute(self, op_in):
        d = dict(op_in["data"])
        d["seen"] = True
        return OPIO({"data": d})


class MaybeIn(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"a": Artifact(Path, optional=True)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"has": bool})

    def execute(self, op_in):
        return OPIO({"has": op_in.get("a") is not None})
