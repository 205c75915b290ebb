"""Artifact storage: a storage client of your own, used for uploads, steps and downloads.

    python examples/storage.py

dflow moves artifacts through a ``dflow.storage.StorageClient``: four methods (``upload``,
``download``, ``list``, ``copy``; ``get_md5`` optional). The installed plugins provide S3 API
stores, Aliyun OSS and Google Cloud Storage (docs/storage.md), selected in dflow.toml;
``s3_config["storage_client"] = client`` uses an object of your own, as pydflow did. Here a
directory stands in for a bucket: ``upload_artifact`` stores the input there, and with
``config["debug_s3"] = True`` the local engine downloads it from there for the step, as a pod
on a cluster would (outputs stay in the local workflow directory).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dflow import Step, Workflow, config, download_artifact, s3_config, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate
from dflow.storage import NotFound, StorageClient


class DirectoryStore(StorageClient):
    """Objects as files under ``root``; keeps a count of the calls it served."""

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()
        self.calls = {"upload": 0, "download": 0}

    def _path(self, key: str) -> Path:
        return self.root / key.lstrip("/")

    def upload(self, key: str, path: str) -> None:
        self.calls["upload"] += 1
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def download(self, key: str, path: str) -> None:
        self.calls["download"] += 1
        if not self._path(key).is_file():
            raise NotFound(f"{key}: no such object", key=key, store=f"directory {self.root}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), path)

    def list(self, prefix: str, recursive: bool = False) -> list[str]:
        base = self._path(prefix)
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        found = folder.rglob("*") if recursive else folder.iterdir()
        out = []
        for p in sorted(found):
            key = p.relative_to(self.root).as_posix()
            if key.startswith(prefix.lstrip("/")) and (p.is_file() or not recursive):
                out.append(key + "/" if p.is_dir() else key)
        return out

    def copy(self, src: str, dst: str) -> None:
        self._path(dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(src), self._path(dst))


@OP.function
def shout(text: Artifact(Path)) -> {"loud": Artifact(Path)}:
    out = Path("loud.txt")
    out.write_text(Path(text).read_text().upper())
    return {"loud": out}


def main() -> Workflow:
    store = DirectoryStore("bucket")
    saved = (s3_config.get("storage_client"), config.get("debug_s3"))
    s3_config["storage_client"], config["debug_s3"] = store, True
    try:
        Path("note.txt").write_text("keep it in the store\n")
        wf = Workflow(name="storage")
        step = Step(
            "shout", PythonOPTemplate(shout), artifacts={"text": upload_artifact("note.txt")}
        )
        wf.add(step)
        wf.submit()
        [done] = wf.query_step(name="shout")
        files = download_artifact(done.outputs.artifacts["loud"], path="result")
        print(f"{Path(files[0]).read_text().strip()!r} via {store.calls}")
        print(f"objects in the store: {len(store.list('', recursive=True))}")
    finally:
        s3_config["storage_client"], config["debug_s3"] = saved
    return wf


if __name__ == "__main__":
    main()
