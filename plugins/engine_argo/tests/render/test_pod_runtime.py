"""A rendered Python OP runs in the images users give it: old Pythons, pydflow installed.

Each test renders a workflow, lays the pod out in a sandbox (the packages artifact as the
engine uploads it, raw input artifacts written as Argo's executor writes them) and runs the
container script with the image's interpreter: a pyenv CPython isolated with ``-I -S`` for a
bare ``python:3.x`` image, a venv with pydflow 1.8.134 for a pydflow image. Linux caps one
environment string at 131,072 bytes (MAX_ARG_STRLEN), as a container start does.
"""

from __future__ import annotations

import errno
import json
import subprocess
import uuid
from pathlib import Path

import pod_ops
import pytest
from dflow import Step, Workflow
from dflow.python import PythonOPTemplate
from dflow.storage import S3Artifact
from pod_images import pydflow_image, python_image
from sandbox import place_packages, run_template, template

PARAMS = {"n": "2", "items": "[1, 2, 3]", "weights": '{"a": 0.5, "b": 1}', "text": "héllo\n'x'"}


def _report_pod(render, tmp_path: Path, **template_kwargs):
    wf = Workflow(name="pod")
    wf.add(
        Step(
            "report",
            PythonOPTemplate(pod_ops.Report, image="python:3.8", **template_kwargs),
            parameters={"n": 2, "items": [1, 2, 3], "weights": {"a": 0.5, "b": 1}, "text": "x"},
            artifacts={"data": S3Artifact(key="in/data.txt")},
        )
    )
    manifest = render(wf)
    tmpl = template(manifest, "report")
    root = tmp_path / "tmp"
    (root / "inputs" / "artifacts").mkdir(parents=True)
    (root / "inputs" / "artifacts" / "data").write_text("payload")
    packages = render.renderer.packages_to_upload(wf)
    [key] = [
        a["s3"]["key"] for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages"
    ]
    place_packages(root, packages[key])
    return tmpl, root, packages[key]


def _outputs(root: Path) -> dict:
    d = root / "outputs" / "parameters"
    return {p.name: p.read_text() for p in d.iterdir()}


def _check_report(root: Path, python: str) -> dict:
    out = _outputs(root)
    assert json.loads(out["total"]) == 13.5
    assert out["text"] == PARAMS["text"][::-1]
    assert out["python"] == python
    assert (root / "outputs" / "artifacts" / "copy" / "copy.txt").read_text() == "PAYLOAD"
    shipped = root / "inputs" / "artifacts" / "dflow_python_packages" / "dflow"
    # our dflow, whatever the image has
    assert Path(out["dflow_file"]) == (shipped / "__init__.py").resolve()
    return out


@pytest.mark.parametrize("version", ["3.7", "3.8"])
def test_bare_python_image_runs_the_op_with_the_full_dflow_shipped(version, render, tmp_path):
    tmpl, root, paths = _report_pod(render, tmp_path)
    assert [Path(p).name for p in paths][:2] == ["dflow", "dflow_deps"]
    proc = run_template(tmpl, root, PARAMS, python=python_image(version), isolated=True)
    assert proc.returncode == 0, proc.stderr
    out = _check_report(root, version)
    if version == "3.7":
        # the shipped attrs 26 / cattrs / pluggy need newer Pythons: dflow.model does not
        # import, so the OP's module sees inert placeholders for Workflow & co
        assert out["workflow_class"] == "placeholder"
    else:  # real where the client's modules import (attrs 26 does on 3.8)
        assert out["workflow_class"] in ("placeholder", "dflow.model.workflow.Workflow")


def test_client_names_are_real_where_the_client_imports(render, tmp_path):
    import sys

    tmpl, root, _ = _report_pod(render, tmp_path)
    proc = run_template(tmpl, root, PARAMS, python=sys.executable)
    assert proc.returncode == 0, proc.stderr
    out = _check_report(root, "%d.%d" % sys.version_info[:2])
    assert out["workflow_class"] == "dflow.model.workflow.Workflow"


def test_pydflow_image_with_upload_dflow_false_runs_our_runtime(render, tmp_path):
    python = pydflow_image("3.8")
    image_dflow = subprocess.run(
        [python, "-c", "import dflow; print(dflow.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in image_dflow  # pydflow is installed in this "image"
    tmpl, root, paths = _report_pod(render, tmp_path, upload_dflow=False)
    shipped = Path(paths[0])
    assert shipped.name == "dflow" and not (shipped / "model").exists()  # the runtime only
    assert not any(Path(p).name == "dflow_deps" for p in paths)
    proc = run_template(tmpl, root, PARAMS, python=python)
    assert proc.returncode == 0, proc.stderr
    out = _check_report(root, "3.8")
    assert out["workflow_class"] == "placeholder"  # not shipped: upload_dflow=False


def test_parameters_beyond_the_environment_limit_reach_the_op(render, tmp_path):
    stacked = json.dumps([{"dflow_list_item": 1_000_000 + i, "order": i} for i in range(4000)])
    big_text = "0123456789abcdef" * (3 * 1024 * 1024 // 16)  # 3 MiB
    assert 131_072 < len(stacked) < 300_000
    with pytest.raises(OSError) as exc:  # this machine refuses such a variable, as a pod would
        subprocess.run(["true"], env={"X": stacked})
    assert exc.value.errno == errno.E2BIG
    wf = Workflow(name="big")
    wf.add(
        Step(
            "count",
            PythonOPTemplate(pod_ops.Count, image="python:3.8"),
            parameters={"values": [1], "text": "t"},
        )
    )
    manifest = render(wf)
    tmpl = template(manifest, "count")
    assert "{{inputs.parameters" not in json.dumps(tmpl["script"].get("env"))
    root = tmp_path / "tmp"
    root.mkdir()
    packages = render.renderer.packages_to_upload(wf)
    place_packages(root, packages[tmpl["inputs"]["artifacts"][-1]["s3"]["key"]])
    proc = run_template(
        tmpl, root, {"values": stacked, "text": big_text}, python=python_image("3.8"), isolated=True
    )
    assert proc.returncode == 0, proc.stderr
    assert _outputs(root) == {"count": "4000", "last": "1003999", "text_length": str(len(big_text))}


# -- an OP defined in the script the user runs ------------------------------------------------

SCRIPT = '''\
"""A user's workflow script: its OP is defined here and it submits at top level, unguarded."""
from pathlib import Path

from dflow import Step, Workflow
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate

print("top-level code ran")
Path("top-level-ran.txt").write_text("yes")
PREFIX = "shout: "


class Shout(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out": str})

    def execute(self, op_in):
        return OPIO({"out": PREFIX + loud(op_in["msg"])})


def loud(text):
    return text.upper() + "!"


wf = Workflow(name="unguarded")
wf.add(Step("shout", PythonOPTemplate(Shout, image="python:3.8"), parameters={"msg": "hi"}))
wf.submit()
Path("submitted.txt").write_text(wf.id)
'''


def _load_packages(client, key: str, dest: Path) -> None:
    """Load the packages artifact as Argo's executor does: one object, a tarball untarred
    to the artifact's path."""
    from conformance.artifacts import untar

    tgz = dest.parent / "packages.tgz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    client.download(key, str(tgz))
    untar(tgz, dest)


def test_op_of_a_script_that_submits_unguarded_runs_without_the_script(
    argo_server, seaweedfs, tmp_path
):
    """The script is run for real: it submits to the stand-in Argo server (requests checked
    against Argo's swagger) and uploads the packages to SeaweedFS; the pod then gets them
    from there, as Argo's executor would."""
    import os
    import sys

    from argo_server import TOKEN
    from dflow_storage_minio import MinioClient

    bucket = f"pods-{uuid.uuid4().hex[:8]}"  # on the session's SeaweedFS (conftest.py)
    store = MinioClient(
        endpoint=seaweedfs.endpoint,
        secure=False,
        bucket_name=bucket,
        access_key=seaweedfs.access_key,
        secret_key=seaweedfs.secret_key,
    )
    store.create_bucket()
    client_dir = tmp_path / "client"
    client_dir.mkdir()
    (client_dir / "flow.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFLOW_")}
    env.update(
        DFLOW_MODE="argo",
        DFLOW_HOST=argo_server.url,
        DFLOW_TOKEN=TOKEN,
        DFLOW_S3_ENDPOINT=seaweedfs.endpoint,
        DFLOW_S3_ACCESS_KEY=seaweedfs.access_key,
        DFLOW_S3_SECRET_KEY=seaweedfs.secret_key,
        DFLOW_S3_BUCKET_NAME=bucket,
        DFLOW_TEMPDIR=str(tmp_path / "dflow-tmp"),
    )
    proc = subprocess.run(
        [sys.executable, "flow.py"],
        cwd=client_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("top-level code ran") == 1  # once, in the client
    [manifest] = argo_server.workflows.values()
    assert manifest["metadata"]["name"] == (client_dir / "submitted.txt").read_text()
    [tmpl] = [t for t in manifest["spec"]["templates"] if "script" in t]
    assert "'--op-file', 'dflow_main_flow_" in tmpl["script"]["source"]
    [pkg] = [a for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages"]
    root = tmp_path / "pod" / "tmp"
    shipped = root / "inputs" / "artifacts" / "dflow_python_packages"
    _load_packages(store, pkg["s3"]["key"], shipped)
    # the engine uploaded the trees of links with their contents
    assert (shipped / "dflow" / "model" / "workflow.py").is_file()
    assert (shipped / "dflow_deps" / "jsonpickle" / "__init__.py").is_file()
    run = run_template(
        tmpl,
        root,
        {"msg": "hello"},
        python=python_image("3.8"),
        isolated=True,
        workdir=tmp_path / "pod" / "cwd",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outputs(root) == {"out": "shout: HELLO!"}
    assert "top-level code ran" not in run.stdout
    assert not list((tmp_path / "pod").rglob("top-level-ran.txt"))
    assert not list((tmp_path / "pod").rglob("submitted.txt"))


# -- OPs defined in a Jupyter notebook ---------------------------------------------------------

CELLS = [
    "from pathlib import Path\n"
    "from dflow import Step, Workflow\n"
    "from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate",
    "%env DFLOW_NOTEBOOK_FLAG=1\nGREETING = 'hello'",
    "class Greet(OP):\n"
    "    @classmethod\n"
    "    def get_input_sign(cls):\n"
    "        return OPIOSign({'name': str})\n\n"
    "    @classmethod\n"
    "    def get_output_sign(cls):\n"
    "        return OPIOSign({'text': str})\n\n"
    "    def execute(self, op_in):\n"
    "        return OPIO({'text': f'{GREETING}, {op_in[\"name\"]}' + punctuation()})",
    "print('a cell that only prints')\n"
    "@OP.function\n"
    "def double(x: int) -> {'y': int}:\n"
    "    return {'y': 2 * x}",
    "def punctuation():\n    return '!'",
    "import json\n"
    "from dflow_engine_argo.render import ArgoRenderer\n"
    "wf = Workflow(name='nb')\n"
    "wf.add(Step('greet', PythonOPTemplate(Greet, image='python:3.8'), parameters={'name': 'nb'}))\n"
    "wf.add(Step('double', PythonOPTemplate(double, image='python:3.8'), parameters={'x': 21}))\n"
    "renderer = ArgoRenderer(artifact_kind='s3')\n"
    "Path('rendered.json').write_text(json.dumps({'manifest': renderer.manifest(wf),\n"
    "                                             'packages': renderer.packages_to_upload(wf)}))",
]


def test_ops_defined_in_a_notebook_render_and_run(tmp_path, monkeypatch):
    """A real kernel (ipykernel, driven by nbclient) runs the notebook that defines the OPs
    and renders the workflow; each OP then runs in a python:3.8 pod."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from argo_schema import assert_valid

    monkeypatch.setenv("DFLOW_TEMPDIR", str(tmp_path / "dflow-tmp"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    rendered = json.loads((tmp_path / "rendered.json").read_text())
    manifest = rendered["manifest"]
    assert_valid(manifest)
    results = {}
    for name, params in (("greet", {"name": "notebook"}), ("double", {"x": "21"})):
        [tmpl] = [t for t in manifest["spec"]["templates"] if t["name"].startswith(name)]
        assert "'--op-file', 'dflow_main_notebook_" in tmpl["script"]["source"]
        root = tmp_path / name / "tmp"
        root.mkdir(parents=True)
        [pkg] = [a for a in tmpl["inputs"]["artifacts"] if a["name"] == "dflow_python_packages"]
        place_packages(root, rendered["packages"][pkg["s3"]["key"]])
        proc = run_template(tmpl, root, params, python=python_image("3.8"), isolated=True)
        assert proc.returncode == 0, proc.stderr
        assert "a cell that only prints" not in proc.stdout
        results[name] = _outputs(root)
    assert results == {"greet": {"text": "hello, notebook!"}, "double": {"y": "42"}}


@pytest.mark.parametrize("version", ["2.7", "3.6"])
def test_too_old_python_says_so(version, render, tmp_path):
    tmpl, root, _ = _report_pod(render, tmp_path)
    proc = run_template(tmpl, root, PARAMS, python=python_image(version))  # 2.7 has no -I
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"dflow: the OP needs Python 3.7 or newer in its image, "
        f"which has Python {Path(python_image(version)).parts[-3]}: "
        "use another image (e.g. python:3.8)"
    )
