"""OPs of the acceptance tests (test_conformance.py), in a module of their own.

Argo pods import an OP's module: this one imports only dflow, so it runs in an image that
has nothing else (the test module itself imports pytest, which no image has).
"""

from __future__ import annotations

from pathlib import Path

from dflow.python import OP, Artifact


@OP.function
def maybe_read(data: Artifact(Path, optional=True)) -> {"got": str}:
    """Read an optional input artifact, or say that there was none."""
    return {"got": Path(data).read_text() if data else "nothing"}


@OP.function
def make_files(n: int) -> {"files": Artifact(list[Path], archive=None)}:
    """``n`` files ``f<i>.txt`` holding ``file <i>`` (stored without archive: sub-path slices)."""
    out = []
    for i in range(n):
        p = Path(f"f{i}.txt")
        p.write_text(f"file {i}")
        out.append(p)
    return {"files": out}


@OP.function
def shout_file(file: Artifact(Path)) -> {"loud": str, "copy": Artifact(Path)}:
    """The content of one file in capitals, and a copy of it."""
    text = Path(file).read_text().upper()
    copy = Path(f"copy-{text.split()[-1]}.txt")  # one name per slice: stacked side by side
    copy.write_text(text)
    return {"loud": text, "copy": copy}


@OP.function
def gather(louds: list, copies: Artifact(list[Path]), ts: list) -> {"summary": str}:
    """What the stacked outputs of two fan-outs hold, in order."""
    texts = [Path(c).read_text() for c in copies]
    return {"summary": "|".join([",".join(louds), ",".join(texts), ",".join(map(str, ts))])}


@OP.function
def numbers(n: int) -> {"data": list[int]}:
    return {"data": list(range(1, n + 1))}


@OP.function
def triple(data: int) -> {"t": int}:
    return {"t": 3 * data}


class Counter(OP):
    """Reports progress while it counts (pydflow's progress_total / progress_current)."""

    progress_total = 4

    @classmethod
    def get_input_sign(cls):
        from dflow.python import OPIOSign

        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        from dflow.python import OPIOSign

        return OPIOSign({"counted": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        import time

        from dflow.python import OPIO

        for i in range(4):
            self.progress_current = i + 1
            time.sleep(0.3)  # long enough for the executor to read and report it
        return OPIO({"counted": 4})


@OP.function
def use_helper(x: int) -> {"y": int}:
    """Calls a package that only reaches the pod through python_packages."""
    import conformance_helper  # shipped with upload_packages / python_packages

    return {"y": conformance_helper.double(x)}
