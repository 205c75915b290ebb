"""A stand-in Argo Server for tests: the REST paths dflow's client uses, over memory.

No Argo Server (nor Kubernetes) can run here, so this server stands in for one. It checks
every request against Argo's published API, ``swagger-v3.7.18.json`` in ``../shared/argo``:
the path and method must be an operation of the spec, query parameters must be declared for
it (and be of the declared type), and a JSON body must validate against the operation's body
definition made strict (unknown fields rejected, as in :mod:`argo_schema`). A request that
breaks the spec gets HTTP 400 and is recorded in ``violations``. It checks the bearer token,
can be told to fail (``fail(503, times=2)``), and moves submitted workflows through
Pending -> Running -> Succeeded, one phase per GET, with nodes built from the manifest, so
that wait and query tests see real transitions without sleeping. It tests our client, not
Argo.

With ``emulator=`` (a :class:`conformance.server.EmulatedArgo`) nothing is invented: created
workflows run on the emulated controller and pods, GETs serve their real status (checked
against the swagger too), and the workflow actions act on the controller.
"""

from __future__ import annotations

import functools
import json
import re
import ssl
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from argo_schema import data_file, strict_definitions
from jsonschema import Draft202012Validator

SWAGGER = "swagger-v3.7.18.json"
WORKFLOW_REF = "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"
TOKEN = "s3cr3t-t0ken-value"  # the token tests configure; it must never show in output
# a small valid workflow: one step calling a container template with a typed output
MANIFEST: dict[str, Any] = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-", "labels": {"team": "qa"}},
    "spec": {
        "entrypoint": "main",
        "templates": [
            {"name": "main", "steps": [[{"name": "say", "template": "echo"}]]},
            {
                "name": "echo",
                "container": {"image": "busybox", "command": ["echo", "hi"]},
                "outputs": {
                    "parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n", "default": "3"}}]
                },
            },
        ],
    },
}


@functools.cache
def _swagger() -> dict[str, Any]:
    with open(data_file(SWAGGER), encoding="utf-8") as f:
        spec = json.load(f)
    ops = []
    for template, item in spec["paths"].items():
        regex = re.compile("^" + re.sub(r"\{([^}]+)\}", r"(?P<\1>[^/]+)", template) + "$")
        for method, op in item.items():
            if method != "parameters":
                ops.append((method.upper(), template, regex, op))
    spec["_ops"] = ops
    spec["_defs"] = strict_definitions(spec["definitions"])
    return spec


@functools.cache
def _body_validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref, "definitions": _swagger()["_defs"]})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _select(doc: dict[str, Any], fields: str) -> dict[str, Any]:
    """Argo's ``fields`` parameter: keep listed dotted paths, drop ``-``-prefixed ones."""
    keep = [f for f in fields.split(",") if f and not f.startswith("-")]
    drop = [f[1:] for f in fields.split(",") if f.startswith("-")]
    out: dict[str, Any] = json.loads(json.dumps(doc))
    if keep:
        out = {}
        for path in keep:
            src, dst, parts = doc, out, path.split(".")
            for i, p in enumerate(parts):
                if not isinstance(src, dict) or p not in src:
                    break
                if i == len(parts) - 1:
                    dst[p] = src[p]
                else:
                    src, dst = src[p], dst.setdefault(p, {})
    for path in drop:
        *head, last = path.split(".")
        node = out
        for p in head:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return out


class SpecViolation(Exception):
    pass


class FakeArgoServer:
    """The server and its in-memory state; use as a context manager (or start/stop)."""

    def __init__(
        self,
        token: str | None = "test-token",
        tls: tuple[str, str] | None = None,
        emulator: Any = None,
    ) -> None:
        self.token = token
        self.emulator = emulator  # conformance.server.EmulatedArgo: workflows really run
        self.tls = tls
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.archived: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.held: set[str] = set()  # names of workflows that stay Running
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeArgoServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeArgoServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status``."""
        self._failures += [status] * times

    def add_workflow(self, wf: dict[str, Any], namespace: str = "argo") -> dict[str, Any]:
        wf = json.loads(json.dumps(wf))
        self.workflows[(namespace, wf["metadata"]["name"])] = wf
        return wf

    # -- request handling --------------------------------------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = json.loads(raw) if raw else None
        self.requests.append(
            {"method": method, "path": url.path, "query": query, "body": json.loads(raw) if raw else None,
             "headers": {k: v for k, v in headers.items() if k.lower() != "authorization"}}
        )  # fmt: skip
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
                return status, {"code": 14, "message": f"injected failure {status}"}
        if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"code": 16, "message": "token not valid"}
        try:
            op, params = self._check(method, url.path, query, body)
        except SpecViolation as exc:
            self.violations.append(f"{method} {url.path}: {exc}")
            return 400, {"code": 3, "message": str(exc)}
        with self._lock:
            return getattr(self, "op_" + op["operationId"].split("_", 1)[1])(params, query, body)

    def _check(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[dict, dict]:
        found = [
            (op, match)
            for m, _, regex, op in _swagger()["_ops"]
            if m == method and (match := regex.match(path))
        ]
        if not found:
            raise SpecViolation("no such operation in the Argo API")
        op, match = found[0]
        declared = {p["name"]: p for p in op.get("parameters", [])}
        for name, values in query.items():
            p = declared.get(name)
            if p is None or p["in"] != "query":
                raise SpecViolation(
                    f"query parameter '{name}' is not declared for {op['operationId']}"
                )
            for v in values:
                if p.get("type") == "boolean" and v not in ("true", "false"):
                    raise SpecViolation(f"query parameter '{name}' must be true or false")
                if p.get("type") == "integer" and not v.lstrip("-").isdigit():
                    raise SpecViolation(f"query parameter '{name}' must be an integer")
        body_param = next((p for p in declared.values() if p["in"] == "body"), None)
        if body_param is None and body is not None:
            raise SpecViolation(f"{op['operationId']} takes no body")
        if body_param is not None:
            if body is None:
                raise SpecViolation(f"{op['operationId']} needs a body")
            errors = sorted(
                _body_validator(body_param["schema"]["$ref"]).iter_errors(body), key=str
            )
            if errors:
                e = errors[0]
                where = ".".join(str(p) for p in e.absolute_path) or "body"
                raise SpecViolation(f"{where}: {e.message}")
        return op, match.groupdict()

    # -- state -------------------------------------------------------------------------------
    def _find(self, params: dict[str, str]) -> dict[str, Any] | None:
        return self.workflows.get((params["namespace"], params["name"]))

    @staticmethod
    def _not_found(name: str) -> tuple[int, Any]:
        return 404, {"code": 5, "message": f'workflows.argoproj.io "{name}" not found'}

    def _advance(self, wf: dict[str, Any]) -> None:
        if self.emulator is not None:
            self.emulator.refresh(wf)
            if wf["status"].get("phase") in ("Succeeded", "Failed", "Error"):
                self.archived[wf["metadata"]["uid"]] = json.loads(json.dumps(wf))
            return
        status = wf["status"]
        name = wf["metadata"]["name"]
        if wf["spec"].get("suspend"):
            return
        if status["phase"] == "Pending":
            status.update(phase="Running", startedAt=_now(), nodes=_nodes(wf, "Running"))
        elif status["phase"] == "Running" and name not in self.held:
            status.update(phase="Succeeded", finishedAt=_now(), nodes=_nodes(wf, "Succeeded"))
            self.archived[wf["metadata"]["uid"]] = json.loads(json.dumps(wf))

    # -- operations (named after the swagger operationIds) -----------------------------------
    def op_CreateWorkflow(self, params, query, body):
        wf = body["workflow"]
        meta = wf.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = meta.get("generateName", "wf-") + uuid.uuid4().hex[:5]
        key = (params["namespace"], meta["name"])
        if key in self.workflows:
            return 409, {
                "code": 6,
                "message": f'workflows.argoproj.io "{meta["name"]}" already exists',
            }
        meta.update(namespace=params["namespace"], uid=str(uuid.uuid4()), creationTimestamp=_now())
        wf["status"] = {**(wf.get("status") or {}), "phase": "Pending"}  # memoized resubmit
        if body.get("serverDryRun"):
            return 200, wf
        self.workflows[key] = wf
        if self.emulator is not None:
            self.emulator.submit(json.loads(json.dumps(wf)))
        return 200, wf

    def op_GetWorkflow(self, params, query, body):
        wf = self._find(params)
        if wf is None:
            return self._not_found(params["name"])
        self._advance(wf)
        fields = (query.get("fields") or [""])[0]
        return 200, _select(wf, fields) if fields else wf

    def op_ListWorkflows(self, params, query, body):
        selector = (query.get("listOptions.labelSelector") or [""])[0]
        wanted = dict(kv.split("=", 1) for kv in selector.split(",") if kv)
        items = [
            wf for (ns, _), wf in self.workflows.items()
            if ns == params["namespace"]
            and all((wf["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())
        ]  # fmt: skip
        return 200, {"metadata": {}, "items": items or None}  # Argo answers null when empty

    def op_DeleteWorkflow(self, params, query, body):
        if self.workflows.pop((params["namespace"], params["name"]), None) is None:
            return self._not_found(params["name"])
        if self.emulator is not None:
            self.emulator.delete(params["namespace"], params["name"])
        return 200, {}

    def _act(self, params: dict[str, str], change: Any) -> tuple[int, Any]:
        wf = self._find(params)
        if wf is None:
            return self._not_found(params["name"])
        problem = change(wf)
        return (400, {"code": 9, "message": problem}) if problem else (200, wf)

    def op_TerminateWorkflow(self, params, query, body):
        if self.emulator is not None:
            return self._act(params, lambda wf: self.emulator.shutdown(wf, "Terminate"))
        return self._act(
            params, lambda wf: _finish(wf, "Failed", "Stopped with strategy 'Terminate'")
        )

    def op_StopWorkflow(self, params, query, body):
        if self.emulator is not None:
            return self._act(params, lambda wf: self.emulator.shutdown(wf, "Stop"))
        return self._act(
            params,
            lambda wf: _finish(wf, "Failed", body.get("message") or "Stopped with strategy 'Stop'"),
        )

    def op_SuspendWorkflow(self, params, query, body):
        if self.emulator is not None:
            return self._act(params, lambda wf: self.emulator.suspend(wf, True))
        return self._act(params, lambda wf: wf["spec"].update(suspend=True))

    def op_ResumeWorkflow(self, params, query, body):
        if self.emulator is not None:
            return self._act(params, lambda wf: self.emulator.suspend(wf, False))
        return self._act(params, lambda wf: wf["spec"].pop("suspend", None) and None)

    def op_RetryWorkflow(self, params, query, body):
        if self.emulator is not None:
            return self._act(
                params,
                lambda wf: self.emulator.retry(
                    wf, bool(body.get("restartSuccessful")), body.get("nodeFieldSelector") or ""
                ),
            )

        def retry(wf):
            if wf["status"]["phase"] not in ("Failed", "Error"):
                return f"workflow must be Failed/Error to retry (it is {wf['status']['phase']})"
            wf["status"].update(phase="Running", finishedAt=None, message=None)
            return None

        return self._act(params, retry)

    def op_ResubmitWorkflow(self, params, query, body):
        old = self._find(params)
        if old is None:
            return self._not_found(params["name"])
        if self.emulator is not None:
            new = self.emulator.resubmit(old, bool(body.get("memoized")))
            if isinstance(new, str):
                return 400, {"code": 9, "message": new}
            return self.op_CreateWorkflow(params, query, {"workflow": new})
        new = {"metadata": {"generateName": params["name"] + "-",
                            "labels": old["metadata"].get("labels") or {}},
               "spec": json.loads(json.dumps(old["spec"]))}  # fmt: skip
        return self.op_CreateWorkflow(params, query, {"workflow": new})

    def op_WorkflowLogs(self, params, query, body):
        wf = self._find(params)
        if wf is None:
            return self._not_found(params["name"])
        pod = (query.get("podName") or [None])[0]
        if self.emulator is not None:
            lines = [
                json.dumps({"result": {"podName": p, "content": c}})
                for p, c in self.emulator.logs(wf, pod)
            ]
            return 200, "\n".join(lines) + "\n" if lines else ""
        from conformance.nodes import pod_name  # pod names v2, as the controller names pods

        pods = [
            pod_name(wf["metadata"]["name"], n["name"], n.get("templateName") or "")
            for n in (wf["status"].get("nodes") or {}).values()
            if n["type"] == "Pod"
        ]
        lines = [
            json.dumps({"result": {"podName": p, "content": f"hello from {p}"}})
            for p in pods if pod in (None, p)
        ]  # fmt: skip
        return 200, "\n".join(lines) + "\n" if lines else ""

    def op_GetArchivedWorkflow(self, params, query, body):
        wf = self.archived.get(params["uid"])
        if wf is None:
            return 404, {"code": 5, "message": "not found"}
        return 200, wf

    def op_ListArchivedWorkflows(self, params, query, body):
        fsel = (query.get("listOptions.fieldSelector") or [""])[0]
        fields = dict(kv.split("=", 1) for kv in fsel.split(",") if kv)
        lsel = (query.get("listOptions.labelSelector") or [""])[0]
        labels = dict(kv.split("=", 1) for kv in lsel.split(",") if kv)
        items = [
            wf for wf in self.archived.values()
            if fields.get("metadata.namespace", wf["metadata"]["namespace"]) == wf["metadata"]["namespace"]
            and fields.get("metadata.name", wf["metadata"]["name"]) == wf["metadata"]["name"]
            and all((wf["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]  # fmt: skip
        return 200, {"metadata": {}, "items": items or None}


def _finish(wf: dict[str, Any], phase: str, message: str) -> None:
    wf["status"].update(phase=phase, message=message, finishedAt=_now())
    for node in (wf["status"].get("nodes") or {}).values():
        if node["phase"] in ("Pending", "Running"):
            node.update(phase=phase, finishedAt=_now())


def _nodes(wf: dict[str, Any], phase: str) -> dict[str, Any]:
    """Nodes of the entrypoint template: a root node and one Pod per step or task."""
    name = wf["metadata"]["name"]
    templates = {t["name"]: t for t in wf["spec"].get("templates") or []}
    entry = templates.get(wf["spec"].get("entrypoint"), {})
    calls = [s for g in entry.get("steps") or [] for s in g] + (entry.get("dag") or {}).get(
        "tasks", []
    )
    now = _now()
    done = phase != "Running"
    root = {"id": name, "name": name, "displayName": name, "type": "DAG" if "dag" in entry else "Steps",
            "templateName": entry.get("name"), "phase": phase, "startedAt": now,
            "finishedAt": now if done else None, "children": []}  # fmt: skip
    nodes = {name: root}
    for i, call in enumerate(calls):
        node_id = f"{name}-{1000 + i}"
        tmpl = templates.get(call.get("template"), {})
        outputs = [
            {"name": p["name"], "value": (p.get("valueFrom") or {}).get("default", "ok"),
             **({"description": p["description"]} if "description" in p else {})}
            for p in (tmpl.get("outputs") or {}).get("parameters") or []
        ]  # fmt: skip
        nodes[node_id] = {
            "id": node_id, "name": f"{name}.{call['name']}", "displayName": call["name"],
            "type": "Pod", "templateName": call.get("template"), "phase": phase,
            "boundaryID": name, "startedAt": now, "finishedAt": now if done else None,
            "inputs": {"parameters": (call.get("arguments") or {}).get("parameters") or []},
            "outputs": {"parameters": outputs} if done and outputs else {},
        }  # fmt: skip
        root["children"].append(node_id)
    return nodes


def _handler(server: FakeArgoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # one segment per answer: headers and body written apart meet delayed ACKs (40 ms)
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                status, payload = server.handle(self.command, self.path, dict(self.headers), raw)
            except Exception as exc:  # a bug here must show as a 500, not a hung client
                status, payload = 500, {"code": 13, "message": f"test server error: {exc!r}"}
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    return Handler
