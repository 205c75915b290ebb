"""The linter passes Argo's own examples and rejects one fixture per rule with its message."""

from __future__ import annotations

from pathlib import Path

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


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <issue>'"
    return first[len("# expect: ") :]


@pytest.mark.parametrize("name,doc", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_argo_examples_pass(name, doc):
    errors = [str(i) for i in lint(doc) if i.severity == "error"]
    assert errors == []


def test_examples_cover_all_kinds():
    assert {d["kind"] for _, d in EXAMPLES} == set(KINDS)
    assert sum(d["kind"] == "Workflow" for _, d in EXAMPLES) > 350


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.stem for p in NEGATIVE])
def test_negative_fixture_fails_with_its_message(path):
    doc = yaml.safe_load(path.read_text())
    expected = expectation(path)
    errors = [str(i) for i in lint(doc) if i.severity == "error"]
    assert any(expected in e for e in errors), f"expected '{expected}', got {errors}"
    # one rule per fixture: nothing else is wrong with it
    assert len(errors) == 1, errors


@pytest.mark.parametrize("path", NEGATIVE, ids=[p.stem for p in NEGATIVE])
def test_negative_fixtures_are_schema_valid(path):
    """The fixtures break the linter's rules, not the schema: only lint catches them."""
    doc = yaml.safe_load(path.read_text())
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
    doc["kind"] = "WorkflowTemplate"
    assert [i for i in lint(doc) if i.severity == "error"] == []


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
