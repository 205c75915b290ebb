"""Upload Python packages under development with the OP, instead of rebuilding an image.

    python examples/python_packages.py

``PythonOPTemplate(..., python_packages=[path])`` ships a local package directory (or module
file) with the step and puts it on the step's ``sys.path``; ``upload_packages.append(path)``
does it for every Python OP. Here a package written by this script, in a directory that is not
on any path, is imported inside the OP.
"""

from __future__ import annotations

from pathlib import Path

from dflow import Step, Workflow
from dflow.python import OP, PythonOPTemplate

PACKAGE = {
    "__init__.py": "from .core import greet\n\n__version__ = '0.0.dev1'\n",
    "core.py": "def greet(name):\n    return f'hello, {name}'\n",
}


@OP.function
def greet_op(name: str) -> {"greeting": str, "version": str}:
    import greetings  # only in the uploaded package

    return {"greeting": greetings.greet(name), "version": greetings.__version__}


def write_package(root: Path) -> Path:
    pkg = root / "greetings"
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in PACKAGE.items():
        (pkg / name).write_text(text)
    return pkg


def build(package: Path) -> Workflow:
    wf = Workflow(name="python-packages")
    wf.add(
        Step(
            "greet",
            PythonOPTemplate(greet_op, image="python:3.11", python_packages=[str(package)]),
            parameters={"name": "dflow"},
        )
    )
    return wf


def main() -> Workflow:
    wf = build(write_package(Path("dev-src").resolve()))
    wf.submit()
    out = wf.query_step(name="greet")[0].outputs.parameters
    print(f"{out['greeting'].value} (greetings {out['version'].value})")
    return wf


if __name__ == "__main__":
    main()
