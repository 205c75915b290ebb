"""Strict validation of Workflow manifests against Argo's published schemas (test support).

Argo's JSON Schema and CRD are reference data in ``<repo>/../shared/argo`` (Apache-2.0); they
are read from there, never shipped in the product. Three checks, one function each:

- :func:`schema_errors` validates against ``schema-v3.7.18.json`` or ``schema-v4.1.2.json``
  made strict: ``additionalProperties: false`` on every definition with ``properties`` (so a
  typo such as ``withParams`` fails), and IntOrString/Quantity accepting numbers as Argo and
  Kubernetes do (``retryStrategy.limit: 2``).
- :func:`crd_errors` validates against the v4.1.2 CRD's openAPIV3Schema (its enums and
  ``required`` lists, e.g. ``memoize.maxAge``) and evaluates its ``x-kubernetes-validations``
  CEL rules, each written as a Python check in :data:`CEL_RULES`. :data:`SKIPPED_CEL_RULES`
  lists the rules not expressed (none at v4.1.2); a test asserts the two cover the CRD.
- :func:`validate` runs all of them and returns every message.

Validators are compiled once per process.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

ARGO_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "argo"
VERSIONS = ("v3.7.18", "v4.1.2")
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def data_file(name: str) -> Path:
    path = ARGO_DATA / name
    if not path.exists():
        raise FileNotFoundError(
            f"Argo reference data {path} is missing: these tests need the shared/argo folder "
            f"(Argo's schema, CRD and examples) next to the repository, at {ARGO_DATA}"
        )
    return path


def _load_yaml(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def strict_definitions(definitions: dict[str, Any]) -> dict[str, Any]:
    """A copy of the schema definitions that rejects unknown fields."""
    defs = copy.deepcopy(definitions)
    for d in defs.values():
        if "properties" in d and "additionalProperties" not in d:
            d["additionalProperties"] = False
    defs[_INT_OR_STRING] = {"type": ["string", "integer"]}
    defs[_QUANTITY] = {"type": ["string", "number"]}
    return defs


@functools.cache
def _strict_schema_definitions(version: str) -> dict[str, Any]:
    with open(data_file(f"schema-{version}.json"), encoding="utf-8") as f:
        definitions = strict_definitions(json.load(f)["definitions"])
    return definitions


@functools.cache
def workflow_validator(version: str, kind: str = "Workflow") -> Draft202012Validator:
    """A strict Draft 2020-12 validator for one kind of one Argo version."""
    return Draft202012Validator(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"#/definitions/io.argoproj.workflow.v1alpha1.{kind}",
            "definitions": _strict_schema_definitions(version),
        }
    )


def _path(error: Any) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def schema_errors(manifest: dict[str, Any], version: str, kind: str = "Workflow") -> list[str]:
    """``path: message`` for each violation of the strict schema of ``version``."""
    errors = workflow_validator(version, kind).iter_errors(manifest)
    return sorted(f"{_path(e)}: {e.message}" for e in errors)


# ---- the v4.1.2 CRD -------------------------------------------------------------------------


@functools.cache
def _crd_schema() -> dict[str, Any]:
    crd = _load_yaml(data_file("crd-workflows-v4.1.2.yaml"))
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@functools.cache
def _crd_validator() -> Draft202012Validator:
    # OpenAPI v3 structural schemas are JSON Schema for what matters here (type, enum,
    # required, anyOf for int-or-string); x-kubernetes-* keywords are ignored by jsonschema
    return Draft202012Validator(_crd_schema())


def _count(obj: dict[str, Any], keys: tuple[str, ...]) -> int:
    return sum(1 for k in keys if k in obj)


_ARTIFACT_LOCATIONS = (
    "s3",
    "git",
    "http",
    "artifactory",
    "hdfs",
    "raw",
    "oss",
    "gcs",
    "azure",
    "plugin",
)
_TEMPLATE_TYPES = (
    "container",
    "script",
    "dag",
    "steps",
    "resource",
    "suspend",
    "containerSet",
    "data",
    "http",
    "plugin",
)


def _gauge_ok(g: dict[str, Any]) -> bool:
    return not g.get("realtime") or "resourcesDuration." not in str(g.get("value", ""))


# CEL rule text (as in the CRD) -> the same check in Python
CEL_RULES: dict[str, Callable[[Any], bool]] = {
    "(has(self.s3) ? 1 : 0) + (has(self.git) ? 1 : 0) + (has(self.http) ? 1 : 0) + "
    "(has(self.artifactory) ? 1 : 0) + (has(self.hdfs) ? 1 : 0) + (has(self.raw) ? 1 : 0) + "
    "(has(self.oss) ? 1 : 0) + (has(self.gcs) ? 1 : 0) + (has(self.azure) ? 1 : 0) + "
    "(has(self.plugin) ? 1 : 0) <= 1": lambda a: _count(a, _ARTIFACT_LOCATIONS) <= 1,
    "!has(self.realtime) || !self.realtime || !self.value.contains('resourcesDuration.')": _gauge_ok,
    "!has(self.depends) || !has(self.dependencies)": lambda t: (
        not ("depends" in t and "dependencies" in t)
    ),
    "!has(self.depends) || !has(self.continueOn)": lambda t: (
        not ("depends" in t and "continueOn" in t)
    ),
    "!(has(self.depends) || has(self.dependencies)) || !self.name.matches('^[0-9]')": lambda t: (
        not ("depends" in t or "dependencies" in t) or not re.match("[0-9]", t.get("name", ""))
    ),
    "!(has(self.count) && has(self.end))": lambda s: not ("count" in s and "end" in s),
    "(has(self.manifest) && !has(self.manifestFrom)) || (!has(self.manifest) && "
    "has(self.manifestFrom)) || (!has(self.manifest) && !has(self.manifestFrom))": lambda r: (
        not ("manifest" in r and "manifestFrom" in r)
    ),
    "self.all(t, (has(t.container) ? 1 : 0) + (has(t.script) ? 1 : 0) + (has(t.dag) ? 1 : 0) + "
    "(has(t.steps) ? 1 : 0) + (has(t.resource) ? 1 : 0) + (has(t.suspend) ? 1 : 0) + "
    "(has(t.containerSet) ? 1 : 0) + (has(t.data) ? 1 : 0) + (has(t.http) ? 1 : 0) + "
    "(has(t.plugin) ? 1 : 0) <= 1)": lambda ts: all(_count(t, _TEMPLATE_TYPES) <= 1 for t in ts),
    'self.all(t, !(has(t.timeout) && t.timeout != "" && (has(t.steps) || has(t.dag))))': lambda ts: (
        all(not (t.get("timeout") not in (None, "") and ("steps" in t or "dag" in t)) for t in ts)
    ),
    "self.all(t, !(has(t.activeDeadlineSeconds) && (has(t.steps) || has(t.dag))))": lambda ts: all(
        not ("activeDeadlineSeconds" in t and ("steps" in t or "dag" in t)) for t in ts
    ),
}

# CEL rules of the CRD that are not expressed in Python (with the reason)
SKIPPED_CEL_RULES: dict[str, str] = {}


def crd_rules() -> Iterator[tuple[str, str, str]]:
    """(schema path, rule, message) for every x-kubernetes-validations rule of the CRD."""

    def walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, str, str]]:
        for rule in node.get("x-kubernetes-validations", []):
            yield path, rule["rule"], rule.get("message", "")
        for name, sub in (node.get("properties") or {}).items():
            yield from walk(sub, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], path + "[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from walk(node["additionalProperties"], path + "{}")

    yield from walk(_crd_schema(), "")


def _cel_errors(schema: dict[str, Any], value: Any, path: str, out: list[str]) -> None:
    for rule in schema.get("x-kubernetes-validations", []):
        check = CEL_RULES.get(rule["rule"])
        if check is not None and not check(value):
            out.append(f"{path or '<root>'}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                _cel_errors(sub, value[name], f"{path}.{name}" if path else name, out)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in value.items():
                _cel_errors(extra, v, f"{path}.{k}", out)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            _cel_errors(schema["items"], v, f"{path}[{i}]", out)


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Violations of the v4.1.2 CRD: enums, required fields and CEL rules."""
    out = [f"{_path(e)}: {e.message}" for e in _crd_validator().iter_errors(manifest)]
    _cel_errors(_crd_schema(), manifest, "", out)
    return sorted(out)


def validate(manifest: dict[str, Any], kind: str = "Workflow") -> list[str]:
    """Every problem found by the strict schemas of both versions and by the v4 CRD."""
    out = [f"[{v}] {m}" for v in VERSIONS for m in schema_errors(manifest, v, kind)]
    if kind == "Workflow":
        out += [f"[crd-v4.1.2] {m}" for m in crd_errors(manifest)]
    return out


def assert_valid(manifest: dict[str, Any], kind: str = "Workflow") -> None:
    problems = validate(manifest, kind)
    assert not problems, "manifest fails Argo's schemas:\n" + "\n".join(problems)


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of an example file (skipping empty ones)."""
    with open(path, encoding="utf-8") as f:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [d for d in yaml.load_all(f, Loader=loader) if isinstance(d, dict)]


def examples(version: str = "v4.1.2") -> list[tuple[str, dict[str, Any]]]:
    """(relative path, document) for every document of Argo's examples of ``version``."""
    root = data_file(f"examples-{version}")
    out = []
    for p in sorted(root.rglob("*.yaml")):
        for i, doc in enumerate(load_documents(p)):
            out.append((f"{p.relative_to(root)}#{i}", doc))
    return out
