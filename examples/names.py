"""Names: what workflows, steps, parameters and keys may be called, and the errors otherwise.

    python examples/names.py

Names are checked where they are written (workflows, steps, parameters, artifacts and the
text of keys outside their ``{{...}}`` references), with an error that says the rule.
"""

from __future__ import annotations

from dflow import InputParameter, ShellOPTemplate, Step, Workflow


def mistakes() -> list[str]:
    """The error of each kind of bad name."""
    messages = []
    template = ShellOPTemplate(name="echo", image="alpine:3.20", script="echo hi")
    for make in (
        lambda: Workflow(name="My_Workflow"),
        lambda: Step("my step", template),
        lambda: setattr(template.inputs, "parameters", {"my param": InputParameter()}),
        lambda: Step("ok", template, key="My_Key"),
    ):
        try:
            make()
        except ValueError as err:
            messages.append(str(err))
    return messages


def build() -> Workflow:
    t = ShellOPTemplate(name="echo", image="alpine:3.20", script="echo {{inputs.parameters.msg_1}}")
    t.inputs.parameters = {"msg_1": InputParameter(), "MY-PARAM": InputParameter(value="x")}
    wf = Workflow(name="my-names.v1")
    wf.add(Step("Step-1", t, parameters={"msg_1": "hi"}, key="step-1.v1"))
    return wf


def main() -> Workflow:
    for message in mistakes():
        print(f"error: {message}")
    wf = build()
    wf.submit()
    print(f"{wf.query_status()}: key {wf.query_step(name='Step-1')[0].key}")
    return wf


if __name__ == "__main__":
    main()
