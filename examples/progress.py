"""Progress: an OP reports how far it got; the engine shows it on the step.

    python examples/progress.py

Set ``progress_total`` and update ``progress_current`` in ``execute``: each assignment is
written where the engine reads it (Argo's progress file in a pod), and ``query_step()`` shows
it as ``step.progress`` (``"current/total"``), also while the step runs.
"""

from __future__ import annotations

from dflow import Step, Workflow
from dflow.python import OP, OPIO, OPIOSign, PythonOPTemplate


class CountTo(OP):
    """Counts to ``n``, reporting progress after each number."""

    progress_total = 100

    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({"n": int})

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"total": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        n = op_in["n"]
        self.progress_total = n
        total = 0
        for i in range(1, n + 1):
            total += i
            self.progress_current = i
        return OPIO({"total": total})


def build(n: int = 10) -> Workflow:
    wf = Workflow(name="progress")
    wf.add(Step("count", PythonOPTemplate(CountTo), parameters={"n": n}))
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    [step] = wf.query_step(name="count")
    print(f"total {step.outputs.parameters['total'].value}, progress {step.progress}")
    return wf


if __name__ == "__main__":
    main()
