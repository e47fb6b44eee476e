"""Patrol-specific helpers for the PAT API end-to-end tests (stdlib + requests only).

    srv = start_serve(binary, data_dir, issuers=[issuer_entry(op.issuer)])   # patrol serve --config
    srv = start_dev(binary, data_dir)                                         # patrol dev
    jwt = dev_token(binary, srv.data_dir, user="alice")                       # patrol dev token
    api = PatApi(srv.base_url, jwt)                                           # raw HTTP client
    api.create(displayName="x", scope="vso.code").json()
    audit_rows(srv.data_dir)                                                  # SQLite audit_events

Nothing here knows Patrol's internals beyond the documented surface: the CLI, the config file
(docs/patrol.example.toml), the HTTP API, and the SQLite file named in the config.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from .oidc_provider import DEFAULT_AUDIENCE, DEFAULT_TENANT_ID
from .patrol import PatrolServer
from .procs import free_port

ORGS = ("fabrikam", "contoso")
API_VERSION = "7.1-preview.1"
PATS = "/_apis/tokens/pats"
SP_MESSAGE = "Service principals are not allowed to perform this action."
TIMEOUT = 15

# Location ids (docs/ado-wire-contract.md §3.2, §4.1) and Patrol's regenerate extension.
TOKENS_AREA_ID = "55967393-20ef-45c6-a96c-b5d5d5986a9a"
PATS_LOCATION_ID = "2c1965e2-28da-4aa1-bc64-b8a58537ae9b"
REGENERATE_LOCATION_ID = "7f1c9a52-3b0e-4a51-9d7e-5f2a7c0e8b31"
TOKEN_ADMIN_AREA_ID = "af68438b-ed04-4407-9eb6-f1dbae3f922e"
TOKEN_ADMIN_LOCATIONS = (
    "af68438b-ed04-4407-9eb6-f1dbae3f922e",  # PersonalAccessTokens
    "a9c08b2c-5466-4e22-8626-1ff304ffdf0f",  # Revocations
    "ee4afb16-e7ab-4ed8-9d4b-4ef3e78f97e4",  # RevocationRules
)


# -- starting servers ---------------------------------------------------------------------------

def issuer_entry(issuer: str, *, audiences: Iterable[str] = (DEFAULT_AUDIENCE,), required_typ: str | None = "at+jwt",
                 tenant_id: str | None = DEFAULT_TENANT_ID, **extra: Any) -> dict[str, Any]:
    """One `[[auth.issuers]]` block for the reference provider (Entra-shaped claims)."""
    entry: dict[str, Any] = {"issuer": issuer, "audiences": list(audiences)}
    if required_typ:
        entry["required_typ"] = required_typ
    if tenant_id:
        entry["tenant_id"] = tenant_id
    entry.update(extra)
    return entry


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):  # an inline table, e.g. one [[verify.resource_servers]] entry
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def serve_config(port: int, data_dir: Path, issuers: list[dict[str, Any]], *, orgs: Iterable[str] = ORGS,
                 signature: str = "AZDO", accept_user_impersonation: bool = False,
                 tokens: Mapping[str, Any] | None = None, server: Mapping[str, Any] | None = None,
                 sections: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """A `patrol serve` TOML config (keys as in docs/patrol.example.toml).

    `server` adds keys to [server] (e.g. public_url); `sections` appends whole tables
    (e.g. {"web": {"enabled": True, ...}}).
    """
    lines = [
        "[server]",
        f'listen = "127.0.0.1:{port}"',
    ]
    lines += [f"{k} = {_toml_value(v)}" for k, v in (server or {}).items()]
    lines += [
        "",
        "[database]",
        f"sqlite_path = {_toml_value(str(Path(data_dir) / 'patrol.db'))}",
        "",
        "[tokens]",
        f"signature = {_toml_value(signature)}",
    ]
    for k, v in (tokens or {}).items():
        lines.append(f"{k} = {_toml_value(v)}")
    lines += ["", "[auth]", f"accept_user_impersonation = {_toml_value(accept_user_impersonation)}",
              # Every negative case here comes from 127.0.0.1; the failure limit itself
              # (429 + Retry-After) is tested in crates/patrol-server/tests/api/limits.rs.
              "max_failures_per_ip = 100000"]
    for entry in issuers:
        lines += ["", "[[auth.issuers]]"] + [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    lines += ["", "[organizations]", f"names = {_toml_value(list(orgs))}", "auto_join = true", ""]
    for name, table in (sections or {}).items():
        lines += [f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()] + [""]
    return "\n".join(lines)


def start_serve(binary: Path, data_dir: Path, issuers: list[dict[str, Any]], *, server_key: str | None = None,
                name: str = "patrol-serve", env: Mapping[str, str] | None = None, port: int | None = None,
                **config_kw: Any) -> PatrolServer:
    """`patrol serve --config FILE` with PATROL_SERVER_KEY; `.server_key` holds the hex key.

    `port` fixes the listen port (default: a free one), e.g. when a redirect URI must be known
    before the server starts.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cfg = data_dir / "patrol.toml"
    cfg.write_text(serve_config(port, data_dir, issuers, **config_kw))
    key = server_key or secrets.token_hex(32)
    srv = PatrolServer(binary, ["serve", "--config", str(cfg)], env={"PATROL_SERVER_KEY": key, **(env or {})},
                       data_dir=data_dir, port=port, name=name)
    srv.server_key = key  # type: ignore[attr-defined]
    return srv


def start_dev(binary: Path, data_dir: Path, *, name: str = "patrol-dev") -> PatrolServer:
    """`patrol dev --port P --data-dir DIR` (built-in issuer at {base_url}/oidc)."""
    return PatrolServer(binary, ["dev", "--port", "{port}", "--data-dir", "{data_dir}"], data_dir=data_dir, name=name)


def dev_token(binary: Path, data_dir: Path, user: str | None = "alice", *, scope: str | None = None,
              service_principal: bool = False) -> str:
    """`patrol dev token ...` against a running `patrol dev` in `data_dir`."""
    cmd = [str(binary), "dev", "token", "--data-dir", str(data_dir)]
    if service_principal:
        cmd.append("--service-principal")
    else:
        cmd += ["--user", user or "alice"]
    if scope is not None:
        cmd += ["--scope", scope]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def inspect_token(binary: Path, secret: str) -> subprocess.CompletedProcess:
    """`patrol token inspect -` with the secret on stdin (never on the command line)."""
    return subprocess.run([str(binary), "token", "inspect", "-"], input=secret + "\n",
                          capture_output=True, text=True, timeout=30)


# -- the API over raw HTTP ----------------------------------------------------------------------

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(password: str, user: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class PatApi:
    """The PAT Lifecycle API for one caller, api-version in the query (like curl / the docs)."""

    def __init__(self, base_url: str, token: str | None, org: str = "fabrikam", version: str = API_VERSION) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.org = org
        self.version = version
        self.session = requests.Session()

    def url(self, org: str | None = None, suffix: str = "") -> str:
        return f"{self.base_url}/{org or self.org}{PATS}{suffix}"

    def _call(self, method: str, org: str | None, suffix: str = "", params: dict | None = None,
              json: Any = None, headers: dict | None = None, **kw: Any) -> requests.Response:
        p = {"api-version": self.version} if self.version else {}
        p.update(params or {})
        h = bearer(self.token) if self.token else {}
        h.update(headers or {})
        return self.session.request(method, self.url(org, suffix), params=p, json=json, headers=h,
                                    timeout=TIMEOUT, **kw)

    def list(self, org: str | None = None, **params: Any) -> requests.Response:
        return self._call("GET", org, params=params)

    def get(self, authorization_id: str, org: str | None = None) -> requests.Response:
        return self._call("GET", org, params={"authorizationId": authorization_id})

    def create(self, org: str | None = None, **body: Any) -> requests.Response:
        return self._call("POST", org, json=body)

    def update(self, org: str | None = None, **body: Any) -> requests.Response:
        return self._call("PUT", org, json=body)

    def revoke(self, authorization_id: str, org: str | None = None) -> requests.Response:
        return self._call("DELETE", org, params={"authorizationId": authorization_id})

    def regenerate(self, authorization_id: str, org: str | None = None) -> requests.Response:
        return self._call("POST", org, "/regenerate", params={"authorizationId": authorization_id})

    # conveniences that assert success -------------------------------------------------------
    def create_ok(self, org: str | None = None, **body: Any) -> dict[str, Any]:
        r = self.create(org, **body)
        assert r.status_code == 200, (r.status_code, r.text)
        result = r.json()
        assert result["patTokenError"] == "none", result
        return result["patToken"]

    def list_all(self, org: str | None = None, top: int = 100, **params: Any) -> list[dict[str, Any]]:
        """Every page of a list call, concatenated."""
        out: list[dict[str, Any]] = []
        token = ""
        for _ in range(1000):
            r = self.list(org, **{"$top": top, "continuationToken": token, **params})
            assert r.status_code == 200, (r.status_code, r.text)
            page = r.json()
            out += page["patTokens"]
            token = page["continuationToken"]
            if token == "":
                return out
        raise AssertionError("continuation token never became empty")


# -- data directory -----------------------------------------------------------------------------

def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "patrol.db"


def query_db(data_dir: Path, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    con = sqlite3.connect(db_path(data_dir), timeout=10)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, tuple(params))]
    finally:
        con.close()


def execute_db(data_dir: Path, sql: str, params: Iterable[Any] = ()) -> int:
    """A write behind the server's back (test set-up only, e.g. expiring a PAT). Returns rowcount."""
    con = sqlite3.connect(db_path(data_dir), timeout=10)
    try:
        cur = con.execute(sql, tuple(params))
        con.commit()
        return cur.rowcount
    finally:
        con.close()


def audit_rows(data_dir: Path) -> list[dict[str, Any]]:
    """All rows of `audit_events`, oldest first."""
    return query_db(data_dir, "SELECT * FROM audit_events ORDER BY at_us, rowid")


def audit_count(data_dir: Path) -> int:
    return query_db(data_dir, "SELECT COUNT(*) AS n FROM audit_events")[0]["n"]


def new_audit_rows(data_dir: Path, before: int) -> list[dict[str, Any]]:
    """Audit rows written after the first `before` rows (rowid order = insertion order)."""
    return query_db(data_dir, "SELECT * FROM audit_events ORDER BY rowid LIMIT -1 OFFSET ?", (before,))


def secret_hash(server_key: str, secret: str) -> bytes:
    """HMAC-SHA256(server key, secret): what the store keeps instead of the secret (docs/security.md item 2)."""
    key = bytes.fromhex(server_key.strip()) if len(server_key.strip()) % 2 == 0 and all(
        c in "0123456789abcdefABCDEF" for c in server_key.strip()) else base64.b64decode(server_key.strip())
    return hmac.new(key, secret.encode(), hashlib.sha256).digest()


def dev_server_key(data_dir: Path) -> str:
    return (Path(data_dir) / "server-key").read_text().strip()


# -- time ---------------------------------------------------------------------------------------

def parse_ado_date(s: str) -> datetime:
    """`2020-11-02T22:56:52.1033333Z` (up to 7 fractional digits) -> aware UTC datetime."""
    s = s.strip()
    assert s.endswith("Z"), f"date not in UTC 'Z' form: {s!r}"
    body = s[:-1]
    if "." in body:
        head, frac = body.split(".", 1)
        body = f"{head}.{frac[:6].ljust(6, '0')}"
        return datetime.strptime(body, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    return datetime.strptime(body, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso_z(d: datetime) -> str:
    """msrest style: UTC, milliseconds, Z."""
    return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def days(n: float) -> timedelta:
    return timedelta(days=n)


def wait_until(predicate, timeout: float, interval: float = 0.25):
    """Poll `predicate()` until truthy; return its value (or the last falsy one at timeout)."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value

