"""Helpers for the web UI tests (test_web_ui.py): the browser, the web clients, raw HTTP.

    steps = run_ui(base_url, [{"do": "signin", "user": "alice"}, {"do": "list"}],
                   screenshot_dir=shots, state_out=tmp / "state.json")   # headless Chromium
    verify_status(base_url, pat)                     # GET /patrol/v1/verify -> 200 / 401 / 403
    client = WebClient(base_url); dev_signin_http(client, "alice")       # no browser
    key = gen_client_key(tmp)                        # PEM + public JWK for private_key_jwt
    op = OidcProvider(clients=web_clients(public_url, secret=..., jwk=key.public_jwk))
    srv = start_web_serve(binary, data_dir, op, port, client_auth="client_secret_basic", ...)

The browser part is Node (tests/e2e/browser/ui.mjs, playwright-core driving Debian's
/usr/bin/chromium); it prints one `RESULT {json}` line that run_ui() parses. A failed run
raises BrowserError with the step, the error, the URL, the browser console and the page HTML.
Screenshots go to output_dir() = $PATROL_TEST_OUTPUT/browser (default <repo>/test-output/browser).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from .html_forms import forms, hidden_fields
from .oidc_provider import OidcProvider
from .patrol import PatrolServer
from .patrol_api import issuer_entry, start_serve
from .procs import E2E_DIR, PROVIDER_DIR, REPO_ROOT, new_log_path

BROWSER_DIR = E2E_DIR / "browser"
TIMEOUT = 15

WEB_SCOPES = "openid profile email offline_access vso.pats vso.pats_manage"
WEB_RESOURCE = "api://patrol"
SECRET_CLIENT_ID = "patrol-web"
PKJWT_CLIENT_ID = "patrol-web-pkjwt"
SECRET_ENV = "PATROL_WEB_CLIENT_SECRET"
SESSION_COOKIES = ("patrol_session", "__Host-patrol_session")


def output_dir() -> Path:
    """Where screenshots go: $PATROL_TEST_OUTPUT/browser, default <repo>/test-output/browser."""
    root = Path(os.environ.get("PATROL_TEST_OUTPUT") or REPO_ROOT / "test-output")
    path = root / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def browser_available() -> str | None:
    """None when the browser tests can run, else why not (for pytest.skip)."""
    chromium = os.environ.get("PATROL_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        return f"{chromium} is missing: run scripts/install-test-deps.sh"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"{BROWSER_DIR}/node_modules is missing: run scripts/install-test-deps.sh"
    return None


# -- the browser -------------------------------------------------------------------------------

class BrowserError(AssertionError):
    """A browser scenario failed; the message says where and shows the page."""

    def __init__(self, message: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.report = report or {}


def _format_failure(report: dict[str, Any], log_path: Path) -> str:
    lines = [
        f"browser scenario failed at step {report.get('step')!r}: {report.get('error', '').splitlines()[0] if report.get('error') else '?'}",
        f"  url: {report.get('url')}",
    ]
    if report.get("failure_screenshot"):
        lines.append(f"  screenshot: {report['failure_screenshot']}")
    lines.append(f"  node log: {log_path}")
    done = report.get("partial") or []
    if done:
        lines.append("  steps done: " + ", ".join(str(r.get("do")) for r in done))
    if report.get("error"):
        lines.append("  error:\n    " + "\n    ".join(report["error"].splitlines()[:12]))
    console = report.get("console") or []
    if console:
        lines.append("  browser console (last 20):\n    " + "\n    ".join(console[-20:]))
    html = report.get("html")
    if html:
        lines.append("  page HTML (first 6000 chars):\n" + html[:6000])
    return "\n".join(lines)


def run_scenario(script: str, args: dict[str, Any], *, timeout: float = 60.0) -> dict[str, Any]:
    """Run tests/e2e/browser/<script> with JSON args; return its report (ok is true)."""
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("node not found on PATH")
    args = {"timeout_ms": int(timeout * 1000), **args}
    log_path = new_log_path(f"browser-{Path(script).stem}")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([node, script, json.dumps(args)], cwd=BROWSER_DIR, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout + 20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise BrowserError(f"node {script} did not finish within {timeout + 20:.0f}s; log {log_path}")
    report: dict[str, Any] | None = None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("RESULT "):
            report = json.loads(line[len("RESULT "):])
    if report is None:
        raise BrowserError(f"node {script} exited {proc.returncode} without a report; log {log_path}:\n"
                           + log_path.read_text(errors="replace")[-3000:])
    if not report.get("ok"):
        raise BrowserError(_format_failure(report, log_path), report)
    return report


def run_ui(base_url: str, actions: list[dict[str, Any]], *, screenshot_dir: Path | None = None,
           state_in: Path | None = None, state_out: Path | None = None, viewport: dict[str, int] | None = None,
           javascript: bool = True, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Run ui.mjs actions in one browser; returns one result dict per action.
    `javascript=False`: the browser context runs no page scripts (progressive enhancement off)."""
    args: dict[str, Any] = {"base_url": base_url, "actions": actions}
    if not javascript:
        args["javascript"] = False
    if screenshot_dir is not None:
        args["screenshot_dir"] = str(screenshot_dir)
    if state_in is not None:
        args["state_in"] = str(state_in)
    if state_out is not None:
        args["state_out"] = str(state_out)
    if viewport is not None:
        args["viewport"] = viewport
    return run_scenario("ui.mjs", args, timeout=timeout)["results"]


def state_cookies(state_path: Path) -> dict[str, dict[str, Any]]:
    """Cookies of a saved browser storage state, by name."""
    return {c["name"]: c for c in json.loads(Path(state_path).read_text())["cookies"]}


def session_cookie(state_path: Path) -> tuple[str, str]:
    """(name, value) of Patrol's session cookie in a saved browser storage state."""
    cookies = state_cookies(state_path)
    for name in SESSION_COOKIES:
        if name in cookies:
            return name, cookies[name]["value"]
    raise AssertionError(f"no session cookie ({' / '.join(SESSION_COOKIES)}) in the browser; cookies: {sorted(cookies)}")


# -- the verify path ---------------------------------------------------------------------------

def verify_status(base_url: str, pat: str, **params: str) -> int:
    """GET /patrol/v1/verify with `Authorization: Basic base64(":" + pat)`; the status code."""
    auth = "Basic " + base64.b64encode(f":{pat}".encode()).decode()
    r = requests.get(f"{base_url}/patrol/v1/verify", params=params, headers={"Authorization": auth}, timeout=TIMEOUT)
    return r.status_code


# -- raw HTTP with the session cookie ----------------------------------------------------------

class WebClient:
    """requests without a cookie jar: cookies from Set-Cookie are kept by name and sent to the
    Patrol origin only (requests' jar would drop `Secure` cookies on http://127.0.0.1).
    Redirects are never followed; `set_cookies` logs every (path, Set-Cookie header)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[tuple[str, str]] = []
        self.http = requests.Session()
        self.http.trust_env = False

    def url(self, path_or_url: str) -> str:
        return urljoin(self.base_url + "/", path_or_url)

    def request(self, method: str, path_or_url: str, *, headers: dict[str, str] | None = None,
                cookies: bool = True, **kw: Any) -> requests.Response:
        url = self.url(path_or_url)
        h = dict(headers or {})
        same = urlsplit(url)[:2] == urlsplit(self.base_url)[:2]
        if cookies and same and self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = self.http.request(method, url, headers=h, allow_redirects=False, timeout=TIMEOUT, **kw)
        if same:
            for header in r.raw.headers.getlist("Set-Cookie"):
                self.set_cookies.append((urlsplit(url).path, header))
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                attrs = {p.strip().split("=", 1)[0].lower(): (p.strip().split("=", 1) + [""])[1]
                         for p in rest.split(";")[1:]}
                if value == "" or attrs.get("max-age", "1").strip() in ("0", "-1") or \
                        "1970" in attrs.get("expires", ""):
                    self.cookies.pop(name.strip(), None)
                else:
                    self.cookies[name.strip()] = value
        return r

    def get(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("GET", path_or_url, **kw)

    def post(self, path_or_url: str, **kw: Any) -> requests.Response:
        return self.request("POST", path_or_url, **kw)

    def same_origin_headers(self) -> dict[str, str]:
        """What a browser sends with a same-origin form post."""
        return {"Origin": self.base_url, "Referer": self.base_url + "/tokens", "Sec-Fetch-Site": "same-origin",
                "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def cookie_attrs(header: str) -> tuple[str, dict[str, str]]:
    """('name', {lower-case attribute: value}) of one Set-Cookie header."""
    first, *rest = header.split(";")
    attrs = {}
    for part in rest:
        k, _, v = part.strip().partition("=")
        attrs[k.lower()] = v
    return first.split("=", 1)[0].strip(), attrs


def location(r: requests.Response) -> str:
    loc = r.headers.get("Location")
    if loc is None:
        raise AssertionError(f"HTTP {r.status_code} {r.request.method} {r.url}: no Location header\n{r.text[:2000]}")
    return loc


def dev_signin_http(client: WebClient, user: str = "alice", start: str = "/tokens") -> dict[str, Any]:
    """Sign in through `patrol dev`'s built-in issuer over plain HTTP (no browser).

    Returns the hops: {"start": r, "signin": r, "authorize_url": str, "authorize_params": {...},
    "callback": r} (responses), so tests can check the flow; client.cookies holds the session.
    """
    hops: dict[str, Any] = {}
    r = client.get(start)
    hops["start"] = r
    assert r.status_code == 303, (r.status_code, r.text[:500])
    r = client.get(location(r))
    hops["signin"] = r
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    auth_url = client.url(location(r))
    hops["authorize_url"] = auth_url
    hops["authorize_params"] = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    page = client.get(auth_url)
    assert page.status_code == 200, (page.status_code, page.text[:1000])
    form = next((f for f in forms(page.text) if any(i.get("name") == "username" for i in f["inputs"])), None)
    assert form, f"no user picker on the dev issuer page:\n{page.text[:2000]}"
    data = hidden_fields(form)
    data["username"] = user
    r = client.post(urljoin(auth_url, form["action"]), data=data)
    assert r.status_code in (302, 303), (r.status_code, r.text[:1000])
    callback = location(r)
    assert urlsplit(callback).path == "/signin/callback", callback
    r = client.get(callback)
    hops["callback"] = r
    assert r.status_code == 303, (r.status_code, r.text[:1000])
    hops["landing"] = location(r)
    return hops


# -- web clients at the reference provider -----------------------------------------------------

@dataclass
class ClientKey:
    pem_path: Path
    private_jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        return self.private_jwk["kid"]

    @property
    def public_jwk(self) -> dict[str, Any]:
        private = {"d", "p", "q", "dp", "dq", "qi"}
        return {k: v for k, v in self.private_jwk.items() if k not in private}


def gen_client_key(directory: Path, *, ec: bool = False) -> ClientKey:
    """A fresh RS256 (or ES256) key: PKCS#8 PEM file (mode 0600) + its JWK."""
    directory.mkdir(parents=True, exist_ok=True)
    pem = directory / ("client-key-ec.pem" if ec else "client-key.pem")
    cmd = [os.environ.get("NODE") or shutil.which("node") or "node", str(PROVIDER_DIR / "genkey.mjs"), "--pem", str(pem)]
    if ec:
        cmd.append("--ec")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return ClientKey(pem, json.loads(out))


def web_clients(public_url: str, *, secret: str | None = None, key: ClientKey | None = None) -> list[dict[str, Any]]:
    """Client registrations for Patrol's web UI at provider.mjs (CLIENTS_FILE entries):
    `patrol-web` (client_secret_basic) and `patrol-web-pkjwt` (private_key_jwt, public JWK in
    `jwks`). Redirect URI = public_url + /signin/callback; code + refresh_token."""
    common = {
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": [public_url.rstrip("/") + "/signin/callback"],
        "post_logout_redirect_uris": [public_url.rstrip("/") + "/signed-out"],
    }
    clients = []
    if secret is not None:
        clients.append({"client_id": SECRET_CLIENT_ID, "client_name": "Patrol web UI (client secret)",
                        "client_secret": secret, "token_endpoint_auth_method": "client_secret_basic", **common})
    if key is not None:
        clients.append({"client_id": PKJWT_CLIENT_ID, "client_name": "Patrol web UI (private_key_jwt)",
                        "token_endpoint_auth_method": "private_key_jwt",
                        "token_endpoint_auth_signing_alg": key.public_jwk["alg"],
                        "jwks": {"keys": [key.public_jwk]}, **common})
    return clients


def web_section(op: OidcProvider, client_auth: str, *, client_id: str, key: ClientKey | None = None,
                **extra: Any) -> dict[str, Any]:
    """The [web] table of a `patrol serve` config for the reference provider."""
    web: dict[str, Any] = {
        "enabled": True,
        "issuer": op.issuer,
        "client_id": client_id,
        "client_auth": client_auth,
        "scopes": WEB_SCOPES,
        "resource": WEB_RESOURCE,
        "session_max_hours": 12,
        "session_idle_minutes": 60,
    }
    if client_auth in ("client_secret_basic", "client_secret_post"):
        web["client_secret"] = {"env": SECRET_ENV}
    if client_auth == "private_key_jwt":
        assert key is not None
        web["private_key_file"] = str(key.pem_path)
        web["private_key_id"] = key.kid
    web.update(extra)
    return web


def start_web_serve(binary: Path, data_dir: Path, op: OidcProvider, port: int, *, web: dict[str, Any],
                    secret: str | None = None, name: str = "patrol-web") -> PatrolServer:
    """`patrol serve` trusting `op` for the API and signing in to the web UI through it."""
    env = {SECRET_ENV: secret} if secret is not None else {}
    return start_serve(binary, data_dir, [issuer_entry(op.issuer)], port=port, name=name, env=env,
                       server={"public_url": f"http://127.0.0.1:{port}"}, sections={"web": web})


def wait_until(pred, timeout: float = 10.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
