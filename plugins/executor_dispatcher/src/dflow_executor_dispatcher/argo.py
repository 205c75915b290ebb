"""Argo rendering of :class:`~dflow_executor_dispatcher.DispatcherExecutor`.

The step's pod runs the dispatcher image. Its script is a short shell header that hands a
static Python program to ``python3`` on a here-document; the step's own script (after Argo has
substituted its ``{{...}}`` variables) follows the here-document and is never parsed by the
shell nor pasted into Python source, so any parameter value is safe there (pydflow's quoting
bug #8). The program stages the step's inputs into a task directory (absolute paths become
relative: ``/tmp/inputs/x`` -> ``tmp/inputs/x``), submits one DPDispatcher task, brings the
outputs back to their paths in the pod and exits with the script's exit status. SIGTERM
(Argo stopping the step) removes the unfinished scheduler jobs.

Credentials never appear in the manifest: a password comes from a Kubernetes secret through an
environment variable (``password_secret``), a private key from a secret volume mounted at
``/root/.ssh`` with mode 0600 (``private_key_secret``).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from dflow.credentials import check_plain_envs

from . import staging

DEFAULT_IMAGE = "dptechnology/dpdispatcher:latest"
SSH_DIR = "/root/.ssh"
PASSWORD_ENV = "DFLOW_SSH_PASSWORD"
HEREDOC = "DFLOW_DISPATCHER_PY"
_SENSITIVE = ("password", "passphrase", "token", "secret", "ticket", "authorization", "access_key")

# The program run in the pod; CONFIG is a JSON literal made at render time (static values).
_PROGRAM = r"""
import json, os, shlex, shutil, signal, subprocess, sys, tempfile

CONFIG = json.loads(__CONFIG__)


def in_pod(path):
    # DFLOW_TMP_ROOT moves the template's tmp_root (tests run the script in a sandbox)
    root, moved = CONFIG["tmp_root"], os.environ.get("DFLOW_TMP_ROOT")
    if moved and (path == root or path.startswith(root.rstrip("/") + "/")):
        return moved.rstrip("/") + path[len(root.rstrip("/")):]
    return path


def rel(path):
    return path.lstrip("/")


def copy(src, dst):
    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True)
    else:
        shutil.copyfile(src, dst)


def task_script(env):
    lines = ["#!/bin/sh"]
    lines += ["export %s=%s" % (k, shlex.quote(v)) for k, v in env.items()]
    lines.append('export DFLOW_TMP_ROOT="$PWD/%s"' % rel(CONFIG["tmp_root"]))
    lines.append(CONFIG["pre_script"])
    lines.append(" ".join(shlex.quote(c) if "$PWD" not in c else c for c in CONFIG["command"])
                 + " .dflow-script")
    lines.append("rc=$?")
    lines.append(CONFIG["post_script"])
    lines.append("mkdir -p .dflow-out")
    for p in CONFIG["outputs"]:
        q = shlex.quote(rel(p))
        lines.append('if [ -e %s ]; then mkdir -p "$(dirname .dflow-out/%s)" && cp -R %s .dflow-out/%s; fi'
                     % (q, q, q, q))
    lines.append("echo $rc > .dflow-exit-code")
    return "\n".join(lines) + "\n"


def runner(payload, mode, state):
    # the step cache: the runner script keys the step here as its job would (without importing
    # the OP: dflow.runner.cacheop) and restores a sound entry's outputs to their paths
    # (mode "1"), saving a miss in `state`; after the job, it stores the outputs it brought
    # back under that key (mode "stored", or "failed": recorded, not stored)
    fd, path = tempfile.mkstemp(prefix="dflow-cache-probe-", suffix=".py")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(payload)
    env = dict(os.environ, DFLOW_CACHE_PROBE=mode, DFLOW_CACHE_STATE=state)
    try:
        return subprocess.call([sys.executable, path], env=env)
    finally:
        os.unlink(path)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        payload = f.read().split("\n%s\n" % CONFIG["heredoc"], 1)[1]
    spec = in_pod(CONFIG["tmp_root"].rstrip("/") + "/inputs/parameters/dflow_cache")
    state = tempfile.mkdtemp(prefix="dflow-cache-state-")
    hit = CONFIG["probe"] and os.path.exists(spec) and runner(payload, "1", state) == 0
    # a miss saved by the pod is stored by the pod: the job runs without the cache (neither
    # its spec nor its credentials are sent to the cluster)
    keyed = bool(os.listdir(state))
    if hit or not keyed:
        shutil.rmtree(state)
    if hit:
        print("[dflow] the step cache holds this step: no job submitted", flush=True)
        return 0
    import dpdispatcher as dp

    work = tempfile.mkdtemp(prefix="dflow-dispatcher-")
    task = os.path.join(work, "task")
    os.makedirs(task)
    forward = []
    for p in CONFIG["inputs"]:
        if os.path.exists(in_pod(p)):
            copy(in_pod(p), os.path.join(task, rel(p)))
            forward.append(rel(p))
    with open(os.path.join(task, ".dflow-script"), "w", encoding="utf-8") as f:
        f.write(payload)
    if keyed:  # the job's copy of the spec: empty (the runner then runs uncached)
        open(os.path.join(task, rel(CONFIG["tmp_root"]), "inputs", "parameters", "dflow_cache"),
             "w").close()
    env = {k: os.environ[k] for k in CONFIG["env"]
           if k in os.environ and not (keyed and k.startswith("DFLOW_CACHE_"))}
    with open(os.path.join(task, ".dflow-task.sh"), "w", encoding="utf-8") as f:
        f.write(task_script(env))
    machine = CONFIG["machine"]
    machine["local_root"] = work
    if machine.get("remote_root") is None:
        machine["remote_root"] = os.path.join(work, "remote")
    if os.environ.get(CONFIG["password_env"]):
        machine.setdefault("remote_profile", {})["password"] = os.environ[CONFIG["password_env"]]
    resources = CONFIG["resources"]
    resources.setdefault("envs", {})["DFLOW_POD"] = os.environ.get("DFLOW_POD", "")
    t = CONFIG["task"]
    logs = [n for n in dict.fromkeys([t.get("outlog"), t.get("errlog")]) if n]
    submission = dp.Submission(
        work_base=".", machine=dp.Machine.load_from_dict(machine),
        resources=dp.Resources.load_from_dict(resources),
        task_list=[dp.Task(command="sh .dflow-task.sh", task_work_path="task/",
                           forward_files=forward + [".dflow-script", ".dflow-task.sh"],
                           backward_files=[".dflow-out", ".dflow-exit-code"] + logs,
                           outlog=t.get("outlog"), errlog=t.get("errlog"))])

    def stop(signum, frame):
        print("[dflow] stopping: removing the unfinished scheduler jobs", flush=True)
        try:
            submission.remove_unfinished_tasks()
        finally:
            os._exit(143)

    signal.signal(signal.SIGTERM, stop)
    submission.run_submission(check_interval=CONFIG["check_interval"], clean=False)
    for name in logs:
        path = os.path.join(task, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                sys.stdout.write(f.read())
    try:
        with open(os.path.join(task, ".dflow-exit-code")) as f:
            rc = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        print("[dflow] the dispatcher task left no exit status: it did not finish", flush=True)
        return 1
    out = os.path.join(task, ".dflow-out")
    for p in CONFIG["outputs"]:
        if os.path.exists(os.path.join(out, rel(p))):
            copy(os.path.join(out, rel(p)), in_pod(p))
    missing = [p for p in CONFIG["required"] if not os.path.exists(in_pod(p))]
    if rc == 0 and missing:
        print("[dflow] the dispatcher task did not produce: " + ", ".join(missing), flush=True)
        rc = 1
    if keyed:
        runner(payload, "stored" if rc == 0 else "failed", state)
        shutil.rmtree(state, ignore_errors=True)
    if CONFIG["clean"]:
        submission.clean_jobs()
        shutil.rmtree(work, ignore_errors=True)
    return rc


sys.exit(main())
"""


def check_credentials(executor: Any, what: str) -> None:
    """Refuse plaintext credentials: they would be written into the manifest."""
    if getattr(executor, "password", None):
        raise ValueError(
            f"{what}: a plaintext password cannot be rendered into an Argo manifest; create a "
            f"Kubernetes secret (kubectl create secret generic <name> --from-literal=password=...) "
            "and pass password_secret='<name>' instead of password="
        )
    if getattr(executor, "private_key_file", None):
        raise ValueError(
            f"{what}: private_key_file={executor.private_key_file!r} is a file on this machine, "
            "not in the pod; create a Kubernetes secret (kubectl create secret generic <name> "
            "--from-file=id_rsa=<key file>) and pass private_key_secret='<name>' instead"
        )


def sensitive_keys(data: Any, where: str = "") -> list[str]:
    """Dotted paths of keys in ``data`` that look like credentials."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if any(s in str(key).lower() for s in _SENSITIVE) and value:
                found.append(path)
            found += sensitive_keys(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += sensitive_keys(value, f"{where}[{i}]")
    return found


def secret_wiring(
    tmpl: Any, password_secret: str | None, password_key: str, key_secret: str | None, key_name: str
) -> str | None:
    """Add the secret env and volume to ``tmpl``; the key's path in the pod, if any."""
    if password_secret:
        tmpl.envs[PASSWORD_ENV] = {"secretKeyRef": {"name": password_secret, "key": password_key}}
    if not key_secret:
        return None
    tmpl.volumes = [
        *tmpl.volumes,
        {
            "name": "dflow-ssh-key",
            "secret": {
                "secretName": key_secret,
                "defaultMode": 0o600,
                "items": [{"key": key_name, "path": key_name, "mode": 0o600}],
            },
        },
    ]
    tmpl.mounts = [*tmpl.mounts, {"name": "dflow-ssh-key", "mountPath": SSH_DIR, "readOnly": True}]
    return f"{SSH_DIR}/{key_name}"


def io_paths(tmpl: Any) -> tuple[list[str], list[str], list[str]]:
    """(inputs, outputs, required outputs): absolute paths in the pod."""
    root = (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/") or "/tmp"
    inputs = [f"{root}/inputs"]
    for name, p in tmpl.inputs.parameters.items():
        if getattr(p, "save_as_artifact", False):
            inputs.append(p.path or f"{root}/inputs/parameters/{name}")
    inputs += [a.path for a in tmpl.inputs.artifacts.values() if a.path]
    outputs = [f"{root}/outputs"]
    outputs += [p.value_from_path for p in tmpl.outputs.parameters.values() if p.value_from_path]
    outputs += [a.path for a in tmpl.outputs.artifacts.values() if a.path]
    required = [a.path for a in tmpl.outputs.artifacts.values() if a.path and not a.optional]
    return _outermost(inputs), _outermost(outputs), required


def _outermost(paths: list[str]) -> list[str]:
    """Drop paths inside another listed path (copied with it)."""
    unique = sorted(dict.fromkeys(p.rstrip("/") for p in paths))
    return [p for p in unique if not any(p.startswith(q + "/") for q in unique if q != p)]


def relative_paths(script: str, paths: list[str]) -> str:
    """A plain script's declared absolute paths, made relative to the task directory."""
    if not paths:
        return script
    alternatives = "|".join(re.escape(p) for p in sorted(set(paths), key=len, reverse=True))
    # one pass, whole path components only: /tmp/out must not touch /tmp/outputs
    pattern = re.compile(rf"(?<![\w./-])(?:{alternatives})(?![\w.-])")
    return pattern.sub(lambda m: "./" + m.group(0).lstrip("/"), script)


def pod_script(config: dict[str, Any], payload: str, python: str = "python3") -> str:
    """The pod's script: a shell header running the program; ``payload`` after it, unparsed."""
    config = {**config, "heredoc": HEREDOC, "password_env": PASSWORD_ENV}
    text = json.dumps(config, sort_keys=True)
    # {{workflow.name}} is welcome (Argo fills it in: a safe name); any other variable is not
    if "{{" in text.replace("{{workflow.name}}", ""):
        raise ValueError(
            f"DispatcherExecutor settings contain '{{{{', which Argo would substitute: {text[:200]}"
        )
    program = _PROGRAM.replace("__CONFIG__", repr(text))
    header = f"#!/bin/sh\nexec {shlex.quote(python)} - \"$0\" <<'{HEREDOC}'\n"
    return f"{header}{program.strip()}\n{HEREDOC}\n{payload}"


def dispatcher_image() -> tuple[str, str | None]:
    """``config["dispatcher_image"]`` and its pull policy (pydflow's defaults for the pod)."""
    try:
        from dflow.config import config
    except ImportError:
        return DEFAULT_IMAGE, None
    return (
        config.get("dispatcher_image") or DEFAULT_IMAGE,
        config.get("dispatcher_image_pull_policy"),
    )


def render(executor: Any, tmpl: Any) -> Any:
    """The dispatcher pod template replacing script template ``tmpl``."""
    if not hasattr(tmpl, "script") or not hasattr(tmpl, "inputs"):
        raise TypeError(
            f"DispatcherExecutor.render: expected a script template (ShellOPTemplate, "
            f"PythonOPTemplate...), got {type(tmpl).__name__}"
        )
    what = f"DispatcherExecutor (template '{tmpl.name}')"
    check_credentials(executor, what)
    found = sensitive_keys(executor.machine_dict, "machine_dict")
    if found:
        raise ValueError(
            f"{what}: {', '.join(found)} would be written into the Argo manifest in plaintext; "
            "put the password in a Kubernetes secret and pass password_secret='<name>' (SSH), "
            "or drop the field"
        )
    check_plain_envs(executor.resources_dict.get("envs"), f"the Argo manifest ({what}, envs)")
    machine = json.loads(json.dumps(executor.machine_dict))
    key_path = secret_wiring(
        tmpl,
        getattr(executor, "password_secret", None),
        getattr(executor, "password_secret_key", "password"),
        getattr(executor, "private_key_secret", None),
        getattr(executor, "private_key_secret_key", "id_rsa"),
    )
    if key_path is not None:
        machine.setdefault("remote_profile", {})["key_filename"] = key_path
    resources = json.loads(json.dumps(executor.resources_dict))
    if executor.remove_scheduling_strategies:
        resources.pop("strategy", None)
    inputs, outputs, required = io_paths(tmpl)
    remote = executor.remote_command
    command = (
        (shlex.split(remote) if isinstance(remote, str) else list(remote))
        if remote
        else list(tmpl.command or ["sh"])
    )
    command = staging.container_command(
        command,
        tmpl.image,
        executor.docker_executable,
        executor.singularity_executable,
        executor.podman_executable,
        executor.container_args,
    )
    config = {
        "machine": machine,
        "resources": resources,
        "task": executor.task_dict,
        "tmp_root": (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/") or "/tmp",
        "inputs": inputs,
        "outputs": outputs,
        "required": required,
        "command": command,
        "pre_script": executor.pre_script or "",
        "post_script": executor.post_script or "",
        "clean": bool(executor.clean),
        "check_interval": float(executor.argo_check_interval),
        # a Python OP's runner script keys a cached step in the pod (docs/cache.md)
        "probe": hasattr(tmpl, "op_class"),
    }
    python = executor.command if isinstance(executor.command, str) else shlex.join(executor.command)

    def wrap(source: str, env_names: list[str]) -> str:
        return pod_script(
            {**config, "env": [n for n in env_names if n != PASSWORD_ENV]}, source, python
        )

    is_python_op = hasattr(tmpl, "op_class")
    image, pull = dispatcher_image()
    tmpl.image = executor.image or image
    tmpl.image_pull_policy = executor.image_pull_policy or pull or tmpl.image_pull_policy
    tmpl.command = ["sh"]
    if is_python_op:
        # the runner script is made by the renderer after render(): it calls wrap_script
        tmpl.wrap_script = wrap
    else:
        payload = relative_paths(tmpl.script or "", [*inputs, *outputs])
        tmpl.script = wrap(payload, list(tmpl.envs))
    return tmpl
