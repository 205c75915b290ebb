"""``debug_s3``: uploads and S3Artifact inputs in a real object store (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from dflow import S3Artifact, Step, Workflow, upload_artifact
from dflow.python import OP, OPIO, Artifact, OPIOSign, PythonOPTemplate

pytest.importorskip("dflow_storage_minio")


class ReadNum(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"i": int, "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"v": int})

    def execute(self, op_in):
        return OPIO({"v": int(op_in["data"].read_text()) * 100 + op_in["i"]})


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    from dflow.testing.seaweedfs import start_seaweedfs

    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3_store(seaweedfs, workdir, monkeypatch):
    """dflow.toml selecting the minio storage of a fresh bucket; debug_s3 on."""
    from dflow.backends import get_storage_client
    from dflow.config import config

    bucket = f"dflow-{uuid.uuid4().hex[:8]}"
    toml = workdir / "dflow.toml"
    toml.write_text(
        'storage = "minio"\n[storages.minio]\n'
        f'endpoint = "{seaweedfs.endpoint}"\naccess_key = "{seaweedfs.access_key}"\n'
        f'secret_key = "{seaweedfs.secret_key}"\nsecure = false\nbucket_name = "{bucket}"\n'
    )
    monkeypatch.setenv("DFLOW_CONFIG", str(toml))
    config["debug_s3"] = True
    client = get_storage_client()
    client.create_bucket()
    return client


def test_s3_input_downloaded_once_for_a_20_way_fan_out(s3_store, workdir):
    src = workdir / "src"
    src.mkdir()
    (src / "num.txt").write_text("7")
    art = upload_artifact(src / "num.txt")
    assert isinstance(art, S3Artifact) and art.key.startswith("upload/")
    assert s3_store.list(art.key)  # really in the bucket, not on disk
    os.remove(src / "num.txt")  # the run can only read the object store's copy
    step = Step(
        "read",
        PythonOPTemplate(ReadNum),
        parameters={"i": "{{item}}"},
        artifacts={"data": art.sub_path("src/num.txt")},
        with_param=list(range(20)),
    )
    wf = Workflow("s3in")
    wf.add(step)
    wf.submit()
    assert wf.query_status() == "Succeeded"
    [group] = wf.query_step(name="read", type="StepGroup")
    assert group.outputs.parameters["v"].value == [700 + i for i in range(20)]
    # one download into the run's artifact cache, shared by the 20 items
    cached = [p for p in Path(workdir, ".cache").iterdir() if p.is_dir()]
    assert len(cached) == 1 and cached[0].name.startswith("s3-")


def test_a_killed_download_is_removed_by_the_next_download_of_its_key(s3_store, workdir):
    (workdir / "num.txt").write_text("4")
    art = upload_artifact(workdir / "num.txt")

    def run() -> list[int]:
        wf = Workflow("s3again")
        wf.add(
            Step("read", PythonOPTemplate(ReadNum), parameters={"i": 1}, artifacts={"data": art})
        )
        wf.submit()
        assert wf.query_status() == "Succeeded"
        return [s.outputs.parameters["v"].value for s in wf.query_step(name="read")]

    assert run() == [401]
    cache = Path(workdir, ".cache")
    [done] = [p for p in cache.iterdir() if p.is_dir()]
    # a run killed while downloading that key left its temporary dir (named for its pid),
    # and the finished copy is gone (an emptied cache)
    shutil.rmtree(done)
    killed = cache / f"{done.name}.99999.tmp"
    killed.mkdir()
    (killed / "num.txt").write_text("partial")
    other = cache / "s3-0123456789abcdef.99999.tmp"  # another key's: its own download removes it
    other.mkdir()
    assert run() == [401]
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == sorted([done.name, other.name])
    assert (done / "num.txt").read_text() == "4"


def test_debug_s3_with_the_local_store_is_refused(workdir):
    from dflow.backends import storage_name
    from dflow.config import config
    from dflow.engine import EngineError

    config["debug_s3"] = True
    assert storage_name() == "minio"  # pydflow's meaning: debug mode, real S3
    (workdir / "dflow.toml").write_text('storage = "local"\n')  # ...unless told otherwise
    (workdir / "x.txt").write_text("1")
    step = Step(
        "read",
        PythonOPTemplate(ReadNum),
        parameters={"i": 1},
        artifacts={"data": upload_artifact(workdir / "x.txt")},
    )
    wf = Workflow("nos3")
    wf.add(step)
    with pytest.raises(EngineError, match="debug_s3.*storage"):
        wf.submit()
