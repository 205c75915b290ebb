"""Per-call overhead of ``dflow.runner.run_op`` for a trivial OP (one int in, one int out).

Baselines: calling the OP's ``execute`` directly on an in-memory OPIO, and the bare file-system
work of one call (mkdir of a fresh outputs dir, one small file). The runner adds reading the
parameter file, the sign checks, the chdir and writing the output file. Temporary files are
left in the temp dir and /dev/shm under ``dflow-bench-*``; remove them after.

    .venv/bin/python benchmarks/runner_overhead.py [calls]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from dflow.python.op import OP
from dflow.python.opio import OPIO, OPIOSign
from dflow.runner import run_op


class Inc(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"y": int})

    @OP.exec_sign_check
    def execute(self, op_in):
        return OPIO(y=op_in["x"] + 1)


def _per_call(fn, calls: int) -> float:
    """CPU seconds (user + system) per call: stable on a busy machine, unlike wall time."""
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def _measure(base: Path, calls: int) -> float:
    root = Path(tempfile.mkdtemp(prefix="dflow-bench-", dir=base))
    (root / "in/parameters").mkdir(parents=True)
    (root / "in/parameters/x").write_text("41")
    (root / "wd").mkdir()
    outs = iter(range(calls + 1))

    def runner() -> None:
        # a fresh outputs dir per call, as each step of a fan-out has
        out = root / f"out{next(outs)}"
        result = run_op(Inc, inputs_dir=root / "in", outputs_dir=out, workdir=root / "wd")
        assert result.ok, result.message

    runner()  # warm up (first imports)
    per_call = _per_call(runner, calls)
    assert (root / f"out{calls}/parameters/y").read_text() == "42"
    return per_call


def _fs_floor(base: Path, calls: int) -> float:
    """The bare file-system work of one call: two mkdirs and one small file."""
    root = Path(tempfile.mkdtemp(prefix="dflow-bench-fs-", dir=base))
    names = iter(range(calls))

    def write() -> None:
        d = root / f"out{next(names)}" / "parameters"
        d.mkdir(parents=True)
        (d / "y").write_text("42")

    return _per_call(write, calls)


def main(calls: int = 5000) -> None:
    op = Inc()
    direct = _per_call(lambda: op.execute(OPIO(x=41)), calls)
    print(f"execute() directly (baseline):   {direct * 1e6:8.1f} us CPU/call")
    for base in (Path(tempfile.gettempdir()), Path("/dev/shm")):
        if not base.is_dir():
            continue
        per_call = _measure(base, calls)
        floor = _fs_floor(base, calls)
        print(
            f"run_op, outputs under {str(base):9}: {per_call * 1e6:8.1f} us CPU/call "
            f"({per_call / direct:.1f}x baseline; bare file writes {floor * 1e6:.1f} us, "
            f"runner's own work ~{(per_call - floor) * 1e6:.0f} us)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
