"""The linter on Argo's own examples (each passes; each with one defect put in fails with the
defect's message) and on one negative fixture per rule (fails with exactly that message).

The corpus checks are one test per check, each asserting how many documents it covers and
listing those that went wrong, so that a linter returning nothing fails them all.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import argo_schema
import pytest
import yaml
from dflow_engine_argo.lint import LintError, LintIssue, check, lint

KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
EXAMPLES = [
    (f"{v}/{n}", d)
    for v in argo_schema.VERSIONS
    for n, d in argo_schema.examples(v)
    if d.get("kind") in KINDS
]
NEGATIVE = sorted((Path(__file__).parent / "fixtures" / "negative").glob("*.yaml"))
LEAF_TYPES = ("container", "script", "resource", "containerSet", "data", "http")
INPUT_VARIABLE = re.compile(r"\{\{\s*(inputs\.parameters\.[A-Za-z0-9_-]+)\s*\}\}")


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <issue>'"
    return first[len("# expect: ") :]


def errors(doc: dict[str, Any]) -> list[str]:
    return [str(i) for i in lint(doc) if i.severity == "error"]


def spec_of(doc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(path, the workflow spec): a CronWorkflow's is under ``spec.workflowSpec``."""
    if doc["kind"] == "CronWorkflow":
        return "spec.workflowSpec", doc["spec"]["workflowSpec"]
    return "spec", doc["spec"]


def caught(defect: Callable[[dict[str, Any]], str | None]) -> tuple[int, dict[str, list[str]]]:
    """Put ``defect`` into a copy of every example it applies to (it returns what one of the
    linter's errors must contain, or None); (how many it applied to, {name: errors} missed)."""
    count, missed = 0, {}
    for name, doc in EXAMPLES:
        broken = copy.deepcopy(doc)
        expected = defect(broken)
        if expected is None:
            continue
        count += 1
        found = errors(broken)
        if not any(expected in e for e in found):
            missed[name] = [f"expected: {expected}"] + found
    return count, missed


def test_argo_examples_pass():
    failing = {n: e for n, d in EXAMPLES if (e := errors(d))}
    assert (len(EXAMPLES), failing) == (442, {})
    kinds = Counter(d["kind"] for _, d in EXAMPLES)
    assert kinds == {
        "Workflow": 395,
        "WorkflowTemplate": 25,
        "ClusterWorkflowTemplate": 12,
        "CronWorkflow": 10,
    }
    # templates of other resources (templateRef, workflowTemplateRef) are notes, not checked
    notes = {n: ns for n, d in EXAMPLES if (ns := [i for i in lint(d) if i.severity == "note"])}
    assert (len(notes), sum(map(len, notes.values()))) == (34, 68)


def _undefined_entrypoint(doc: dict[str, Any]) -> str | None:
    base, spec = spec_of(doc)
    if not spec.get("templates") or not spec.get("entrypoint"):
        return None
    spec["entrypoint"] = "no-such-template"
    return f"{base}.entrypoint: template 'no-such-template' is not defined"


def _duplicate_template(doc: dict[str, Any]) -> str | None:
    base, spec = spec_of(doc)
    templates = spec.get("templates")
    if not templates:
        return None
    templates.append(copy.deepcopy(templates[-1]))
    n = len(templates) - 1
    return (
        f"{base}.templates[{n}].name: template name '{templates[n]['name']}' is not unique "
        f"(also templates[{n - 1}])"
    )


def _misspelt_template_reference(doc: dict[str, Any]) -> str | None:
    base, spec = spec_of(doc)
    for i, tmpl in enumerate(spec.get("templates") or []):
        calls = [
            (f"steps[{g}][{j}]", call)
            for g, group in enumerate(tmpl.get("steps") or [])
            for j, call in enumerate(group or [])
        ]
        calls += [
            (f"dag.tasks[{j}]", task)
            for j, task in enumerate((tmpl.get("dag") or {}).get("tasks") or [])
        ]
        for where, call in calls:
            if call.get("template"):
                call["template"] += "-typo"
                return (
                    f"{base}.templates[{i}].{where}.template: template "
                    f"'{call['template']}' is not defined"
                )
    return None


def _misspelt_input_parameter(doc: dict[str, Any]) -> str | None:
    # in a leaf template: Argo resolves every variable of those (validateLeaf in
    # workflow/validate/validate.go, v3.7.18), not e.g. a steps template's memoize key
    _, spec = spec_of(doc)
    for tmpl in spec.get("templates") or []:
        if not any(t in tmpl for t in LEAF_TYPES):
            continue
        text = json.dumps(tmpl)
        match = INPUT_VARIABLE.search(text)
        if match:
            typo = "{{" + match.group(1) + "-typo}}"
            tmpl.update(json.loads(text.replace(match.group(0), typo, 1)))
            return f"failed to resolve {typo}"
    return None


def test_undefined_entrypoint_is_caught_in_every_example():
    assert caught(_undefined_entrypoint) == (416, {})


def test_duplicate_template_name_is_caught_in_every_example():
    assert caught(_duplicate_template) == (430, {})


def test_misspelt_template_reference_is_caught_in_every_example():
    assert caught(_misspelt_template_reference) == (240, {})


def test_misspelt_input_parameter_is_caught_in_every_example():
    assert caught(_misspelt_input_parameter) == (161, {})


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.stem for p in NEGATIVE])
def test_negative_fixture_fails_with_its_message(path):
    doc = yaml.safe_load(path.read_text())
    expected = expectation(path)
    found = errors(doc)
    assert any(expected in e for e in found), f"expected '{expected}', got {found}"
    # one rule per fixture: nothing else is wrong with it, and the schema accepts it (only
    # the linter catches it)
    assert len(found) == 1, found
    assert argo_schema.schema_errors(doc, "v4.1.2") == []


def test_check_raises_with_every_issue():
    doc = yaml.safe_load((NEGATIVE[0].parent / "dag-cycle.yaml").read_text())
    doc["spec"]["entrypoint"] = "nowhere"
    with pytest.raises(LintError) as info:
        check(doc)
    err = info.value
    assert [i.path for i in err.issues] == ["spec.entrypoint", "spec.templates[0].dag.tasks"]
    assert str(err).startswith("neg-: the Argo manifest has 2 problem(s):\n")
    assert "  spec.entrypoint: template 'nowhere' is not defined (templates: echo, main)" in str(
        err
    )


def test_template_refs_are_notes_not_errors():
    doc = {
        "kind": "Workflow",
        "metadata": {"name": "w"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "a", "templateRef": {"name": "lib", "template": "t"}}],
                        [
                            {
                                "name": "b",
                                "templateRef": {"name": "lib", "template": "t"},
                                "arguments": {
                                    "parameters": [
                                        {
                                            "name": "x",
                                            "value": "{{steps.a.outputs.parameters.anything}}",
                                        }
                                    ]
                                },
                            }
                        ],
                    ],
                }
            ],
        },
    }
    issues = check(doc)
    assert issues == [
        LintIssue(
            "spec.templates[0].steps[0][0].templateRef",
            "'lib/t' lives in another resource and is not checked",
            "note",
        ),
        LintIssue(
            "spec.templates[0].steps[1][0].templateRef",
            "'lib/t' lives in another resource and is not checked",
            "note",
        ),
    ]


def test_workflow_template_may_leave_parameters_open():
    doc = yaml.safe_load((NEGATIVE[0].parent / "workflow-parameter-missing.yaml").read_text())
    (error,) = errors(doc)
    assert expectation(NEGATIVE[0].parent / "workflow-parameter-missing.yaml") in error
    doc["kind"] = "WorkflowTemplate"  # its submitter gives the parameters
    assert errors(doc) == []


def test_not_a_workflow():
    assert [str(i) for i in lint({"kind": "ConfigMap"})] == [
        "kind: 'ConfigMap' is not a workflow kind (Workflow, WorkflowTemplate, ClusterWorkflowTemplate, CronWorkflow)"
    ]


def test_expression_paths():
    from dflow_engine_argo.lint_vars import expression_paths

    assert expression_paths("asInt(inputs.parameters['a-b']) + steps.x.outputs.result") == [
        "asInt",
        "inputs.parameters.a-b",
        "steps.x.outputs.result",
    ]
    assert expression_paths("sprig.trim('inputs.parameters.nope') == \"x\"") == ["sprig.trim"]
    assert expression_paths("fromJson(x).items[0].name") == ["fromJson", "x"]
    assert expression_paths("filter([1, 3], {# > 1})") == ["filter"]
