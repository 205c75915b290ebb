"""An artifact passed through a shared volume: a step reads it while its producer still runs.

    python examples/shared_volume.py

``simulate`` writes its trajectory after a while; ``monitor`` runs beside it (one parallel
group) and waits for the file. ``.pvc()`` on the output gives the path on the shared volume
that ``monitor`` takes as its input artifact: a link there, which resolves once ``simulate``
has succeeded and its output has been copied to the volume.
"""

from __future__ import annotations

from dflow import (
    InputArtifact,
    OutputArtifact,
    OutputParameter,
    ShellOPTemplate,
    Step,
    Workflow,
)

WAIT = """n=0
until [ -f /tmp/traj.txt ]; do n=$((n+1)); sleep 0.1; done
[ $n -gt 0 ] && waited=yes || waited=no
echo "$(cat /tmp/traj.txt) (waited for it: $waited)" > /tmp/seen.txt
"""


def build() -> Workflow:
    simulate = ShellOPTemplate(
        name="simulate", image="alpine:3.20", script="sleep 1; echo 'frame 1..100' > /tmp/out.txt"
    )
    simulate.outputs.artifacts = {"traj": OutputArtifact(path="/tmp/out.txt")}
    monitor = ShellOPTemplate(name="monitor", image="alpine:3.20", script=WAIT)
    monitor.inputs.artifacts = {"traj": InputArtifact(path="/tmp/traj.txt")}
    monitor.outputs.parameters = {"seen": OutputParameter(value_from_path="/tmp/seen.txt")}

    run = Step("simulate", simulate)
    watch = Step("monitor", monitor, artifacts={"traj": run.outputs.artifacts["traj"].pvc()})
    wf = Workflow(name="shared-volume")
    wf.add([run, watch])  # one group: both run at once
    return wf


def main() -> Workflow:
    wf = build()
    wf.submit()
    print(f"monitor: {wf.query_step(name='monitor')[0].outputs.parameters['seen'].value}")
    return wf


if __name__ == "__main__":
    main()
