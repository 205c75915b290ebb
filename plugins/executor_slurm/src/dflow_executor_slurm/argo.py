"""Argo rendering of the Slurm executors.

* :func:`slurm_job_manifest`: the ``wlm.sylabs.io/v1alpha1`` SlurmJob resource (wlm-operator)
  of a script template, for ``Step(use_resource=SlurmJob(...))``. The batch script is the
  ``header``, then the step's script written to a file through a quoted here-document (its
  text is never parsed by the batch shell) and run with the template's command.
* :func:`render_remote`: ``SlurmRemoteExecutor`` on Argo is a DPDispatcher pod (the
  dflow-executor-dispatcher plugin) with a Slurm batch type over SSH: ``#SBATCH`` lines of
  ``header`` become DPDispatcher's ``custom_flags``; credentials come from Kubernetes secrets.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shlex
from typing import Any

import yaml
from dflow.credentials import check_plain_envs
from dflow.runner.scriptcache import STATE_FILE  # the lookup prepare saves for collect

API_VERSION = "wlm.sylabs.io/v1alpha1"


def _command(remote_command: Any, tmpl: Any) -> list[str]:
    if remote_command:
        return (
            shlex.split(remote_command) if isinstance(remote_command, str) else list(remote_command)
        )
    return list(getattr(tmpl, "command", None) or ["sh"])


def _container(
    command: list[str],
    image: str | None,
    docker: str | None,
    singularity: str | None,
    podman: str | None,
) -> list[str]:
    engine = docker or podman
    if not (engine or singularity):
        return command
    if not image:
        raise ValueError(
            "a container executable is set on the Slurm executor but the template "
            "has no image: give it an image or drop docker/singularity/podman_executable"
        )
    if engine:
        return [engine, "run", "--rm", "-v", "$PWD:$PWD", "-w", "$PWD", image, *command]
    assert singularity is not None  # checked above: one of them is set
    return [singularity, "exec", image, *command]


# The #SBATCH values wlm-operator reads to size the job's pod (extractBatchResources and
# applySbatchParam in pkg/operator/controller/slurmjob/parse.go, ParseDuration in
# pkg/slurm/parse.go of dptech-corp/wlm-operator): plain integers (a range's minimum for
# --nodes), Slurm durations for --time. One it cannot read makes it give up on the job: the
# SlurmJob never gets a status and the Argo step waits forever.
_INTEGER_FLAGS = ("-N", "--nodes", "--mem", "-c", "--cpus-per-task", "--ntasks-per-node")
_DURATION = re.compile(r"UNLIMITED|\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2}")


def header_problems(header: str) -> list[str]:
    """What wlm-operator cannot read in the leading #SBATCH lines of ``header``."""
    problems = []
    for line in header.splitlines():
        if not line or line.startswith("#!"):
            continue
        if not line.startswith("#SBATCH"):
            break  # the operator reads the leading block only
        words = line[len("#SBATCH") :].split()
        j = 0
        while j < len(words):
            param, eq, value = words[j].partition("=")
            if not eq:  # "--param value": the operator takes the next word, whatever it is
                if j == len(words) - 1:
                    problems.append(
                        f"'{line}': {param} ends its line without a value: the operator "
                        "reads the next word as its value and fails past the end of the "
                        "line; put another option after it on the same line (e.g. "
                        f"'#SBATCH {param} --nodes=1')"
                    )
                    break
                j += 1
                value = words[j]
            if param in _INTEGER_FLAGS:
                number = value.split("-", 1)[0] if param in ("-N", "--nodes") else value
                if not re.fullmatch(r"[-+]?\d+", number):
                    unit = " (megabytes, no suffix)" if param == "--mem" else ""
                    problems.append(
                        f"'{line}': {param} must be a plain integer{unit}, not {value!r}"
                    )
            elif param in ("-t", "--time") and not _DURATION.fullmatch(value):
                problems.append(
                    f"'{line}': {param} {value!r} is not a Slurm duration the operator reads "
                    "(minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes"
                    "[:seconds]] or UNLIMITED)"
                )
            j += 1
    return problems


def check_header(header: str, where: str) -> None:
    """Refuse a header wlm-operator cannot read (see :func:`header_problems`)."""
    problems = header_problems(header)
    if problems:
        raise ValueError(
            f"{where}: wlm-operator cannot read the #SBATCH header, so the SlurmJob would "
            "never start and the step would wait forever: " + "; ".join(problems)
        )


def batch_script(header: str, script: str, command: list[str]) -> str:
    """``header``, the script as a file (quoted here-document), then the command running it."""
    script = script if script.endswith("\n") else script + "\n"
    tag = "DFLOW_SLURM_" + hashlib.sha256(script.encode()).hexdigest()[:16].upper()
    run = " ".join(c if "$PWD" in c else shlex.quote(c) for c in command)
    head = header.rstrip("\n") + "\n" if header else "#!/bin/sh\n"
    return f"{head}cat > .dflow-script <<'{tag}'\n{script}{tag}\n{run} .dflow-script\n"


def slurm_job_manifest(job: Any, tmpl: Any) -> str:
    """The SlurmJob resource (YAML text) running script template ``tmpl``."""
    if hasattr(tmpl, "op_class"):
        raise NotImplementedError(
            f"template '{tmpl.name}': SlurmJob resources run script templates "
            "(ShellOPTemplate/PythonScriptOPTemplate); a Python OP needs its runner script, "
            "which is made by the Argo renderer: use a script template"
        )
    command = _container(
        _command(job.remote_command, tmpl),
        getattr(tmpl, "image", None),
        job.docker_executable,
        job.singularity_executable,
        job.podman_executable,
    )
    check_header(job.header, f"SlurmJob of template '{tmpl.name}'")
    spec: dict[str, Any] = {"batch": batch_script(job.header, tmpl.script or "", command)}
    if job.node_selector:
        spec["nodeSelector"] = {str(k): str(v) for k, v in job.node_selector.items()}
    for field in ("prepare", "results"):
        value = getattr(job, field)
        if value is not None:
            if not isinstance(value, dict) or "mount" not in value:
                raise ValueError(
                    f"SlurmJob({field}=...) must be a dict with 'mount' (a volume) "
                    f"and '{'to' if field == 'prepare' else 'from'}', got {value!r}"
                )
            spec[field] = value
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "SlurmJob",
        "metadata": {"generateName": f"{tmpl.name}-"},
        "spec": spec,
    }
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


def sbatch_flags(header: str) -> list[str]:
    """The ``#SBATCH`` lines of a batch header, as DPDispatcher ``custom_flags``."""
    return [line.strip() for line in header.splitlines() if line.strip().startswith("#SBATCH")]


def _dispatcher_options(ex: Any) -> dict[str, Any]:
    """The DispatcherExecutor arguments equivalent to SlurmRemoteExecutor ``ex``."""
    home = "/root" if ex.username == "root" else f"/home/{ex.username}"
    workdir = ex.workdir.replace("~", home, 1) if ex.workdir.startswith("~") else ex.workdir
    # DPDispatcher makes a directory per submission under the remote root
    root = workdir.replace("/{{pod.name}}", "").replace("{{pod.name}}", "")
    return {
        "machine_dict": {
            "batch_type": "Slurm",
            "context_type": "SSHContext",
            "local_root": ".",
            "remote_root": root,
            # the work directory is made with its parents, as the local engine's mkdir -p
            # does (DPDispatcher's SSHContext makes only the last level unless asked)
            "create_remote_root": True,
            "retry_count": 0,
            "remote_profile": {
                "hostname": ex.host,
                "username": ex.username,
                "port": ex.port,
                "timeout": 10,
            },
        },
        "resources_dict": {"custom_flags": sbatch_flags(ex.header)},
        "remove_scheduling_strategies": True,
        "image": ex.image,
        "image_pull_policy": ex.image_pull_policy,
        "command": ex.command or "python3",
        "remote_command": ex.remote_command,
        "docker_executable": ex.docker_executable,
        "singularity_executable": ex.singularity_executable,
        "podman_executable": ex.podman_executable,
        "clean": True,
        "argo_check_interval": float(ex.interval),
        # refused on Argo (plaintext credentials), with the dispatcher's message
        "password": ex.password,
        "private_key_file": ex.private_key_file,
        "password_secret": ex.password_secret,
        "password_secret_key": ex.password_secret_key,
        "private_key_secret": ex.private_key_secret,
        "private_key_secret_key": ex.private_key_secret_key,
    }


def render_remote(executor: Any, tmpl: Any) -> Any:
    """``SlurmRemoteExecutor`` on Argo: a DPDispatcher pod submitting with sbatch over SSH.

    The pod is the ``dispatcher`` executor's, found through core's executor registry (no
    plugin imports another).
    """
    from dflow.backends import get_executor
    from dflow.plugins.manager import PluginNotFoundError

    try:
        dispatcher = get_executor("dispatcher", **_dispatcher_options(executor))
    except PluginNotFoundError:
        raise NotImplementedError(
            "SlurmRemoteExecutor on Argo runs through DPDispatcher: install "
            "dflow-executor-dispatcher (pip install dflow-executor-dispatcher)"
        ) from None
    return dispatcher.render(tmpl)


# -- SlurmJobTemplate: prepare -> SlurmJob on a virtual node -> collect ----------------------

HOST_DIR = "/tmp/dflow-slurm"  # on the node: shared by the prepare, job and collect pods
MOUNT = "/dflow-slurm"  # where prepare and collect see it
# What wlm-operator (DeepModeling's fork, whose SlurmJob has spec.prepare) does with the
# folders (cmd/results/main.go of dptech-corp/wlm-operator; providers/wlm/pod.go of
# dptech-corp/virtual-kubelet): prepare zips its mount with the mount's *name* as top folder
# and unzips it at `to`, so the job's files land in <to>/<mount name>/; results zips `from`
# with its base name as top folder and unzips it in the results mount. sbatch runs in the
# login node's (red-box's) working directory, the same for every job: each job works in a
# folder of its own below it.
JOB_ROOT = "dflow-slurm"  # below red-box's working directory: <JOB_ROOT>/<key>/in
RESULTS = ".dflow-out"  # the job's results: in the job's folder, then in the out mount
KEY_PATH = "/tmp/dflow-slurm-key"
#: "true" when the prepare pod restored the step from the step cache (the job is skipped)
CACHED_PATH = "/tmp/dflow-slurm-cached"
CACHE_PARAM = "dflow_cache"
_PART = "dflow_slurm_part"  # marks the templates made here (never rendered again)


def _volume(path: str, name: str = "dflow-slurm") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": "DirectoryOrCreate"}}


def _io(tmpl: Any) -> tuple[list[str], list[str]]:
    root = (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/") or "/tmp"
    ins = [f"{root}/inputs", *(a.path for a in tmpl.inputs.artifacts.values() if a.path)]
    outs = [p.value_from_path for p in tmpl.outputs.parameters.values() if p.value_from_path]
    outs += [a.path for a in tmpl.outputs.artifacts.values() if a.path]
    return list(dict.fromkeys(ins)), list(dict.fromkeys(outs))


def _copy_lines(pairs: list[tuple[str, str]]) -> list[str]:
    out = []
    for src, dst in pairs:
        s, d = shlex.quote(src), shlex.quote(dst)
        out.append(f'if [ -e {s} ]; then mkdir -p "$(dirname {d})" && cp -RL {s} {d}; fi')
    return out


def task_script(tmpl: Any, outputs: list[str], command: list[str]) -> str:
    """What the Slurm job runs in its work directory (the ``in`` folder, staged there)."""
    check_plain_envs(tmpl.envs, f"the Slurm job script of template '{tmpl.name}' (Argo manifest)")
    envs = [
        f"export {k}={shlex.quote(str(v))}"
        for k, v in (tmpl.envs or {}).items()
        if isinstance(v, str | int | float)
    ]
    run = " ".join(c if "$PWD" in c else shlex.quote(c) for c in command)
    root = (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/") or "/tmp"
    lines = [
        *envs,
        f'export DFLOW_TMP_ROOT="$PWD/{root.lstrip("/")}"',
        f"{run} .dflow-script",
        "rc=$?",
        f"mkdir -p {RESULTS}",
    ]
    lines += _copy_lines([(p.lstrip("/"), f"{RESULTS}/" + p.lstrip("/")) for p in outputs])
    lines.append(f"echo $rc > {RESULTS}/.dflow-exit-code")
    return "\n".join(lines) + "\n"


# A Python OP's runner script reads values the renderer hands over in environment variables:
# the prepare pod writes each one to .dflow-env/<NAME> (exact bytes), and this launcher, run by
# the job's Python, puts them back before it starts the script
LAUNCHER = ".dflow-launch.py"
_LAUNCHER_SOURCE = """\
import os
import sys

env = dict(os.environb)
folder = ".dflow-env"
for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
    with open(os.path.join(folder, name), "rb") as f:
        env[name.encode()] = f.read()
os.execve(sys.executable, [sys.executable] + sys.argv[1:], env)
"""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _prepare_script(
    tmpl: Any,
    ins: list[str],
    outs: list[str],
    command: list[str],
    payload: str,
    env_names: list[str] | None = None,
) -> str:
    """The prepare pod's script: inputs and the task into the hostPath ``in`` folder (and,
    for a Python OP, its environment and the launcher), then the step's script, after the
    exit line, byte for byte, never parsed by sh."""
    lines = [
        "set -e",
        'key="{{workflow.name}}/{{pod.name}}"',
        f'dir="{MOUNT}/$key/in"',
        'mkdir -p "$dir"',
    ]
    for p in ins:
        src, dst = shlex.quote(p), '"$dir"/' + shlex.quote(p.lstrip("/"))
        lines.append(f'if [ -e {src} ]; then mkdir -p "$(dirname {dst})" && cp -RL {src} {dst}; fi')
    if env_names is not None:
        lines.append('mkdir -p "$dir/.dflow-env"')
        for name in env_names:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"SlurmJobTemplate: environment variable name {name!r}")
            lines.append(f'printf \'%s\' "${{{name}}}" > "$dir/.dflow-env/{name}"')
        lines += [
            f"cat > \"$dir/{LAUNCHER}\" <<'DFLOW_SLURM_LAUNCHER'",
            _LAUNCHER_SOURCE.rstrip("\n"),
            "DFLOW_SLURM_LAUNCHER",
        ]
    lines += [
        "cat > \"$dir/.dflow-task.sh\" <<'DFLOW_SLURM_TASK'",
        task_script(tmpl, outs, command).rstrip("\n"),
        "DFLOW_SLURM_TASK",
        'mkdir -p "$(dirname ' + KEY_PATH + ')"',
        f'printf %s "$key" > {KEY_PATH}',
    ]
    tail = _cache_lines(tmpl, outs) if env_names is not None else []
    skip = len("\n".join(lines).split("\n")) + 1 + len(tail) + 1
    lines += [f'tail -n +{skip + 1} "$0" > "$dir/.dflow-script"', *tail, "exit 0"]
    return "\n".join(lines) + "\n" + payload


def _cache_lines(tmpl: Any, outs: list[str]) -> list[str]:
    """A Python OP's prepare pod with the step cache's spec: the runner script keys the step
    here as the job's runner would (``DFLOW_CACHE_PROBE``, dflow.runner.cacheop) and restores
    a hit's outputs; they go where collect reads the job's, with exit status 0, and
    ``CACHED_PATH`` says "true", which skips the run step. A miss is saved on the node for
    the collect pod, which stores the job's outputs (:mod:`.script_cache`): the job gets an
    empty spec and no cache credentials. Needs ``python3`` in the util image (pydflow's
    default, python:3.8); without it the job checks and stores, as before."""
    root = (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/")
    spec = shlex.quote(f"{root}/inputs/parameters/{CACHE_PARAM}")
    out = f'"{MOUNT}/$key/out/{RESULTS}"'
    lines = [
        f"printf false > {CACHED_PATH}",
        "rc=1",
        f"if [ -s {spec} ] && command -v python3 >/dev/null 2>&1; then",
        f'  rc=0; DFLOW_CACHE_PROBE=1 DFLOW_CACHE_STATE="{MOUNT}/$key" \\',
        '    python3 "$dir/.dflow-script" || rc=$?',
        "fi",
        'if [ "$rc" = 0 ]; then',
        f"  mkdir -p {out}",
    ]
    for p in outs:
        src, dst = shlex.quote(p), f'"{MOUNT}/$key/out/{RESULTS}/"' + shlex.quote(p.lstrip("/"))
        lines.append(
            f'  if [ -e {src} ]; then mkdir -p "$(dirname {dst})" && cp -RL {src} {dst}; fi'
        )
    lines += [f"  echo 0 > {out}/.dflow-exit-code", f"  printf true > {CACHED_PATH}"]
    job_spec = '"$dir"/' + shlex.quote(f"{root.lstrip('/')}/inputs/parameters/{CACHE_PARAM}")
    lines += [
        f'elif [ -f "{MOUNT}/$key/{STATE_FILE}" ]; then',
        f"  : > {job_spec}",
        '  rm -f "$dir"/.dflow-env/DFLOW_CACHE_*',
        "fi",
    ]
    return lines


def render_template(ex: Any, tmpl: Any) -> Any:
    """``SlurmJobTemplate`` on Argo: a Steps template of prepare, run (a SlurmJob) and collect.

    A Python OP's runner script is made by the Argo renderer after this: the prepare step is
    then a copy of the OP template whose ``wrap_script`` (called by the renderer with the
    script and the names of its environment variables) makes the prepare pod's script. A
    script whose step uses the step cache (``tmpl.step_cached``, set by the Argo renderer) is
    keyed by its prepare pod and stored by its collect pod (:mod:`.script_cache`).
    """
    if not hasattr(tmpl, "script") or not hasattr(tmpl, "inputs"):
        raise TypeError(
            f"SlurmJobTemplate.render: expected a script template (ShellOPTemplate, "
            f"PythonOPTemplate...), got {type(tmpl).__name__}"
        )
    from dflow.model.io import InputParameter, OutputArtifact, OutputParameter, Outputs
    from dflow.model.op_template import ShellOPTemplate
    from dflow.model.step import Step
    from dflow.model.steps import Steps

    if getattr(tmpl, _PART, False):
        return tmpl
    is_python_op = hasattr(tmpl, "op_class")
    if not ex.node_selector:
        raise ValueError(
            f"SlurmJobTemplate (template '{tmpl.name}'): give node_selector, the "
            "label of the wlm-operator virtual node of the Slurm partition"
        )
    check_header(ex.header, f"SlurmJobTemplate (template '{tmpl.name}')")
    ins, outs = _io(tmpl)
    command = _container(
        _command(ex.remote_command, tmpl),
        tmpl.image,
        ex.docker_executable,
        ex.singularity_executable,
        ex.podman_executable,
    )
    key = "{{inputs.parameters.dflow_slurm_key}}"
    mount = [{"name": "dflow-slurm", "mountPath": MOUNT}]
    image, pull = _util_image(ex.prepare_image, ex.prepare_image_pull_policy)
    if is_python_op:
        prepare = copy.deepcopy(tmpl)
        prepare.name = f"{tmpl.name}-slurm-prepare"
        launch = [*command, LAUNCHER]

        def wrap(source: str, env_names: list[str]) -> str:
            return _prepare_script(tmpl, ins, outs, launch, source, env_names)

        prepare.wrap_script = wrap
        prepare.image, prepare.image_pull_policy, prepare.command = image, pull, ["sh"]
        prepare.volumes, prepare.mounts = [_volume(HOST_DIR)], mount
        # the job's policies are the step's: the prepare pod is not retried nor timed out by them
        prepare.retry_strategy = prepare.timeout = prepare.memoize_key = None
        prepare.outputs = Outputs()
        # the step cache's spec, when the step passes one ("" otherwise): the prepare pod checks
        prepare.inputs.parameters[CACHE_PARAM] = InputParameter()
    else:
        prepare = ShellOPTemplate(
            name=f"{tmpl.name}-slurm-prepare",
            image=image,
            image_pull_policy=pull,
            script=_prepare_script(
                tmpl, ins, outs, command, relative_paths(tmpl.script or "", [*ins, *outs])
            ),
            volumes=[_volume(HOST_DIR)],
            mounts=mount,
        )
        prepare.inputs = copy_inputs(tmpl)
    cached = is_python_op or tmpl.step_cached
    prepare.outputs.parameters = {"dflow_slurm_key": OutputParameter(value_from_path=KEY_PATH)}
    if cached:
        prepare.outputs.parameters["dflow_cached"] = OutputParameter(value_from_path=CACHED_PATH)

    run = ShellOPTemplate(name=f"{tmpl.name}-slurm-run")
    run.inputs.parameters = {"dflow_slurm_key": InputParameter()}
    job = _RunJob(ex, key)

    results = f"{MOUNT}/{key}/out/{RESULTS}"
    coll_lines = ["set -e"]
    coll_lines += _copy_lines([(f"{results}/" + p.lstrip("/"), p) for p in outs])
    coll_lines += [
        f'rc=$(cat "{results}/.dflow-exit-code" 2>/dev/null || echo 1)',
        'echo "[dflow] Slurm job exit status: $rc"',
        'exit "$rc"',
    ]
    image, pull = _util_image(ex.collect_image, ex.collect_image_pull_policy)
    collect = ShellOPTemplate(
        name=f"{tmpl.name}-slurm-collect",
        image=image,
        image_pull_policy=pull,
        script="\n".join(coll_lines) + "\n",
        volumes=[_volume(HOST_DIR)],
        mounts=mount,
    )
    collect.inputs.parameters = {"dflow_slurm_key": InputParameter()}
    collect.outputs = copy.deepcopy(tmpl.outputs)
    if cached and not is_python_op:  # the job runs the bare script: its pods key and store
        from .script_cache import add

        add(tmpl, prepare, collect)
    elif is_python_op and tmpl.step_cached:  # prepare keys the step, collect stores it
        from .script_cache import store_op

        store_op(tmpl, collect)
    for t in (prepare, run, collect):
        setattr(t, _PART, True)

    steps = Steps(name=f"{tmpl.name}-slurm")
    steps.inputs = copy_inputs(tmpl, paths=False)
    if cached:
        steps.inputs.parameters[CACHE_PARAM] = InputParameter(value="")
    s_prep = Step(
        "slurm-prepare",
        prepare,
        parameters={n: steps.inputs.parameters[n] for n in prepare.inputs.parameters},
        artifacts={n: steps.inputs.artifacts[n] for n in tmpl.inputs.artifacts},
    )
    key_ref = s_prep.outputs.parameters["dflow_slurm_key"]
    # a step restored by the prepare pod is not run (Argo: a false `when` makes the node
    # Skipped and the next step runs, steps.go executeStepGroup/shouldExecute, v3.7.18 and
    # v4.1.2; govaluate compares the substituted words `true`/`false` as booleans)
    when = f"{s_prep.outputs.parameters['dflow_cached']} != true" if cached else None
    s_run = Step(
        "slurm-run", run, parameters={"dflow_slurm_key": key_ref}, use_resource=job, when=when
    )
    coll_args: dict[str, Any] = {"dflow_slurm_key": key_ref}
    if CACHE_PARAM in collect.inputs.parameters:
        coll_args[CACHE_PARAM] = steps.inputs.parameters[CACHE_PARAM]
    s_coll = Step("slurm-collect", collect, parameters=coll_args)
    # a slice of a sliced step (Argo renderer): prepare lays out the OP for its slice and
    # the job's runner picks the item; collect's stacked outputs join the fan-out's
    s_prep.slice_part, s_coll.slice_part = "run", "outputs"
    s_prep.with_param = None  # the fan-out is the sliced step's own, around this template
    steps.add(s_prep)
    steps.add(s_run)
    steps.add(s_coll)
    steps.outputs.parameters = {
        n: OutputParameter(value_from_parameter=s_coll.outputs.parameters[n])
        for n in tmpl.outputs.parameters
    }
    steps.outputs.artifacts = {
        n: OutputArtifact(_from=s_coll.outputs.artifacts[n]) for n in tmpl.outputs.artifacts
    }
    return steps


def _util_image(image: str | None, pull: str | None) -> tuple[str, str | None]:
    """The image of the prepare/collect pods: the executor's, else ``config["util_image"]``
    (and its pull policy), as pydflow does."""
    if image:
        return image, pull
    try:
        from dflow.config import config
    except ImportError:
        return "alpine:3", pull
    return config.get("util_image") or "alpine:3", pull or config.get("util_image_pull_policy")


def relative_paths(script: str, paths: list[str]) -> str:
    """The script's declared absolute paths made relative to the job's work directory."""
    if not paths:
        return script
    alternatives = "|".join(re.escape(p) for p in sorted(set(paths), key=len, reverse=True))
    # one pass, whole path components only: /tmp/out must not touch /tmp/outputs
    pattern = re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w.-])")
    return pattern.sub(lambda m: "./" + m.group(0).lstrip("/"), script)


def copy_inputs(tmpl: Any, paths: bool = True) -> Any:
    inputs = copy.deepcopy(tmpl.inputs)
    if not paths:
        for a in inputs.artifacts.values():
            a.path = None
    return inputs


class _RunJob:
    """The SlurmJob resource of the run step: the hostPath ``in`` folder of this invocation
    is staged as ``<JOB_ROOT>/<key>/in`` (the job's work directory), and the job's
    ``.dflow-out`` there comes back as ``out/.dflow-out`` (see JOB_ROOT)."""

    action = "create"
    success_condition = "status.status == Succeeded"
    failure_condition = "status.status == Failed"

    def __init__(self, ex: Any, key: str) -> None:
        self.ex, self.key = ex, key

    def get_manifest(self, template: Any) -> str:
        job = f"{JOB_ROOT}/{self.key}"
        head = self.ex.header.rstrip("\n") + "\n" if self.ex.header else "#!/bin/sh\n"
        spec = {
            "batch": f"{head}cd {job}/in && sh .dflow-task.sh\n",
            "nodeSelector": {str(k): str(v) for k, v in self.ex.node_selector.items()},
            "prepare": {"to": job, "mount": _volume(f"{HOST_DIR}/{self.key}/in", "in")},
            "results": {
                "from": f"{job}/in/{RESULTS}",
                "mount": _volume(f"{HOST_DIR}/{self.key}/out", "out"),
            },
        }
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "SlurmJob",
            "metadata": {"generateName": f"{template.name}-"},
            "spec": spec,
        }
        return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
