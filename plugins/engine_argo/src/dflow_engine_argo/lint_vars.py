"""Variables in Argo manifests: finding ``{{...}}`` tags and deciding whether they resolve.

Argo's validator collects, for each place a string can hold a variable, the names in scope
(``inputs.parameters.x``, ``steps.a.outputs.result``, ``workflow.name``...), then checks every
``{{tag}}`` that starts with one of its roots. ``{{=expr}}`` expressions are not checked by
Argo; here their identifiers (``inputs.parameters['a-b']``, ``steps.a.outputs.result``) are
walked and checked by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs

# roots Argo checks; tags with any other root (custom templating in a script) are left alone
CHECKED_PREFIXES = ("item.", "steps.", "inputs.", "outputs.", "pod.", "workflow.", "tasks.")
EXPR_ROOTS = ("item", "steps", "inputs", "pod", "workflow", "tasks")
# resolved at run time whatever the template: Argo lets them through
RUNTIME_PREFIXES = (
    "outputs.",
    "workflow.creationTimestamp",
    "workflow.scheduledTime",
    "workflow.duration",
    "tasks.name",
    "steps.name",
    "node.name",
)

# names that stand for a whole map: reading a member of one must name a declared member
_MAPS = (
    "parameters",
    "artifacts",
    "annotations",
    "labels",
)  # (path of the string holding it, tag text)


def iter_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value with its path (``.a.b[2]``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from iter_strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from iter_strings(v, f"{path}[{i}]")


def find_tags(text: str) -> tuple[list[str], bool]:
    """The ``{{...}}`` tags of a string, and whether a ``{{`` is never closed."""
    tags: list[str] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            return tags, False
        end = text.find("}}", start + 2)
        if end < 0:
            return tags, True
        tags.append(text[start + 2 : end])
        pos = end + 2


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def _skip_string(expr: str, i: int) -> tuple[int, str]:
    quote, j, out = expr[i], i + 1, []
    while j < len(expr) and expr[j] != quote:
        if expr[j] == "\\" and j + 1 < len(expr):
            j += 1
        out.append(expr[j])
        j += 1
    return j + 1, "".join(out)


def expression_paths(expr: str) -> list[str]:
    """Dotted variable paths an expr-lang expression reads (``a['b-c'].d`` -> ``a.b-c.d``)."""
    paths, i, n = [], 0, len(expr)
    prev = ""
    while i < n:
        c = expr[i]
        if c in "'\"`":
            i, _ = _skip_string(expr, i)
            prev = "s"
            continue
        m = _IDENT.match(expr, i)
        if not m or (i > 0 and (expr[i - 1].isalnum() or expr[i - 1] == "_")):
            if not c.isspace():
                prev = c
            i += 1
            continue
        parts, j = [m.group()], m.end()
        member = prev == "." or (prev == "?" and expr[i - 2 : i] == "?.")
        while j < n:
            if expr[j] == "." and (m2 := _IDENT.match(expr, j + 1)):
                parts.append(m2.group())
                j = m2.end()
            elif expr[j] == "[":
                k = j + 1
                while k < n and expr[k].isspace():
                    k += 1
                if k < n and expr[k] in "'\"":
                    k, key = _skip_string(expr, k)
                    while k < n and expr[k].isspace():
                        k += 1
                    if k < n and expr[k] == "]":
                        parts.append(key)
                        j = k + 1
                        continue
                break
            else:
                break
        if not member:
            paths.append(".".join(parts))
        prev = "i"
        i = j
    return paths


@attrs.define
class Scope:
    """The variables visible at one place, plus what the messages need to explain a miss."""

    names: set[str] = attrs.Factory(set)
    wildcards: set[str] = attrs.Factory(set)  # prefixes whose names are unknown (templateRef)
    any_item: bool = False  # withParam: any item.x may exist
    item_keys: set[str] | None = None  # withItems of maps: the keys; None: no loop here
    any_global_outputs: bool = False  # a globalName is itself a variable
    allow_workflow_parameters: bool = False  # a WorkflowTemplate checked on its own
    template: str = ""
    inputs: list[str] = attrs.Factory(list)
    # step/task name -> why it is out of scope (for the message), or None when in scope
    siblings: dict[str, str] = attrs.Factory(dict)
    sibling_kind: str = "step"

    def copy(self) -> Scope:
        return attrs.evolve(
            self,
            names=set(self.names),
            wildcards=set(self.wildcards),
            item_keys=None if self.item_keys is None else set(self.item_keys),
            inputs=list(self.inputs),
            siblings=dict(self.siblings),
        )

    def resolves(self, tag: str, expression: bool = False) -> bool:
        if tag in self.names or any(tag.startswith(w) for w in self.wildcards):
            return True
        if tag == "item" or tag.startswith("item."):
            if self.any_item:
                return True
            if self.item_keys is None:
                return False
            return tag == "item" or tag.split(".")[1] in self.item_keys
        if tag.startswith("workflow.outputs.") and self.any_global_outputs:
            return True
        if tag.startswith("workflow.parameters") and self.allow_workflow_parameters:
            return True
        if tag.startswith(RUNTIME_PREFIXES):
            return True
        if expression:
            # an expression may read a whole map (inputs.parameters) or go deeper into a value
            prefix = tag + "."
            return any(
                n.startswith(prefix) or (tag.startswith(n + ".") and not n.endswith(_MAPS))
                for n in self.names
            )
        return False

    def explain(self, tag: str) -> str:
        """Why ``tag`` does not resolve, and what to do."""
        parts = tag.split(".")
        root = parts[0]
        if root == "item":
            if self.item_keys is not None:
                keys = ", ".join(sorted(self.item_keys)) or "none: the items are not maps"
                return f"failed to resolve {{{{{tag}}}}}: the loop items have no key '{parts[1]}' (keys: {keys})"
            return f"{{{{{tag}}}}} is used outside a loop: add withItems, withParam or withSequence"
        if root == "inputs" and len(parts) >= 3:
            kind = parts[1].rstrip("s")
            have = [n.split(".", 2)[2] for n in self.names if n.startswith(f"inputs.{parts[1]}.")]
            have = sorted({h for h in have if "." not in h})
            return (
                f"failed to resolve {{{{{tag}}}}}: template '{self.template}' declares no input "
                f"{kind} '{parts[2]}' (declared: {', '.join(have) or 'none'})"
            )
        if root in ("steps", "tasks") and len(parts) >= 2:
            name = parts[1]
            if name in self.siblings:
                return f"failed to resolve {{{{{tag}}}}}: {self.siblings[name]}"
            known = {n.split(".")[1] for n in self.names if n.startswith(root + ".")}
            if name in known:
                return f"failed to resolve {{{{{tag}}}}}: {self.sibling_kind} '{name}' has no such output"
            return (
                f"failed to resolve {{{{{tag}}}}}: no {self.sibling_kind} named '{name}' in "
                f"template '{self.template}'"
            )
        if tag.startswith("workflow.parameters."):
            return f"failed to resolve {{{{{tag}}}}}: spec.arguments.parameters has no '{parts[2]}'"
        if root == "pod":
            return f"failed to resolve {{{{{tag}}}}}: only container, script and resource templates have a pod"
        return f"failed to resolve {{{{{tag}}}}}"


def unresolved(text: str, scope: Scope) -> Iterator[str]:
    """Messages for the variables of ``text`` that ``scope`` does not resolve."""
    tags, unclosed = find_tags(text)
    if unclosed:
        yield "unable to parse a variable: '{{' is never closed by '}}'"
    for raw in tags:
        tag = raw.strip()
        if tag.startswith("="):
            for path in expression_paths(tag[1:]):
                if path.split(".")[0] in EXPR_ROOTS and not scope.resolves(path, True):
                    yield scope.explain(path) + f" (in expression {{{{{raw}}}}})"
            continue
        if tag != "item" and not tag.startswith(CHECKED_PREFIXES):
            continue
        if not scope.resolves(tag):
            yield scope.explain(tag)
