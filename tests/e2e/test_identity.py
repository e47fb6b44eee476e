"""Who Patrol says a token belongs to, and which applications may manage PATs
(docs/security.md items 12 and 13), end to end against `patrol serve` trusting the real npm
oidc-provider, which can put any claim in its tokens:

  * on an issuer without tenant_id users are keyed by `sub`, so a custom `oid` claim cannot
    pick another user (the Entra preset, with tenant_id, keys by `oid`);
  * an issuer's allowed_client_ids refuses tokens issued to other applications.

The identity handed to other services (X-Patrol-User-Id as nginx's REMOTE_USER, no unverified
email) is shown with git behind nginx in test_git_nginx.py.
"""

from __future__ import annotations

import uuid

from lib.jwt_tools import decode_unverified
from lib.oidc_flow import user_token
from lib.patrol_api import PatApi, audit_count, issuer_entry, new_audit_rows, query_db, start_serve


def test_oid_claim_on_a_non_entra_issuer_picks_no_other_user(patrol_binary, make_oidc_provider, tmp_path):
    """docs/security.md item 12: an issuer without tenant_id keys users by `sub`, never by an
    `oid` claim a user may be able to set there. Mallory's tokens carry oid = alice's sub."""
    op = make_oidc_provider(accounts={
        "mallory": {"oid": str(uuid.uuid4()), "name": "Mallory", "email": "mallory@example.test",
                    "token_claims": {"oid": "alice"}},
    })
    srv2 = start_serve(patrol_binary, tmp_path / "oid", [issuer_entry(op.issuer, tenant_id=None)])
    try:
        alice = user_token(op.issuer, "alice")["access_token"]
        mallory = user_token(op.issuer, "mallory")["access_token"]
        assert decode_unverified(mallory)[1]["oid"] == decode_unverified(alice)[1]["sub"] == "alice"
        PatApi(srv2.base_url, alice).create_ok(displayName="alice's")
        PatApi(srv2.base_url, mallory).create_ok(displayName="mallory's")
        assert [p["displayName"] for p in PatApi(srv2.base_url, mallory).list_all()] == ["mallory's"]
        assert [p["displayName"] for p in PatApi(srv2.base_url, alice).list_all()] == ["alice's"]
        users = query_db(srv2.data_dir, "SELECT subject FROM users ORDER BY subject")
        assert [u["subject"] for u in users] == ["alice", "mallory"]
    finally:
        srv2.stop()


def test_foreign_client_cannot_mint_pats(patrol_binary, make_oidc_provider, tmp_path):
    """An issuer's allowed_client_ids: a user token issued to another application (one a user
    was phished into consenting to, holding vso.pats_manage) gets 403 in the Azure DevOps shape,
    creates nothing, and is audited."""
    op = make_oidc_provider(clients=[{
        "client_id": "evil-app", "client_name": "Consent-phishing app", "token_endpoint_auth_method": "none",
        "application_type": "web", "grant_types": ["authorization_code"], "response_types": ["code"],
        "redirect_uris": ["http://127.0.0.1/callback"],
    }])
    srv2 = start_serve(patrol_binary, tmp_path / "clients",
                       [issuer_entry(op.issuer, allowed_client_ids=["patrol-e2e"])])
    try:
        evil = user_token(op.issuer, "alice", client_id="evil-app")["access_token"]
        good = user_token(op.issuer, "alice")["access_token"]
        assert decode_unverified(evil)[1]["azp"] == "evil-app"
        assert "vso.pats_manage" in decode_unverified(evil)[1]["scp"]
        before = audit_count(srv2.data_dir)
        r = PatApi(srv2.base_url, evil).create(displayName="phished", scope="vso.code")
        assert r.status_code == 403, (r.status_code, r.text)
        body = r.json()
        assert body["typeKey"] == "InvalidAccessException", body
        assert body["message"] == "The application 'evil-app' is not allowed to manage personal access tokens."
        assert PatApi(srv2.base_url, evil).list().status_code == 403
        rows = new_audit_rows(srv2.data_dir, before)
        assert [(row["action"], row["client_id"], row["detail"]) for row in rows] == \
            [("auth.reject", "evil-app", "client not allowed: evil-app")], rows
        assert query_db(srv2.data_dir, "SELECT COUNT(*) AS n FROM pats")[0]["n"] == 0
        PatApi(srv2.base_url, good).create_ok(displayName="mine")
    finally:
        srv2.stop()
