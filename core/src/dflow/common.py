"""pydflow's ``dflow.common``: artifact classes, name rules and ``{{...}}`` reference patterns.

The artifact classes are :mod:`dflow.storage`'s; the name rules are the ones steps, workflows
and parameters are checked with.
"""

from __future__ import annotations

import re

import jsonpickle

from ._compat import module_getattr
from .lineage import LineageClient
from .model.io import PARAM_NAME_RE as param_regex
from .model.step import KEY_RE as key_regex
from .model.step import STEP_NAME_RE as field_regex
from .model.workflow import WORKFLOW_NAME_RE as subdomain_regex
from .storage import CustomArtifact, HTTPArtifact, LocalArtifact, S3Artifact
from .utils import import_func

__all__ = [
    "CustomArtifact",
    "HTTPArtifact",
    "LineageClient",
    "LocalArtifact",
    "S3Artifact",
    "field_errmsg",
    "field_regex",
    "import_func",
    "input_artifact_pattern",
    "input_parameter_pattern",
    "jsonpickle",
    "key_errmsg",
    "key_regex",
    "param_errmsg",
    "param_regex",
    "step_output_artifact_pattern",
    "step_output_parameter_pattern",
    "subdomain_errmsg",
    "subdomain_regex",
    "task_output_artifact_pattern",
    "task_output_parameter_pattern",
]

field_errmsg = (
    "name must consist of letters, digits or '-' and start with a letter or digit "
    "(e.g. 'my-step-1', '123-NAME')"
)
subdomain_errmsg = (
    "a lower-case RFC 1123 subdomain: lower-case letters, digits, '-' or '.', starting and "
    "ending with a letter or digit (e.g. 'my-workflow')"
)
param_errmsg = "parameter/artifact name must consist of letters, digits, '_' or '-'"
key_errmsg = (
    "key must consist of lower-case letters, digits, '-' or '.' and start with a letter or "
    "digit (e.g. 'my-key', 'iter-{{item}}')"
)

# whole-string references, capturing the names they refer to
input_parameter_pattern = re.compile(r"^{{inputs\.parameters\.(.*)}}$")
input_artifact_pattern = re.compile(r"^{{inputs\.artifacts\.(.*)}}$")
step_output_parameter_pattern = re.compile(r"^{{steps\.(.*?)\.outputs\.parameters\.(.*?)}}$")
step_output_artifact_pattern = re.compile(r"^{{steps\.(.*?)\.outputs\.artifacts\.(.*?)}}$")
task_output_parameter_pattern = re.compile(r"^{{tasks\.(.*?)\.outputs\.parameters\.(.*?)}}$")
task_output_artifact_pattern = re.compile(r"^{{tasks\.(.*?)\.outputs\.artifacts\.(.*?)}}$")

_NO_HANDLERS = (
    "artifacts are (de)serialised with their to_dict()/from_dict(); dflow registers no "
    "jsonpickle handlers"
)
__getattr__ = module_getattr(
    __name__, refused={"CustomHandler": _NO_HANDLERS, "CustomPickler": _NO_HANDLERS}
)
