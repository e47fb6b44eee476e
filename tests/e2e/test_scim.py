"""SCIM provisioning against the real binary (issue 12, docs/scim.md).

* The conformance checker `scim2-tester` 0.5.x, run through `scim2-cli` (`scim2 --url … test`),
  against `patrol serve`'s /scim/v2 with the configured bearer secret: discovery documents,
  create/read/list/search with attributes, replace, PATCH add/remove/replace of every attribute
  the published schema declares, delete, error shapes. Every check must succeed (a skipped
  check counts as a failure, as scim2-cli's exit status says).
* Deprovisioning end to end: a user's PAT works through forward-auth, the identity provider's
  deactivation arrives over SCIM, and the very next verify refuses it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator

import pytest
import requests

from lib.jwt_tools import decode_unverified
from lib.patrol import PatrolServer
from lib.patrol_api import PatApi, basic, issuer_entry, start_serve
from lib.procs import REPO_ROOT, new_log_path

SCIM2 = REPO_ROOT / ".e2e" / "venv" / "bin" / "scim2"
SECRET_ENV = "PATROL_E2E_SCIM_TOKEN"
SECRET = secrets.token_hex(24)
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(scope="module")
def srv(patrol_binary, oidc_provider, module_tmp) -> Iterator[PatrolServer]:
    """`patrol serve` with SCIM on, its secret from an environment variable."""
    server = start_serve(
        patrol_binary, module_tmp / "serve", [issuer_entry(oidc_provider.issuer)],
        env={SECRET_ENV: SECRET},
        sections={"scim": {"enabled": True, "tokens": [{"env": SECRET_ENV}]}},
    )
    yield server
    server.stop()


def scim(srv: PatrolServer, method: str, path: str, body: dict | None = None,
         secret: str = SECRET) -> requests.Response:
    headers = {"Authorization": f"Bearer {secret}"}
    if body is not None:
        headers["Content-Type"] = "application/scim+json"
    return requests.request(method, f"{srv.base_url}/scim/v2{path}", headers=headers, json=body, timeout=15)


def test_scim2_tester_finds_no_error(srv):
    if not SCIM2.is_file():
        pytest.fail(f"{SCIM2} is missing: run scripts/install-test-deps.sh")
    # The secret travels in the environment, not on the command line (scim2-cli's advice).
    env = {**os.environ, "SCIM_CLI_HEADERS": f"Authorization: Bearer {SECRET}", "NO_COLOR": "1"}
    proc = subprocess.run([str(SCIM2), "--url", f"{srv.base_url}/scim/v2", "test"],
                          capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    log = new_log_path("scim2-tester")
    log.write_text(out)
    statuses = [line.split(" ", 1)[0] for line in out.splitlines() if line and not line.startswith(" ")]
    failed = [line for line in out.splitlines() if line.split(" ", 1)[0] in {"ERROR", "CRITICAL", "SKIPPED"}]
    print(f"\nscim2-tester: {statuses.count('SUCCESS')} checks succeeded (log {log})")
    assert proc.returncode == 0 and not failed, f"scim2-tester failed (log {log}):\n{out[-4000:]}"
    assert statuses.count("SUCCESS") >= 60, f"too few checks ran (log {log}):\n{out[-4000:]}"


def test_a_wrong_secret_is_refused(srv):
    r = scim(srv, "GET", "/Users", secret="not-the-secret")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/scim+json"
    assert r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_deactivation_reaches_the_pat_at_once(srv, user_jwt):
    tokens = user_jwt("alice")
    claims = decode_unverified(tokens["access_token"])[1]
    alice = PatApi(srv.base_url, tokens["access_token"])
    pat = alice.create_ok(displayName="scim e2e", scope="vso.code", allOrgs=False)
    verify = f"{srv.base_url}/patrol/v1/verify"
    assert requests.get(verify, headers=basic(pat["token"]), timeout=15).status_code == 200

    created = scim(srv, "POST", "/Users", {
        "schemas": [USER_SCHEMA], "externalId": claims["sub"],
        "userName": claims.get("email") or f"{claims['sub']}@example.test", "active": True,
    })
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    off = scim(srv, "PATCH", f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    })
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert requests.get(verify, headers=basic(pat["token"]), timeout=15).status_code == 401
    # Reactivation does not revive it.
    on = scim(srv, "PATCH", f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "value": {"active": "True"}}],
    })
    assert on.status_code == 200, on.text
    assert requests.get(verify, headers=basic(pat["token"]), timeout=15).status_code == 401
