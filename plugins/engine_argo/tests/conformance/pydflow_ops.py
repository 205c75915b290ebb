"""An OP written against pydflow 1.8.134, rendered BY pydflow for the pydflow-image pod test
(imported in pydflow's own environment, never in ours)."""

from pathlib import Path

from dflow.python import OP, OPIO, Artifact, OPIOSign


class Scale(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int, "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int, "report": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in):
        import sys

        text = Path(op_in["data"]).read_text()
        out = Path("report.txt")
        out.write_text("%s|%d|%d.%d" % (text, op_in["x"], *sys.version_info[:2]))
        return OPIO({"y": op_in["x"] * int(text), "report": out})


def render(endpoint: str, bucket: str, image: str) -> dict:
    """pydflow's manifest of one Scale step (pydflow uploads this module to the bucket)."""
    import sys

    from dflow import S3Artifact, Step, Workflow, s3_config
    from dflow.python import PythonOPTemplate, upload_packages

    s3_config.update(
        {
            "endpoint": endpoint,
            "access_key": "AK",
            "secret_key": "SK",
            "secure": False,
            "bucket_name": bucket,
        }
    )
    upload_packages.append(sys.modules[__name__].__file__)
    wf = Workflow("pyd")
    wf.add(
        Step(
            "scale",
            PythonOPTemplate(Scale, image=image),
            parameters={"x": 6},
            artifacts={"data": S3Artifact(key="in/seven.txt")},
        )
    )
    return wf.to_dict()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(render(*sys.argv[1:4])))
