"""The published contract (issue 10): `/openapi.json` describes what the server really does.

Schemathesis 4.32.5 (`schemathesis run <url>/openapi.json -c all`) generates requests from the
document, valid and invalid, sends them to the real binary and checks every answer against it:
no 5xx, only documented status codes, content types and headers, bodies that match their
schemas, schema-valid requests accepted, schema-invalid ones refused, missing credentials
refused. One check is left out: `use_after_free` expects a DELETEd resource to be gone, but a
revoked PAT stays readable, as in Azure DevOps. alice and bob are configured as peers for
`object_level_authorization`, which runs on every case; schemathesis 4.32.5 only probes an id it
knows the owner of (one in the path, or found in a create answer it can unwrap), and the PAT
API's ids travel in the query and come back inside `{"patToken": … | null}`, so it never gets
that far here — object-level authorization is proven by
`test_auth_e2e.py::test_bola_another_users_pat_is_indistinguishable`. Two runs, each with a
fixed seed and a bounded number of cases:

  * the management API (tag `pats`) with alice's and bob's OIDC access tokens
    (`vso.pats vso.pats_manage`), organization `fabrikam`;
  * the verify path (tag `verify`): forward-auth with a PAT (Basic and Bearer) and
    introspection as a registered resource server.

No failure is allowed. Figures (operations, test cases, checks) are printed to the log
(`-s` shows them). The Swagger UI at /docs is checked in the browser too: it renders under its
Content-Security-Policy without a single violation, "Try it out" reaches the API, and another
page cannot frame it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lib.patrol import PatrolServer
from lib.patrol_api import PatApi, issuer_entry, start_serve
from lib.procs import REPO_ROOT, new_log_path
from lib.web_ui import browser_available, output_dir, run_scenario

SCHEMATHESIS = REPO_ROOT / ".e2e" / "venv" / "bin" / "schemathesis"
SEED = 1010
RS_ID = "contract-gateway"
RS_SECRET_ENV = "PATROL_CONTRACT_RS_SECRET"
RS_SECRET = secrets.token_hex(16)
# Test cases per operation and phase: each run stays under a minute on two busy cores.
MAX_EXAMPLES = 20
RUN_TIMEOUT = 240


@pytest.fixture(scope="module")
def srv(patrol_binary, oidc_provider, module_tmp) -> Iterator[PatrolServer]:
    """`patrol serve` whose limits do not get in the way of thousands of requests from
    127.0.0.1 (the limits themselves are tested in crates/patrol-server/tests/api/limits.rs),
    with one registered resource server for introspection."""
    server = start_serve(
        patrol_binary, module_tmp / "serve", [issuer_entry(oidc_provider.issuer)],
        env={RS_SECRET_ENV: RS_SECRET},
        tokens={"max_active_per_user": 100000},
        sections={"verify": {
            "max_failures_per_ip": 1000000,
            "max_failures_per_token": 1000000,
            "resource_servers": [{"client_id": RS_ID, "secret": {"env": RS_SECRET_ENV}}],
        }},
    )
    yield server
    server.stop()


def _schemathesis(base_url: str, config: str, workdir: Path, *args: str) -> tuple[int, str, dict]:
    """One `schemathesis run`; returns (exit code, output, figures)."""
    if not SCHEMATHESIS.is_file():
        pytest.fail(f"{SCHEMATHESIS} is missing: run scripts/install-test-deps.sh")
    cfg = workdir / "schemathesis.toml"
    cfg.write_text(config)
    cmd = [
        str(SCHEMATHESIS), "--no-color", "--config-file", str(cfg), "run", f"{base_url}/openapi.json",
        "--checks", "all",
        "--seed", str(SEED),
        "--max-examples", str(MAX_EXAMPLES),
        "--generation-database", "none",
        # One worker: hypothesis describes strategies by parsing source with `ast`, which
        # CPython 3.11.7 cannot do from two threads at once ("AST constructor recursion depth").
        "--workers", "1",
        "--request-timeout", "10",
        "--report", "json,ndjson", "--report-dir", str(workdir / "report"),
        *args,
        # e.g. "--output-sanitize false" to see the ids in a failure (and the tokens: local use only)
        *os.environ.get("PATROL_SCHEMATHESIS_ARGS", "").split(),
    ]
    log = new_log_path("schemathesis")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    out = proc.stdout + proc.stderr
    log.write_text(" ".join(cmd) + "\n\n" + out)
    figures = _figures(out, workdir / "report")
    print(f"\nschemathesis {' '.join(args)}: {json.dumps(figures)} (log {log})")
    return proc.returncode, out, figures


def _figures(out: str, report_dir: Path) -> dict:
    """Operations tested, test cases generated, checks run (from the summary and the reports)."""
    figures: dict = {}
    m = re.search(r"Selected:\s*(\d+)/(\d+)\s*\n\s*Tested:\s*(\d+)", out)
    if m:
        figures["operations"] = {"selected": int(m[1]), "total": int(m[2]), "tested": int(m[3])}
    m = re.search(r"Test cases:\s*\n\s*(\d+) generated(.*)", out)
    if m:
        figures["test_cases"] = int(m[1])
        figures["outcome"] = m[2].strip(" ,")
    events = next(report_dir.glob("*.ndjson"), None) if report_dir.is_dir() else None
    if events:
        runs: Counter = Counter()
        failed: Counter = Counter()
        for line in events.read_text().splitlines():
            for check in _checks(json.loads(line)):
                runs[check["name"]] += 1
                if check.get("status") != "success":
                    failed[check["name"]] += 1
        figures["checks"] = {"run": sum(runs.values()), "failed": sum(failed.values()), "by_check": dict(runs)}
        if failed:
            figures["checks"]["failed_by_check"] = dict(failed)
    return figures


def _checks(event: object) -> Iterator[dict]:
    """Every check result in a schemathesis NDJSON event (`"checks": {case id: [{name, status}]}`)."""
    if isinstance(event, dict):
        for key, value in event.items():
            if key == "checks" and isinstance(value, dict):
                for results in value.values():
                    yield from (r for r in results if isinstance(r, dict) and "name" in r)
            else:
                yield from _checks(value)
    elif isinstance(event, list):
        for item in event:
            yield from _checks(item)


def _assert_clean(code: int, out: str, figures: dict) -> None:
    summary = out[out.rfind("SUMMARY"):] if "SUMMARY" in out else out[-4000:]
    assert code == 0, f"schemathesis found failures (exit {code}):\n{out[-15000:]}"
    assert figures.get("operations", {}).get("tested"), summary
    assert figures.get("test_cases", 0) > 0, summary
    assert figures.get("checks", {}).get("run", 0) > figures["test_cases"], figures
    assert figures["checks"]["failed"] == 0, figures


def test_management_api_matches_its_document(srv, user_jwt, tmp_path):
    """Every PAT API operation: positive and negative cases, the coverage, fuzzing and stateful
    phases (create → get / regenerate / revoke through the document's links), all checks."""
    tokens = {user: user_jwt(user)["access_token"] for user in ("alice", "bob")}
    auth = {"auth": [
        {"name": user, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for user, token in tokens.items()
    ]}
    (tmp_path / "auth.json").write_text(json.dumps(auth))
    config = f"""
[auth.wfc]
path = "{tmp_path / 'auth.json'}"
peers = ["alice", "bob"]

[parameters]
"path.organization" = "fabrikam"
"""
    # `use_after_free` is left out on purpose: revoking (DELETE) does not delete, and a get of a
    # revoked PAT answers it, as Azure DevOps does (docs/ado-wire-contract.md §4.5, §4.8).
    code, out, figures = _schemathesis(srv.base_url, config, tmp_path, "--include-tag", "pats",
                                       "--exclude-checks", "use_after_free")
    _assert_clean(code, out, figures)
    assert figures["operations"]["tested"] == 5, figures


def test_verify_path_matches_its_document(srv, user_jwt, tmp_path):
    """Forward-auth (GET and HEAD, a PAT as Basic password or Bearer) and introspection
    (a resource server's client credentials), all checks."""
    pat = PatApi(srv.base_url, user_jwt("alice")["access_token"]).create_ok(
        displayName="contract", scope="vso.code vso.build", allOrgs=True)["token"]
    config = f"""
[auth.openapi.pat_basic]
username = "git"
password = "{pat}"

[auth.openapi.pat_bearer]
bearer = "{pat}"

[auth.openapi.resource_server]
username = "{RS_ID}"
password = "{RS_SECRET}"

# Half of the introspected tokens and required organizations are real ones, so that answers
# for active PATs and for allowed organizations are checked too.
[dictionaries.pats]
values = ["{pat}"]

[dictionaries.orgs]
values = ["fabrikam", "contoso"]

[parameters]
"body.token" = {{ dictionary = "pats", probability = 0.5 }}
"query.org" = {{ dictionary = "orgs", probability = 0.5 }}
"header.X-Patrol-Org" = {{ dictionary = "orgs", probability = 0.5 }}
"""
    # No links between these operations: no stateful phase.
    code, out, figures = _schemathesis(srv.base_url, config, tmp_path, "--include-tag", "verify",
                                       "--phases", "examples,coverage,fuzzing")
    _assert_clean(code, out, figures)
    assert figures["operations"]["tested"] == 3, figures


def test_docs_headers(srv):
    """/docs/ and /openapi.json carry the policy; the document is served as JSON."""
    for path in ("/docs/", "/docs/swagger-ui.css", "/openapi.json"):
        r = requests.get(srv.url(path), timeout=10)
        assert r.status_code == 200, path
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, (path, csp)
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        assert r.headers.get("X-Frame-Options") == "DENY", path


_no_browser = browser_available()


@pytest.mark.skipif(_no_browser is not None and not os.environ.get("PATROL_REQUIRE_BROWSER"),
                    reason=_no_browser or "")
def test_swagger_ui_works_under_its_policy(srv):
    """Headless Chromium: the UI renders every operation and runs "Try it out" with no CSP
    violation at all, and a page of another origin cannot frame it."""
    report = run_scenario("docs.mjs", {"base_url": srv.base_url, "screenshot_dir": str(output_dir())},
                          timeout=60)
    assert report["title"] and report["title"].startswith("Patrol"), report["title"]
    assert report["operations"] >= 8, report["operations"]
    assert report["tried"]["status"] == "401", report["tried"]
    assert report["violations"] == [], report["violations"]
    refused = [line for line in report["docs_console"] if "Content Security Policy" in line]
    assert refused == [], refused
    framed = report["framed"]
    assert not framed["rendered"], framed
    assert any("frame" in line and ("frame-ancestors" in line or "X-Frame-Options" in line)
               for line in framed["console"]), framed
