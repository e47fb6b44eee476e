"""The PatrolServer harness itself, exercised with a stand-in server (no patrol binary needed)."""

from __future__ import annotations

import sys

import pytest
import requests

from lib.patrol import PatrolServer, PatrolStartError

# A stand-in "server": answers /healthz 200 and echoes its argv/env on /info.
FAKE_SERVER = r"""
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"argv": sys.argv[1:], "env": os.environ.get("FAKE_ISSUER"), "cwd": os.getcwd()}).encode()
        self.send_response(200 if self.path in ("/healthz", "/info") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)
srv = HTTPServer(("127.0.0.1", port), H)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("fake server listening", port, flush=True)
srv.serve_forever()
"""


def test_patrol_server_harness(tmp_path):
    data = tmp_path / "data"
    with PatrolServer(
        sys.executable,
        ["-c", FAKE_SERVER, "{port}", "--data-dir={data_dir}", '{"json": "braces kept"}'],
        env={"FAKE_ISSUER": "{base_url}/issuer"},
        data_dir=data,
    ) as srv:
        assert srv.running
        info = requests.get(srv.url("/info"), timeout=5).json()
        assert info["argv"] == [str(srv.port), f"--data-dir={data}", '{"json": "braces kept"}']
        assert info["env"] == f"http://127.0.0.1:{srv.port}/issuer"
        assert info["cwd"] == str(data)
        port = srv.port
        srv.restart()
        assert srv.port == port and requests.get(srv.url("/healthz"), timeout=5).status_code == 200
        assert srv.stop() == 0
    log = srv.log_text()
    assert f"fake server listening {port}" in log
    assert "request /info" in log


def test_patrol_server_reports_early_exit(tmp_path):
    with pytest.raises(PatrolStartError, match="exited with 3"):
        PatrolServer(sys.executable, ["-c", "print('boom'); raise SystemExit(3)"], data_dir=tmp_path)


def test_patrol_server_times_out(tmp_path):
    srv = None
    with pytest.raises(PatrolStartError, match="not healthy"):
        srv = PatrolServer(sys.executable, ["-c", "import time; time.sleep(30)"], data_dir=tmp_path,
                           startup_timeout=1)
    assert srv is None
