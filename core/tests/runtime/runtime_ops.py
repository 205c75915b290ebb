"""OPs run by the pod-runtime tests under every interpreter (3.7-3.13): keep 3.7 syntax here.

The module starts like many users' OP modules: client-side names imported from ``dflow`` and
a template built at module level. In a pod where the client cannot import those become inert
placeholders (dflow.runner.podimport).
"""

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from dflow import Step, Workflow, upload_artifact  # noqa: F401 - client names, as users write
from dflow.python import (
    OP,
    OPIO,
    Artifact,
    BigParameter,
    FatalError,
    OPIOSign,
    Parameter,
    PythonOPTemplate,
    TransientError,
)


class Types(OP):
    """Echoes parameters of each kind of type; says what Python types it received."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "i": int,
                "f": float,
                "s": str,
                "b": bool,
                "l": list,
                "d": dict,
                "li": List[int],
                "ds": Dict[str, float],
                "opt": Optional[int],
                "u": Union[int, str],
                "nested": Dict[str, List[int]],
                "dflt": Parameter(int, default=5),
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {
                "i": int,
                "f": float,
                "s": str,
                "b": bool,
                "l": list,
                "d": dict,
                "li": List[int],
                "seen": str,
            }
        )

    @OP.exec_sign_check
    def execute(self, op_in):
        seen = {k: type(v).__name__ for k, v in sorted(op_in.items())}
        return OPIO(
            {
                "i": op_in["i"] + op_in["dflt"],
                "f": op_in["f"] * 2,
                "s": op_in["s"] * 2,
                "b": not op_in["b"],
                "l": op_in["l"] + [op_in["opt"]],
                "d": dict(op_in["d"], u=op_in["u"]),
                "li": [x * 2 for x in op_in["li"]],
                "seen": json.dumps(seen, sort_keys=True),
            }
        )


class Files(OP):
    """Artifacts in (a file, a dir, a list, a dict) and out (a file, a list, a dict)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "file": Artifact(Path),
                "dir": Artifact(Path),
                "many": Artifact(List[Path]),
                "named": Artifact(Dict[str, str]),
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {
                "total": Artifact(Path),
                "copies": Artifact(List[Path]),
                "by_key": Artifact(Dict[str, Path]),
                "kinds": str,
            }
        )

    def execute(self, op_in):
        texts = [op_in["file"].read_text(), (op_in["dir"] / "inner.txt").read_text()]
        texts += [p.read_text() for p in op_in["many"]]
        texts += [Path(op_in["named"][k]).read_text() for k in sorted(op_in["named"])]
        Path("total.txt").write_text("+".join(texts))
        copies = []
        for i, p in enumerate(op_in["many"]):
            Path("copy%d.txt" % i).write_text(p.read_text().upper())
            copies.append(Path("copy%d.txt" % i))
        os.makedirs("keys", exist_ok=True)
        by_key = {}
        for k in op_in["named"]:
            Path("keys", k).write_text(k)
            by_key[k] = Path("keys", k)
        kinds = [type(op_in[n]).__name__ for n in ("file", "dir", "many", "named")]
        return OPIO(
            {
                "total": Path("total.txt"),
                "copies": copies,
                "by_key": by_key,
                "kinds": ",".join(kinds),
            }
        )


class Square(OP):
    """One item of a fan-out; slice 13 fails (for success tags)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "label": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int, "parent": int})

    def execute(self, op_in):
        if op_in["x"] == 13:
            raise ValueError("unlucky")
        return OPIO({"y": op_in["x"] ** 2, "parent": os.getppid()})


class Partial(OP):
    """Gives an output with set_output, then fails."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"how": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"early": str, "late": str})

    def execute(self, op_in):
        self.set_output("early", "kept")
        if op_in["how"] == "transient":
            raise TransientError("try again")
        if op_in["how"] == "fatal":
            raise FatalError("give up")
        raise RuntimeError("boom")


class Big(OP):
    """A BigParameter in and out."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"data": BigParameter(dict)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"size": int, "echo": BigParameter(dict)})

    def execute(self, op_in):
        return OPIO({"size": len(op_in["data"]["items"]), "echo": op_in["data"]})


class Client(OP):
    """Calls client-side dflow inside the pod."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    def execute(self, op_in):
        upload_artifact("somewhere.txt")
        return OPIO()


class Pair(OP):
    """A tuple in and out: jsonpickle's format, which needs jsonpickle."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"pair": Tuple[int, int]})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"swapped": Tuple[int, int]})

    def execute(self, op_in):
        return OPIO({"swapped": op_in["pair"][::-1]})


@OP.function
def add(a: int, b: Optional[int] = None) -> {"sum": int}:
    return {"sum": a + (b or 0)}


# module-level client code, as users write it: constructing works in a pod
types_template = PythonOPTemplate(Types, image="python:3.8")
