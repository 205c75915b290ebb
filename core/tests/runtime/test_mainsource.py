"""The code shipped for an OP defined in ``__main__``: which statements of the script go.

End to end (a script submitting at top level, a notebook run by a real kernel) in
plugins/engine_argo/tests/render/test_pod_runtime.py; here the selection rule itself.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from dflow.shipping.mainsource import SourceError, select

SCRIPT = textwrap.dedent('''\
    """The script's docstring."""
    import os
    from dflow import Workflow
    print("building")
    LIMIT = 3
    for i in range(2):
        LIMIT += i
    with open(os.devnull) as f:
        pass
    try:
        import numpy
    except ImportError:
        numpy = None
    get_ipython().run_line_magic("env", "X=1")
    path = get_ipython().getoutput("pwd")


    @decorate
    class MyOP(OP):
        def execute(self, op_in):
            return helper(op_in)


    def helper(x):
        return x


    OTHER = helper(1)
    import json
    from math import (
        pi,
        tau,
    )
    from __future__ import annotations
    wf = Workflow("x")
    wf.submit()
    ''')


def _lines(text: str) -> dict[int, str]:
    return {i: ln for i, ln in enumerate(text.splitlines(), 1) if ln}


def test_statements_before_the_op_but_calls_and_blocks_the_op_and_later_definitions():
    original = SCRIPT.splitlines()
    line = original.index("    def execute(self, op_in):") + 1
    text = select([SCRIPT], 0, line, "MyOP")
    kept = _lines(text)
    compile(text, "shipped.py", "exec")  # what ships is valid Python
    at = {ln: i for i, ln in kept.items()}
    # line numbers are the script's
    assert all(original[i - 1] == ln for i, ln in kept.items() if i <= len(original))
    for kept_line in (
        '"""The script\'s docstring."""',
        "import os",
        "LIMIT = 3",
        "try:",
        "    import numpy",
        "@decorate",
        "class MyOP(OP):",
        "def helper(x):",
    ):
        assert kept_line in at, kept_line
    for dropped in (
        'print("building")',
        "for i in range(2):",
        "with open(os.devnull) as f:",
        'get_ipython().run_line_magic("env", "X=1")',
        'path = get_ipython().getoutput("pwd")',
        "OTHER = helper(1)",
        'wf = Workflow("x")',
        "wf.submit()",
        "from __future__ import annotations",
    ):
        assert dropped not in text, dropped
    tail = text.split("    return x\n", 1)[1].strip().splitlines()
    # later imports: at the end, each optional
    assert tail == [
        "try:  # dflow: an import from after the OP's definition, optional in a pod",
        "    import json",
        "except ImportError:",
        "    pass",
        "try:  # dflow: an import from after the OP's definition, optional in a pod",
        "    from math import (",
        "        pi,",
        "        tau,",
        "    )",
        "except ImportError:",
        "    pass",
    ]


def test_notebook_cells_before_the_ops_cell_and_after_it():
    cells = [
        "import os\nprint('hi')\nA = 1",
        "class Op(OP):\n    x = A\nB = 2\ndef f():\n    pass",
        "import sys\nC = 3\nclass Later:\n    pass\nwf.submit()",
    ]
    text = select(cells, 1, 2, "Op")
    assert _lines(text) == {
        1: "import os",
        3: "A = 1",
        4: "class Op(OP):",
        5: "    x = A",
        7: "def f():",
        8: "    pass",
        11: "class Later:",
        12: "    pass",
        14: "try:  # dflow: an import from after the OP's definition, optional in a pod",
        15: "    import sys",
        16: "except ImportError:",
        17: "    pass",
    }


def test_cells_that_never_ran_are_left_out():
    text = select(["A = (", "class Op:\n    pass"], 1, 1, "Op")
    assert _lines(text) == {1: "class Op:", 2: "    pass"}


def test_op_inside_a_block_is_refused_with_what_to_do():
    script = "if True:\n    class Op:\n        pass\n"
    with pytest.raises(
        SourceError,
        match=r"OP Op is defined inside a top-level 'if' block "
        r"\(line 1\): define it at the top level",
    ):
        select([script], 0, 2, "Op")


def test_the_assignment_binding_a_function_op_is_its_definition():
    script = "def f(x: int) -> {'y': int}:\n    return {'y': x}\nOp = OP.function(f)\n"
    assert _lines(select([script], 0, 1, "f")) == {
        1: "def f(x: int) -> {'y': int}:",
        2: "    return {'y': x}",
    }
    assert "Op = OP.function(f)" in select([script], 0, 3, "Op")


def test_a_script_op_is_found_by_its_methods_and_shipped(tmp_path):
    """main_source() on an OP of a real ``__main__`` (a script run by the interpreter)."""
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent("""\
        import sys
        from dflow.python import OP, OPIO, OPIOSign
        from dflow.shipping.mainsource import main_source
        print("script ran")


        class Echo(OP):
            @classmethod
            def get_input_sign(cls):
                return OPIOSign({"x": int})

            @classmethod
            def get_output_sign(cls):
                return OPIOSign({"x": int})

            @OP.exec_sign_check
            def execute(self, op_in):
                return OPIO(op_in)


        @OP.function
        def twice(x: int) -> {"y": int}:
            return {"y": 2 * x}


        for op in (Echo, twice):
            source = main_source(op)
            sys.stdout.write(source.file_name + "\\n" + source.text + "----\\n")
        """)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    first, second, _ = proc.stdout.split("----\n")
    assert first.startswith("script ran\ndflow_main_flow_") and "class Echo(OP):" in first
    assert "def twice" in first  # a definition after Echo
    assert "def twice" in second and "class Echo(OP):" in second
    assert "script ran" not in first.split("\n", 1)[1] and 'print("script ran")' not in second
