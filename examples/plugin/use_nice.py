"""Use the ``nice`` executor of the dflow-nice plugin: by name, and as the default executor.

    pip install ./examples/plugin
    python examples/plugin/use_nice.py

``get_executor("nice", increment=5)`` builds one for a step; with ``executor = "nice"`` in
dflow.toml (and an optional ``[executors.nice]`` section, typed by the plugin's ``NiceConfig``)
every script step without an executor of its own uses it.
"""

from __future__ import annotations

from dflow import OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.backends import get_executor


def niceness() -> ShellOPTemplate:
    t = ShellOPTemplate(name="niceness", image="alpine:3.20", script="nice > /tmp/nice.txt")
    t.outputs.parameters = {"nice": OutputParameter(value_from_path="/tmp/nice.txt")}
    return t


def main() -> Workflow:
    wf = Workflow(name="nice-plugin")
    wf.add(
        [
            Step("default", niceness()),  # dflow.toml's executor, if any
            Step("by-name", niceness(), executor=get_executor("nice", increment=5)),
        ]
    )
    wf.submit()
    for name in ("default", "by-name"):
        print(f"{name}: niceness {wf.query_step(name=name)[0].outputs.parameters['nice'].value}")
    return wf


if __name__ == "__main__":
    main()
