"""Git over HTTP behind a real nginx whose `auth_request` asks Patrol (forward-auth).

    with NginxGit(patrol.base_url, tmp_path / "git") as ng:
        ng.repo_url("fabrikam", "repo")            # http://127.0.0.1:<port>/fabrikam/_git/repo
        ng.repo_url("fabrikam", "repo", secret=pat) # … with anyuser:<pat>@ in it
        ng.bare_repo("fabrikam", "repo")            # Path of <root>/repos/fabrikam/repo.git

What it starts, as the current user (no system services, nothing outside its directory):
  * bare repositories <root>/repos/<org>/<name>.git, each with one commit on `main`
    (`http.receivepack true`, reflogs on, so a push is recorded with its REMOTE_USER);
  * `fcgiwrap` on a unix socket (spawned here, not Debian's systemd socket unit);
  * `nginx -p <root>/nginx -c <root>/nginx/nginx.conf -g 'daemon off;'` on a free port of
    127.0.0.1, configured from tests/e2e/nginx/git-http-backend.conf.template (also the
    documented example): /{org}/_git/{repo}/… → git http-backend, every request checked
    with GET {patrol}/patrol/v1/verify?scope=vso.code|vso.code_write&org={org}.

On exit nginx gets `-s quit` (then SIGTERM), fcgiwrap SIGTERM; logs (nginx access and error
log, fcgiwrap's stderr) are copied into the run's log directory (.e2e/logs/run-*/).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, urlsplit

from .procs import E2E_DIR, free_port, new_log_path, tail, terminate

TEMPLATE = E2E_DIR / "nginx" / "git-http-backend.conf.template"
GIT_HTTP_BACKEND_CANDIDATES = ("/usr/lib/git-core/git-http-backend", "/usr/libexec/git-core/git-http-backend")
AUTHOR = ("Patrol E2E", "e2e@patrol.invalid")


class NginxGitError(RuntimeError):
    pass


def _which(name: str, extra: Iterable[str] = ()) -> str:
    for c in extra:
        if os.access(c, os.X_OK):
            return c
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        raise NginxGitError(f"{name} not found: run scripts/install-test-deps.sh")
    return found


def git_http_backend() -> str:
    try:
        exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
        candidate = os.path.join(exec_path, "git-http-backend")
        if os.access(candidate, os.X_OK):
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    return _which("git-http-backend", GIT_HTTP_BACKEND_CANDIDATES)


def render_template(values: dict[str, str], template: Path = TEMPLATE) -> str:
    """The template with every @@NAME@@ replaced; an unknown or missing name is an error."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    left = sorted(set(re.findall(r"@@([A-Z_]+)@@", text)))
    if left:
        raise NginxGitError(f"unfilled placeholders in {template}: {left}")
    return text


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd or "/nonexistent"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }
    r = subprocess.run(["git", "-c", f"user.name={AUTHOR[0]}", "-c", f"user.email={AUTHOR[1]}", *args],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise NginxGitError(f"git {' '.join(args)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NginxGitError(f"{what} exited with {proc.returncode}; log {log}:\n{tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise NginxGitError(f"{what} not listening on {host}:{port} after {timeout}s; log {log}:\n{tail(log)}")


class NginxGit:
    def __init__(
        self,
        patrol_url: str,
        root: str | os.PathLike[str] | None = None,
        repos: Iterable[tuple[str, str]] = (("fabrikam", "repo"), ("contoso", "repo")),
        *,
        port: int | None = None,
        fcgiwrap_children: int = 2,
        start: bool = True,
    ) -> None:
        parsed = urlsplit(patrol_url)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"patrol_url must be http://host:port, got {patrol_url!r}")
        self.patrol_addr = f"{parsed.hostname}:{parsed.port}"
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="patrol-nginx-git-"))
        self.repos = list(repos)
        self.host = "127.0.0.1"
        self.port = port or free_port(self.host)
        self.fcgiwrap_children = fcgiwrap_children
        self.prefix = self.root / "nginx"
        self.conf_path = self.prefix / "nginx.conf"
        self.project_root = self.root / "repos"
        self._sock_dir: Path | None = None
        self.socket_path = self.root / "fcgiwrap.sock"
        if len(str(self.socket_path)) > 100:  # sun_path is 108 bytes
            self._sock_dir = Path(tempfile.mkdtemp(prefix="pgit-"))
            self.socket_path = self._sock_dir / "fcgiwrap.sock"
        self.fcgiwrap_log = new_log_path("fcgiwrap")
        self.nginx_log = new_log_path("nginx")
        self._nginx: subprocess.Popen | None = None
        self._fcgiwrap: subprocess.Popen | None = None
        self.nginx_bin = _which("nginx")
        self.fcgiwrap_bin = _which("fcgiwrap")
        self.backend = git_http_backend()
        if start:
            self.start()

    # -- addresses -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def repo_url(self, org: str = "fabrikam", repo: str = "repo", *, secret: str | None = None,
                 user: str = "anyuser") -> str:
        """The clone URL; with `secret`, `user:secret@` in it (git's usual way to pass a PAT)."""
        auth = f"{quote(user, safe='')}:{quote(secret, safe='')}@" if secret is not None else ""
        return f"http://{auth}{self.host}:{self.port}/{org}/_git/{repo}"

    def info_refs_url(self, org: str = "fabrikam", repo: str = "repo", service: str = "git-upload-pack") -> str:
        return f"{self.repo_url(org, repo)}/info/refs?service={service}"

    def bare_repo(self, org: str = "fabrikam", repo: str = "repo") -> Path:
        return self.project_root / org / f"{repo}.git"

    # -- logs ------------------------------------------------------------------------------------
    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    @property
    def error_log(self) -> Path:
        return self.prefix / "logs" / "error.log"

    def access_log_text(self) -> str:
        try:
            return self.access_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs_text(self) -> str:
        parts = []
        for p in (self.access_log, self.error_log, self.nginx_log, self.fcgiwrap_log):
            parts.append(f"--- {p.name}\n{tail(p)}")
        return "\n".join(parts)

    # -- lifecycle -------------------------------------------------------------------------------
    def _make_repos(self) -> None:
        seed = self.root / "seed"
        seed.mkdir(parents=True, exist_ok=True)
        _git("init", "-q", "-b", "main", str(seed))
        (seed / "README.md").write_text("Served by git http-backend behind nginx, guarded by Patrol.\n")
        _git("add", "README.md", cwd=seed)
        _git("commit", "-q", "-m", "Initial commit", cwd=seed)
        for org, name in self.repos:
            bare = self.bare_repo(org, name)
            bare.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "-q", "--bare", str(seed), str(bare))
            _git("config", "http.receivepack", "true", cwd=bare)
            _git("config", "core.logAllRefUpdates", "true", cwd=bare)
            _git("remote", "remove", "origin", cwd=bare)

    def _start_fcgiwrap(self) -> None:
        if self.socket_path.exists():
            self.socket_path.unlink()
        with open(self.fcgiwrap_log, "ab") as log:
            self._fcgiwrap = subprocess.Popen(
                [self.fcgiwrap_bin, "-c", str(self.fcgiwrap_children), "-s", f"unix:{self.socket_path}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        deadline = time.monotonic() + 10
        while not self.socket_path.exists():
            if self._fcgiwrap.poll() is not None:
                raise NginxGitError(f"fcgiwrap exited with {self._fcgiwrap.returncode}:\n{tail(self.fcgiwrap_log)}")
            if time.monotonic() > deadline:
                raise NginxGitError(f"fcgiwrap made no socket at {self.socket_path}")
            time.sleep(0.02)

    def config_text(self) -> str:
        user = "user root root;" if os.geteuid() == 0 else "# (not root: nginx runs as the current user)"
        return render_template({
            "USER_DIRECTIVE": user,
            "PREFIX": str(self.prefix),
            "LISTEN": f"{self.host}:{self.port}",
            "PATROL_ADDR": self.patrol_addr,
            "FCGIWRAP_SOCKET": str(self.socket_path),
            "GIT_HTTP_BACKEND": self.backend,
            "GIT_PROJECT_ROOT": str(self.project_root),
        })

    def _nginx_argv(self, *extra: str) -> list[str]:
        return [self.nginx_bin, "-p", f"{self.prefix}/", "-c", str(self.conf_path), "-e", str(self.error_log), *extra]

    def _start_nginx(self) -> None:
        for d in ("logs", "tmp"):
            (self.prefix / d).mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(self.config_text())
        check = subprocess.run(self._nginx_argv("-t", "-q"), capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise NginxGitError(f"nginx -t failed:\n{check.stderr}")
        with open(self.nginx_log, "ab") as log:
            self._nginx = subprocess.Popen(self._nginx_argv("-g", "daemon off;"), stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.host, self.port, self._nginx, "nginx", self.error_log)

    def start(self) -> "NginxGit":
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._make_repos()
            self._start_fcgiwrap()
            self._start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._nginx is not None:
            if self._nginx.poll() is None:
                subprocess.run(self._nginx_argv("-s", "quit"), capture_output=True, timeout=30)
                try:
                    self._nginx.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    terminate(self._nginx, timeout=5)
            self._nginx = None
        if self._fcgiwrap is not None:
            # fcgiwrap -c N forks N workers that outlive a SIGTERM to the parent alone:
            # signal its whole process group (its own session, started above).
            try:
                os.killpg(self._fcgiwrap.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            terminate(self._fcgiwrap, timeout=5)
            self._fcgiwrap = None
        for p in (self.access_log, self.error_log):
            if p.exists():
                shutil.copyfile(p, new_log_path(f"nginx-{p.stem}"))
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    def __enter__(self) -> "NginxGit":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NginxGit(base_url={self.base_url!r}, patrol={self.patrol_addr!r}, root={str(self.root)!r})"
