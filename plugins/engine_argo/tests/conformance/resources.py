"""Resource templates as their pod runs them: ``argoexec resource create``.

Follows executeResource (workflow/controller/operator.go), execResource
(cmd/argoexec/commands/resource.go) and ExecResource/WaitResource/SaveResourceParameters
(workflow/executor/resource.go), v3.7.18. The manifest (input parameters substituted by the
controller) is created in the stand-in kube-apiserver's store (``PodRequest.kube_objects``,
key ``(namespace, plural, name)``), its kind's operator reconciles it on a thread, and the
executor reads the object after creation and after each status change, where Argo polls it
every 5 s (RESOURCE_STATE_CHECK_INTERVAL): a failure requirement that holds fails the pod
(exit 64, the error as termination message), else success once every success requirement
holds. Only ``action: create`` of the kinds in :func:`kinds` is emulated; anything else
(another action or kind, ``flags``, ``manifestFrom``, logs archived by a wait container, a
condition this module cannot parse) is a :class:`HarnessError`.
"""

from __future__ import annotations

import copy
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import yaml

from conformance.common import HarnessError, rfc3339
from conformance.container import Main, _deadline
from conformance.pod import PodResult

if TYPE_CHECKING:
    from conformance.pod import PodRequest

EXIT_CODE = 64  # cmd/argoexec/main.go: an error that is not errors.Exited
_POLL = 0.2  # how often the waiting executor looks at its cancel event and deadline


@dataclass
class Watched:
    """A created object: its operator writes ``status`` on a thread, the executor reads it.
    ``settled`` once the operator will change nothing more; ``error`` if it could not go on."""

    obj: dict[str, Any]
    log: str = ""
    version: int = 0
    settled: bool = False
    error: BaseException | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)

    def set_status(self, status: dict[str, Any], settled: bool = False) -> None:
        with self.cond:
            self.obj["status"] = status
            self.version += 1
            self.settled = settled
            self.cond.notify_all()

    def settle(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.settled, self.error = True, error
            self.version += 1
            self.cond.notify_all()


@dataclass(frozen=True)
class Kind:
    """An emulated kind: its plural (the store's key), its API server validation (the
    problems found) and its operator (runs ``Watched`` to its end on a thread)."""

    plural: str
    validate: Callable[[dict[str, Any]], list[str]]
    operate: Callable[[Watched, PodRequest], None]


def kinds() -> dict[tuple[str, str], Kind]:
    """(apiVersion, kind) -> the emulation of its CRD and operator."""
    from conformance import wlm

    return {(wlm.API_VERSION, "SlurmJob"): Kind("slurmjobs", wlm.validate, wlm.operate)}


# -- the success and failure conditions: label selectors over the object's JSON --------------


@dataclass(frozen=True)
class Requirement:
    """labels.Requirement (k8s.io/apimachinery pkg/labels/selector.go, v0.33.1, the version
    of Argo v3.7.18's go.mod) whose key is a gjson path of the object (gjsonLabels)."""

    key: str
    op: str  # "=", "==", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def __str__(self) -> str:  # Requirement.String
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        values = ",".join(self.values if len(self.values) == 1 else sorted(self.values))
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({values})"
        return f"{self.key}{self.op}{values}"

    def matches(self, obj: dict[str, Any]) -> bool:  # Requirement.Matches
        has, value = lookup(obj, self.key)
        if self.op in ("in", "=", "=="):
            return has and value in self.values
        if self.op in ("notin", "!="):
            return not has or value not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if not has or not re.fullmatch(r"[-+]?\d+", value):
            return False
        left, right = int(value), int(self.values[0])
        return left > right if self.op == ">" else left < right


_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
)  # IsQualifiedName
_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")  # IsValidLabelValue
_WORD = r"[^\s=!(),<>]+"
_REQUIREMENT = re.compile(
    rf"!\s*(?P<absent>{_WORD})"
    rf"|(?P<key>{_WORD})(?:\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\)"
    rf"|\s*(?P<op>==|!=|=|>|<)\s*(?P<value>[^\s=!(),<>]*))?"
)


def parse_selector(text: str, which: str) -> list[Requirement]:
    """labels.Parse: comma-separated requirements, sorted by key. What it would refuse is a
    HarnessError (Argo fails the node with "<which> condition '...' failed to parse: ...",
    whose parser text this emulation does not reproduce)."""
    reqs: list[Requirement] = []
    if not text.strip():
        return reqs  # no condition: nothing to wait for
    for part in re.split(r",(?![^()]*\))", text):
        m = _REQUIREMENT.fullmatch(part.strip())
        if m is None:
            raise HarnessError(f"{which} condition {text!r}: cannot parse {part.strip()!r}")
        if m["absent"]:
            req = Requirement(m["absent"], "!")
        elif m["set"]:
            req = Requirement(m["key"], m["set"], tuple(v.strip() for v in m["values"].split(",")))
        elif m["op"]:
            req = Requirement(m["key"], m["op"], (m["value"],))
        else:
            req = Requirement(m["key"], "exists")
        bad = [v for v in req.values if len(v) > 63 or not _VALUE.fullmatch(v)]
        if len(req.key) > 316 or not _KEY.fullmatch(req.key) or bad:
            raise HarnessError(f"{which} condition {text!r}: invalid key or value in {part!r}")
        if req.op in (">", "<") and not re.fullmatch(r"[-+]?\d+", req.values[0]):
            raise HarnessError(f"{which} condition {text!r}: {part!r} needs an integer")
        reqs.append(req)
    return sorted(reqs, key=lambda r: r.key)


def lookup(obj: Any, path: str) -> tuple[bool, str]:
    """gjson.Get(json, path): Exists() and String(), for paths of plain dotted names and
    array indexes (gjson's wildcards, queries and modifiers are a HarnessError)."""
    if any(c in path for c in "*?#|@\\!=<>%"):
        raise HarnessError(f"condition path {path!r}: only dotted paths are emulated")
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False, ""
    if obj is None:
        return True, ""
    if isinstance(obj, bool):
        return True, "true" if obj else "false"
    if isinstance(obj, float):  # strconv.FormatFloat(f, 'f', -1, 64)
        text = format(Decimal(repr(obj)), "f")
        return True, text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(obj, dict | list):
        return True, json.dumps(obj, separators=(",", ":"))
    return True, str(obj)


def match_conditions(
    obj: dict[str, Any], success: list[Requirement], failure: list[Requirement]
) -> tuple[bool, str | None]:
    """matchConditions (resource.go, v3.7.18): (done, error). A failure requirement that
    holds is the error; done once every success requirement holds (at once if none)."""
    for req in failure:
        if req.matches(obj):
            return True, f"failure condition '{req}' evaluated true"
    return sum(req.matches(obj) for req in success) >= len(success), None


# -- the pod --------------------------------------------------------------------------------


def run(req: PodRequest, tmpl: dict[str, Any], started: float) -> PodResult:
    """The resource pod: create the object, wait for its conditions, save its outputs."""
    from conformance.podrun import verdict

    res = tmpl["resource"]
    _check_supported(tmpl)
    obj = yaml.safe_load(res.get("manifest") or "")
    if not isinstance(obj, dict):
        raise HarnessError(f"template {tmpl.get('name')!r}: the manifest is not an object")
    kind = kinds().get((obj.get("apiVersion"), obj.get("kind")))
    if kind is None:
        raise HarnessError(
            f"template {tmpl.get('name')!r}: resources of apiVersion {obj.get('apiVersion')!r}"
            f" kind {obj.get('kind')!r} are not emulated (known: "
            + ", ".join(f"{v} {k}" for v, k in kinds())
            + ")"
        )
    problems = kind.validate(obj)
    if problems:
        raise HarnessError(
            f"template {tmpl.get('name')!r}: the API server would refuse the {obj['kind']}:\n"
            + "\n".join(problems)
        )
    success = parse_selector(res.get("successCondition") or "", "success")
    failure = parse_selector(res.get("failureCondition") or "", "failure")
    watched = create(req, obj, kind)
    log = [f"Created {obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"]
    main = Main(exit_code=0)
    if res.get("successCondition") or res.get("failureCondition"):
        main = wait(req, tmpl, watched, (success, failure), started, log)
    outputs: dict[str, Any] = {}
    if main.exit_code == 0:
        outputs = save_parameters(tmpl, watched)
    if main.exit_code is not None:
        outputs["exitCode"] = str(main.exit_code)  # assessNodeStatus: the controller adds it
    main.log = watched.log
    phase, message = verdict(main, None)
    return PodResult(
        phase,
        message,
        main.exit_code,
        outputs,
        main.log,
        killed=main.killed,
        started_at=rfc3339(started),
        finished_at=rfc3339(),
        template=tmpl,
        executor_log=log,
    )


def _check_supported(tmpl: dict[str, Any]) -> None:
    res = tmpl["resource"]
    name = tmpl.get("name")
    if res.get("action") != "create":
        raise HarnessError(
            f"template {name!r}: resource action {res.get('action')!r}: only create is emulated"
        )
    unsupported = [k for k in ("flags", "manifestFrom", "setOwnerReference") if res.get(k)]
    if (tmpl.get("archiveLocation") or {}).get("archiveLogs"):
        unsupported.append("archiveLogs (a wait container saving the log)")
    if (tmpl.get("outputs") or {}).get("artifacts"):
        unsupported.append("outputs.artifacts")
    if unsupported:
        raise HarnessError(
            f"template {name!r}: {unsupported} of resource templates are not emulated"
        )


def create(req: PodRequest, obj: dict[str, Any], kind: Kind) -> Watched:
    """kubectl create -f: the name (generateName + 5 characters, as names.SimpleNameGenerator
    makes them), namespace (the pod's, when the manifest has none), uid and creation time;
    stored, then its operator starts."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name"):
        if not meta.get("generateName"):
            raise HarnessError(f"{obj['kind']}: the manifest has neither name nor generateName")
        alphabet = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery util/rand
        meta["name"] = meta["generateName"] + "".join(random.choices(alphabet, k=5))
    meta.setdefault("namespace", req.namespace)
    meta.update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339())
    obj.pop("status", None)  # the status subresource: what create sends is dropped
    store = req.kube_objects if req.kube_objects is not None else {}
    key = (meta["namespace"], kind.plural, meta["name"])
    if key in store:
        # kubectl fails with the API server's AlreadyExists, text not reproduced here
        raise HarnessError(f"{obj['kind']} {key[0]}/{key[2]} already exists")
    store[key] = obj
    watched = Watched(obj)

    def operate() -> None:
        try:
            kind.operate(watched, req)
        except BaseException as exc:  # handed to the waiting executor
            watched.settle(exc)
        else:
            watched.settle()

    threading.Thread(target=operate, name=f"operator-{meta['name']}", daemon=True).start()
    return watched


def wait(
    req: PodRequest,
    tmpl: dict[str, Any],
    watched: Watched,
    conditions: tuple[list[Requirement], list[Requirement]],
    started: float,
    log: list[str],
) -> Main:
    """WaitResource: the object read at once and after each change, until a condition is
    decided, the pod's deadline passes or the pod is deleted (``cancel``)."""
    seen = -1
    limit = _deadline(req, tmpl)
    deadline = started + limit if limit is not None else None
    while True:
        with watched.cond:
            if watched.version == seen:
                watched.cond.wait(_POLL)
            version, settled, error = watched.version, watched.settled, watched.error
            obj = copy.deepcopy(watched.obj)
        if version != seen:
            seen = version
            done, failed = match_conditions(obj, *conditions)
            log.append(f"status {json.dumps(obj.get('status'))}: done={done} error={failed}")
            if failed is not None:
                return Main(exit_code=EXIT_CODE, termination=failed)
            if done:
                return Main(exit_code=0)
            if error is not None:
                raise error
            if settled:
                raise HarnessError(
                    f"{obj['kind']} {obj['metadata']['name']}: status {obj.get('status')} is "
                    "final and matches neither condition: Argo's pod would poll it forever"
                )
        if req.cancel is not None and req.cancel.is_set():
            return Main(killed="cancel")
        if deadline is not None and time.time() > deadline:
            return Main(killed="deadline")


def save_parameters(tmpl: dict[str, Any], watched: Watched) -> dict[str, Any]:
    """SaveResourceParameters: ``valueFrom.jsonPath`` of one dotted field (``{.a.b}``) read
    from the object; ``jqFilter`` and other JSONPath expressions are a HarnessError."""
    params = copy.deepcopy((tmpl.get("outputs") or {}).get("parameters") or [])
    with watched.cond:
        obj = copy.deepcopy(watched.obj)
    for p in params:
        src = p.get("valueFrom") or {}
        m = re.fullmatch(r"\{\.([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\}", src.get("jsonPath", ""))
        if src.get("jqFilter") or (src.get("jsonPath") and m is None):
            raise HarnessError(f"output {p['name']!r}: only jsonPath {{.a.b}} is emulated")
        if m is None:
            continue
        has, value = lookup(obj, m[1])
        if not has or isinstance(_field(obj, m[1]), dict | list):
            raise HarnessError(
                f"output {p['name']!r}: {src['jsonPath']} is not a scalar of the "
                "object (kubectl's error text is not emulated)"
            )
        p["value"] = value
    return {"parameters": params} if params else {}


def _field(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj
