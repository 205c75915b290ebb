"""Checks of where outputs are saved besides the step: storage keys and shared volumes.

An output artifact stacked by ``Slices`` cannot be saved to a storage key: its items write
into the one prefix of the fan-out (Argo), so there is no one artifact to store.

A shared volume (``OutputArtifact.pvc()``): a producer's output artifact saved with ``.pvc()`` is copied to ``<volume>/<subpath>`` when
its script succeeds; a reader's input artifact fed by that ``PVC`` is a link to the same
place, made before its script starts, so the reader may run beside the producer and wait
for the file (pydflow's ``test_async.py``). Both engines do this by adding to the *script*
of the step, so only script templates (Shell, PythonScript) run on the pod or the host
itself may take part, and one volume path must have exactly one writer that runs once.
"""

from __future__ import annotations

from collections.abc import Callable

from ..model.io import PVC, step_input_names
from ..model.op_template import ScriptOPTemplate
from ..model.saves import saved_key, volume_reads, volume_saves
from ..model.step import Step
from ..python.template import PythonOPTemplate


def _place(pvc: PVC) -> str:
    return f"{pvc.name}/{pvc.subpath}"


class SaveChecks:
    """Checks the steps' saves; collects volume reads and saves, ``finish`` matches them."""

    def __init__(self, add: Callable[[str, str], None]) -> None:
        self.add = add
        self.saved: dict[str, str] = {}  # volume path -> the path of the step saving it
        self.read: list[tuple[str, str, PVC]] = []  # (step path, input name, volume path)

    def step(self, step: Step, path: str) -> None:
        stacked = set(step.slices.output_artifact or []) if step.slices is not None else set()
        for name, art in step.template.outputs.artifacts.items():
            try:
                key = saved_key(art, f"output artifact '{name}'")
            except ValueError as exc:
                self.add(path, str(exc))
                continue
            if key and name in stacked:
                self.add(
                    path,
                    f"output artifact '{name}' is stacked by Slices and saved to a key: "
                    "the items write into one shared prefix; drop save, or copy the "
                    "stacked artifact in a later step",
                )
        for name in step_input_names(step, "artifacts"):
            src = getattr(step.inputs.artifacts.get(name), "source", None)
            parts = src.values() if isinstance(src, dict) else src
            if isinstance(parts, list | tuple) and any(isinstance(p, PVC) for p in parts):
                self.add(
                    path,
                    f"input artifact '{name}' gets a shared volume path (.pvc()) inside a "
                    "list or dict: pass it alone, as the whole artifact",
                )
        saves, reads = volume_saves(step), volume_reads(step)
        if not saves and not reads:
            return
        tmpl = step.template
        if not isinstance(tmpl, ScriptOPTemplate) or isinstance(tmpl, PythonOPTemplate):
            self.add(
                path,
                f"template '{tmpl.name}' ({type(tmpl).__name__}) cannot pass an artifact "
                "through a shared volume (.pvc()): only script templates (ShellOPTemplate, "
                "PythonScriptOPTemplate) can; pass the artifact itself instead",
            )
            return
        if step.executor is not None:
            self.add(
                path,
                "a step run by an executor cannot pass an artifact through a shared volume "
                "(.pvc()): the volume is not mounted where the executor runs it",
            )
        looped = step.slices is not None or step.with_param is not None
        for name, pvc in saves:
            if looped or step.with_sequence is not None:
                self.add(
                    path,
                    f"output artifact '{name}' is saved to a shared volume (.pvc()) by a "
                    "looped or sliced step: every item would write the same volume path; "
                    "save it from a step that runs once",
                )
            elif not tmpl.outputs.artifacts[name].path:
                self.add(path, f"output artifact '{name}' saved with .pvc() has no path")
            first = self.saved.setdefault(_place(pvc), path)
            if first != path:
                self.add(
                    path,
                    f"output artifact '{name}' is saved to volume path '{_place(pvc)}', "
                    f"which {first} saves too: call .pvc() once per writer",
                )
        for name, pvc in reads:
            if not tmpl.inputs.artifacts[name].path:
                self.add(path, f"input artifact '{name}' read from a shared volume has no path")
            self.read.append((path, name, pvc))

    def finish(self) -> None:
        for path, name, pvc in self.read:
            if _place(pvc) not in self.saved:
                self.add(
                    path,
                    f"input artifact '{name}' reads volume path '{_place(pvc)}', which no "
                    "step of the workflow saves: give it the .pvc() of a step's output "
                    "artifact that runs in this workflow",
                )
