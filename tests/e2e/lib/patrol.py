"""Run a Patrol server binary for an end-to-end test.

    with PatrolServer("target/debug/patrol",
                      ["serve", "--listen", "127.0.0.1:{port}", "--data-dir", "{data_dir}"],
                      env={"PATROL_OIDC_ISSUER": op.issuer},
                      data_dir=tmp_path / "data") as srv:
        requests.get(srv.url("/healthz"))

The CLI is not fixed yet, so the caller gives the whole argv. In every argument and every
env value these placeholders are replaced (plain text replacement, so JSON braces are safe):
    {port}      the port picked for this server (a free one unless `port=` is given)
    {host}      the listen host (127.0.0.1)
    {base_url}  http://{host}:{port}
    {data_dir}  the data directory (created if missing)
The server is ready once GET {base_url}/healthz answers 200 (default timeout 60 s).
stdout and stderr go to one log file under .e2e/logs/ (`.log_path`, `.log_text()`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import requests

from .procs import REPO_ROOT, free_port, new_log_path, tail, terminate


class PatrolStartError(RuntimeError):
    pass


def find_binary(name: str = "patrol") -> Path | None:
    """$PATROL_BIN, else target/{debug,release}/<name> under the repo (newest wins)."""
    env = os.environ.get("PATROL_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO_ROOT / "target"))
    found = [p for p in (target / "debug" / name, target / "release" / name) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


class PatrolServer:
    def __init__(
        self,
        binary: str | os.PathLike[str],
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        health_path: str = "/healthz",
        startup_timeout: float = 60.0,
        inherit_env: bool = True,
        name: str = "patrol",
        start: bool = True,
    ) -> None:
        self.binary = str(binary)
        self.args = list(args)
        self.env = dict(env or {})
        self.host = host
        self.port = port or free_port(host)
        self.health_path = health_path
        self.startup_timeout = startup_timeout
        self.inherit_env = inherit_env
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="patrol-e2e-data-")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = new_log_path(name)
        self._proc: subprocess.Popen | None = None
        if start:
            self.start()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def _subst(self, value: str) -> str:
        return (
            str(value)
            .replace("{port}", str(self.port))
            .replace("{host}", self.host)
            .replace("{base_url}", self.base_url)
            .replace("{data_dir}", str(self.data_dir))
        )

    @property
    def argv(self) -> list[str]:
        return [self.binary, *(self._subst(a) for a in self.args)]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> "PatrolServer":
        if self.running:
            raise RuntimeError("server already running")
        env = dict(os.environ) if self.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env.update({k: self._subst(v) for k, v in self.env.items()})
        with open(self.log_path, "ab") as log:
            log.write(f"=== start {self.argv!r}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv,
                cwd=self.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise PatrolStartError(
                    f"{self.binary} exited with {code} before becoming healthy; log {self.log_path}:\n"
                    + tail(self.log_path)
                )
            try:
                r = requests.get(self.url(self.health_path), timeout=2)
                if r.status_code == 200:
                    return self
                last_error = f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                last_error = type(exc).__name__
            time.sleep(0.1)
        terminate(self._proc, timeout=5)
        raise PatrolStartError(
            f"{self.binary} not healthy at {self.url(self.health_path)} after {self.startup_timeout}s "
            f"({last_error}); log {self.log_path}:\n" + tail(self.log_path)
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code (None if not started)."""
        if self._proc is None:
            return None
        code = terminate(self._proc, timeout=timeout)
        with open(self.log_path, "ab") as log:
            log.write(f"=== exited {code}\n".encode())
        self._proc = None
        return code

    def restart(self, args: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> "PatrolServer":
        """Stop and start again on the same port and data dir (optionally new argv/env)."""
        self.stop()
        if args is not None:
            self.args = list(args)
        if env is not None:
            self.env = dict(env)
        return self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __enter__(self) -> "PatrolServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"PatrolServer({self.binary!r}, base_url={self.base_url!r}, running={self.running})"
