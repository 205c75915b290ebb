"""Artifact reference classes and the non-store artifact kinds (local path, HTTP, custom)."""

from __future__ import annotations

import http.server
import threading

import pytest
from dflow.config import config, s3_config
from dflow.storage import (
    CustomArtifact,
    HTTPArtifact,
    LocalArtifact,
    LocalStorageClient,
    S3Artifact,
    StorageError,
    download_artifact,
    download_s3,
    upload_artifact,
    upload_s3,
)


def test_s3_artifact_prefix_rules(monkeypatch):
    monkeypatch.setitem(s3_config, "prefix", "p/")
    monkeypatch.setitem(s3_config, "extra_prefixes", ["shared/"])
    assert S3Artifact(key="a/b").key == "p/a/b"
    assert S3Artifact(key="p/a/b").key == "p/a/b"
    assert S3Artifact(key="shared/x").key == "shared/x"
    assert S3Artifact().key is None


@pytest.mark.parametrize("archive", [None, "tar"])
def test_upload_artifact_stores_under_the_prefixed_key(monkeypatch, tmp_path, archive):
    monkeypatch.setitem(s3_config, "prefix", "team-a/")
    store = LocalStorageClient(tmp_path / "store")
    (tmp_path / "foo.txt").write_text("one two\n")
    monkeypatch.chdir(tmp_path)
    art = upload_artifact("foo.txt", archive=archive, storage_client=store)
    assert art.key.startswith("team-a/upload/")
    assert store.list(art.key, recursive=True)  # the object is where the key says
    out = download_artifact(art, path=str(tmp_path / "out"), storage_client=store)
    assert [open(p).read() for p in out] == ["one two\n"]


def test_s3_artifact_sub_path_slice_and_equality():
    art = S3Artifact(key="k/art")
    sub = art.sub_path("d").sub_path("e.txt")
    assert sub.selected_path == "d/e.txt" and sub.full_key == "k/art/d/e.txt"
    assert art.selected_path is None  # the original is unchanged
    assert art[3].slice == 3 and art.slice is None
    assert S3Artifact(key="k/art") == art and hash(S3Artifact(key="k/art")) == hash(art)
    assert sub != art and art[1] != art
    assert S3Artifact.from_dict(sub[2].to_dict()) == sub[2]
    with pytest.raises(TypeError, match="key must be a str"):
        S3Artifact(key=5)


def test_s3_artifact_oss(monkeypatch):
    monkeypatch.setitem(s3_config, "repo_prefix", "repo/")
    assert S3Artifact(key="k").oss() == {"key": "repo/k"}


def test_local_artifact_download(tmp_path):
    src = tmp_path / "src"
    (src / "x").mkdir(parents=True)
    (src / "x" / "f.txt").write_text("hi")
    out = tmp_path / "out"
    assert download_artifact(LocalArtifact(str(src)), path=str(out)) == [str(out)]
    assert (out / "x" / "f.txt").read_text() == "hi"
    with pytest.raises(StorageError, match="does not exist"):
        download_artifact(LocalArtifact(str(tmp_path / "none")), path=str(out))


def test_http_artifact_download(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(b"\x00\x01payload")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.bin"
        out = tmp_path / "out"
        assert download_artifact(HTTPArtifact(url), path=str(out)) == [str(out / "data.bin")]
        assert (out / "data.bin").read_bytes() == b"\x00\x01payload"
        with pytest.raises(StorageError, match="missing.bin"):
            download_artifact(HTTPArtifact(url.replace("data", "missing")), path=str(out))
    finally:
        server.shutdown()
        server.server_close()


class _Echo(CustomArtifact):
    def __init__(self, urn: str) -> None:
        self.urn = urn

    def get_urn(self) -> str:
        return self.urn

    @classmethod
    def from_urn(cls, urn: str) -> _Echo:
        return cls(urn)

    def download(self, name: str, path: str) -> None:
        with open(f"{path}/{name}.txt", "w") as f:
            f.write(self.urn)

    def render(self, template, name):
        return template


def test_custom_artifact_from_urn(monkeypatch, tmp_path):
    monkeypatch.setitem(config, "artifact_register", {"echo": f"{__name__}._Echo"})
    art = CustomArtifact.from_urn("echo://thing")
    assert isinstance(art, _Echo) and art.get_urn() == "echo://thing"
    assert download_artifact(art, path=str(tmp_path / "o")) == [str(tmp_path / "o")]
    with pytest.raises(StorageError, match="registered protocols: echo"):
        CustomArtifact.from_urn("nope://x")


def test_upload_s3_download_s3(tmp_path):
    client = LocalStorageClient(tmp_path / "store")
    d = tmp_path / "d"
    (d / "s").mkdir(parents=True)
    (d / "s" / "f").write_text("f")
    key = upload_s3(str(d), storage_client=client)
    assert key.startswith("upload/") and key.endswith("/d")
    out = tmp_path / "out"
    download_s3(key, path=str(out), storage_client=client)
    assert (out / "s" / "f").read_text() == "f"
    download_s3(key, path=str(out / "kept"), keep_dir=True, storage_client=client)
    assert (out / "kept" / "d" / "s" / "f").read_text() == "f"  # pydflow: the basename is kept
    fkey = upload_s3(str(d / "s" / "f"), key="single/f", storage_client=client)
    download_s3(fkey, path=str(out / "one"), storage_client=client)
    assert (out / "one" / "f").read_text() == "f"
