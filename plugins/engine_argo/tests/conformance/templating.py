"""Argo's ``{{...}}`` substitution as the controller applies it: on JSON text, flat scopes.

The controller marshals a step, task or template to JSON, replaces tags in that text and
unmarshals it again (util/template/{template.go,simple_template.go,expression_template.go},
v3.7.18). A scope is a flat map of dotted keys (``steps.a.outputs.parameters.x``) to strings,
artifacts (dicts) or None (an absent optional: a skipped node's output without default).
Expression tags (``{{=...}}``) are evaluated with :mod:`dflow.expressions` against the scope
expanded into nested maps (util/expr/env/env.go, util/expand/expand.go, v3.7.18).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from dflow.expressions import ExpressionError
from dflow.expressions.analysis import read_paths
from dflow.expressions.errors import Problem, UnknownVariable
from dflow.expressions.template import evaluate_or_raise

# expression_template.go (v3.7.18) variablesToCheck: late-bound names an expression may wait for
LATE_BOUND = (
    "item",
    "retries",
    "lastRetry.exitCode",
    "lastRetry.status",
    "lastRetry.duration",
    "lastRetry.message",
    "workflow.status",
    "workflow.failures",
)


class TemplateError(Exception):
    """A substitution failed; ``missing`` when a variable was not (yet) in scope."""

    def __init__(self, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def expand(flat: Mapping[str, Any]) -> dict[str, Any]:
    """expand.Expand: dotted keys into nested maps; a key that is also a parent of another
    key is dropped (util/expand/expand.go, v3.7.18)."""
    keys = sorted(flat)
    drop = {k for i, k in enumerate(keys[:-1]) if keys[i + 1].startswith(k + ".")}
    out: dict[str, Any] = {}
    for key in keys:
        if key in drop:
            continue
        node = out
        *head, last = key.split(".")
        for part in head:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        if not isinstance(node.get(last), dict):
            node[last] = flat[key]
    return out


def expression_scope(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The env of an expression (env.GetFuncMap, util/expr/env/env.go v3.7.18): nested scope
    plus the flat keys themselves, so ``steps['a.b']`` style lookups work too."""
    scope = expand(flat)
    return scope


def _has_path(env: Mapping[str, Any], path: str) -> bool:
    """hasVarInEnv (expression_template.go, v3.7.18)."""
    node: Any = env
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def evaluate(expression: str, flat: Mapping[str, Any]) -> Any:
    """Evaluate an expr-lang expression against a flat scope; TemplateError on failure."""
    env = expression_scope(flat)
    try:
        return evaluate_or_raise(expression, env, expression)
    except UnknownVariable as exc:
        raise TemplateError(f"failed to evaluate expression: {exc.message}", missing=True)
    except (ExpressionError, Problem) as exc:
        raise TemplateError(f"failed to evaluate expression: {exc}")


def _go_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _escape(text: str) -> str:
    """strconv.Quote minus the quotes: the value goes inside a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _expression(raw: str, flat: Mapping[str, Any], strict: Callable[[str], bool] | None) -> str:
    """expressionReplaceStrict + expressionReplaceCore (expression_template.go, v3.7.18):
    a missing strict variable is an error; other failures leave the tag as written when a
    variable is missing or nothing is strict."""
    tag = "{{" + raw + "}}"
    body = raw[1:].replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
    try:
        expression = json.loads(f'"{body}"')
    except ValueError:
        if strict is None:
            return tag
        raise TemplateError(f"failed to unmarshall JSON expression: {body}")
    env = expression_scope(flat)
    try:
        paths = read_paths(expression)
    except Problem as exc:
        raise TemplateError(f"failed to evaluate expression: {exc.message}")
    missing = [p for p in sorted(paths) if not _has_path(env, p)]
    for p in missing:
        if strict is not None and strict(p):
            raise TemplateError(f"failed to evaluate expression: {p} is missing", True)
    allow_unresolved = bool(missing) or strict is None
    if allow_unresolved and any(p.startswith(LATE_BOUND) for p in missing):
        return tag
    try:
        result = evaluate_or_raise(expression, env, expression)
    except (UnknownVariable, ExpressionError, Problem) as exc:
        if allow_unresolved:
            return tag
        message = getattr(exc, "message", str(exc))
        raise TemplateError(
            f"failed to evaluate expression: {message}", isinstance(exc, UnknownVariable)
        )
    if result is None:
        if allow_unresolved:
            return tag
        raise TemplateError(f"failed to evaluate expression {expression!r}")
    if isinstance(result, str):
        return _escape(result)
    return _escape(_go_json(result))


def replace(
    text: str,
    flat: Mapping[str, Any],
    *,
    allow_unresolved: bool = True,
    strict_prefixes: tuple[str, ...] | None = None,
) -> str:
    """Template.Replace / ReplaceStrict over JSON text ``text``.

    ``allow_unresolved=False`` makes every unknown tag an error (Replace(m, false));
    ``strict_prefixes`` makes tags under those prefixes errors while others stay as written,
    artifact references excepted (ReplaceStrict, template.go v3.7.18).
    """
    if "{{" not in text:
        return text
    strict: Callable[[str], Any] | None = None
    unresolved_artifacts = allow_unresolved
    if strict_prefixes is not None:
        if strict_prefixes:
            strict = re.compile(
                r"^(" + "|".join(map(re.escape, strict_prefixes)) + r")(\.|$)"
            ).match
        unresolved_artifacts = True
    elif not allow_unresolved:
        strict = lambda _: True  # noqa: E731
    out: list[str] = []
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            out.append(text[i:])
            break
        k = text.find("}}", j + 2)
        if k < 0:  # fasttemplate: an unclosed tag is an error
            raise TemplateError(f"cannot find end tag='}}}}' in the template={text[j : j + 40]!r}")
        out.append(text[i:j])
        tag = text[j + 2 : k]
        if tag.startswith("="):
            out.append(_expression(tag, flat, strict))
        else:
            out.append(_simple(tag, flat, strict, unresolved_artifacts))
        i = k + 2
    return "".join(out)


def _simple(
    tag: str,
    flat: Mapping[str, Any],
    strict: Callable[[str], bool] | None,
    unresolved_artifacts: bool,
) -> str:
    """simpleReplaceStrict (simple_template.go, v3.7.18)."""
    key = tag.strip()
    if key not in flat:
        if (
            strict is not None
            and strict(key)
            and (not unresolved_artifacts or ".outputs.artifacts." not in key)
        ):
            raise TemplateError(f"failed to resolve {{{{{tag}}}}}", missing=True)
        return "{{" + tag + "}}"
    value = flat[key]
    if value is None:
        raise TemplateError(
            f"unable to substitute {{{{{tag}}}}}: output is an absent optional "
            "(skipped/omitted node with no default)"
        )
    if not isinstance(value, str):
        raise TemplateError(f"failed to resolve {{{{{tag}}}}} to string")
    return _escape(value)


def replace_object(obj: Any, flat: Mapping[str, Any], **kwargs: Any) -> Any:
    """Marshal ``obj``, substitute, unmarshal: what the controller does to a step or template."""
    return json.loads(replace(json.dumps(obj, ensure_ascii=False), flat, **kwargs))


def resolve_var(tag: str, flat: Mapping[str, Any]) -> Any:
    """template.ResolveVar (util/template/resolve_var.go, v3.7.18): ``{{x}}`` or ``{{=e}}``."""
    inner = tag.strip()
    if inner.startswith("{{"):
        inner = inner[2:]
    if inner.endswith("}}"):
        inner = inner[:-2]
    inner = inner.strip()
    if inner.startswith("="):
        try:
            result = evaluate_or_raise(inner[1:], expression_scope(flat), inner[1:])
        except (UnknownVariable, ExpressionError, Problem):
            raise TemplateError(f'Invalid expression: "{inner[1:]}"')
        if result is None:
            raise TemplateError(f'Unable to resolve: "{inner}"')
        return result
    if inner not in flat:
        raise TemplateError(f'Unable to resolve: "{inner}"')
    return flat[inner]
