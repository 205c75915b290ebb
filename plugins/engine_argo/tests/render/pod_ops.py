"""OPs of the pod-runtime tests, written as users write them: client names imported and a
template built at module level. They run on the image's Python (3.8 here): 3.7 syntax only."""

import os
import sys
from pathlib import Path
from typing import Dict, List

from dflow import Step, Workflow, upload_artifact  # noqa: F401 - client names, at module level
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate


class Report(OP):
    """Computes from typed inputs and says where it ran and which dflow it saw."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign(
            {
                "n": int,
                "items": List[int],
                "weights": Dict[str, float],
                "text": str,
                "data": Artifact(Path),
            }
        )

    @classmethod
    def get_output_sign(cls):
        return OPIOSign(
            {
                "total": float,
                "text": str,
                "python": str,
                "dflow_file": str,
                "workflow_class": str,
                "copy": Artifact(Path),
            }
        )

    def execute(self, op_in):
        import dflow

        total = op_in["n"] * sum(op_in["items"]) + sum(op_in["weights"].values())
        Path("copy.txt").write_text(op_in["data"].read_text().upper())
        client = (
            "placeholder"
            if getattr(Workflow, "_dflow_client_only", False)
            else (Workflow.__module__ + "." + Workflow.__name__)
        )
        return OPIO(
            {
                "total": total,
                "text": op_in["text"][::-1],
                "python": "%d.%d" % sys.version_info[:2],
                "dflow_file": os.path.realpath(dflow.__file__),
                "workflow_class": client,
                "copy": Path("copy.txt"),
            }
        )


class Count(OP):
    """Takes big parameters: a stacked fan-out output and a long text."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"values": List[int], "text": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"count": int, "last": int, "text_length": int})

    def execute(self, op_in):
        return OPIO(
            {
                "count": len(op_in["values"]),
                "last": op_in["values"][-1],
                "text_length": len(op_in["text"]),
            }
        )


# module-level client code, as in many users' OP modules
report_template = PythonOPTemplate(Report, image="python:3.8")
