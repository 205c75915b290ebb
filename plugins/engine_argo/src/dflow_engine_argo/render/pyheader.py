"""A header that runs the rest of a Python script and acts on how it ended.

The header reads its own file (``sys.argv[0]``), runs the script after it with blank lines
in place of the header's (so the script's line numbers stay right in tracebacks), catches
``SystemExit``, and runs ``on_success`` when the script ended with status 0, however it
ended; ``before`` runs first. Nothing of the script is quoted into the header, so any text
in it is safe. The success tag of ``continue_on_num_success/ratio`` and the links and copies
of shared volumes (``.pvc()``) use it.
"""

from __future__ import annotations

import textwrap

_HEADER = """\
import sys as _dflow_sys


def _dflow_run_script():
    # run the script below (this file, from line {start}){purpose}
    import os
    import shutil

{before}
    path = _dflow_sys.argv[0]
    with open(path) as f:
        lines = f.read().split("\\n")
    body = "\\n" * {skip} + "\\n".join(lines[{skip}:])
    code = 0
    try:
        exec(compile(body, path, "exec"), {{"__name__": "__main__", "__file__": path,
                                           "__builtins__": __builtins__}})
    except SystemExit as exc:
        code = exc.code
    if code in (0, None):
{on_success}
    return code


_dflow_sys.exit(_dflow_run_script())
"""


def with_header(source: str, on_success: str, before: str = "", purpose: str = "") -> str:
    """``source`` (a Python script) behind the header; ``before`` and ``on_success`` are
    Python statements (unindented) with ``os`` and ``shutil`` imported."""

    def header(skip: int) -> str:
        return _HEADER.format(
            start=skip + 1,
            skip=skip,
            purpose=f": {purpose}" if purpose else "",
            before=textwrap.indent(before.strip("\n"), "    ") if before.strip() else "",
            on_success=textwrap.indent(on_success.strip("\n"), "        "),
        )

    skip = header(0).count("\n")
    text = header(skip)
    assert text.count("\n") == skip  # the line count does not depend on the numbers in it
    return text + source
