"""The official `azure-devops` Python SDK (7.1.0b4) against Patrol, through the SDK's own
`Client` machinery exactly as docs/ado-wire-contract.md §6.2 shows (there is no Tokens client in the SDK):
discovery via the location service (OPTIONS /{org}/_apis, GET _apis/ResourceAreas), then
create -> list -> get -> update -> regenerate -> revoke with `Client._send`.

Each test runs twice: against `patrol dev` (JWT from `patrol dev token`) and against
`patrol serve` trusting the external npm oidc-provider (user token from a real
authorization-code + PKCE flow).
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace

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


@pytest.fixture(scope="module", params=["dev", "serve"])
def target(request, patrol_binary, oidc_provider, module_tmp):
    """A running Patrol plus a way to get a user JWT for it."""
    if request.param == "dev":
        srv = start_dev(patrol_binary, module_tmp / "dev")
        t = SimpleNamespace(
            kind="dev",
            srv=srv,
            jwt=lambda user="alice": dev_token(patrol_binary, srv.data_dir, user),
            sp_jwt=lambda: dev_token(patrol_binary, srv.data_dir, service_principal=True),
            server_key=dev_server_key(srv.data_dir),
        )
    else:
        srv = start_serve(patrol_binary, module_tmp / "serve", [issuer_entry(oidc_provider.issuer)])
        t = SimpleNamespace(
            kind="serve",
            srv=srv,
            jwt=lambda user="alice": user_token(oidc_provider.issuer, user)["access_token"],
            sp_jwt=lambda: client_credentials_token(oidc_provider.issuer)["access_token"],
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
    and every TokenAdmin location resolves (their behaviour is the admin issue's)."""
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
