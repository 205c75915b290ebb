"""Remote input artifacts are fetched off the event loop: other steps run during a download."""

from __future__ import annotations

import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dflow import DAG, HTTPArtifact, InputArtifact, ShellOPTemplate, Step, Task, Workflow


def _serve_after(marker: Path, body: bytes, limit: float = 60.0) -> ThreadingHTTPServer:
    """An HTTP server on loopback whose one file is sent only once ``marker`` exists."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            deadline = time.monotonic() + limit
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not marker.exists():
                self.send_error(503, "the other step never ran during this download")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_slow_download_does_not_hold_back_other_steps(workdir):
    marker = workdir / "b-ran"
    server = _serve_after(marker, b"42\n")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.txt"
        reader = ShellOPTemplate(
            name="reader", image="alpine", script="cat /tmp/in/data.txt > /tmp/out.txt"
        )
        reader.inputs.artifacts = {"data": InputArtifact(path="/tmp/in")}
        toucher = ShellOPTemplate(name="toucher", image="alpine", script=f"touch {marker}")
        dag = DAG(name="both")
        dag.add(Task("a", reader, artifacts={"data": HTTPArtifact(url=url)}))
        dag.add(Task("b", toucher))
        wf = Workflow("slowdl", dag=dag)
        wf.submit()
        # "a" could only download once "b" had run: the download left the scheduler free
        assert wf.query_status() == "Succeeded"
        [a] = wf.query_step(name="a")
        assert a.phase == "Succeeded"
        assert marker.exists()
    finally:
        server.shutdown()


def test_a_stored_tarball_is_looked_at_and_unpacked_once_off_the_event_loop(workdir):
    """Twelve iterations read one key holding a gzipped tar (an output saved to a key, the
    default archive): the object is opened by one look and one unpack, both on a thread, not
    once per iteration on the run's event loop (which would hold back every other step)."""
    import sys

    from dflow import InputParameter, OutputArtifact, OutputParameter, S3Artifact
    from dflow.backends import get_storage_client

    key = f"kept/{uuid.uuid4().hex[:8]}/data"
    make = ShellOPTemplate(
        name="make", image="alpine", script="mkdir -p /tmp/o && echo 7 > /tmp/o/n"
    )
    make.outputs.artifacts = {"o": OutputArtifact(path="/tmp/o", save=[S3Artifact(key=key)])}
    first = Workflow("keep")
    first.add(Step("make", make))
    first.submit()
    assert first.query_status() == "Succeeded"
    stored = os.path.realpath(get_storage_client().local_path(key))
    assert open(stored, "rb").read(2) == b"\x1f\x8b"  # a gzipped tar under a plain name

    opened: list[str] = []
    watching = threading.Event()

    def audit(event: str, args: tuple) -> None:
        if watching.is_set() and event == "open" and isinstance(args[0], str | bytes):
            if os.path.realpath(os.fsdecode(args[0])) == stored:
                opened.append(threading.current_thread().name)

    sys.addaudithook(audit)  # cannot be removed: it records only while `watching` is set
    show = ShellOPTemplate(
        name="show", image="alpine", script="cat /tmp/in/n > /tmp/y; echo {{inputs.parameters.i}}"
    )
    show.inputs.parameters = {"i": InputParameter()}
    show.inputs.artifacts = {"in": InputArtifact(path="/tmp/in")}
    show.outputs.parameters = {"y": OutputParameter(value_from_path="/tmp/y")}
    later = Workflow("reads")
    later.add(
        Step(
            "show",
            show,
            parameters={"i": "{{item}}"},
            artifacts={"in": S3Artifact(key=key)},
            with_param=list(range(12)),
        )
    )
    watching.set()
    try:
        later.submit()
    finally:
        watching.clear()
    assert later.query_status() == "Succeeded"
    shows = later.query_step(name="show", type="Pod")
    assert sorted(str(s.outputs.parameters["y"].value).strip() for s in shows) == ["7"] * 12
    main = threading.main_thread().name
    assert opened and main not in opened, opened  # the event loop runs on the main thread
    assert len(opened) <= 3, opened  # the look (gzip magic, first member), then the unpack
