"""The strict schema checks the tests use on rendered manifests, checked on Argo's own examples.

These test the test support (argo_schema), not dflow: they pass with dflow unimportable. The
corpus checks are one test per corpus and check, each asserting the count of documents and
listing the failures, so they weigh as what they are in the suite's count.
"""

from __future__ import annotations

import copy

import argo_schema
import pytest

V4_EXAMPLES = [(n, d) for n, d in argo_schema.examples("v4.1.2") if d.get("kind") == "Workflow"]
V3_EXAMPLES = [(n, d) for n, d in argo_schema.examples("v3.7.18") if d.get("kind") == "Workflow"]

# v4.1.2 examples that use fields v3.7.18 does not know (the v3 strict schema must say so)
V4_ONLY = {
    "artifact-passing-explicit-plugin.yaml#0": "'plugin' was unexpected",
    "fibonacci-seq-conditional-param.yaml#0": "'key' is a required property",
    "memoize-simple.yaml#0": "'key' is a required property",
    "pod-resources-template-override.yaml#0": "'podResources' was unexpected",
    "pod-resources.yaml#0": "'podResources' was unexpected",
    "resource-claims-template-override.yaml#0": "'resourceClaims' was unexpected",
    "resource-claims.yaml#0": "'resourceClaims' was unexpected",
    "workflow-level-executor-plugin.yaml#0": "'executorPlugins' was unexpected",
}
# upstream mistakes in v3.7.18's own examples (see shared/argo/README.md)
V3_KNOWN_BAD = {"memoize-simple.yaml#0"}
OTHER_KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")

HELLO = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-"},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "a", "template": "echo", "withParam": "[1, 2]"}]],
            },
            {"name": "echo", "container": {"image": "busybox", "command": ["echo"]}},
        ],
    },
}


def _failures(docs, errors_of):
    """``{name: errors}`` of the documents that have errors."""
    return {n: e for n, d in docs if (e := errors_of(d))}


def test_v4_examples_pass_v4_schema_and_crd():
    failing = _failures(
        V4_EXAMPLES, lambda d: argo_schema.schema_errors(d, "v4.1.2") + argo_schema.crd_errors(d)
    )
    assert (len(V4_EXAMPLES), failing) == (199, {})


def test_v4_examples_pass_v3_schema_except_v4_fields():
    failing = _failures(V4_EXAMPLES, lambda d: argo_schema.schema_errors(d, "v3.7.18"))
    unexplained = {
        n: e for n, e in failing.items() if not any(V4_ONLY.get(n, "\0") in m for m in e)
    }
    assert (len(V4_EXAMPLES), sorted(failing), unexplained) == (199, sorted(V4_ONLY), {})


def test_v3_examples_pass_v3_schema():
    failing = _failures(V3_EXAMPLES, lambda d: argo_schema.schema_errors(d, "v3.7.18"))
    assert (len(V3_EXAMPLES), sorted(failing)) == (196, sorted(V3_KNOWN_BAD))


def test_other_kinds_pass_their_v4_schema():
    docs = [(n, d) for n, d in argo_schema.examples("v4.1.2") if d.get("kind") in OTHER_KINDS]
    failing = _failures(docs, lambda d: argo_schema.schema_errors(d, "v4.1.2", d["kind"]))
    assert (len(docs), failing) == (24, {})


def test_every_crd_rule_is_checked_or_listed():
    rules = {rule for _, rule, _ in argo_schema.crd_rules()}
    assert rules, "the CRD declares x-kubernetes-validations"
    assert rules <= set(argo_schema.CEL_RULES) | set(argo_schema.SKIPPED_CEL_RULES)


def mutated(change):
    doc = copy.deepcopy(HELLO)
    change(doc)
    return doc


def test_hello_is_valid():
    argo_schema.assert_valid(HELLO)


@pytest.mark.parametrize(
    "change,expected",
    [
        # a typo: the plain schema accepts it, the strict one names it
        (
            lambda d: d["spec"]["templates"][0]["steps"][0][0].update(withParams="[1]"),
            "spec.templates[0].steps[0][0]: Additional properties are not allowed ('withParams'",
        ),
        (
            lambda d: d["spec"].update(parallelism="two"),
            "spec.parallelism: 'two' is not of type 'integer'",
        ),
        (
            lambda d: d["spec"]["templates"][1].update(retryStrategy={"limit": [2]}),
            "spec.templates[1].retryStrategy.limit: [2] is not of type 'string', 'integer'",
        ),
        (
            lambda d: d["spec"]["templates"][1]["container"].update(command="echo"),
            "spec.templates[1].container.command: 'echo' is not of type 'array'",
        ),
        (lambda d: d.pop("spec"), "<root>: 'spec' is a required property"),
    ],
)
def test_strict_schema_rejects(change, expected):
    for version in argo_schema.VERSIONS:
        errors = argo_schema.schema_errors(mutated(change), version)
        assert any(e.startswith(expected) for e in errors), errors


def test_numbers_accepted_where_kubernetes_accepts_them():
    doc = mutated(
        lambda d: d["spec"]["templates"][1].update(
            retryStrategy={"limit": 2},
            container={"image": "busybox", "resources": {"limits": {"cpu": 1, "memory": 1}}},
        )
    )
    argo_schema.assert_valid(doc)


def test_fractional_quantity_must_be_a_string_for_the_v4_crd():
    # the schemas accept 0.5 but the CRD's int-or-string does not: render "500m" or "0.5"
    doc = mutated(
        lambda d: d["spec"]["templates"][1]["container"].update(resources={"limits": {"cpu": 0.5}})
    )
    assert argo_schema.schema_errors(doc, "v4.1.2") == []
    assert argo_schema.crd_errors(doc) == [
        "spec.templates[1].container.resources.limits.cpu: 0.5 is not valid under any of the given schemas"
    ]


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            lambda d: d["spec"]["templates"][1].update(
                memoize={"key": "k", "cache": {"configMap": {"name": "c"}}}
            ),
            "spec.templates[1].memoize: 'maxAge' is a required property",
        ),
        (
            lambda d: d["spec"].update(podGC={"strategy": "Sometimes"}),
            "spec.podGC.strategy: 'Sometimes' is not one of",
        ),
        (
            lambda d: d["spec"]["templates"][1].update(retryStrategy={"retryPolicy": "Often"}),
            "spec.templates[1].retryStrategy.retryPolicy: 'Often' is not one of",
        ),
        (
            lambda d: d["spec"]["templates"][0].update(timeout="10s"),
            "spec.templates: timeout cannot be applied to steps or dag templates",
        ),
        (
            lambda d: d["spec"]["templates"][1].update(script={"image": "x", "source": "y"}),
            "spec.templates: template must have at most one template type",
        ),
        (
            lambda d: d["spec"]["templates"].append(
                {
                    "name": "d",
                    "dag": {
                        "tasks": [
                            {"name": "a", "template": "echo"},
                            {
                                "name": "b",
                                "template": "echo",
                                "depends": "a",
                                "dependencies": ["a"],
                            },
                        ]
                    },
                }
            ),
            "spec.templates[2].dag.tasks[1]: cannot use both 'depends' and 'dependencies'",
        ),
        (
            lambda d: d["spec"]["templates"][0]["steps"][0][0].update(
                withSequence={"count": "2", "end": "3"}
            ),
            "spec.templates[0].steps[0][0].withSequence: only one of count or end can be defined",
        ),
        (
            lambda d: d["spec"].update(
                arguments={
                    "artifacts": [{"name": "a", "s3": {"key": "k"}, "http": {"url": "http://x"}}]
                }
            ),
            "spec.arguments.artifacts[0]: at most one artifact location can be specified",
        ),
    ],
)
def test_crd_rejects(change, expected):
    errors = argo_schema.crd_errors(mutated(change))
    assert any(e.startswith(expected) for e in errors), errors


def test_missing_data_is_reported_clearly(monkeypatch, tmp_path):
    monkeypatch.setattr(argo_schema, "ARGO_DATA", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="shared/argo folder"):
        argo_schema.data_file("schema-v4.1.2.json")
