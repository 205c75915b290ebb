"""Going to Slurm: steps as Slurm jobs, from this machine, over SSH, or from Argo.

    python examples/slurm.py

``SlurmJobTemplate`` (plugin ``dflow-executor-slurm``) makes a script step a Slurm job:

- on the local engine, submitted with ``sbatch`` on this machine (a login node), polled with
  ``squeue``/``sacct`` and cancelled with ``scancel``;
- on Argo with ``node_selector``, sent to a wlm-operator virtual node (a Slurm partition
  registered in Kubernetes).

``SlurmRemoteExecutor(host=...)`` submits over SSH instead, from a laptop or from an Argo pod.
Needing a cluster, this script only builds the workflow, renders it for Argo and checks it;
``run_locally()`` is what you would call on a login node. ``tests/test_hpc_workflows.py`` runs
the same executors against a real Slurm.
"""

from __future__ import annotations

from dflow import OutputParameter, ShellOPTemplate, Step, Workflow
from dflow.python import OP, PythonOPTemplate
from dflow.slurm import SlurmJobTemplate, SlurmRemoteExecutor

HEADER = "#!/bin/bash\n#SBATCH --nodes=1\n#SBATCH --time=00:05:00"


@OP.function
def square(x: int) -> {"y": int}:
    return {"y": x * x}


def job_id() -> ShellOPTemplate:
    t = ShellOPTemplate(
        name="job-id", image="alpine:3.20", script="echo ${SLURM_JOB_ID:-none} > /tmp/id"
    )
    t.outputs.parameters = {"id": OutputParameter(value_from_path="/tmp/id")}
    return t


def build(executor) -> Workflow:  # any executor
    wf = Workflow(name="slurm")
    wf.add(
        [
            Step("job-id", job_id(), executor=executor),
            Step("square", PythonOPTemplate(square), parameters={"x": 6}, executor=executor),
        ]
    )
    return wf


def run_locally() -> Workflow:
    """On a Slurm login node: each step is an sbatch job of this machine's cluster."""
    wf = build(SlurmJobTemplate(header=HEADER))
    wf.submit()
    print(f"job {wf.query_step(name='job-id')[0].outputs.parameters['id'].value}")
    return wf


def main() -> list[dict]:
    virtual_node = SlurmJobTemplate(
        header=HEADER, node_selector={"kubernetes.io/hostname": "slurm-minikube-v100"}
    )
    # from an Argo pod the SSH key comes from a Kubernetes secret (from a laptop, on the
    # local engine: private_key_file="~/.ssh/id_ed25519")
    over_ssh = SlurmRemoteExecutor(
        host="login.cluster.example", username="me", private_key_secret="slurm-ssh-key"
    )
    manifests = []
    for name, executor in (("wlm virtual node", virtual_node), ("SSH", over_ssh)):
        wf = build(executor)
        wf.lint()  # renders, then runs Argo's validator checks (no network)
        manifest = wf.to_dict()
        print(f"{name}: {len(manifest['spec']['templates'])} templates rendered and checked")
        manifests.append(manifest)
    return manifests


if __name__ == "__main__":
    main()
