"""Upload and download artifacts: files, lists and dicts of files, and what steps produce.

    python examples/upload_download.py

``upload_artifact(path | [paths] | {name: path})`` stores files or directories in the artifact
store (the local directory store by default; S3/OSS/GCS with a storage plugin) and returns an
artifact to pass to steps. ``download_artifact(step.outputs.artifacts[name], path=...)`` fetches
a step's output. Uploads keep each path relative to the current directory.
"""

from __future__ import annotations

from pathlib import Path

from dflow import Step, Workflow, download_artifact, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate


@OP.function
def inventory(files: Artifact(list[Path]), config: Artifact(Path)) -> {"listing": Artifact(Path)}:
    lines = [f"{Path(f).name}: {len(Path(f).read_text())} bytes" for f in files]
    lines.append(f"config says {Path(config).read_text().strip()}")
    out = Path("listing.txt")
    out.write_text("\n".join(lines) + "\n")
    return {"listing": out}


def main() -> Workflow:
    data = Path("data")
    data.mkdir(exist_ok=True)
    for name, text in (("a.txt", "alpha"), ("b.txt", "beta!")):
        (data / name).write_text(text)
    Path("settings.ini").write_text("mode = fast\n")

    files = upload_artifact([data / "a.txt", data / "b.txt"])  # a list: one artifact
    config = upload_artifact("settings.ini")
    wf = Workflow(name="upload-download")
    wf.add(
        Step("inventory", PythonOPTemplate(inventory), artifacts={"files": files, "config": config})
    )
    wf.submit()

    [step] = wf.query_step(name="inventory")
    [listing] = download_artifact(step.outputs.artifacts["listing"], path="downloads")
    print(Path(listing).read_text(), end="")
    return wf


if __name__ == "__main__":
    main()
