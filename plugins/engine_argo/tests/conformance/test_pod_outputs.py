"""The pod emulation's wait container: outputs as Argo's executor collects them.

Parameters from ``valueFrom.path`` (default, errors), artifacts saved to a real SeaweedFS under
the archive location (tgz by default, plain with ``archive: none``, explicit keys, optional),
the script result, archived logs and progress (executor.go, wait.go, emissary.go v3.7.18).
"""

from __future__ import annotations

import io
import tarfile

import pytest

from conformance.pod import ArtifactRepository, PodRequest, run_pod

WRITE = """\
import os
os.makedirs('/tmp/out/dir/sub', exist_ok=True)
open('/tmp/out/dir/a.txt', 'w').write('A')
open('/tmp/out/dir/sub/b.txt', 'w').write('B')
open('/tmp/out/file.txt', 'w').write('F')
open('/tmp/out/p', 'w').write('value\\n\\n')
print('done')
"""


def run(repo, outputs: dict, source: str = WRITE, **kwargs):
    tmpl = {
        "name": "w",
        "outputs": outputs,
        "script": {"image": "python:3.12", "command": ["python3"], "source": source},
    }
    return run_pod(PodRequest(tmpl, "wf-out", "wf-out-w-7", "wf-out-7", repo, **kwargs))


def members(s3, key: str) -> dict[str, str | None]:
    body = s3.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: (tar.extractfile(m).read().decode() if m.isfile() else None) for m in tar}


def keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3.bucket).get("Contents", []))


def test_parameters_come_from_files_with_one_newline_trimmed(repo):
    result = run(
        repo,
        {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/out/p"}, "description": "kept"}]},
    )
    assert result.phase == "Succeeded"
    assert result.outputs["parameters"] == [
        {
            "name": "p",
            "valueFrom": {"path": "/tmp/out/p"},
            "description": "kept",
            "value": "value\n",
        }
    ]
    assert result.outputs["exitCode"] == "0"


def test_a_missing_parameter_file_takes_the_default_or_errors(repo):
    with_default = run(
        repo, {"parameters": [{"name": "m", "valueFrom": {"path": "/tmp/none", "default": "dflt"}}]}
    )
    assert with_default.phase == "Succeeded"
    assert with_default.outputs["parameters"][0]["value"] == "dflt"
    without = run(
        repo,
        {
            "parameters": [
                {"name": "m", "valueFrom": {"path": "/tmp/none"}},
                {"name": "p", "valueFrom": {"path": "/tmp/out/p"}},
            ]
        },
    )
    assert without.phase == "Error" and without.exit_code == 0
    assert without.message == (
        "wait: Error (exit code 64): open "
        "/var/run/argo/outputs/parameters/tmp/none: no such file or directory"
    )
    # SaveParameters stops at the first error: later parameters stay without a value
    assert [p.get("value") for p in without.outputs["parameters"]] == [None, None]


def test_outputs_are_collected_even_when_main_fails(repo, s3):
    result = run(
        repo,
        {
            "parameters": [{"name": "p", "valueFrom": {"path": "/tmp/out/p"}}],
            "artifacts": [{"name": "f", "path": "/tmp/out/file.txt"}],
        },
        WRITE + "raise SystemExit(2)\n",
    )
    assert (result.phase, result.message) == ("Failed", "main: Error (exit code 2)")
    assert result.outputs["parameters"][0]["value"] == "value\n"
    assert result.outputs["artifacts"][0]["s3"] == {"key": "wf-out/wf-out-w-7/f.tgz"}
    assert result.outputs["exitCode"] == "2"


def test_artifacts_are_tgz_under_the_key_format(repo, s3):
    result = run(
        repo,
        {
            "artifacts": [
                {"name": "d", "path": "/tmp/out/dir"},
                {"name": "f", "path": "/tmp/out/file.txt"},
            ]
        },
    )
    assert result.phase == "Succeeded", result.message
    assert result.outputs["artifacts"] == [
        {"name": "d", "path": "/tmp/out/dir", "s3": {"key": "wf-out/wf-out-w-7/d.tgz"}},
        {"name": "f", "path": "/tmp/out/file.txt", "s3": {"key": "wf-out/wf-out-w-7/f.tgz"}},
    ]
    # TarGzToWriter: a directory under its base name, a file as its name
    assert members(s3, "wf-out/wf-out-w-7/d.tgz") == {
        "dir": None,
        "dir/a.txt": "A",
        "dir/sub": None,
        "dir/sub/b.txt": "B",
    }
    assert members(s3, "wf-out/wf-out-w-7/f.tgz") == {"file.txt": "F"}


def test_archive_none_saves_plain_objects(repo, s3):
    result = run(
        repo,
        {
            "artifacts": [
                {"name": "d", "path": "/tmp/out/dir", "archive": {"none": {}}},
                {"name": "f", "path": "/tmp/out/file.txt", "archive": {"none": {}}},
            ]
        },
    )
    assert [a["s3"]["key"] for a in result.outputs["artifacts"]] == [
        "wf-out/wf-out-w-7/dir",
        "wf-out/wf-out-w-7/file.txt",
    ]
    assert keys(s3) == [
        "wf-out/wf-out-w-7/dir/a.txt",
        "wf-out/wf-out-w-7/dir/sub/b.txt",
        "wf-out/wf-out-w-7/file.txt",
    ]
    body = s3.get_object(Bucket=s3.bucket, Key="wf-out/wf-out-w-7/file.txt")["Body"].read()
    assert body == b"F"


def test_an_explicit_key_is_kept(repo, s3):
    result = run(
        repo,
        {
            "artifacts": [
                {"name": "f", "path": "/tmp/out/file.txt", "s3": {"key": "fixed/{{pod.name}}.tgz"}}
            ]
        },
    )
    assert result.outputs["artifacts"][0]["s3"] == {"key": "fixed/wf-out-w-7.tgz"}
    assert members(s3, "fixed/wf-out-w-7.tgz") == {"file.txt": "F"}


def test_the_repository_key_format_is_substituted(seaweedfs, repo, s3):
    repo = ArtifactRepository.for_seaweedfs(
        seaweedfs, repo.bucket, key_format="runs/{{workflow.name}}/x/{{pod.name}}"
    )
    result = run(repo, {"artifacts": [{"name": "f", "path": "/tmp/out/file.txt"}]})
    assert result.template["archiveLocation"]["s3"]["key"] == "runs/wf-out/x/wf-out-w-7"
    assert keys(s3) == ["runs/wf-out/x/wf-out-w-7/f.tgz"]


def test_missing_artifacts_optional_or_not(repo, s3):
    optional = run(
        repo,
        {
            "artifacts": [
                {"name": "o", "path": "/tmp/none", "optional": True},
                {"name": "f", "path": "/tmp/out/file.txt"},
            ]
        },
    )
    assert optional.phase == "Succeeded"
    assert [a["name"] for a in optional.outputs["artifacts"]] == ["f"]
    required = run(
        repo,
        {"artifacts": [{"name": "o", "path": "/tmp/none"}, {"name": "g", "path": "/tmp/gone"}]},
    )
    assert required.phase == "Error" and "artifacts" not in required.outputs
    assert required.message == (
        "wait: Error (exit code 64): open /var/run/argo/outputs/artifacts/tmp/none.tgz: no such "
        "file or directory; open /var/run/argo/outputs/artifacts/tmp/gone.tgz: no such file or "
        "directory; "
    )


def test_outputs_inside_an_input_artifact_are_read_from_its_volume(repo, s3):
    # isBaseImagePath: a path on the input artifact's volume is read by wait directly
    # (/mainctrfs/...), not from the emissary's copy in /var/run/argo
    s3.put_object(Bucket=s3.bucket, Key="vol/in/seed.txt", Body=b"seed")
    src = "echo -n grown >> /tmp/in/seed.txt; mkdir /tmp/in/made; echo m > /tmp/in/made/m"
    tmpl = {
        "name": "v",
        "inputs": {"artifacts": [{"name": "i", "path": "/tmp/in", "s3": {"key": "vol/in"}}]},
        "outputs": {
            "parameters": [
                {"name": "p", "valueFrom": {"path": "/tmp/in/seed.txt"}},
                {"name": "q", "valueFrom": {"path": "/tmp/in/none"}},
            ],
            "artifacts": [
                {"name": "a", "path": "/tmp/in/made", "archive": {"none": {}}},
                {"name": "b", "path": "/tmp/in/gone", "archive": {"none": {}}, "optional": True},
            ],
        },
        "script": {"image": "alpine:3", "command": ["sh"], "source": src},
    }
    result = run_pod(PodRequest(tmpl, "wf", "wf-v-1", "wf-1", repo))
    assert result.message == (
        "wait: Error (exit code 64): open /mainctrfs/tmp/in/none: no such file or directory"
    )
    assert result.outputs["parameters"][0]["value"] == "seedgrown"
    assert [a["s3"]["key"] for a in result.outputs["artifacts"]] == ["wf/wf-v-1/made"]
    assert keys(s3) == ["vol/in/seed.txt", "wf/wf-v-1/made/m"]


def test_the_script_result_is_captured_when_referenced(repo):
    result = run(repo, {}, "print('line1')\nprint('line2')", include_script_output=True)
    assert result.outputs["result"] == "line1\nline2"
    assert "result" not in run(repo, {}, "print('x')").outputs


def test_logs_are_archived_when_the_repository_says_so(seaweedfs, repo, s3):
    repo = ArtifactRepository.for_seaweedfs(seaweedfs, repo.bucket, archive_logs=True)
    result = run(repo, {}, "import sys; print('out'); print('err', file=sys.stderr)")
    assert result.outputs["artifacts"] == [
        {"name": "main-logs", "s3": {"key": "wf-out/wf-out-w-7/main.log"}}
    ]
    body = s3.get_object(Bucket=s3.bucket, Key="wf-out/wf-out-w-7/main.log")["Body"].read()
    assert sorted(body.decode().split()) == ["err", "out"]


@pytest.mark.parametrize("ticks, expected", [((0.4, 0.1), "3/4"), ((60.0, 0.1), None)])
def test_progress_reaches_the_node_at_patch_ticks(repo, ticks, expected):
    src = (
        "import os, time\nfor i in range(1, 4):\n"
        "    open(os.environ['ARGO_PROGRESS_FILE'], 'a').write('%d/4\\n' % i)\n"
        "    time.sleep(0.3)\ntime.sleep(1.5)\n"
    )
    result = run(repo, {}, src, progress_ticks=ticks)
    assert result.phase == "Succeeded"
    assert result.progress == expected


def test_a_templates_own_archive_location_is_used_only_when_complete(repo, s3):
    # addArchiveLocation (workflowpod.go): a location with endpoint, bucket and key is the
    # template's own; anything less is replaced by the repository's
    art = {"artifacts": [{"name": "f", "path": "/tmp/out/file.txt"}]}
    own = {
        "s3": {
            "endpoint": repo.endpoint,
            "bucket": repo.bucket,
            "insecure": True,
            "key": "mine/{{pod.name}}",
        }
    }
    for location, key in (
        (own, "mine/wf-out-w-7/f.tgz"),
        ({"s3": {"key": "partial/{{pod.name}}"}}, "wf-out/wf-out-w-7/f.tgz"),
    ):
        tmpl = {
            "name": "w",
            "outputs": art,
            "archiveLocation": location,
            "script": {"image": "python:3.12", "command": ["python3"], "source": WRITE},
        }
        result = run_pod(PodRequest(tmpl, "wf-out", "wf-out-w-7", "wf-out-7", repo))
        assert result.outputs["artifacts"][0]["s3"]["key"] == key
        assert key in keys(s3)


def test_pods_run_concurrently_from_threads(repo, s3):
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int):
        tmpl = {
            "name": "w",
            "outputs": {
                "parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p"}}],
                "artifacts": [{"name": "a", "path": "/tmp/p"}],
            },
            "script": {
                "image": "python:3.12",
                "command": ["python3"],
                "source": f"import time; time.sleep(0.5); open('/tmp/p', 'w').write('{i}')",
            },
        }
        return run_pod(PodRequest(tmpl, "wf-c", f"wf-c-w-{i}", f"wf-c-{i}", repo))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(4)))
    assert [r.outputs["parameters"][0]["value"] for r in results] == ["0", "1", "2", "3"]
    assert keys(s3) == [f"wf-c/wf-c-w-{i}/a.tgz" for i in range(4)]
    assert [members(s3, f"wf-c/wf-c-w-{i}/a.tgz") for i in range(4)] == [
        {"p": str(i)} for i in range(4)
    ]


def test_outputs_too_big_for_a_task_result_are_lost(repo):
    # a 2 MB parameter cannot be reported (etcd refuses the WorkflowTaskResult): on Argo a
    # big value must travel as an artifact (dflow's BigParameter)
    src = "open('/tmp/p', 'w').write('x' * 2_000_000)"
    result = run(repo, {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p"}}]}, src)
    assert (result.phase, result.message) == (
        "Error",
        "wait: Error (exit code 64): etcdserver: request is too large",
    )
    assert result.outputs == {"exitCode": "0"}
    fits = run(
        repo,
        {"parameters": [{"name": "p", "valueFrom": {"path": "/tmp/p"}}]},
        "open('/tmp/p', 'w').write('x' * 1_000_000)",
    )
    assert fits.phase == "Succeeded" and len(fits.outputs["parameters"][0]["value"]) == 1_000_000
