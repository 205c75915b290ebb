"""Leaf templates: script, Python OP, HTTP and resource templates, and their IO."""

from __future__ import annotations

import copy
import os
from typing import Any

import attrs
from dflow.cache import cache_settings
from dflow.credentials import check_plain_envs
from dflow.model.io import MISSING
from dflow.model.op_template import HTTPOPTemplate, RetryPolicy, ScriptOPTemplate
from dflow.model.saves import saved_key

from . import artargs, volumes
from . import packages as pk
from .cachedscript import cached_env, cached_script_source, script_artifact
from .memoize import DEFAULT_MAX_AGE, cache
from .pyheader import with_header
from .pyscript import (
    PACKAGES_ARTIFACT,
    RunnerSpec,
    parameter_artifacts,
    runner_env,
    runner_script,
)
from .values import (
    ArgoArtifact,
    Locations,
    RawArtifact,
    RenderError,
    big_literal,
    default_text,
    described,
    text,
)

PROGRESS = "workflows.argoproj.io/progress"
_POLICIES = {"failure": "OnFailure", "error": "OnError", "always": "Always"}


@attrs.frozen
class Variant:
    """What a step adds to its leaf template (so equal variants share one Argo template)."""

    keyed: bool = False
    sliced: bool = False  # the slice index arrives in dflow_slice_index
    group_size: int | None = None
    sliced_outputs: tuple[str, ...] = ()  # output artifacts written under dflow_artifact_key
    success_tag: bool = False
    parts: tuple = ()  # ((artifact, (order, ...)), ...): lists/dicts of artifacts, as parts
    art_slices: tuple = ()  # ((artifact, has_sub_path), ...): items of artifacts
    timeout: float | None = None  # Step(timeout=): replaces the template's own timeout
    sub_path_arts: tuple[str, ...] = ()  # Slices(sub_path=True): one item each, at its path
    cached: bool = False  # the step cache's spec arrives in dflow_cache (docs/cache.md)
    # ((artifact, claim, subpath), ...): inputs read from / outputs saved to shared volumes
    volume_reads: tuple[tuple[str, str, str], ...] = ()
    volume_saves: tuple[tuple[str, str, str], ...] = ()


def retry_strategy(policy: RetryPolicy | None) -> dict[str, Any] | None:
    """Argo ``retryStrategy`` of a policy: TransientError is exit code 1, FatalError 2."""
    if policy is None:
        return None
    out: dict[str, Any] = {"limit": int(policy.limit)}
    if policy.on == "transient":
        # a timed-out attempt has no exit code 2: retry it too when timeouts are transient
        out["expression"] = (
            "asInt(lastRetry.exitCode) != 2"
            if policy.timeout_is_transient
            else "asInt(lastRetry.exitCode) == 1"
        )
    else:
        out["retryPolicy"] = _POLICIES.get(policy.on, "Always")
    backoff = {
        k: v
        for k, v in (
            ("duration", policy.backoff_duration),
            ("factor", policy.backoff_factor),
            ("maxDuration", policy.backoff_max_duration),
        )
        if v is not None
    }
    if backoff:
        out["backoff"] = backoff
    return out


def timeout_text(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return f"{int(seconds) if float(seconds).is_integer() else seconds}s"


def _k8s(value: Any, where: str) -> Any:
    """Kubernetes objects as plain data (dicts pass through)."""
    if value is None or isinstance(value, dict | list | str | int | float | bool):
        if isinstance(value, list):
            return [_k8s(v, where) for v in value]
        return copy.deepcopy(value)
    try:
        from kubernetes.client import ApiClient  # optional: only for kubernetes model objects

        return ApiClient().sanitize_for_serialization(value)
    except ImportError:
        raise RenderError(
            f"{where}: {type(value).__name__} is not plain data; pass a dict"
        ) from None


def env_entries(envs: dict[str, Any], secrets: list) -> list[dict[str, Any]]:
    """``env`` of a container: strings as values, Secrets as secretKeyRef (never the value)."""
    out = []
    for name, value in envs.items():
        if type(value).__name__ == "Secret" and hasattr(value, "key"):
            secrets.append(value)
            out.append(
                {
                    "name": name,
                    "valueFrom": {"secretKeyRef": {"name": value.name, "key": value.key}},
                }
            )
        elif isinstance(value, dict):
            out.append({"name": name, "valueFrom": copy.deepcopy(value)})
        elif value is not None:
            out.append({"name": name, "value": str(value)})
    return out


def python_success_tag(source: str, root: str) -> str:
    """``source`` (a Python script) run by a header that writes the success tag when it ends
    with status 0."""
    if "{{" in root:
        raise RenderError(f"tmp_root {root!r} contains '{{{{'")
    write = f"""\
out = os.path.join(os.environ.get("DFLOW_TMP_ROOT") or {root!r}, "outputs")
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "success_tag"), "w") as f:
    f.write("true")
"""
    return with_header(source, write, purpose="then the success tag if it ended with status 0")


class LeafRenderer:
    """Builds the body of leaf templates; ``owner`` is the workflow renderer state."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        # one render pass hashes each set of shipped packages once (hundreds of files)
        self._package_keys: dict[tuple, str] = {}

    @property
    def locs(self) -> Locations:
        return self.owner.locs

    # -- inputs and outputs ----------------------------------------------------------------
    def inputs(self, tmpl: Any, variant: Variant, pod: bool) -> dict[str, Any]:
        params, arts = [], []
        for name, p in tmpl.inputs.parameters.items():
            if pod and p.save_as_artifact:
                path = p.path or f"{self.root(tmpl)}/inputs/parameters/{name}"
                default = big_literal(text(p.value), self.owner.upload_text) if p.has_value else {}
                arts.append({"name": f"dflow_bigpar_{name}", "path": path, **default})
                continue
            entry: dict[str, Any] = {"name": name}
            if p.has_value:
                entry["value"] = text(p.value)
            params.append(described(entry, p))
        extra = [
            ("dflow_key", variant.keyed),
            ("dflow_group_key", variant.keyed and bool(variant.sliced_outputs)),
            ("dflow_slice_index", variant.sliced),
            ("dflow_group_items", bool(variant.group_size)),
            ("dflow_artifact_key", bool(variant.sliced_outputs)),
            ("dflow_cache", variant.cached),
        ]
        params += [{"name": n} for n, on in extra if on and n not in tmpl.inputs.parameters]
        params += [{"name": artargs.SUB_PATH_PARAM.format(n)} for n in variant.sub_path_arts]
        parts = dict(variant.parts)
        sliced = dict(variant.art_slices)
        for name in sliced:
            params.append({"name": artargs.SLICE_PARAM + name})
            if sliced[name]:
                params.append({"name": artargs.SUB_PARAM + name})
        from_volume = {n for n, _, _ in variant.volume_reads}  # linked by the script itself
        for name, a in tmpl.inputs.artifacts.items():
            if name in from_volume:
                continue
            if name in parts:
                for i in range(len(parts[name])):
                    part = artargs.PART.format(name, i)
                    arts.append(
                        {
                            "name": part,
                            "path": f"{self.root(tmpl)}/inputs/artifacts/{part}",
                            **({"optional": True} if a.optional else {}),
                        }
                    )
                continue
            entry = {"name": name}
            if pod:
                if not a.path:
                    raise RenderError(
                        f"template '{tmpl.name}': input artifact '{name}' needs a path"
                    )
                entry["path"] = a.path
                if name in sliced:
                    entry["path"] = (
                        f"{self.root(tmpl)}/inputs/artifacts/{artargs.WHOLE_PREFIX}{name}"
                    )
                if name in variant.sub_path_arts:
                    entry["path"], catalog = artargs.sub_path_item(
                        name, a.path, self.owner.catalog_dir
                    )
                    arts.append(catalog)
            if a.optional:
                entry["optional"] = True
            if a.mode is not None:
                entry["mode"] = int(a.mode)
            if isinstance(a.source, RawArtifact):  # a manifest read back: kept as it was
                entry["raw"] = {"data": a.source.data}
            elif a.source is not None and hasattr(a.source, "key"):
                entry.update(self.locs.of_key(a.source.full_key))
            elif type(a.source).__name__ == "LocalArtifact":
                sel = a.source.selected_path
                key = self.owner.local_key(a.source)
                entry.update(self.locs.of_key(key + "/" + sel.strip("/") if sel else key))
            elif isinstance(a.source, ArgoArtifact):  # read from a manifest (e.g. raw data)
                entry.update(copy.deepcopy(dict(a.source)))
            arts.append(entry)
        out: dict[str, Any] = {}
        if params:
            out["parameters"] = params
        if arts:
            out["artifacts"] = arts
        return out

    def root(self, tmpl: Any) -> str:
        return (getattr(tmpl, "tmp_root", None) or "/tmp").rstrip("/")

    def outputs(self, tmpl: Any, variant: Variant) -> dict[str, Any]:
        params, arts = [], []
        for name, p in tmpl.outputs.parameters.items():
            if not p.value_from_path:
                raise RenderError(
                    f"template '{tmpl.name}': output parameter '{name}' needs value_from_path"
                )
            if p.save_as_artifact:
                # a plain file, as pydflow stores it: readable without unpacking
                arts.append(
                    {
                        "name": f"dflow_bigpar_{name}",
                        "path": p.value_from_path,
                        **self.stored(f"dflow_bigpar_{name}", None),
                    }
                )
                if not p.save_both:
                    continue
            vf: dict[str, Any] = {"path": p.value_from_path}
            if p.default is not MISSING:
                vf["default"] = default_text(p.default)
            entry: dict[str, Any] = {"name": name, "valueFrom": vf}
            if p.global_name:
                entry["globalName"] = p.global_name
            params.append(described(entry, p))
        if variant.keyed and self.owner.save_keys:
            # config["save_keys_in_global_outputs"]: key -> pod name among the global outputs
            # (pydflow's dflow_global), so a step is found by key without listing every node
            params.append(
                {
                    "name": "dflow_global",
                    "value": "{{pod.name}}",
                    "globalName": "dflow_key_{{inputs.parameters.dflow_key}}",
                }
            )
        if variant.success_tag:
            params.append(
                {
                    "name": "dflow_success_tag",
                    "valueFrom": {
                        "path": f"{self.root(tmpl)}/outputs/success_tag",
                        "default": "false",
                    },
                }
            )
        for name, a in tmpl.outputs.artifacts.items():
            entry = {"name": name, "path": a.path}
            if not a.path:
                raise RenderError(f"template '{tmpl.name}': output artifact '{name}' needs a path")
            keys = self.save_keys(tmpl, name, a)
            if name in variant.sliced_outputs:
                if keys:
                    raise RenderError(
                        f"template '{tmpl.name}': output artifact '{name}' is stacked by Slices "
                        "and saved to a key; on Argo the items write into one shared prefix: "
                        "drop save, or copy the stacked artifact in a later step"
                    )
                # every item of the fan-out writes into the one prefix its init step made
                entry.update(self.locs.of_key("{{inputs.parameters.dflow_artifact_key}}/" + name))
                entry["archive"] = {"none": {}}
            elif keys:
                entry.update(self.stored(name, self.archive_of(a), keys[0]))
            else:
                entry.update(self.stored(name, self.archive_of(a)))
            if a.global_name:
                entry["globalName"] = a.global_name
            if a.optional:
                entry["optional"] = True
            arts.append(entry)
        out: dict[str, Any] = {}
        if params:
            out["parameters"] = params
        if arts:
            out["artifacts"] = arts
        return out

    def archive_of(self, art: Any) -> str | None:
        """``"tar"`` or None: an artifact's ``archive``, ``"default"`` being
        ``config["archive_mode"]`` at render time."""
        archive = getattr(art, "archive", "default")
        return self.owner.archive_mode if archive == "default" else archive

    def stored(self, name: str, archive: str | None, key: str | None = None) -> dict[str, Any]:
        """``archive`` and location of an output artifact: ``key`` when it is saved to one;
        under ``s3_config["prefix"]`` the key Argo would make, prefixed (an ``archiveLocation``
        holding only a key would be replaced by the repository's, prefix lost:
        ``workflow/controller/workflowpod.go`` ``addArchiveLocation``, v3.7.18 and v4.1.2);
        else nothing (the artifact repository's ``keyFormat`` applies)."""
        out: dict[str, Any] = {}
        if archive is None:
            out["archive"] = {"none": {}}
        if key is not None:
            out.update(self.locs.of_key(key))
        elif self.owner.key_prefix:
            base = f"{self.owner.key_prefix}{{{{workflow.name}}}}/{{{{pod.name}}}}/{name}"
            out.update(self.locs.of_output(base + (".tgz" if archive is not None else "")))
        return out

    @staticmethod
    def save_keys(tmpl: Any, name: str, art: Any) -> list[str]:
        """The storage key an output artifact is saved to (``save=[S3Artifact(key=...)]``);
        Argo stores an output at one location."""
        try:  # core's rule, the local engine's too (a .pvc() is copied by the step's script)
            key = saved_key(art, f"template '{tmpl.name}': output artifact '{name}'")
        except ValueError as exc:
            raise RenderError(str(exc)) from None
        return [key] if key else []

    # -- bodies ----------------------------------------------------------------------------
    def body(self, tmpl: Any, variant: Variant, resource: Any = None) -> dict[str, Any]:
        raw = getattr(tmpl, "argo_body", None)
        if raw is not None:  # a template read back from a manifest, kept verbatim
            return copy.deepcopy(raw)
        if resource is not None:
            return self.resource_body(tmpl, resource, variant)
        if isinstance(tmpl, HTTPOPTemplate):
            return self.http_body(tmpl, variant)
        if isinstance(tmpl, ScriptOPTemplate):
            return self.script_body(tmpl, variant)
        raise RenderError(
            f"template '{tmpl.name}': {type(tmpl).__name__} cannot be rendered "
            "to Argo (expected a script, Python OP, HTTP, Steps or DAG template)"
        )

    def _metadata(self, tmpl: Any, progress: bool) -> dict[str, Any]:
        ann = {}
        if progress and getattr(tmpl, "init_progress", None):
            ann[PROGRESS] = str(tmpl.init_progress)
        ann.update({k: str(v) for k, v in (tmpl.annotations or {}).items()})
        meta: dict[str, Any] = {}
        if ann:
            meta["annotations"] = ann
        if tmpl.labels:
            meta["labels"] = {k: str(v) for k, v in tmpl.labels.items()}
        return meta

    def script_body(self, tmpl: ScriptOPTemplate, variant: Variant) -> dict[str, Any]:
        is_python_op = hasattr(tmpl, "op_class")
        where = f"template '{tmpl.name}'"
        body: dict[str, Any] = {}
        meta = self._metadata(tmpl, True)
        if meta:
            body["metadata"] = meta
        inputs = self.inputs(tmpl, variant, pod=True)
        cached = variant.cached and not is_python_op
        if is_python_op:
            source, env = self.python_script(tmpl, variant, inputs)
        elif cached:
            source, env = self.cached_script(tmpl, inputs)
        else:
            source, env = self.plain_script(tmpl, variant), []
        if inputs:
            body["inputs"] = inputs
        outputs = self.outputs(tmpl, variant)
        if outputs:
            body["outputs"] = outputs
        script: dict[str, Any] = {"image": tmpl.image or self.owner.default_image}
        if tmpl.image_pull_policy:
            script["imagePullPolicy"] = tmpl.image_pull_policy
        script["command"] = ["python3"] if cached else list(tmpl.command or ["sh"])
        check_plain_envs(tmpl.envs, f"the Argo manifest (template '{tmpl.name}')")
        env += env_entries(tmpl.envs or {}, self.owner.secrets)
        if variant.cached:  # a cache in an object store: its credentials, as secret refs
            env += env_entries(cache_settings().pod_env(), self.owner.secrets)
        claims = sorted({c for _, c, _ in variant.volume_reads + variant.volume_saves})
        if claims:
            source = volumes.with_volumes(
                tmpl, source, variant.volume_reads, variant.volume_saves, variant.success_tag
            )
        if tmpl.wrap_script is not None:  # an executor runs it elsewhere (e.g. DPDispatcher)
            source = tmpl.wrap_script(source, [e["name"] for e in env])
        script["source"] = source
        if env:
            script["env"] = env
        resources = {
            k: {n: str(v) for n, v in d.items()}
            for k, d in (("requests", tmpl.requests), ("limits", tmpl.limits))
            if d
        }
        if resources:
            script["resources"] = resources
        mounts = _k8s(list(tmpl.mounts), where) if tmpl.mounts else []
        mounts += volumes.volume_mounts(claims)
        if mounts:
            script["volumeMounts"] = mounts
        body["script"] = script
        for field, value in (
            ("nodeSelector", tmpl.node_selector),
            ("tolerations", tmpl.tolerations),
            ("affinity", tmpl.affinity),
            ("volumes", tmpl.volumes or None),
            ("initContainers", tmpl.init_containers),
            ("sidecars", tmpl.sidecars),
        ):
            if value:
                body[field] = _k8s(value, where)
        t = timeout_text(tmpl.timeout_seconds)
        if t:
            body["timeout"] = t
        rs = retry_strategy(tmpl.retry_policy)  # core's reading, as the local engine's
        if rs:
            body["retryStrategy"] = rs
        if variant.keyed and self.owner.memoize is not None:
            body["memoize"] = copy.deepcopy(self.owner.memoize)
        elif tmpl.memoize_key:
            body["memoize"] = {
                "key": tmpl.memoize_key,
                "maxAge": DEFAULT_MAX_AGE,
                "cache": cache("dflow-memoize"),
            }
        return body

    def plain_script(self, tmpl: ScriptOPTemplate, variant: Variant) -> str:
        source = tmpl.script or ""
        if variant.success_tag:
            shell = (tmpl.command or ["sh"])[0].rsplit("/", 1)[-1]
            if shell.startswith("python"):
                return python_success_tag(source, self.root(tmpl))
            if shell not in ("sh", "bash", "ash", "dash", "zsh", "ksh"):
                raise RenderError(
                    f"template '{tmpl.name}': continue_on_num_success/ratio needs a Python OP, "
                    f"a Python or a shell script (command {tmpl.command!r})"
                )
            out = f'"${{DFLOW_TMP_ROOT:-{self.root(tmpl)}}}/outputs"'
            # the tag says whether the script ended with status 0, however it ended
            source = (
                f"trap 'dflow_rc=$?; mkdir -p {out}; "
                f"[ $dflow_rc -eq 0 ] && echo true > {out}/success_tag; exit $dflow_rc' "
                "EXIT\n" + source
            )
        return source

    def python_script(self, tmpl: Any, variant: Variant, inputs: dict[str, Any]) -> tuple:
        try:
            flag, spec, own_path = pk.op_location(tmpl.op_type)
        except ValueError as exc:  # no source to ship (e.g. an OP of __main__ without one)
            raise RenderError(f"template '{tmpl.name}': {exc}") from None
        # every input parameter reaches the pod as a file (see pyscript), before the packages
        params = [
            p["name"] for p in inputs.get("parameters", []) if p["name"] != "dflow_artifact_key"
        ]
        taken = {a["name"] for a in inputs.get("artifacts", [])}
        raw = parameter_artifacts(self.root(tmpl), params)
        clash = sorted(taken & {a["name"] for a in raw})
        if clash:
            raise RenderError(
                f"template '{tmpl.name}': input artifact name '{clash[0]}' is "
                "reserved for a parameter's file; rename the artifact"
            )
        if raw:
            inputs.setdefault("artifacts", []).extend(raw)
        paths = pk.dflow_paths(bool(tmpl.upload_dflow))
        for p in list(tmpl.python_packages or []):
            # relative to the working directory, as in pydflow; absolute, so that the OP's
            # own file given again (python_packages=["ops.py"]) is shipped once
            path = os.path.abspath(os.fspath(p))
            if not os.path.exists(path):
                raise RenderError(
                    f"template '{tmpl.name}': python_packages entry {p!r} does not "
                    f"exist (looked for {path}); give an existing file or package "
                    "directory"
                )
            paths.append(path)
        if own_path is not None:
            paths.append(own_path)
        paths = list(dict.fromkeys(paths))
        if flag == "--op-file" and own_path is None:
            raise RenderError(f"template '{tmpl.name}': cannot locate the file of the OP")
        if paths:
            self.ship(tmpl, paths, inputs)
        sl = tmpl.slices
        slices_args = None
        if sl is not None and variant.sliced:
            slices_args = {
                k: v
                for k, v in sl.to_dict().items()
                if k not in ("slices", "group_size", "shuffle", "random_seed")
                and v not in (None, False, [], "")
            }
            if variant.group_size:
                # a group of sub-path slices gets the whole artifact and picks by position
                slices_args.pop("sub_path", None)
        group_field = None
        if variant.group_size and sl is not None and sl.sub_path:
            pass  # dflow_group_items holds positions
        elif variant.group_size and sl is not None and sl.slices not in ("{{item}}",):
            inner = str(sl.slices)
            if inner.startswith("{{item.") and inner.endswith("}}"):
                group_field = inner[len("{{item.") : -2]
            else:
                raise RenderError(
                    f"template '{tmpl.name}': Slices(group_size=...) needs the "
                    "slice expression '{{item}}' or '{{item.<field>}}'"
                )
        spec_obj = RunnerSpec(
            op_flag=flag,
            op_spec=spec,
            tmp_root=self.root(tmpl),
            parameters=params,
            slices=slices_args,
            sliced=variant.sliced,
            group_size=variant.group_size,
            group_field=group_field,
            shuffle=bool(sl.shuffle) if sl is not None else False,
            random_seed=int(sl.random_seed) if sl is not None else 0,
            keyed=variant.keyed,
            cached=variant.cached,
            success_tag=variant.success_tag or bool(getattr(tmpl, "success_tag", False)),
            packages=bool(paths),
            parts=variant.parts,
            art_slices=variant.art_slices,
            pre_script=tmpl.pre_script or "",
            post_script=tmpl.post_script or "",
        )
        return runner_script(spec_obj), runner_env(spec_obj)

    def ship(self, tmpl: Any, paths: list[str], inputs: dict[str, Any]) -> None:
        """Ship ``paths`` (packages, dflow's pod runtime) as the packages input artifact."""
        owner = self.owner
        pk.check_unique(paths, f"template '{tmpl.name}'")
        memo = (tuple(paths), owner.key_prefix)
        key = self._package_keys.get(memo)
        if key is None:
            key = self._package_keys[memo] = pk.packages_key(paths, owner.key_prefix)
        owner.packages.setdefault(key, paths)
        art = {
            "name": PACKAGES_ARTIFACT,
            "path": f"{self.root(tmpl)}/inputs/artifacts/{PACKAGES_ARTIFACT}",
        }
        art.update(self.locs.of_key(key))
        inputs.setdefault("artifacts", []).append(art)

    def cached_script(self, tmpl: ScriptOPTemplate, inputs: dict[str, Any]) -> tuple:
        """The container script and env of a script step using the step cache: the runner's
        check around the user's script (:mod:`.cachedscript`)."""
        root = self.root(tmpl)
        params = [p["name"] for p in inputs.get("parameters", [])]
        raw = [*parameter_artifacts(root, params), script_artifact(root, tmpl.script or "")]
        taken = {a["name"] for a in inputs.get("artifacts", [])} & {a["name"] for a in raw}
        if taken:
            raise RenderError(
                f"template '{tmpl.name}': input artifact name '{sorted(taken)[0]}' is "
                "reserved for the step cache's files; rename the artifact"
            )
        inputs.setdefault("artifacts", []).extend(raw)
        self.ship(tmpl, pk.dflow_paths(False), inputs)
        keyed = [n for n in params if n in tmpl.inputs.parameters]  # not dflow's own
        try:
            source = cached_script_source(tmpl, root, keyed, PACKAGES_ARTIFACT)
        except ValueError as exc:
            raise RenderError(f"template '{tmpl.name}': {exc}") from None
        return source, cached_env()

    def http_body(self, tmpl: HTTPOPTemplate, variant: Variant) -> dict[str, Any]:
        body: dict[str, Any] = {}
        meta = self._metadata(tmpl, False)
        if meta:
            body["metadata"] = meta
        inputs = self.inputs(tmpl, variant, pod=False)
        if inputs:
            body["inputs"] = inputs
        http: dict[str, Any] = {"method": (tmpl.method or "get").upper(), "url": tmpl.url}
        if tmpl.headers:
            http["headers"] = [{"name": k, "value": str(v)} for k, v in tmpl.headers.items()]
        if tmpl.timeout is not None:
            http["timeoutSeconds"] = int(float(str(tmpl.timeout).rstrip("s")))
        if tmpl.success_condition:
            http["successCondition"] = tmpl.success_condition
        if tmpl.body is not None:
            http["body"] = tmpl.body.decode() if isinstance(tmpl.body, bytes) else tmpl.body
        if tmpl.insecure_skip_verify:
            http["insecureSkipVerify"] = True
        body["http"] = http
        return body

    def resource_body(self, tmpl: Any, resource: Any, variant: Variant) -> dict[str, Any]:
        body: dict[str, Any] = {}
        inputs = self.inputs(tmpl, variant, pod=False)
        if inputs:
            body["inputs"] = inputs
        res: dict[str, Any] = {
            "action": resource.action or "create",
            "manifest": resource.get_manifest(tmpl),
        }
        if resource.success_condition:
            res["successCondition"] = resource.success_condition
        if resource.failure_condition:
            res["failureCondition"] = resource.failure_condition
        body["resource"] = res
        return body
