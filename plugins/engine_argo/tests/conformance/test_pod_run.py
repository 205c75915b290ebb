"""The pod emulation's main container: image, command, environment, isolation, limits.

What a script sees in an emulated pod is what it would see in a real one: the image's Python
(a pyenv interpreter of its version, nothing of the client's packages), ``/tmp`` and ``/``
private to the pod, Argo's variables, the kernel's exec limits, the deadline.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from conformance.pod import HarnessError, PodRequest, resolve_image, run_pod


def script(source: str, image: str = "python:3.11", command=("python3",), **extra) -> dict:
    return {
        "name": "t",
        "script": {"image": image, "command": list(command), "source": source, **extra},
    }


def run(repo, tmpl: dict, **kwargs):
    return run_pod(PodRequest(tmpl, "wf-run", "wf-run-t-42", "wf-run-42", repo, **kwargs))


@pytest.mark.parametrize(
    "tag, version", [("python:3.7", "3.7"), ("python:3.13-slim", "3.13"), ("python:3.8", "3.8")]
)
def test_python_is_the_images_version(repo, tag, version):
    src = (
        "import sys, sysconfig; print('%d.%d' % sys.version_info[:2], sys.executable, "
        "sysconfig.get_paths()['purelib'])"
    )
    result = run(repo, script(src, tag))
    assert result.phase == "Succeeded", result.log
    assert result.log.split() == [
        version,
        "/usr/local/bin/python3",
        f"/usr/local/lib/python{version}/site-packages",
    ]


def test_the_clients_packages_are_not_in_the_image(repo):
    # pyenv's own 3.11 has attrs installed; a python:3.11 image does not
    src = "import importlib.util as u; print([u.find_spec(m) is None for m in ('attrs', 'dflow')])"
    result = run(repo, script(src, "python:3.11"))
    assert result.log.strip() == "[True, True]"


def test_an_image_without_python_has_sh_but_no_python(repo):
    ok = run(repo, script("echo $((6 * 7))", "alpine:3.19", ["sh"]))
    assert (ok.phase, ok.log) == ("Succeeded", "42\n")
    bad = run(repo, script("print(1)", "alpine:3.19"))
    assert (bad.phase, bad.exit_code, bad.message) == ("Failed", 127, "main: Error (exit code 127)")
    assert "python3: not found" in bad.log


def test_container_templates_run_command_and_args(repo):
    tmpl = {
        "name": "c",
        "container": {
            "image": "python:3.9",
            "command": ["python3", "-c"],
            "args": ["import sys; print(sys.argv[1:])", "a b", "c"],
        },
    }
    assert run(repo, tmpl).log == "['a b', 'c']\n"
    # without a command the image's ENTRYPOINT (none for python images) runs, and the image's
    # CMD (python3) is dropped because args are given: Argo runs "-c" (workflowpod.go)
    bare = {"name": "c", "container": {"image": "python:3.9", "args": ["-c", "print('cmd')"]}}
    result = run(repo, bare)
    assert (result.phase, result.exit_code) == ("Failed", 64)
    assert result.message.endswith('exec: "-c": executable file not found in $PATH')


def test_the_script_is_staged_where_argo_puts_it(repo):
    result = run(repo, script("import sys; print(sys.argv)"))
    assert result.log == "['/argo/staging/script']\n"


def test_tmp_and_the_root_filesystem_are_private_to_the_pod(repo, tmp_path):
    marker = f"conformance-{uuid.uuid4().hex}"
    host_tmp = Path("/tmp", marker)
    host_tmp.write_text("host")
    try:
        src = (
            f"import os; print(os.listdir('/tmp'), os.getcwd()); open('/{marker}', 'w')\n"
            f"os.makedirs('/root/{marker}'); open('/tmp/{marker}', 'w')"
        )
        result = run(repo, script(src))
        assert result.phase == "Succeeded", result.log
        assert result.log == "[] /\n"  # a fresh /tmp, the image's WORKDIR
        assert not Path("/", marker).exists() and not Path("/root", marker).exists()
        assert host_tmp.read_text() == "host"
    finally:
        host_tmp.unlink()


def test_argo_sets_its_variables_and_substitutes_pod_name(repo):
    src = (
        "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
        "if k.startswith('ARGO_') or k in ('MY', 'HOSTNAME', 'PATH')}))"
    )
    # substitutePodParams: pod.name, the globals and the inputs (workflowpod.go)
    tmpl = script(
        src,
        env=[
            {
                "name": "MY",
                "value": "{{pod.name}}/{{workflow.name}}/"
                "{{workflow.parameters.g}}/{{inputs.parameters.i}}/{{other}}",
            }
        ],
    )
    tmpl["inputs"] = {"parameters": [{"name": "i", "value": "iv"}]}
    env = json.loads(
        run(repo, tmpl, deadline=600, global_params={"workflow.parameters.g": "gv"}).log
    )
    assert env["MY"] == "wf-run-t-42/wf-run/gv/iv/{{other}}" and env["HOSTNAME"] == "wf-run-t-42"
    assert env["ARGO_CONTAINER_NAME"] == "main" and env["ARGO_NODE_ID"] == "wf-run-42"
    assert env["ARGO_PROGRESS_FILE"] == "/var/run/argo/progress"
    assert (
        env["ARGO_INCLUDE_SCRIPT_OUTPUT"] == "false"
        and env["ARGO_DEADLINE"] != "0001-01-01T00:00:00Z"
    )
    assert env["PATH"].startswith("/usr/local/bin:") and "ARGO_WORKFLOW_NAME" not in env
    v4 = json.loads(run(repo, tmpl, argo_version="v4.1.2").log)
    assert v4["ARGO_WORKFLOW_NAME"] == "wf-run" and v4["ARGO_DEADLINE"] == "0001-01-01T00:00:00Z"


def test_an_environment_variable_over_the_exec_limit_fails_the_container(repo):
    # Linux refuses one "NAME=value" string of 128 KiB or more (MAX_ARG_STRLEN), so a real
    # node cannot start the container; a value just under it passes
    src = "import os; print(len(os.environ['BIG']))"
    fits = run(repo, script(src, env=[{"name": "BIG", "value": "x" * 131000}]))
    assert (fits.phase, fits.log) == ("Succeeded", "131000\n")
    big = run(repo, script(src, env=[{"name": "BIG", "value": "x" * 131072}]))
    assert big.phase == "Failed" and big.exit_code == 128 and big.outputs == {"exitCode": "128"}
    assert big.message.startswith("main: StartError (exit code 128): failed to create containerd")
    assert "argument list too long" in big.message


def test_long_container_args_are_offloaded_to_files(repo):
    tmpl = {
        "name": "c",
        "container": {
            "image": "python:3.11",
            "command": ["python3", "-c"],
            "args": [
                "import sys; a = sys.argv[1]; print(a, len(open(a[1:]).read()))",
                "y" * 200000,
            ],
        },
    }
    result = run(repo, tmpl)
    assert (result.phase, result.log) == ("Succeeded", "@/tmp/argo_arg_1.txt 200000\n")


def _processes_with(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if marker in proc.joinpath("cmdline").read_bytes().decode(errors="replace"):
                found.append(proc.name)
        except OSError:
            continue
    return found


def test_the_deadline_kills_the_pod_and_everything_it_started(repo):
    marker = f"conformance-{uuid.uuid4().hex}"
    # a background job, and one that escapes into its own session (nohup setsid ...)
    src = (
        f"sh -c 'sleep 30; echo {marker}' &\nsetsid sh -c 'sleep 30; echo {marker}' &\n"
        "echo started\nsleep 30"
    )
    t0 = time.monotonic()
    result = run(repo, script(src, "alpine:3", ["sh"]), deadline=1.5, grace=2)
    assert time.monotonic() - t0 < 20
    assert (result.phase, result.message, result.killed) == (
        "Failed",
        "Pod was active on the node longer than the specified deadline",
        "deadline",
    )
    assert result.log == "started\n"
    assert _processes_with(marker) == []


def test_a_pod_ends_with_its_main_process_and_takes_the_rest_along(repo):
    # the emissary waits for the process, not for the pipes a background child keeps open;
    # what is left dies with the container (its PID 1)
    marker = f"conformance-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    result = run(
        repo, script(f"setsid sh -c 'sleep 30; echo {marker}' &\necho done", "alpine:3", ["sh"])
    )
    assert time.monotonic() - t0 < 20
    assert (result.phase, result.log) == ("Succeeded", "done\n")
    assert _processes_with(marker) == []


def test_a_pod_sees_only_its_own_processes(repo):
    result = run(
        repo, script("import os; print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))")
    )
    pids = json.loads(result.log)
    assert 1 in pids and len(pids) <= 3  # PID 1 (the emissary), python, nothing else


def test_a_cancelled_pod_is_killed(repo):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    result = run(repo, script("import time; time.sleep(60)"), cancel=cancel, grace=0.5)
    assert result.phase == "Failed" and result.killed == "cancel"
    assert result.exit_code in (137, 143)
    cancel.set()  # stopped before main starts: main never runs
    early = run(repo, script("print('ran')"), cancel=cancel)
    assert (early.phase, early.exit_code, early.log, early.outputs) == ("Failed", None, "", {})


def test_exit_codes_and_missing_commands(repo):
    failed = run(repo, script("import sys; print('bye'); sys.exit(3)"))
    assert (failed.phase, failed.message, failed.exit_code) == (
        "Failed",
        "main: Error (exit code 3)",
        3,
    )
    assert failed.outputs == {"exitCode": "3"} and failed.log == "bye\n"
    missing = run(repo, script("x", command=["no-such-interpreter"]))
    assert (missing.phase, missing.exit_code) == ("Failed", 64)
    assert missing.message == (
        "main: Error (exit code 64): failed to find name in PATH: exec: "
        '"no-such-interpreter": executable file not found in $PATH'
    )


def test_a_template_too_big_for_its_configmap_is_refused(repo):
    result = run(repo, script("#" + "x" * (1024 * 1024) + "\nprint(1)"))
    assert (result.phase, result.exit_code) == ("Error", None)
    assert result.message == (
        'ConfigMap "wf-run-t-42" is invalid: []: Too long: must have at most 1048576 bytes'
    )
    offloaded = run(repo, script("#" + "x" * 200000 + "\nprint(1)"))
    assert offloaded.phase == "Succeeded"
    assert any("ARGO_TEMPLATE offloaded" in line for line in offloaded.executor_log)


def test_volumes_are_mounts_and_wait_reads_them_directly(repo, tmp_path):
    host = tmp_path / "node-dir"
    host.mkdir()
    (host / "seed").write_text("from the node")
    tmpl = script(
        "echo v > /data/f; cat /node/seed; echo h > /node/out",
        "alpine:3",
        ["sh"],
        volumeMounts=[
            {"name": "scratch", "mountPath": "/data"},
            {"name": "node", "mountPath": "/node"},
        ],
    )
    tmpl["volumes"] = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "node", "hostPath": {"path": str(host)}},
    ]
    tmpl["outputs"] = {
        "parameters": [
            {"name": "f", "valueFrom": {"path": "/data/f"}},
            {"name": "h", "valueFrom": {"path": "/node/out"}},
            {"name": "m", "valueFrom": {"path": "/node/missing"}},
        ]
    }
    result = run(repo, tmpl)
    assert result.log == "from the node"
    assert [p.get("value") for p in result.outputs["parameters"]] == ["v", "h", None]
    assert (host / "out").read_text() == "h\n"  # a hostPath volume is the node's directory
    assert result.message == (
        "wait: Error (exit code 64): open /mainctrfs/node/missing: no such file or directory"
    )


def sh(name: str, source: str, mount: dict) -> dict:
    return {
        "name": name,
        "script": {
            "image": "alpine:3",
            "command": ["sh"],
            "source": source,
            "volumeMounts": [mount],
        },
    }


CLAIM = {
    "metadata": {"name": "public"},
    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
}


def test_a_volume_claim_template_is_one_volume_for_all_pods(emulated_argo):
    """createPVCs (operator.go, v3.7.18): the claim is mounted by the template's name, the
    same directory in every pod of the workflow, even in two pods running at once."""
    mount = {"name": "public", "mountPath": "/tmp/mnt"}
    reader = (
        "i=0; while [ ! -e /tmp/mnt/x/msg ]; do i=$((i+1)); "
        '[ "$i" -ge 200 ] && exit 3; sleep 0.1; done; cat /tmp/mnt/x/msg'
    )
    # renamed into place, so the reader never sees the file half written
    writer = (
        "sleep 0.5; mkdir -p /tmp/mnt/x; printf hello > /tmp/mnt/x/.m; "
        "mv /tmp/mnt/x/.m /tmp/mnt/x/msg"
    )
    wf = emulated_argo.run(
        {
            "metadata": {"name": "pvc-shared"},
            "spec": {
                "entrypoint": "main",
                "volumeClaimTemplates": [CLAIM],
                "templates": [
                    {
                        "name": "main",
                        "steps": [
                            [
                                {"name": "read", "template": "reader"},
                                {"name": "write", "template": "writer"},
                            ]
                        ],
                    },
                    sh("reader", reader, mount),
                    sh("writer", writer, mount),
                ],
            },
        }
    )
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    read = next(n for n in wf["status"]["nodes"].values() if n["displayName"] == "read")
    assert emulated_argo.operator("argo", "pvc-shared").logs[read["id"]] == "hello"
    # volumeClaimGC OnWorkflowSuccess (the default): a succeeded workflow's claims are deleted
    assert "persistentVolumeClaims" not in wf["status"] and emulated_argo.cluster.claims == {}


def test_a_failed_workflow_keeps_its_claim_for_the_retry(emulated_argo):
    """deletePVCs keeps the claims of a failed workflow; a retry mounts the same one."""
    mount = {"name": "public", "mountPath": "/work", "subPath": "runs"}
    count = 'echo run >> /work/tries; [ "$(wc -l < /work/tries)" -ge 2 ]'
    manifest = {
        "metadata": {"name": "pvc-retry"},
        "spec": {
            "entrypoint": "count",
            "volumeClaimTemplates": [CLAIM],
            "templates": [sh("count", count, mount)],
        },
    }
    wf = emulated_argo.run(manifest)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["persistentVolumeClaims"] == [
        {"name": "public", "persistentVolumeClaim": {"claimName": "pvc-retry-public"}}
    ]
    claim = emulated_argo.cluster.claims[("argo", "pvc-retry-public")].path
    assert (claim / "runs" / "tries").read_text() == "run\n"  # subPath: a directory of it
    op = emulated_argo.operator("argo", "pvc-retry")
    emulated_argo.retry(op.wf, False, "")
    op.join(60)
    assert op.snapshot()["status"]["phase"] == "Succeeded"
    assert not claim.exists() and emulated_argo.cluster.claims == {}


def test_a_claim_that_does_not_exist_is_a_harness_error(repo):
    tmpl = script("true", "alpine:3", ["sh"], volumeMounts=[{"name": "d", "mountPath": "/d"}])
    tmpl["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "nope"}}]
    with pytest.raises(HarnessError, match='persistentvolumeclaim "nope" not found: the pod would'):
        run(repo, tmpl)


def test_a_volume_claim_template_needs_a_name(emulated_argo):
    tmpl = script("true", "alpine:3", ["sh"])
    wf = emulated_argo.run(
        {
            "metadata": {"name": "pvc-nameless"},
            "spec": {
                "entrypoint": "t",
                "volumeClaimTemplates": [{"spec": {}}],
                "templates": [tmpl],
            },
        }
    )
    assert (wf["status"]["phase"], wf["status"]["message"]) == (
        "Error",
        "pvc create error: volumeClaimTemplates[0].metadata.name is required",
    )


def test_unknown_images_and_template_kinds_are_harness_errors(repo):
    with pytest.raises(HarnessError, match="not known to the conformance harness"):
        resolve_image("example.com/team/tool:1.0")
    with pytest.raises(HarnessError, match="only container, script and resource templates"):
        run(repo, {"name": "s", "steps": []})
    with pytest.raises(HarnessError, match=r"\['sidecars'\] are not emulated"):
        run(repo, {**script("print(1)"), "sidecars": [{"name": "db", "image": "redis"}]})


def test_a_registered_image_adds_site_directories(repo):
    from conformance.common import cache_dir
    from conformance.images import python_image, register_image

    lib = cache_dir() / "test-site"  # not under /tmp: the pod has its own /tmp
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "imagelib.py").write_text("WHERE = 'in the image'\n")
    register_image(
        "example.com/with-lib:1", python_image("example.com/with-lib:1", "3.10", site=(str(lib),))
    )
    result = run(repo, script("import imagelib; print(imagelib.WHERE)", "example.com/with-lib:1"))
    assert result.log == "in the image\n"


def test_secrets_and_config_maps_as_env_and_volumes(repo):
    src = "echo $PASS $MODE; cat /keys/id_rsa; stat -c %a /keys/id_rsa; cat /cfg/c.ini"
    tmpl = script(
        src,
        "alpine:3",
        ["sh"],
        env=[
            {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "login", "key": "password"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {
                "name": "GONE",
                "valueFrom": {"secretKeyRef": {"name": "login", "key": "no", "optional": True}},
            },
        ],
        volumeMounts=[{"name": "key", "mountPath": "/keys"}, {"name": "cfg", "mountPath": "/cfg"}],
    )
    tmpl["volumes"] = [
        {"name": "key", "secret": {"secretName": "ssh", "defaultMode": 0o600}},
        {
            "name": "cfg",
            "configMap": {"name": "settings", "items": [{"key": "ini", "path": "c.ini"}]},
        },
    ]
    result = run(
        repo,
        tmpl,
        secrets={"login": {"password": "pw"}, "ssh": {"id_rsa": "KEY"}},
        config_maps={"settings": {"mode": "fast", "ini": "[a]"}},
    )
    assert (result.phase, result.log) == ("Succeeded", "pw fast\nKEY600\n[a]")
    with pytest.raises(HarnessError, match='secret "ssh" not found'):
        run(repo, tmpl)


def test_artifact_paths_may_not_escape_with_dot_dot(repo):
    tmpl = script("print(1)")
    tmpl["inputs"] = {
        "artifacts": [{"name": "a", "path": "/tmp/safe/../../etc/x", "raw": {"data": "x"}}]
    }
    result = run(repo, tmpl)
    assert (result.phase, result.message) == (
        "Error",
        (
            "init: Error (exit code 64): Artifact 'a' attempted to use a path containing '..'. "
            "Directory traversal is not permitted"
        ),
    )
