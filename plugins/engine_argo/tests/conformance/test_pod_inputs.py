"""The pod emulation's init container: input artifacts as Argo's executor loads them.

Each test puts objects in a real SeaweedFS, runs a pod whose script reports what it finds at
the artifact's path, and checks the phase and the layout (executor.go LoadArtifacts, v3.7.18).
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.pod import PodRequest, run_pod

# a script that prints the tree under /tmp/in as JSON: {relative path: content or "<dir>"}
LIST_TREE = """\
import json, os
out = {}
root = "/tmp/in"
if os.path.isfile(root):
    out["."] = open(root).read()
for base, dirs, files in os.walk(root):
    for d in dirs:
        out[os.path.relpath(os.path.join(base, d), root)] = "<dir>"
    for f in files:
        p = os.path.join(base, f)
        out[os.path.relpath(p, root)] = open(p).read()
print(json.dumps(out, sort_keys=True))
"""


def tgz(entries: dict[str, str | None]) -> bytes:
    """A gzip'd tar of ``{name: content}`` (None: a directory entry)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = content.encode()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def run_with(repo, artifact: dict, source: str = LIST_TREE, image: str = "python:3.11"):
    tmpl = {
        "name": "t",
        "inputs": {"artifacts": [{"name": "in", "path": "/tmp/in", **artifact}]},
        "script": {"image": image, "command": ["python3"], "source": source},
    }
    return run_pod(PodRequest(tmpl, "wf", "wf-t-1", "wf-1", repo))


def tree(result) -> dict:
    assert result.phase == "Succeeded", (result.message, result.log)
    return json.loads(result.log)


def test_a_tarball_with_one_root_directory_is_unwrapped(repo, s3):
    s3.put_object(
        Bucket=s3.bucket,
        Key="a/data.tgz",
        Body=tgz({"data": None, "data/x.txt": "X", "data/sub/y.txt": "Y"}),
    )
    assert tree(run_with(repo, {"s3": {"key": "a/data.tgz"}})) == {
        "x.txt": "X",
        "sub": "<dir>",
        "sub/y.txt": "Y",
    }


def test_a_tarball_with_one_root_file_becomes_that_file(repo, s3):
    s3.put_object(Bucket=s3.bucket, Key="a/one.tgz", Body=tgz({"only.txt": "O"}))
    assert tree(run_with(repo, {"s3": {"key": "a/one.tgz"}})) == {".": "O"}


def test_a_tarball_with_several_roots_becomes_a_directory_of_them(repo, s3):
    s3.put_object(Bucket=s3.bucket, Key="a/two.tgz", Body=tgz({"p.txt": "P", "q.txt": "Q"}))
    assert tree(run_with(repo, {"s3": {"key": "a/two.tgz"}})) == {"p.txt": "P", "q.txt": "Q"}


def test_tarballs_are_detected_by_content_not_by_name(repo, s3):
    s3.put_object(Bucket=s3.bucket, Key="a/plain.tgz", Body=b"not gzip at all")
    s3.put_object(Bucket=s3.bucket, Key="a/packed.bin", Body=tgz({"z.txt": "Z"}))
    assert tree(run_with(repo, {"s3": {"key": "a/plain.tgz"}})) == {".": "not gzip at all"}
    assert tree(run_with(repo, {"s3": {"key": "a/packed.bin"}})) == {".": "Z"}


def test_archive_none_keeps_a_tarball_packed(repo, s3):
    body = tgz({"z.txt": "Z"})
    s3.put_object(Bucket=s3.bucket, Key="a/keep.tgz", Body=body)
    src = "import sys; sys.stdout.write(str(len(open('/tmp/in', 'rb').read())))"
    result = run_with(repo, {"s3": {"key": "a/keep.tgz"}, "archive": {"none": {}}}, src)
    assert result.phase == "Succeeded" and result.log == str(len(body))


def test_a_key_prefix_is_downloaded_as_a_directory(repo, s3):
    for key, body in {"pkg/k/a.txt": "A", "pkg/k/d/b.txt": "B", "pkg/kk/no.txt": "N"}.items():
        s3.put_object(Bucket=s3.bucket, Key=key, Body=body.encode())
    for key in ("pkg/k", "pkg/k/"):
        assert tree(run_with(repo, {"s3": {"key": key}})) == {
            "a.txt": "A",
            "d": "<dir>",
            "d/b.txt": "B",
        }


def test_a_missing_key_fails_the_init_container(repo):
    result = run_with(repo, {"s3": {"key": "nowhere/x.tgz"}})
    assert result.phase == "Error"
    assert result.message == (
        "init: Error (exit code 64): artifact in failed to load: The specified key does not exist."
    )
    assert result.exit_code is None and result.log == ""


def test_an_absent_optional_artifact_is_skipped(repo):
    src = "import os; print(os.path.exists('/tmp/in'))"
    for art in ({"optional": True}, {"optional": True, "s3": {"key": "nowhere"}}):
        result = run_with(repo, art, src)
        assert (result.phase, result.log) == ("Succeeded", "False\n")


def test_a_required_artifact_not_supplied_fails(repo):
    result = run_with(repo, {}, "print(1)")
    assert (result.phase, result.message) == (
        "Error",
        "init: Error (exit code 64): required artifact 'in' not supplied",
    )


def test_raw_data_is_written_and_mode_applied(repo):
    src = "import os; print(open('/tmp/in').read(), oct(os.stat('/tmp/in').st_mode & 0o777))"
    result = run_with(repo, {"raw": {"data": "hi there"}, "mode": 0o750}, src)
    assert result.log == "hi there 0o750\n"


def test_sub_path_is_the_controllers_job_not_the_pods(repo, s3):
    # scope.go resolveArtifact appends subPath to the key; the executor never reads subPath
    s3.put_object(Bucket=s3.bucket, Key="sp/whole.txt", Body=b"whole")
    result = run_with(repo, {"s3": {"key": "sp/whole.txt"}, "subPath": "part"})
    assert tree(result) == {".": "whole"}


def test_input_artifacts_are_mounts_like_volumes(repo, s3):
    # an input artifact is a volume mount in the container: it cannot be renamed away
    s3.put_object(Bucket=s3.bucket, Key="m/f.txt", Body=b"F")
    src = (
        "import os\ntry:\n    os.rename('/tmp/in', '/tmp/moved')\n    print('moved')\n"
        "except OSError as e:\n    print(e.errno)\n"
    )
    result = run_with(repo, {"s3": {"key": "m/f.txt"}}, src)
    assert result.log.strip() == "16"  # EBUSY


@pytest.fixture
def http_files():
    """A local HTTP server serving ``{path: bytes}``; 404 for anything else."""
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    files["url"] = f"http://127.0.0.1:{server.server_port}".encode()
    yield files
    server.shutdown()


def test_http_artifacts_are_fetched_and_untarred(repo, http_files):
    base = http_files["url"].decode()
    http_files["/d.tgz"] = tgz({"d": None, "d/h.txt": "H"})
    assert tree(run_with(repo, {"http": {"url": base + "/d.tgz"}})) == {"h.txt": "H"}
    missing = run_with(repo, {"http": {"url": base + "/none"}})
    assert (
        missing.message == "init: Error (exit code 64): artifact in failed to load: 404 Not Found"
    )
    optional = run_with(repo, {"http": {"url": base + "/none"}, "optional": True}, "print('ran')")
    assert (optional.phase, optional.log) == ("Succeeded", "ran\n")


def _with_link(name: str, target: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for entry, kind in (("d", tarfile.DIRTYPE), ("d/f.txt", tarfile.REGTYPE)):
            info = tarfile.TarInfo(entry)
            info.type = kind
            info.size = 1 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"F") if info.size else None)
        link = tarfile.TarInfo(name)
        link.type, link.linkname = tarfile.SYMTYPE, target
        tar.addfile(link)
    return buf.getvalue()


def test_symlinks_in_a_tarball_must_stay_inside_it(repo, s3):
    # untar (executor.go, v3.7.18): a link to a file of the artifact is kept, one that points
    # outside (an absolute path, or ../..) fails the pod
    s3.put_object(Bucket=s3.bucket, Key="l/inside.tgz", Body=_with_link("d/l", "f.txt"))
    inside = run_with(
        repo,
        {"s3": {"key": "l/inside.tgz"}},
        "import os; print(os.readlink('/tmp/in/l'), open('/tmp/in/l').read())",
    )
    assert (inside.phase, inside.log) == ("Succeeded", "f.txt F\n")
    s3.put_object(Bucket=s3.bucket, Key="l/abs.tgz", Body=_with_link("d/l", "/etc/passwd"))
    outside = run_with(repo, {"s3": {"key": "l/abs.tgz"}}, "print(1)")
    assert (outside.phase, outside.message) == (
        "Error",
        "init: Error (exit code 64): illegal symlink target: d/l -> /etc/passwd",
    )
