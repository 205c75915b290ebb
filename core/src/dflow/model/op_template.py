"""OP templates: what a step runs.

Script templates hold a script and the command that runs it; engines decide where (a local
subprocess, a container, an HPC job). Nothing here does I/O.
"""

from __future__ import annotations

import copy
import os
import random
import string
from collections.abc import Callable
from typing import Any

import attrs

from .io import Inputs, Outputs

_NAME_CHARS = string.ascii_lowercase + string.digits
#: names draw from their own generator: libraries that seed the global one (DPDispatcher's
#: Submission calls ``random.seed(42)``) would otherwise give two workflows one id
_RANDOM = random.Random()
if hasattr(os, "register_at_fork"):  # a forked runner must not repeat its parent's names
    os.register_at_fork(after_in_child=_RANDOM.seed)


def randstr(length: int = 5) -> str:
    """A random lower-case suffix (pydflow's ``randstr``; ``random.seed`` does not fix it)."""
    return "".join(_RANDOM.choice(_NAME_CHARS) for _ in range(length))


@attrs.frozen
class RetryPolicy:
    """When and how often a failed step is retried (engine-neutral form of Argo's retryStrategy).

    ``on``: ``"transient"`` (TransientError, and a timeout when ``timeout_is_transient``),
    ``"failure"``, ``"error"`` or ``"always"``.
    """

    limit: int
    on: str = "always"
    timeout_is_transient: bool = False
    backoff_duration: str | None = None
    backoff_factor: float | None = None
    backoff_max_duration: str | None = None


def retry_policy_from(
    retry_strategy: Any = None,
    retry_on_transient_error: int | None = None,
    retry_on_failure: int | None = None,
    retry_on_error: int | None = None,
    retry_on_failure_and_error: int | None = None,
    timeout_as_transient_error: bool = False,
) -> RetryPolicy | None:
    """The policy for pydflow's retry arguments (first one set wins, as in pydflow)."""
    if retry_on_transient_error is not None:
        return RetryPolicy(int(retry_on_transient_error), "transient", timeout_as_transient_error)
    if retry_on_failure is not None:
        return RetryPolicy(int(retry_on_failure), "failure")
    if retry_on_error is not None:
        return RetryPolicy(int(retry_on_error), "error")
    if retry_on_failure_and_error is not None:
        return RetryPolicy(int(retry_on_failure_and_error), "always")
    if retry_strategy is None:
        return None
    if isinstance(retry_strategy, RetryPolicy):
        return retry_strategy
    rs = retry_strategy if isinstance(retry_strategy, dict) else vars(retry_strategy)
    policy = {"OnFailure": "failure", "OnError": "error", "OnTransientError": "transient"}
    backoff = rs.get("backoff") or {}
    return RetryPolicy(
        limit=int(rs.get("limit") or 0),
        on=policy.get(rs.get("retryPolicy") or rs.get("retry_policy") or "", "always"),
        backoff_duration=backoff.get("duration"),
        backoff_factor=backoff.get("factor"),
        backoff_max_duration=backoff.get("maxDuration"),
    )


def _timeout_seconds(timeout: Any) -> float | None:
    """``30``, ``"30"``, ``"30s"``, ``"5m"``, ``"1h"`` -> seconds."""
    if timeout is None or timeout == "":
        return None
    if isinstance(timeout, int | float):
        return float(timeout)
    text = str(timeout).strip()
    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


class OPTemplate:
    """Base of every template (script templates, Steps, DAG)."""

    #: reuse results from the step cache (None: as configured; docs/cache.md)
    cache: bool | None = None

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        memoize_key: str | None = None,
        pvcs: list | None = None,
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.name = (name or randstr()).lower()
        self.inputs = inputs if inputs is not None else Inputs()
        self.outputs = outputs if outputs is not None else Outputs()
        self.memoize_key = memoize_key
        self.pvcs = pvcs or []
        self.annotations = dict(annotations or {})
        self.labels = dict(labels or {})

    def __setattr__(self, key: str, value: Any) -> None:
        if key in ("inputs", "outputs") and value is not None:
            value.set_owner(template=self)
        super().__setattr__(key, value)

    def copy(self) -> OPTemplate:
        """A renamed deep copy (``name-xxxxx``)."""
        new = copy.deepcopy(self)
        new.name = f"{self.name}-{randstr()}"
        return new

    deepcopy = copy

    def __deepcopy__(self, memo: dict) -> Any:
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            object.__setattr__(new, k, copy.deepcopy(v, memo))
        new.inputs.set_owner(template=new)
        new.outputs.set_owner(template=new)
        return new

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


ScriptWrapper = Callable[[str, list[str]], str]
"""``wrap(script, env_names) -> script``: see :attr:`ScriptOPTemplate.wrap_script`."""


class ScriptOPTemplate(OPTemplate):
    """A script run by ``command`` (``["sh"]``, ``["python3"]``...) in ``image`` (on Argo)."""

    default_command: tuple[str, ...] = ()

    wrap_script: ScriptWrapper | None = None
    """Set by an executor's ``render()`` whose job wraps a script that does not exist yet (a
    Python OP's runner, made by the renderer): every renderer of script templates calls
    ``wrap_script(script, names of the container's environment variables)`` and runs what it
    returns (DPDispatcher and Slurm executors submit the script from inside the pod)."""

    step_cached: bool = False
    """Set by the Argo renderer on the copy of a template it hands to an executor's
    ``render()`` when the step uses the step cache (docs/cache.md): an executor whose pods
    key the step themselves (``SlurmJobTemplate``'s prepare) renders them for it."""

    cache_call: list[str] | None = None
    """Set by an executor whose pods key or store a cached step themselves (``SlurmJobTemplate``'s
    prepare and collect): the Python lines a renderer's step-cache container runs in place of
    its ``run_cached`` call, after the set-up that defines ``ROOT``, ``COMMAND``, ``SCRIPT``,
    ``PARAMETERS``, ``ARTIFACTS`` and ``OUTPUTS`` (docs/cache.md)."""

    def __init__(
        self,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        memoize_key: str | None = None,
        pvcs: list | None = None,
        annotations: dict | None = None,
        labels: dict | None = None,
        node_selector: dict | None = None,
        tolerations: list | None = None,
        affinity: Any = None,
        image: str | None = None,
        command: str | list[str] | None = None,
        script: str | None = None,
        volumes: list | None = None,
        mounts: list | None = None,
        init_progress: str = "0/1",
        timeout: Any = None,
        retry_strategy: Any = None,
        resource: Any = None,
        image_pull_policy: str | None = None,
        requests: dict | None = None,
        limits: dict | None = None,
        envs: dict | None = None,
        init_containers: list | None = None,
        sidecars: list | None = None,
        script_rendered: bool = False,
        cache: bool | None = None,
    ) -> None:
        super().__init__(name, inputs, outputs, memoize_key, pvcs, annotations, labels)
        if cache is not None and not isinstance(cache, bool):
            raise TypeError(f"template '{self.name}': cache must be True, False or None")
        self.cache = cache  # None: as configured (docs/cache.md)
        self.node_selector = node_selector
        self.tolerations = tolerations
        self.affinity = affinity
        self.image = image
        if isinstance(command, str):
            command = [command]
        self.command = list(command) if command else list(self.default_command)
        self.script = script or ""
        self.volumes = volumes or []
        self.mounts = mounts or []
        self.init_progress = init_progress
        self.timeout = timeout
        self.retry_strategy = retry_strategy
        self.resource = resource
        self.image_pull_policy = image_pull_policy
        self.requests = requests
        self.limits = limits
        self.envs = dict(envs or {})
        self.init_containers = init_containers
        self.sidecars = sidecars
        self.script_rendered = script_rendered
        self.wrap_script = None
        self.step_cached = False
        self.cache_call = None

    def cache_output_paths(self) -> dict[str, str]:
        """The outputs the step cache stores and restores, by their names in an entry
        (``parameters/<name>``: its ``value_from_path``; ``artifacts/<name>``: its path)."""
        outs = {
            f"parameters/{n}": p.value_from_path
            for n, p in self.outputs.parameters.items()
            if p.value_from_path
        }
        outs.update({f"artifacts/{n}": a.path for n, a in self.outputs.artifacts.items()})
        return outs

    @property
    def timeout_seconds(self) -> float | None:
        return _timeout_seconds(self.timeout)

    @property
    def retry_policy(self) -> RetryPolicy | None:
        return retry_policy_from(self.retry_strategy)


def static_literal(value: str, what: str) -> str:
    """``value``, refused when it holds ``{{``: a name or path that a pod's generated source
    holds as a literal, where Argo would substitute it (the Argo renderer's containers,
    ``SlurmJobTemplate``'s step-cache pods)."""
    if "{{" in value:
        raise ValueError(f"{what} {value!r} contains '{{{{', which Argo would substitute")
    return value


class ShellOPTemplate(ScriptOPTemplate):
    """A shell script (``command`` defaults to ``["sh"]``)."""

    default_command = ("sh",)


class PythonScriptOPTemplate(ScriptOPTemplate):
    """A Python script (``command`` defaults to ``["python3"]``)."""

    default_command = ("python3",)


class ContainerOPTemplate(ShellOPTemplate):
    """A container command, kept as a shell script (used when reading manifests back)."""

    def __init__(self, command: str | list[str] = "", args: list[str] | None = None, **kw: Any):
        import shlex

        cmd = command if isinstance(command, list) else shlex.split(command or "")
        script = " ".join(shlex.quote(c) for c in [*cmd, *(args or [])])
        super().__init__(script=script, **kw)


class HTTPOPTemplate(OPTemplate):
    """An HTTP request as a step (Argo ``http`` template; the local engine sends it itself)."""

    def __init__(
        self,
        url: str,
        name: str | None = None,
        inputs: Inputs | None = None,
        outputs: Outputs | None = None,
        memoize_key: str | None = None,
        annotations: dict | None = None,
        labels: dict | None = None,
        method: str = "get",
        headers: dict | None = None,
        timeout: Any = None,
        success_condition: str | None = None,
        body: str | bytes | None = None,
        insecure_skip_verify: bool = False,
    ) -> None:
        super().__init__(name, inputs, outputs, memoize_key, None, annotations, labels)
        self.url = url
        self.method = method
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.success_condition = success_condition
        self.body = body
        self.insecure_skip_verify = insecure_skip_verify


class Secret:
    """A secret value passed to a step's environment (a Kubernetes secret on Argo).

    Never rendered as plaintext into a manifest or script: engines reference it by name.
    """

    def __init__(self, value: str | None = None, name: str | None = None, key: str = "secret"):
        self.value = value
        self.name = name or f"dflow-{randstr(15)}"
        self.key = key

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, key={self.key!r})"


class DockerSecret:
    """Registry credentials for pulling images (a Kubernetes secret on Argo)."""

    def __init__(self, registry: str, username: str, password: str, name: str | None = None):
        self.registry = registry
        self.username = username
        self.password = password
        self.name = name or f"dflow-{randstr(15)}"

    def __repr__(self) -> str:
        return f"DockerSecret(registry={self.registry!r}, name={self.name!r})"
