"""Refused credentials: the emulator accepts any token, so a server that refuses every one.

It answers as the GCS JSON API documents for a bad token (HTTP 401, an ``error`` object with
reason ``authError``), and records what the client asked, so the test checks both sides.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dflow.storage import AccessDenied

BODY = json.dumps(
    {
        "error": {
            "code": 401,
            "message": "Invalid Credentials",
            "errors": [
                {
                    "domain": "global",
                    "reason": "authError",
                    "message": "Invalid Credentials",
                    "locationType": "header",
                    "location": "Authorization",
                }
            ],
        }
    }
).encode()


class _Refuse(BaseHTTPRequestHandler):
    seen: list[str] = []

    def _refuse(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append(f"{self.command} {self.path.split('?')[0]}")
        self.send_response(401)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    do_GET = do_POST = do_PUT = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refused_credentials_name_the_object_the_bucket_and_the_fix(
    make_client, refusing_endpoint, tmp_path
):
    client = make_client(endpoint=refusing_endpoint, retry_timeout=2.0)
    src = tmp_path / "f.txt"
    src.write_text("x")
    with pytest.raises(AccessDenied) as info:
        client.upload("run/f.txt", str(src))
    message = str(info.value)
    assert "run/f.txt" in message and "credentials" in message.lower()
    assert "credentials_file" in message  # what to do about it
    with pytest.raises(AccessDenied):
        client.list("run/")
    assert any(line.startswith("POST /upload/storage/v1/b/") for line in _Refuse.seen)
    assert any(line.startswith("GET /storage/v1/b/") for line in _Refuse.seen)
