"""Start/stop the reference OpenID provider (tests/e2e/oidc-provider/provider.mjs).

    with OidcProvider() as op:              # one fresh RS256 key, free port, aud api://patrol
        op.issuer                           # "http://127.0.0.1:<port>"
        new = gen_key()
        op.restart(keys=[new, *op.keys])    # key rotation: same port/issuer, new key signs
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import requests

from .procs import PROVIDER_DIR, free_port, new_log_path, tail, terminate

DEFAULT_AUDIENCE = "api://patrol"
DEFAULT_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
# Fixed, documented accounts of provider.mjs (any password is accepted).
ACCOUNTS = {
    "alice": {"oid": "00000000-0000-4000-a000-00000000a11c", "name": "Alice Example", "email": "alice@example.test"},
    "bob": {"oid": "00000000-0000-4000-a000-000000000b0b", "name": "Bob Example", "email": "bob@example.test"},
    "carol": {"oid": "00000000-0000-4000-a000-0000000ca201", "name": "Carol Example", "email": "carol@example.test"},
}
API_SCOPES = ("vso.pats", "vso.pats_manage", "vso.code", "user_impersonation")


def _node() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("node not found on PATH (run scripts/install-test-deps.sh)")
    return node


def _check_installed() -> None:
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            f"{PROVIDER_DIR}/node_modules is missing: run scripts/install-test-deps.sh first"
        )


def gen_key(kid: str | None = None) -> dict[str, Any]:
    """A fresh RS256 private JWK (dict with kid, alg, use, n, e, d, p, q, dp, dq, qi)."""
    cmd = [_node(), str(PROVIDER_DIR / "genkey.mjs")]
    if kid:
        cmd += ["--kid", kid]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return json.loads(out)


class OidcProvider:
    """The reference provider as a child process.

    Args:
        port: TCP port; None picks a free one (kept across restart() so the issuer is stable).
        audience: resource indicator / `aud` of access tokens.
        keys: private JWKs, first one signs; None generates one key.
        tenant_id: `tid` claim.
        issuer: override the issuer URL (default http://127.0.0.1:<port>).
        access_token_ttl / refresh_token_ttl: seconds.
        accounts: {login: {oid, name, email, preferred_username?, token_claims?}} merged over
            the built-in alice/bob/carol (token_claims are added to that user's access tokens;
            a None value removes a default claim).
        clients: extra client metadata dicts (may carry `token_claims`).
        start: start immediately (default True).
    """

    def __init__(
        self,
        port: int | None = None,
        audience: str = DEFAULT_AUDIENCE,
        keys: list[dict[str, Any]] | None = None,
        tenant_id: str = DEFAULT_TENANT_ID,
        issuer: str | None = None,
        access_token_ttl: int | None = None,
        refresh_token_ttl: int | None = None,
        accounts: dict[str, dict[str, Any]] | None = None,
        clients: list[dict[str, Any]] | None = None,
        start: bool = True,
        ready_timeout: float = 30.0,
    ) -> None:
        _check_installed()
        self.port = port or free_port()
        self.audience = audience
        self.keys = list(keys) if keys else [gen_key()]
        self.tenant_id = tenant_id
        self._issuer_override = issuer
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.accounts = accounts
        self.clients = clients
        self.ready_timeout = ready_timeout
        self.issuer: str | None = None
        self.log_path: Path = new_log_path("oidc-provider")
        self._workdir = Path(tempfile.mkdtemp(prefix="patrol-e2e-op-"))
        self._proc: subprocess.Popen | None = None
        self._pump: threading.Thread | None = None
        if start:
            self.start()

    # -- lifecycle --------------------------------------------------------------------------
    def _write_json(self, name: str, obj: Any) -> str:
        path = self._workdir / name
        path.write_text(json.dumps(obj))
        path.chmod(0o600)
        return str(path)

    def start(self) -> "OidcProvider":
        if self.running:
            raise RuntimeError("provider already running")
        env = dict(os.environ)
        for var in ("ISSUER", "AUDIENCE", "KEYS_FILE", "TENANT_ID", "ACCOUNTS_FILE", "CLIENTS_FILE",
                    "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "PORT", "HOST"):
            env.pop(var, None)
        env.update(
            PORT=str(self.port),
            AUDIENCE=self.audience,
            TENANT_ID=self.tenant_id,
            KEYS_FILE=self._write_json("keys.json", {"keys": self.keys}),
        )
        if self._issuer_override:
            env["ISSUER"] = self._issuer_override
        if self.access_token_ttl is not None:
            env["ACCESS_TOKEN_TTL"] = str(self.access_token_ttl)
        if self.refresh_token_ttl is not None:
            env["REFRESH_TOKEN_TTL"] = str(self.refresh_token_ttl)
        if self.accounts:
            env["ACCOUNTS_FILE"] = self._write_json("accounts.json", self.accounts)
        if self.clients:
            env["CLIENTS_FILE"] = self._write_json("clients.json", self.clients)

        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child / pump thread
        log.write(f"=== start port={self.port} kids={[k.get('kid') for k in self.keys]}\n".encode())
        log.flush()
        self._proc = subprocess.Popen(
            [_node(), "provider.mjs"],
            cwd=PROVIDER_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        ready = threading.Event()
        result: dict[str, str] = {}

        def pump(stdout=self._proc.stdout, log=log) -> None:
            for raw in iter(stdout.readline, b""):
                line = raw.decode(errors="replace")
                if not ready.is_set() and line.startswith("READY "):
                    result["issuer"] = line.split(" ", 1)[1].strip()
                    ready.set()
                log.write(raw)
                log.flush()
            ready.set()
            log.close()

        self._pump = threading.Thread(target=pump, name=f"oidc-provider-{self.port}", daemon=True)
        self._pump.start()
        if not ready.wait(self.ready_timeout) or "issuer" not in result:
            code = terminate(self._proc, timeout=2)
            raise RuntimeError(
                f"oidc provider did not become ready (exit {code}); log {self.log_path}:\n"
                + tail(self.log_path)
            )
        self.issuer = result["issuer"]
        return self

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM the provider; returns its exit code (0 on a clean shutdown)."""
        if self._proc is None:
            return None
        code = terminate(self._proc)
        if self._pump is not None:
            self._pump.join(timeout=5)
        self._proc = None
        return code

    def restart(self, keys: list[dict[str, Any]] | None = None, **changes: Any) -> "OidcProvider":
        """Stop and start again on the same port (same issuer).

        keys=[new, old] is key rotation: `new` signs, both are published. Other keyword
        arguments change attributes (audience=, tenant_id=, accounts=, clients=, ...).
        Note: provider state (sessions, refresh tokens) is in memory and is lost.
        """
        self.stop()
        if keys is not None:
            self.keys = list(keys)
        for name, value in changes.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown provider setting {name!r}")
            setattr(self, name, value)
        return self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> "OidcProvider":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- convenience ------------------------------------------------------------------------
    @property
    def signing_key(self) -> dict[str, Any]:
        """The private JWK that signs new tokens."""
        return self.keys[0]

    @property
    def jwks_uri(self) -> str:
        return self.discovery()["jwks_uri"]

    def discovery(self) -> dict[str, Any]:
        r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        r.raise_for_status()
        return r.json()

    def jwks(self) -> dict[str, Any]:
        r = requests.get(self.jwks_uri, timeout=10)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict[str, Any]:
        """Request counters: {"requests": {"GET /jwks": n, ...}, "jwks": n, "discovery": n}."""
        r = requests.get(f"{self.issuer}/__e2e/stats", timeout=10)
        r.raise_for_status()
        return r.json()

    def reset_stats(self) -> None:
        requests.post(f"{self.issuer}/__e2e/reset-stats", timeout=10).raise_for_status()

    def set_jwks_status(self, status: int) -> None:
        """Make GET /jwks answer `status` (e.g. 503) from now on; 200 restores it."""
        requests.post(f"{self.issuer}/__e2e/jwks", params={"status": status}, timeout=10).raise_for_status()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __repr__(self) -> str:
        return f"OidcProvider(issuer={self.issuer!r}, audience={self.audience!r}, running={self.running})"
