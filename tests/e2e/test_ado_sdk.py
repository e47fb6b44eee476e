"""The official `azure-devops` Python SDK (7.1.0b4) against Patrol, through the SDK's own
`Client` machinery exactly as docs/ado-wire-contract.md §6.2 shows (there is no Tokens client in the SDK):
discovery via the location service (OPTIONS /{org}/_apis, GET _apis/ResourceAreas), then
create -> list -> get -> update -> regenerate -> revoke with `Client._send`.

Each test runs twice: against `patrol dev` (JWT from `patrol dev token`) and against
`patrol serve` trusting the external npm oidc-provider (user token from a real
authorization-code + PKCE flow).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import requests

import pytest

from lib.oidc_flow import client_credentials_token, user_token
from lib.patrol_api import (
    PATS_LOCATION_ID,
    REGENERATE_LOCATION_ID,
    SP_MESSAGE,
    TOKEN_ADMIN_AREA_ID,
    TOKEN_ADMIN_LOCATIONS,
    TOKENS_AREA_ID,
    db_path,
    dev_server_key,
    dev_token,
    inspect_token,
    issuer_entry,
    iso_z,
    new_audit_rows,
    audit_count,
    parse_ado_date,
    query_db,
    secret_hash,
    start_dev,
    start_serve,
    utcnow,
    days,
)

VERSION = "7.1-preview.1"


# Delegated scopes of a token administrator (docs/admin.md).
ADMIN_SCOPE = "vso.tokenadministration vso.pats vso.pats_manage"
# The reference provider's carol (tests/e2e/oidc-provider/provider.mjs): tenant admin under `serve`.
CAROL_OID = "00000000-0000-4000-a000-0000000ca201"


@pytest.fixture(scope="module", params=["dev", "serve"])
def target(request, patrol_binary, oidc_provider, module_tmp):
    """A running Patrol plus a way to get a user JWT for it, and a tenant administrator's
    (`patrol dev`: its `admin` user; `serve`: carol, by `[roles] tenant_admins`)."""
    if request.param == "dev":
        srv = start_dev(patrol_binary, module_tmp / "dev")
        t = SimpleNamespace(
            kind="dev",
            srv=srv,
            jwt=lambda user="alice": dev_token(patrol_binary, srv.data_dir, user),
            sp_jwt=lambda: dev_token(patrol_binary, srv.data_dir, service_principal=True),
            admin_jwt=lambda: dev_token(patrol_binary, srv.data_dir, "admin", scope=ADMIN_SCOPE),
            server_key=dev_server_key(srv.data_dir),
        )
    else:
        roles = {"tenant_admins": [f"{oidc_provider.issuer}|{CAROL_OID}"]}
        srv = start_serve(patrol_binary, module_tmp / "serve", [issuer_entry(oidc_provider.issuer)],
                          sections={"roles": roles})
        t = SimpleNamespace(
            kind="serve",
            srv=srv,
            jwt=lambda user="alice": user_token(oidc_provider.issuer, user)["access_token"],
            sp_jwt=lambda: client_credentials_token(oidc_provider.issuer)["access_token"],
            admin_jwt=lambda: user_token(oidc_provider.issuer, "carol", f"openid {ADMIN_SCOPE}")["access_token"],
            server_key=srv.server_key,
        )
    yield t
    srv.stop()


@pytest.fixture
def sdk(tmp_path, monkeypatch):
    """The SDK with a fresh discovery cache for this test.

    The SDK caches OPTIONS answers per process (`Client._locations_cache`) and on disk for
    12 h (`AZURE_DEVOPS_CACHE_DIR`, read once at import). Both are pointed at this test's
    own temporary state, so every test really performs discovery against its server.
    """
    cache_dir = tmp_path / "azure-devops-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(cache_dir))
    from azure.devops import _file_cache
    from azure.devops.client import Client
    from azure.devops.connection import Connection
    from azure.devops.exceptions import AzureDevOpsAuthenticationError, AzureDevOpsServiceError
    from msrest.authentication import BasicTokenAuthentication

    monkeypatch.setattr(_file_cache, "DEFAULT_CACHE_DIR", str(cache_dir))
    for cache, name in ((_file_cache.OPTIONS_CACHE, "options"), (_file_cache.RESOURCE_CACHE, "resources")):
        monkeypatch.setattr(cache, "file_name", str(cache_dir / f"{name}.json"))
        monkeypatch.setattr(cache, "data", {})
        monkeypatch.setattr(cache, "initial_load_occurred", False)
    monkeypatch.setattr(Client, "_locations_cache", {})
    monkeypatch.setattr(Client, "_session_data", dict(Client._session_data))

    class TokensClient(Client):
        """What a user of the SDK writes for the PAT Lifecycle API (docs/ado-wire-contract.md §6.2)."""

        resource_area_identifier = TOKENS_AREA_ID

    def connect(base_org_url: str, jwt: str):
        conn = Connection(base_url=base_org_url, creds=BasicTokenAuthentication({"access_token": jwt}))
        return conn, conn._get_client_instance(TokensClient)

    return SimpleNamespace(
        connect=connect,
        cache_dir=cache_dir,
        Client=Client,
        AuthError=AzureDevOpsAuthenticationError,
        ServiceError=AzureDevOpsServiceError,
    )


def _check_secret(binary, secret: str) -> None:
    assert isinstance(secret, str) and len(secret) == 84, secret and len(secret)
    assert secret[76:80] == "AZDO", "provider signature at characters 76-80"
    res = inspect_token(binary, secret)
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    assert secret not in res.stdout + res.stderr, "inspect must not echo the secret"


def _stored_hash(data_dir, authorization_id: str) -> bytes:
    rows = query_db(data_dir, "SELECT token_hash FROM pats WHERE authorization_id = ?", (authorization_id,))
    assert len(rows) == 1
    return bytes(rows[0]["token_hash"])


def _no_plaintext_in_db(data_dir, *secret_values: str) -> None:
    for path in db_path(data_dir).parent.glob("patrol.db*"):
        raw = path.read_bytes()
        for s in secret_values:
            assert s.encode() not in raw, f"a PAT secret is stored in plain text in {path.name}"


def test_sdk_lifecycle(target, sdk, patrol_binary):
    srv = target.srv
    base = f"{srv.base_url}/fabrikam"
    conn, tc = sdk.connect(base, target.jwt("alice"))
    assert tc.config.base_url.rstrip("/") == base, "empty ResourceAreas: the client keeps base_url"
    audit_before = audit_count(srv.data_dir)

    # -- create ----------------------------------------------------------------------------
    name = f"sdk-{target.kind}-{secrets.token_hex(4)}"
    valid_to = utcnow() + days(10)
    r = tc._send("POST", PATS_LOCATION_ID, VERSION,
                 content={"allOrgs": False, "displayName": name, "scope": "vso.code", "validTo": iso_z(valid_to)})
    assert r.status_code == 200
    assert r.request.url.split("?")[0].lower() == f"{base}/_apis/tokens/pats".lower()
    assert "no-store" in r.headers.get("Cache-Control", "")
    created = r.json()
    assert created["patTokenError"] == "none"
    pat = created["patToken"]
    pat_id = pat["authorizationId"]
    first_secret = pat["token"]
    _check_secret(patrol_binary, first_secret)
    assert pat["displayName"] == name
    assert pat["scope"] == "vso.code"
    assert isinstance(pat["targetAccounts"], list) and len(pat["targetAccounts"]) == 1
    assert abs(parse_ado_date(pat["validTo"]) - valid_to).total_seconds() < 0.002
    assert abs((parse_ado_date(pat["validFrom"]) - utcnow()).total_seconds()) < 30

    # -- list ------------------------------------------------------------------------------
    r = tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={
        "displayFilterOption": "active", "sortByOption": "displayDate", "isSortAscending": "true", "$top": "100"})
    assert r.status_code == 200
    page = r.json()
    assert page["continuationToken"] == ""
    listed = [p for p in page["patTokens"] if p["authorizationId"] == pat_id]
    assert len(listed) == 1
    assert all(p["token"] is None for p in page["patTokens"])
    assert first_secret not in r.text

    # -- get -------------------------------------------------------------------------------
    r = tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.status_code == 200
    got = r.json()
    assert got["patTokenError"] == "none"
    assert got["patToken"] == {**pat, "token": None}
    assert first_secret not in r.text

    # -- update ----------------------------------------------------------------------------
    new_valid_to = utcnow() + days(20)
    r = tc._send("PUT", PATS_LOCATION_ID, VERSION, content={
        "authorizationId": pat_id, "displayName": name + "-renamed", "scope": "vso.code_write",
        "validTo": iso_z(new_valid_to)})
    assert r.status_code == 200
    upd = r.json()
    assert upd["patTokenError"] == "none", upd
    u = upd["patToken"]
    assert u["authorizationId"] == pat_id
    assert u["token"] is None, "update never returns the secret"
    assert u["displayName"] == name + "-renamed"
    assert u["scope"] == "vso.code_write"
    assert abs(parse_ado_date(u["validTo"]) - new_valid_to).total_seconds() < 0.002
    assert u["validFrom"] == pat["validFrom"]
    assert u["targetAccounts"] == pat["targetAccounts"]
    assert first_secret not in r.text

    # -- regenerate (Patrol extension, location 7f1c9a52-…, route _apis/{area}/pats/regenerate) --
    hash_before = _stored_hash(srv.data_dir, pat_id)
    assert hash_before == secret_hash(target.server_key, first_secret)
    r = tc._send("POST", REGENERATE_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.status_code == 200
    assert r.request.url.split("?")[0].lower() == f"{base}/_apis/tokens/pats/regenerate".lower()
    assert "no-store" in r.headers.get("Cache-Control", "")
    regen = r.json()
    assert regen["patTokenError"] == "none", regen
    rp = regen["patToken"]
    second_secret = rp["token"]
    _check_secret(patrol_binary, second_secret)
    assert second_secret != first_secret
    assert {k: v for k, v in rp.items() if k != "token"} == {k: v for k, v in u.items() if k != "token"}, \
        "regenerate keeps the metadata"
    # The verify path (where the old secret is refused) is issue 4; here: the store now holds
    # the keyed hash of the new secret only, so the old one cannot match any more.
    hash_after = _stored_hash(srv.data_dir, pat_id)
    assert hash_after == secret_hash(target.server_key, second_secret)
    assert hash_after != secret_hash(target.server_key, first_secret)
    _no_plaintext_in_db(srv.data_dir, first_secret, second_secret)

    r = tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.json()["patToken"]["token"] is None
    assert second_secret not in r.text and first_secret not in r.text

    # -- revoke ----------------------------------------------------------------------------
    r = tc._send("DELETE", PATS_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.status_code == 204
    assert r.content == b""

    r = tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.json()["patTokenError"] == "none", "a revoked PAT is still returned by Get"
    active = tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"$top": "100"}).json()["patTokens"]
    assert pat_id not in {p["authorizationId"] for p in active}
    revoked = tc._send("GET", PATS_LOCATION_ID, VERSION,
                       query_parameters={"displayFilterOption": "revoked", "$top": "100"}).json()["patTokens"]
    assert pat_id in {p["authorizationId"] for p in revoked}
    r = tc._send("PUT", PATS_LOCATION_ID, VERSION, content={"authorizationId": pat_id, "displayName": "again"})
    assert r.json() == {"patToken": None, "patTokenError": "invalidToken"}
    r = tc._send("POST", REGENERATE_LOCATION_ID, VERSION, query_parameters={"authorizationId": pat_id})
    assert r.json() == {"patToken": None, "patTokenError": "invalidToken"}

    # One audit record per state change (the refused update/regenerate changed nothing).
    actions = [(row["action"], row["target_pat"], row["outcome"]) for row in new_audit_rows(srv.data_dir, audit_before)
               if row["target_pat"] == pat_id]
    assert actions == [("pat.create", pat_id, "success"), ("pat.update", pat_id, "success"),
                       ("pat.regenerate", pat_id, "success"), ("pat.revoke", pat_id, "success")]


def test_sdk_discovery_and_token_admin_client(target, sdk):
    """Discovery through the location service: the TokenAdmin client of the SDK can be built
    and every TokenAdmin location resolves (test_sdk_token_admin_client uses them)."""
    base = f"{target.srv.base_url}/fabrikam"
    conn, tc = sdk.connect(base, target.jwt("alice"))
    ta = conn.clients_v7_1.get_token_admin_client()
    assert ta.config.base_url.rstrip("/") == base
    for location_id in TOKEN_ADMIN_LOCATIONS:
        loc = ta._get_resource_location(ta.normalized_url, location_id)
        assert loc is not None, f"{location_id} not listed by OPTIONS"
        assert loc.area == "TokenAdmin"
    pats = tc._get_resource_location(tc.normalized_url, PATS_LOCATION_ID)
    assert (pats.area.lower(), pats.resource_name.lower()) == ("tokens", "pats")
    regen = tc._get_resource_location(tc.normalized_url, REGENERATE_LOCATION_ID)
    assert regen is not None and regen.route_template.lower().endswith("pats/regenerate")

    # The OPTIONS answer was really fetched from this server and cached in this test's dir.
    import json

    options = json.loads((sdk.cache_dir / "options.json").read_text())
    assert base.lower() in options
    ids = {loc["id"] for loc in options[base.lower()]}
    assert TOKEN_ADMIN_AREA_ID in ids and PATS_LOCATION_ID in ids and REGENERATE_LOCATION_ID in ids
    log = target.srv.log_text().lower()
    assert "method=options path=/fabrikam/_apis" in log
    assert "path=/fabrikam/_apis/resourceareas" in log


def test_sdk_sees_patrol_errors(target, sdk):
    """The SDK turns Patrol's refusals into its own exceptions: 401 (text/plain) ->
    AzureDevOpsAuthenticationError; the service-principal 403 (WrappedException) ->
    AzureDevOpsServiceError carrying the fixed message."""
    base = f"{target.srv.base_url}/fabrikam"
    _, tc = sdk.connect(base, "not-a-jwt")
    with pytest.raises(sdk.AuthError):
        tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"$top": "1"})
    _, tc = sdk.connect(base, target.sp_jwt())
    with pytest.raises(sdk.ServiceError) as err:
        tc._send("GET", PATS_LOCATION_ID, VERSION, query_parameters={"$top": "1"})
    assert SP_MESSAGE in str(err.value)


def _verify(base_url: str, pat: str) -> int:
    """Forward-auth: `GET /patrol/v1/verify` with the PAT as a Basic password."""
    auth = "Basic " + base64.b64encode(f":{pat}".encode()).decode()
    return requests.get(f"{base_url}/patrol/v1/verify", headers={"Authorization": auth}, timeout=15).status_code


def test_sdk_token_admin_client(target, sdk):
    """The SDK's TokenAdminClient, unchanged (docs/ado-wire-contract.md §5, §6.1): a tenant
    administrator lists alice's PATs by subject descriptor a page at a time, revokes one (the
    very next verify refuses it), and makes a revocation rule that revokes the rest."""
    from azure.devops.v7_1.token_admin.models import TokenAdminRevocation, TokenAdminRevocationRule

    srv = target.srv
    base = f"{srv.base_url}/fabrikam"
    _, tc = sdk.connect(base, target.jwt("alice"))
    made = {}
    for name, scope in (("ta-code", "vso.code"), ("ta-write", "vso.code_write"), ("ta-work", "vso.work")):
        r = tc._send("POST", PATS_LOCATION_ID, VERSION, content={"allOrgs": False, "displayName": name, "scope": scope})
        pat = r.json()["patToken"]
        made[pat["authorizationId"]] = (name, pat["token"])
    for _, secret in made.values():
        assert _verify(srv.base_url, secret) == 200

    admin_conn, _ = sdk.connect(base, target.admin_jwt())
    ta = admin_conn.clients_v7_1.get_token_admin_client()
    # Alice's descriptor, as Patrol's admin API lists it: aad.<base64url(oid)>.
    users = requests.get(f"{srv.base_url}/patrol/v1/admin/users?top=1000",
                         headers={"Authorization": f"Bearer {target.admin_jwt()}"}, timeout=15).json()["users"]
    alice = next(u for u in users if u["displayName"].startswith("Alice"))
    oid = alice["subject"]
    descriptor = alice["descriptor"]
    assert descriptor == "aad." + base64.urlsafe_b64encode(oid.encode()).decode().rstrip("=")

    # -- list, one per page, GUID continuation tokens, None on the last page ---------------------
    listed, token, pages = [], None, 0
    while True:
        page = ta.list_personal_access_tokens(descriptor, page_size=1, continuation_token=token)
        pages += 1
        listed += page.value
        token = page.continuation_token
        if token is None:
            break
        uuid.UUID(token)
    mine = {t.authorization_id: t for t in listed if t.authorization_id in made}
    assert set(mine) == set(made), "every PAT alice made through fabrikam is listed"
    assert pages == len(listed), "one PAT per page"
    for t in mine.values():
        assert t.display_name == made[t.authorization_id][0]
        assert t.is_valid is True and t.is_public is False and t.token is None
        assert t.user_id == alice["id"]
        assert t.valid_to > t.valid_from

    # -- revoke one: refused by the very next verify ---------------------------------------------
    code_id = next(i for i, (n, _) in made.items() if n == "ta-code")
    ta.revoke_authorizations([TokenAdminRevocation(authorization_id=code_id)])
    assert _verify(srv.base_url, made[code_id][1]) == 401
    assert all(_verify(srv.base_url, s) == 200 for i, (_, s) in made.items() if i != code_id)
    page = ta.list_personal_access_tokens(descriptor, page_size=100)
    assert {t.authorization_id: t.is_valid for t in page.value if t.authorization_id in made}[code_id] is False

    # -- a revocation rule: vso.code catches vso.code_write; vso.work stays -------------------------
    ta.create_revocation_rule(TokenAdminRevocationRule(scopes="vso.code", created_before=datetime.now(timezone.utc)))
    for i, (name, secret) in made.items():
        assert _verify(srv.base_url, secret) == (200 if name == "ta-work" else 401), name
    rules = requests.get(f"{srv.base_url}/patrol/v1/admin/revocation-rules",
                         headers={"Authorization": f"Bearer {target.admin_jwt()}"}, timeout=15).json()["rules"]
    assert rules[0]["scopes"] == "vso.code" and rules[0]["organization"] == "fabrikam"
    assert rules[0]["revoked"] >= 1

    # One audit record per token revoked, and one for the rule, all by the administrator.
    rows = query_db(srv.data_dir, "SELECT action, target_pat, actor FROM audit_events "
                    "WHERE action IN ('pat.revoke', 'admin.revocation_rule') ORDER BY at_us")
    ours = [r for r in rows if r["target_pat"] in made or r["action"] == "admin.revocation_rule"]
    revoked_here = [r["target_pat"] for r in ours if r["action"] == "pat.revoke"]
    assert sorted(revoked_here) == sorted(i for i, (n, _) in made.items() if n != "ta-work")
    assert sum(1 for r in ours if r["action"] == "admin.revocation_rule") == 1
    assert len({r["actor"] for r in ours}) == 1, "the administrator acted"

    # Alice (no administrator role) is refused by the same client.
    alice_conn, _ = sdk.connect(base, target.jwt("alice"))
    with pytest.raises(sdk.ServiceError):
        alice_conn.clients_v7_1.get_token_admin_client().list_personal_access_tokens(descriptor)
