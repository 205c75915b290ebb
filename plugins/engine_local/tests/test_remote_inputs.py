"""Remote input artifacts are fetched off the event loop: other steps run during a download."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dflow import DAG, HTTPArtifact, InputArtifact, ShellOPTemplate, Task, Workflow


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
