"""OPs for the renderer tests (an importable module, as in a user's package)."""

from __future__ import annotations

import json
from pathlib import Path

from dflow.python import OP, OPIO, Artifact, BigParameter, OPIOSign, TransientError


@OP.function
def echo(text: str, n: int) -> {"out": str, "length": int}:
    return {"out": text * n, "length": len(text) * n}


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


@OP.function
def write(msg: str) -> {"file": Artifact(Path), "length": int}:
    path = Path(f"{msg}.txt")
    path.write_text(msg)
    return {"file": path, "length": len(msg)}


@OP.function
def cat(files: Artifact(list[Path])) -> {"text": str}:
    return {"text": "".join(Path(f).read_text() for f in sorted(files))}


@OP.function
def flaky(n: int) -> {"n": int}:
    if n < 0:
        raise TransientError("negative")
    return {"n": n}


@OP.function
def read(file: Artifact(Path)) -> {"text": str}:
    p = Path(file)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return {"text": "".join(f.read_text() for f in files)}


@OP.function
def name_of(file: Artifact(Path)) -> {"name": str, "text": str}:
    return {"name": Path(file).name, "text": Path(file).read_text()}


class Big(OP):
    """A BigParameter in (``text``, with a default) and out (``echo``)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"text": BigParameter(str), "extra": BigParameter(dict, default={"a": 1})})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"echo": BigParameter(str), "n": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO(
            {
                "echo": op_in["text"] + json.dumps(op_in["extra"], sort_keys=True),
                "n": len(op_in["text"]),
            }
        )


class WhoAmI(OP):
    """Says which step runs it (the key and workflow name the engine gives the OP)."""

    @classmethod
    def get_input_sign(cls):
        from dflow.python import OPIOSign

        return OPIOSign({"text": str})

    @classmethod
    def get_output_sign(cls):
        from dflow.python import OPIOSign

        return OPIOSign({"key": str, "workflow": str})

    def execute(self, op_in):
        return {"key": str(self.key), "workflow": str(self.workflow_name)}
