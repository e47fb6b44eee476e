"""Shared process / port / path helpers for the e2e harness (stdlib only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

E2E_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = E2E_DIR.parent.parent
PROVIDER_DIR = E2E_DIR / "oidc-provider"
# Logs of every process the harness starts; git-ignored (.e2e/), kept after the run so
# CI can print them and security tests can grep them (docs/security.md item 27).
# conftest.py points PATROL_E2E_LOG_DIR at one directory per pytest run.
DEFAULT_LOG_DIR = REPO_ROOT / ".e2e" / "logs"


def log_dir() -> Path:
    return Path(os.environ.get("PATROL_E2E_LOG_DIR", DEFAULT_LOG_DIR))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def new_log_path(stem: str) -> Path:
    directory = log_dir()
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(10000):
        path = directory / f"{stem}-{i}.log"
        try:
            path.touch(exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise RuntimeError("could not allocate a log file name")


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM the process (and its process group), SIGKILL after `timeout`; return exit code."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
        return proc.wait(timeout=5)


def tail(path: Path, max_chars: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return text[-max_chars:]
