"""Sub-path slices: each parallel step receives only its own file of a list artifact.

    python examples/subpath_slices.py

``Slices(sub_path=True, ...)`` slices the input parameters and artifacts together (they must
have the same length) and sets the fan-out itself: no ``{{item}}`` and no ``with_param``. Each
item gets one part of the artifact, not all of it, so the artifact must be stored without
compression: ``upload_artifact(..., archive=None)`` (or ``Artifact(..., archive=None)`` on an
OP's output, or ``config["archive_mode"] = None`` for every upload).
"""

from __future__ import annotations

from pathlib import Path

from dflow import Step, Workflow, upload_artifact
from dflow.python import OP, Artifact, PythonOPTemplate, Slices


@OP.function
def count_words(name: str, text: Artifact(Path)) -> {"summary": Artifact(Path), "words": int}:
    n = len(Path(text).read_text().split())
    out = Path(f"{name}.summary")
    out.write_text(f"{name}: {n} words\n")
    return {"summary": out, "words": n}


@OP.function
def merge(summaries: Artifact(list[Path]), words: list) -> {"report": str, "total": int}:
    lines = sorted(Path(p).read_text().strip() for p in summaries)
    return {"report": "; ".join(lines), "total": sum(words)}


def build(texts, names: list[str]) -> Workflow:  # texts: an uploaded artifact
    fan = Step(
        "count",
        PythonOPTemplate(
            count_words,
            slices=Slices(
                sub_path=True,
                input_parameter=["name"],
                input_artifact=["text"],
                output_artifact=["summary"],
                output_parameter=["words"],
            ),
        ),
        parameters={"name": names},
        artifacts={"text": texts},
    )
    gather = Step(
        "merge",
        PythonOPTemplate(merge),
        artifacts={"summaries": fan.outputs.artifacts["summary"]},
        parameters={"words": fan.outputs.parameters["words"]},
    )
    wf = Workflow(name="subpath-slices")
    wf.add(fan)
    wf.add(gather)
    return wf


def main() -> Workflow:
    texts = {"a": "one", "b": "one two", "c": "one two three"}
    for name, text in texts.items():
        Path(f"{name}.txt").write_text(text)
    art = upload_artifact([f"{name}.txt" for name in texts], archive=None)
    wf = build(art, list(texts))
    wf.submit()
    out = wf.query_step(name="merge")[0].outputs.parameters
    print(f"{out['report'].value} (total {out['total'].value})")
    return wf


if __name__ == "__main__":
    main()
