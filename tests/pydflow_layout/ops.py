"""OPs of the layout scenarios (the same file runs under pydflow and under dflow)."""

# no `from __future__ import annotations`: pydflow reads signs as objects
from pathlib import Path

from dflow.python import OP, OPIO, Artifact, OPIOSign, upload_packages

upload_packages.append(__file__)  # pydflow's steps import this module from the upload


class Dup(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "num": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"msg": str, "out": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in):
        Path("o.txt").write_text(op_in["msg"] * op_in["num"])
        return OPIO({"msg": op_in["msg"] * op_in["num"], "out": Path("o.txt")})


class Cat(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"inp": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"text": str})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"text": Path(op_in["inp"]).read_text()})


class Square(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO({"y": op_in["x"] ** 2})


class Boom(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        raise RuntimeError("boom %d" % op_in["x"])


def result(wf, **values):
    """The line the comparison reads: the workflow's status and what the scenario saw."""
    import json

    print("RESULT " + json.dumps({"status": wf.query_status(), **values}, sort_keys=True))
