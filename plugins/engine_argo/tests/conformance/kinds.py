"""What kind a template is, and the type of node it makes (Template.GetType and
GetNodeType, pkg/apis/workflow/v1alpha1 and workflow/util/util.go, v3.7.18)."""

from __future__ import annotations

from typing import Any

TEMPLATE_KINDS = (
    "container",
    "script",
    "steps",
    "dag",
    "resource",
    "suspend",
    "data",
    "http",
    "plugin",
    "containerSet",
)


def template_type(tmpl: dict[str, Any]) -> str:
    return next((k for k in TEMPLATE_KINDS if tmpl.get(k) is not None), "")


def node_type(tmpl: dict[str, Any]) -> str:
    """GetNodeType (workflow/util/util.go, v3.7.18)."""
    kind = template_type(tmpl)
    return {
        "steps": "Steps",
        "dag": "DAG",
        "suspend": "Suspend",
        "http": "HTTP",
        "plugin": "Plugin",
    }.get(kind, "Pod")


def is_pod_type(tmpl: dict[str, Any]) -> bool:
    return template_type(tmpl) in ("container", "script", "resource", "data", "containerSet")
