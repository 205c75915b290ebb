"""``ArgoRenderer``: a dflow workflow as an Argo ``Workflow`` manifest (pure, deterministic)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dflow.rendering import Rendering

from ..config import ArgoConfig
from .graph import RenderPass, sanitize
from .memoize import ReusePlan, memoize_field, plan_reuse, reused_global_outputs
from .values import Locations, RenderError, text
from .volumes import claim_template

if TYPE_CHECKING:
    from dflow.model.workflow import Workflow


def _config_dicts() -> tuple[dict[str, Any], dict[str, Any]]:
    from dflow.config import config, s3_config

    return config, s3_config


def _catalog_dir(name: Any) -> str:
    name = name or ".dflow"
    if (
        not isinstance(name, str)
        or not re.fullmatch(r"[A-Za-z0-9._-]+", name)
        or name in (".", "..")
    ):
        raise RenderError(
            f"config['catalog_dir_name'] = {name!r}: expected a plain directory "
            "name (letters, digits, '.', '_', '-'), e.g. '.dflow'"
        )
    return name


def _archive_mode(mode: Any) -> str | None:
    if mode not in ("tar", None):
        raise RenderError(f"config['archive_mode'] = {mode!r}: expected 'tar' or None")
    return mode


def _repo_type(kind: Any) -> str | None:
    """``s3_config["repo_type"]`` when set to another kind than the default ``s3`` (pydflow:
    ``oss`` renders ``oss:`` locations); None: the storage plugin decides."""
    if kind in (None, "", "s3"):
        return None
    if kind not in ("oss", "gcs"):
        raise RenderError(f"s3_config['repo_type'] = {kind!r}: expected 's3', 'oss' or 'gcs'")
    return kind


def _storage_kind() -> str:
    try:
        from dflow.backends import storage_kind

        return storage_kind()
    except Exception:  # no storage plugin configured: Argo's default repository is S3
        return "s3"


class ArgoRenderer:
    """Render workflows to ``argoproj.io/v1alpha1`` ``Workflow`` manifests.

    Pure: no network, no uploads. :meth:`render` returns a :class:`dflow.rendering.Rendering`:
    the manifest, plus the local code Python OPs need and the secrets it names, which the
    engine uploads and creates at submit time.

    Options: ``default_image`` (script templates without an image; default
    ``python:<client major.minor>``, matching the shipped dflow), ``service_account_name``
    (default: the config's, else ``argo`` as in pydflow; ``""`` omits it),
    ``artifact_kind`` (``s3``/``oss``/``gcs``; default: the configured storage plugin's).
    """

    def __init__(
        self,
        config: ArgoConfig | None = None,
        *,
        default_image: str | None = None,
        service_account_name: str | None = None,
        artifact_kind: str | None = None,
        settings: Callable[[], ArgoConfig] | None = None,
    ) -> None:
        self.default_image = default_image or f"python:{sys.version_info[0]}.{sys.version_info[1]}"
        self.config = config
        self._service_account = service_account_name
        self._settings = settings  # re-read at each render: the configuration file may change
        self.artifact_kind = artifact_kind

    @property
    def service_account_name(self) -> str | None:
        """``spec.serviceAccountName`` (None: left out)."""
        if self._service_account is not None:
            return self._service_account or None
        config = self._settings() if self._settings is not None else self.config
        return (config or ArgoConfig()).service_account_name or None

    # -- rendering --------------------------------------------------------------------------
    def _pass(self, workflow: Workflow) -> RenderPass:
        config, s3 = _config_dicts()
        kind = self.artifact_kind or _repo_type(s3.get("repo_type")) or _storage_kind()
        rp = RenderPass(
            workflow,
            locs=Locations(kind, s3.get("repo_prefix") or ""),
            key_prefix=s3.get("prefix") or "",
            default_image=self.default_image,
            util_image=config.get("util_image") or "python:3.11",
            util_pull_policy=config.get("util_image_pull_policy"),
            catalog_dir=_catalog_dir(config.get("catalog_dir_name")),
            archive_mode=_archive_mode(config.get("archive_mode", "tar")),
            save_keys=bool(config.get("save_keys_in_global_outputs")),
        )
        return rp

    def render(
        self,
        workflow: Workflow,
        *,
        memoize_prefix: str | None = None,
        configmap: str = "dflow",
        memoize_max_age: str | None = None,
        reuse_step: Any = None,
    ) -> Rendering:
        """The manifest of ``workflow`` (a dict in Argo's field order) and what it needs.

        With ``memoize_prefix`` (reuse of steps, usually the new workflow's id), keyed
        templates get ``memoize`` (key ``<prefix>-<step key>`` in ConfigMap
        ``<configmap>-<prefix>-<step key>``, ``maxAge`` ``memoize_max_age`` or a year); see
        :meth:`memoize_entries`. The global outputs of ``reuse_step`` are preset in
        ``status.outputs``.
        """
        if workflow.entrypoint is None:
            raise RenderError(f"workflow '{workflow.name}' has no steps: add some before rendering")
        from dflow.contexts import render_workflow

        workflow = render_workflow(workflow)  # one rule for both engines
        rp = self._pass(workflow)
        if memoize_prefix is not None:
            rp.memoize = memoize_field(memoize_prefix, configmap, memoize_max_age)
        entry = rp.template(workflow.entrypoint)
        on_exit = rp.template(workflow.on_exit) if workflow.on_exit is not None else None
        meta: dict[str, Any] = (
            {"name": workflow.id} if workflow.id else {"generateName": f"{workflow.name}-"}
        )
        # config["workflow_annotations"] first, the workflow's own win (pydflow's order)
        annotations = {
            **(_config_dicts()[0].get("workflow_annotations") or {}),
            **(workflow.annotations or {}),
        }
        if annotations:
            meta["annotations"] = {k: str(v) for k, v in annotations.items()}
        if workflow.labels:
            meta["labels"] = {k: str(v) for k, v in workflow.labels.items()}
        spec: dict[str, Any] = {"entrypoint": entry}
        if workflow.parameters:
            spec["arguments"] = {
                "parameters": [
                    {"name": k, "value": text(v)} for k, v in workflow.parameters.items()
                ]
            }
        account = self.service_account_name
        if account:
            spec["serviceAccountName"] = account
        if workflow.parallelism is not None:
            spec["parallelism"] = int(workflow.parallelism)
        if on_exit:
            spec["onExit"] = on_exit
        if workflow.pod_gc_strategy:
            spec["podGC"] = {"strategy": workflow.pod_gc_strategy}
        pull = _pull_secrets(workflow.image_pull_secrets, rp.secrets)
        if pull:
            spec["imagePullSecrets"] = pull
        # s3_config["repo_key"] names the repository pydflow read keys and prefixes from:
        # the workflow uses that repository too, so the two always agree
        repo_key = workflow.artifact_repo_key or _config_dicts()[1].get("repo_key")
        if repo_key:
            spec["artifactRepositoryRef"] = {"key": repo_key}
        spec["templates"] = list(rp.templates.values())
        if rp.claims:
            spec["volumeClaimTemplates"] = [claim_template(p) for p in rp.claims.values()]
        manifest: dict[str, Any] = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": meta,
            "spec": spec,
        }
        reused = reused_global_outputs(reuse_step or [])
        if reused:
            manifest["status"] = {"outputs": reused}
        return Rendering(
            manifest,
            packages=rp.packages,
            local_artifacts=dict(rp.local_uploads),
            data=dict(rp.data_uploads),
            secrets=_unique_by_name(rp.secrets),
        )

    def manifest(self, workflow: Workflow, **options: Any) -> dict[str, Any]:
        """``render(workflow, **options).manifest``."""
        return self.render(workflow, **options).manifest

    def lint(self, workflow: Workflow) -> list[Any]:
        """Render, then run the Argo validator checks; raise ``LintError`` on problems and
        return the notes (unchecked references)."""
        from ..lint import check

        return check(self.manifest(workflow))

    def packages_to_upload(self, workflow: Workflow) -> dict[str, list[str]]:
        """``{storage key: [local paths]}`` the manifest's Python OPs download at run time.

        Upload each key once (skip it when it exists: keys are content hashes), without
        archive, each path at the top level (``<key>/dflow/...``, ``<key>/my_ops.py``).
        """
        return {k: list(v) for k, v in self.render(workflow).packages.items()}

    def local_artifacts_to_upload(self, workflow: Workflow) -> dict[str, str]:
        """``{storage key: local path}`` of the LocalArtifacts the manifest reads.

        Upload each key before submitting (skip it when it exists: keys are content hashes),
        without archive and without a catalog: a file as the object ``key`` itself, a
        directory's files under ``key/`` (its own ``.dflow`` catalog included), so the pod
        gets the same file or directory the local engine would hand over.
        """
        return dict(self.render(workflow).local_artifacts)

    def memoize_entries(
        self,
        workflow: Workflow,
        reuse_step: Any,
        *,
        memoize_prefix: str | None = None,
        configmap: str = "dflow",
        now: Any = None,
    ) -> list[dict[str, Any]]:
        """The cache ConfigMap manifests to create before submitting ``workflow`` rendered
        with ``render(workflow, memoize_prefix=..., configmap=...)`` so that the keyed steps
        of ``reuse_step`` (query results of an earlier run) are not run again. The prefix
        defaults to the workflow's id (fix it before rendering, as pydflow does)."""
        return self.reuse_plan(
            workflow, reuse_step, memoize_prefix=memoize_prefix, configmap=configmap, now=now
        ).configmaps

    def reuse_plan(
        self,
        workflow: Workflow,
        reuse_step: Any,
        *,
        memoize_prefix: str | None = None,
        configmap: str = "dflow",
        now: Any = None,
    ) -> ReusePlan:
        """The cache ConfigMaps and the storage copies (``config["overwrite_reused_artifact"]``,
        modified artifacts of fan-out items) that reusing ``reuse_step`` needs; see
        :func:`~.memoize.plan_reuse`."""
        prefix = memoize_prefix or workflow.id
        if not prefix:
            raise RenderError(
                f"workflow '{workflow.name}': reusing steps needs the new "
                "workflow's id: set Workflow(id=...) or pass memoize_prefix"
            )
        config, s3 = _config_dicts()
        rp = self._pass(workflow)
        return plan_reuse(
            reuse_step or [],
            prefix,
            configmap,
            overwrite=bool(config.get("overwrite_reused_artifact", True)),
            locs=rp.locs,
            key_prefix=rp.key_prefix,
            now=now,
        )

    def secrets_to_create(self, workflow: Workflow) -> list[Any]:
        """The ``Secret``/``DockerSecret`` objects the manifest refers to by name; those with
        a value must exist in the namespace before the workflow runs."""
        return list(self.render(workflow).secrets)

    def from_dict(self, manifest: dict[str, Any]) -> Workflow:
        """Best-effort dflow Workflow of a manifest (script, steps and DAG templates)."""
        from .reader import workflow_from_manifest

        return workflow_from_manifest(manifest)


def _unique_by_name(secrets: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for s in secrets:
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    return out


def _pull_secrets(value: Any, secrets: list) -> list[dict[str, str]]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append({"name": item})
        elif isinstance(item, dict) and "name" in item:
            out.append({"name": str(item["name"])})
        elif hasattr(item, "name"):
            secrets.append(item)
            out.append({"name": sanitize(item.name).lower()})
        else:
            raise RenderError(f"image_pull_secrets: {item!r} is not a secret name or DockerSecret")
    return out
