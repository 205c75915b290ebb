"""The local engine in a real Jupyter kernel (ipykernel, driven by nbclient), as a scientist
uses it: OPs defined in cells, a fan-out submitted from a cell (inside the kernel's running
event loop, with the kernel's threads about), outputs read in the next cell."""

from __future__ import annotations

import pytest

CELLS = [
    "from pathlib import Path\n"
    "from dflow import Step, Workflow\n"
    "from dflow.python import OP, OPIO, OPIOSign, Artifact, PythonOPTemplate, Slices",
    "class Square(OP):\n"
    "    @classmethod\n"
    "    def get_input_sign(cls):\n"
    "        return OPIOSign({'x': int})\n\n"
    "    @classmethod\n"
    "    def get_output_sign(cls):\n"
    "        return OPIOSign({'y': int, 'f': Artifact(Path)})\n\n"
    "    def execute(self, op_in):\n"
    "        print(f'squaring {op_in[\"x\"]}')\n"
    "        p = Path(f'sq{op_in[\"x\"]}.txt')\n"
    "        p.write_text(str(op_in['x'] ** 2))\n"
    "        return OPIO({'y': op_in['x'] ** 2, 'f': p})",
    "@OP.function\n"
    "def total(ys: list, fs: Artifact(list[Path])) -> {'s': int, 'n': int}:\n"
    "    return {'s': sum(ys), 'n': sum(int(Path(f).read_text()) for f in fs)}",
    "wf = Workflow(name='nb-local')\n"
    "slices = Slices(input_parameter=['x'], output_parameter=['y'], output_artifact=['f'])\n"
    "sq = Step('sq', PythonOPTemplate(Square, image='python:3.8', slices=slices),\n"
    "          parameters={'x': list(range(20))})\n"
    "tot = Step('tot', PythonOPTemplate(total, image='python:3.8'),\n"
    "           parameters={'ys': sq.outputs.parameters['y']},\n"
    "           artifacts={'fs': sq.outputs.artifacts['f']})\n"
    "wf.add(sq)\n"
    "wf.add(tot)\n"
    "wf.submit()",
    "[t] = wf.query_step(name='tot')\n"
    "print('RESULT', wf.query_status(), t.outputs.parameters['s'].value,"
    " t.outputs.parameters['n'].value)",
]


def test_a_fan_out_submitted_from_a_notebook_cell(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("DFLOW_MODE", "debug")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    submit, result = nb.cells[3].outputs, nb.cells[4].outputs
    assert [o["text"] for o in result if o["output_type"] == "stream"] == [
        "RESULT Succeeded 2470 2470\n"  # the sum of the squares of 0..19, both ways
    ]
    printed = "".join(o.get("text", "") for o in submit if o["output_type"] == "stream")
    # each slice's print reaches the cell as pydflow's debug mode tees it, once
    assert sorted(line for line in printed.splitlines() if line.startswith("squaring")) == sorted(
        f"squaring {i}" for i in range(20)
    )
    # the cell's value is a summary, not the record of every node
    [shown] = [o["data"]["text/plain"] for o in submit if o["output_type"] == "execute_result"]
    assert shown.startswith("ArgoWorkflow(id='nb-local-") and "phase='Succeeded'" in shown
    assert shown.endswith("nodes=23)"), shown  # the workflow, the two steps, the 20 slices
    assert len(shown) < 300


def _cell(
    client, code: str | None, until: str | None = None, msg_id: str | None = None
) -> tuple[str, str, str]:
    """Run ``code`` in the kernel (or follow the cell ``msg_id`` already sent): its stream
    output, the error's name or "", and its id. With ``until``, return as soon as that text
    has been printed, leaving the cell running."""
    if msg_id is None:
        msg_id = client.execute(code)
    out, error = [], ""
    while True:
        msg = client.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
            if until is not None and until in "".join(out):
                return "".join(out), "", msg_id
        elif kind == "error":
            error = msg["content"]["ename"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out), error, msg_id


def test_interrupting_the_cell_stops_the_run_and_it_resumes(tmp_path):
    """The kernel's interrupt (the notebook's stop button) reaches the cell's thread, not the
    run's: the run must stop as Ctrl-C stops a script's, its step killed, and resume."""
    jupyter_client = pytest.importorskip("jupyter_client.manager")
    import os
    import subprocess
    import time

    marker = f"sleep 61.{os.getpid()}"  # the step's process, found by its command line
    env = {**os.environ, "DFLOW_MODE": "debug"}
    manager, client = jupyter_client.start_new_kernel(
        kernel_name="python3", cwd=str(tmp_path), env=env
    )
    try:
        _cell(
            client,
            "from dflow import Step, Workflow, ShellOPTemplate\n"
            "wf = Workflow(name='nb-stop')\n"
            "wf.add(Step('first', ShellOPTemplate(name='first', image='a', script='echo first')))\n"
            f"slow = 'if [ -f {tmp_path}/go ]; then echo fast; else echo started; "
            f"{marker}; fi'\n"
            "wf.add(Step('slow', ShellOPTemplate(name='slow', image='a', script=slow)))",
        )
        out, _, submitted = _cell(client, "wf.submit()", until="started")
        assert "first" in out
        stopped_at = time.monotonic()
        manager.interrupt_kernel()
        _, error, _ = _cell(client, None, msg_id=submitted)
        waited = time.monotonic() - stopped_at
        assert error == "KeyboardInterrupt"
        out, _, _ = _cell(
            client, "print(wf.query_status())\nprint(wf.query_step(name='slow')[0].message)"
        )
        assert out.splitlines() == [
            "Failed",
            "interrupted (Ctrl-C); submit it again with the same id to resume it",
        ]
        left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
        assert left == "", f"the step's process outlived the interrupt: {left}"
        assert waited < 30
        # the same workflow submitted again resumes: the first step is not run again
        (tmp_path / "go").write_text("")
        out, error, _ = _cell(client, "wf.submit()\nprint(wf.query_status())")
        assert error == ""
        assert "fast" in out and "first\n" not in out
        assert out.strip().endswith("Succeeded")
    finally:
        manager.shutdown_kernel(now=True)
        subprocess.run(["pkill", "-f", marker], check=False)
