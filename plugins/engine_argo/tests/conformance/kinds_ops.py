"""OPs the pod-kind tests render and run in emulated pods (shipped to the pod as a module;
importable by the Python 3.7 of a python:3.7 image)."""

from pathlib import Path
from typing import List  # noqa: UP035 (Python 3.7 pods)

from dflow.python import OP, Artifact


@OP.function
def scale(x: int, data: Artifact(Path)) -> {"y": int, "report": Artifact(Path)}:
    import sys

    text = Path(data).read_text()
    out = Path("report.txt")
    out.write_text("%s|%d|%d.%d" % (text, x, sys.version_info[0], sys.version_info[1]))
    return {"y": x * int(text), "report": out}


@OP.function
def shout(word: str) -> {"loud": str}:
    return {"loud": word.upper()}


@OP.function
def named(name: str) -> {"file": Artifact(Path), "size": int}:
    """A file ``name`` holding its own name, and that name's length."""
    Path(name).write_text(name)
    return {"file": Path(name), "size": len(name)}


@OP.function
def gathered(files: Artifact(List[Path])) -> {"texts": str}:  # noqa: UP006 (Python 3.7 pods)
    """The files' names and texts, in order."""
    return {"texts": ",".join("%s=%s" % (Path(f).name, Path(f).read_text()) for f in files)}
