"""A step's identity across runs and engines: ``<workflow name>/<step name>``.

The history of a cached step (what ``dflow explain`` compares) is filed under this identity.
Both engines know the workflow's name and the step's name when they hand a step to the
runner; the local engine also knows the step's full path, Argo does not (a template is
rendered once, whoever calls it), so the path is not part of the identity. Two steps of one
workflow with the same name (in different sub-templates) share a history: explanations then
compare them by slice, but keys, and so reuse, are unaffected (the identity is not in a key).

Records written before this identity existed name the step by its path on the local engine
(``wf/main.sub.square``, item indices removed); :func:`canonical_identity` maps them onto
the same identity, so older records are still compared.
"""

from __future__ import annotations

import re

#: a loop item or slice index in an engine's step path: ``square(3:...)``, ``square[3]``
_INDEX = re.compile(r"\(\d+[^)]*\)|\[\d+\]")


def step_identity(workflow_name: str, step_name: str) -> str:
    """The identity of step ``step_name`` of workflow ``workflow_name``."""
    return f"{workflow_name}/{step_name}"


def step_name_of(path: str) -> str:
    """The step name a step path ends with, item indices removed (``main.sq(2:x)`` -> ``sq``)."""
    return _INDEX.sub("", path).rsplit(".", 1)[-1]


def canonical_identity(recorded: str) -> str:
    """A recorded identity in today's form: a step path (older local records) becomes its
    last step name without item indices."""
    workflow, sep, path = recorded.partition("/")
    if not sep:
        return recorded
    return step_identity(workflow, step_name_of(path))
