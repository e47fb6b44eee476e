"""Who may call the PAT API (docs/security.md §1, items 9-14, 17-18, 26-27), end to end against
`patrol serve` trusting the real npm oidc-provider.

The module's main server runs with RUST_LOG=trace so that the last test can grep its whole log
for every secret and JWT this module used (docs/security.md item 27). The key-rotation scenario
starts in the first test and finishes in the last one: Patrol refetches an unknown `kid` at
most once a minute, so the wait overlaps the rest of the module.
"""

from __future__ import annotations

import base64
import time
import uuid

import pytest
import requests

from lib.jwt_tools import decode_unverified, public_pem, sign_hs256, sign_rs256, tamper, unsigned
from lib.oidc_flow import client_credentials_token, user_token
from lib.oidc_provider import ACCOUNTS, OidcProvider, gen_key
from lib.patrol_api import (
    SP_MESSAGE,
    PatApi,
    audit_count,
    basic,
    bearer,
    issuer_entry,
    new_audit_rows,
    query_db,
    start_serve,
    wait_until,
)

ALICE_OID = ACCOUNTS["alice"]["oid"]
BOB_OID = ACCOUNTS["bob"]["oid"]
REALM_ONLY = 'Bearer realm="patrol"'
# Everything secret this module handles; test_no_secrets_in_logs greps the logs for them.
SECRETS: list[str] = []


def remember(*values: str) -> None:
    SECRETS.extend(v for v in values if v and v not in SECRETS)


def assert_401(r: requests.Response, *, error: str | None = "invalid_token", description: str | None = None) -> None:
    assert r.status_code == 401, (r.status_code, r.text[:300])
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith(REALM_ONLY), www
    if error is None:
        assert www == REALM_ONLY, f"no error attribute expected: {www}"
    else:
        assert f'error="{error}"' in www, www
    if description:
        assert f'error_description="{description}"' in www, www
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(patrol_binary, oidc_provider, module_tmp):
    s = start_serve(patrol_binary, module_tmp / "auth", [issuer_entry(oidc_provider.issuer)],
                    name="patrol-auth-trace", env={"RUST_LOG": "trace"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def user_jwt(user_jwt):
    """The module's token cache (conftest), with every token remembered as a secret; the
    conftest `alice` / `bob` fixtures get their tokens here too."""

    def get(user: str = "alice", scope: str | None = None) -> dict:
        resp = user_jwt(user, scope)
        remember(resp["access_token"], resp.get("id_token", ""), resp.get("refresh_token", ""))
        return resp

    return get


def create_pat(api: PatApi, **body) -> dict:
    pat = api.create_ok(**{"displayName": f"auth-{uuid.uuid4().hex[:8]}", "scope": "vso.code", **body})
    remember(pat["token"])
    return pat


# -- key rotation, part 1 (part 2 is the last test) ------------------------------------------

@pytest.fixture(scope="module")
def rotation(patrol_binary, module_tmp):
    op = OidcProvider()
    srv = start_serve(patrol_binary, module_tmp / "rotation", [issuer_entry(op.issuer)], name="patrol-rotation")
    state = {"op": op, "srv": srv}
    yield state
    srv.stop()
    op.close()


def test_key_rotation_part1_rotate_at_the_provider(rotation):
    op, srv = rotation["op"], rotation["srv"]
    old = user_token(op.issuer, "alice")["access_token"]
    remember(old)
    assert requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats",
                        params={"api-version": "7.1-preview.1"}, headers=bearer(old), timeout=10).status_code == 200
    rotation["primed_at"] = time.monotonic()  # Patrol fetched the JWKS (old key only) just now
    new_key = gen_key()
    op.restart(keys=[new_key, *op.keys])       # new key signs, old key still published
    op.reset_stats()
    new = user_token(op.issuer, "alice")["access_token"]
    remember(new)
    assert decode_unverified(new)[0]["kid"] == new_key["kid"] != decode_unverified(old)[0]["kid"]
    rotation.update(old=old, new=new)
    # Within the first minute the unknown kid may or may not be refetched (at most once a
    # minute is allowed); either way the answer is 200 or 401, never a 5xx.
    r = requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats", params={"api-version": "7.1-preview.1"},
                     headers=bearer(new), timeout=10)
    assert r.status_code in (200, 401), r.text


# -- no credentials, PATs, garbage -------------------------------------------------------------

def test_no_authorization_header(srv):
    for method in ("GET", "POST", "PUT", "DELETE"):
        r = requests.request(method, f"{srv.base_url}/fabrikam/_apis/tokens/pats",
                             params={"api-version": "7.1-preview.1", "authorizationId": str(uuid.uuid4())},
                             json={"displayName": "x"} if method in ("POST", "PUT") else None, timeout=10)
        assert_401(r, error=None)
    r = requests.post(f"{srv.base_url}/fabrikam/_apis/tokens/pats/regenerate",
                      params={"api-version": "7.1-preview.1", "authorizationId": str(uuid.uuid4())}, timeout=10)
    assert_401(r, error=None)


def test_pat_is_refused_on_the_management_api(srv, alice):
    pat = create_pat(alice)
    secret = pat["token"]
    for headers in (basic(secret), basic(secret, user="alice"), basic(secret, user="anything"), bearer(secret)):
        for method, body in (("GET", None), ("POST", {"displayName": "made-with-a-pat"})):
            r = requests.request(method, alice.url(), params={"api-version": "7.1-preview.1"}, json=body,
                                 headers=headers, timeout=10)
            assert_401(r, error="invalid_token", description="OIDC access token required")
        r = requests.post(alice.url(suffix="/regenerate"),
                          params={"api-version": "7.1-preview.1", "authorizationId": pat["authorizationId"]},
                          headers=headers, timeout=10)
        assert_401(r, description="OIDC access token required")
        r = requests.delete(alice.url(), params={"api-version": "7.1-preview.1",
                                                 "authorizationId": pat["authorizationId"]},
                            headers=headers, timeout=10)
        assert_401(r, description="OIDC access token required")
    names = {p["displayName"] for p in alice.list_all(displayFilterOption="all")}
    assert "made-with-a-pat" not in names
    assert alice.get(pat["authorizationId"]).json()["patToken"]["displayName"] == pat["displayName"]
    assert pat["authorizationId"] in {p["authorizationId"] for p in alice.list_all()}, "still active"


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Digest abc", "Basic !!!not-base64", "Bearer a.b",
                                   "Bearer " + "x" * 100, "Basic " + base64.b64encode(b":").decode()])
def test_malformed_authorization_is_401(srv, value):
    r = requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats", params={"api-version": "7.1-preview.1"},
                     headers={"Authorization": value}, timeout=10)
    assert r.status_code == 401, (value, r.status_code, r.text)
    assert r.headers["WWW-Authenticate"].startswith(REALM_ONLY)


def test_jwt_as_basic_password_is_accepted(srv, alice):
    """`az devops` sends the Entra JWT as the Basic password (docs/ado-wire-contract.md §3.6)."""
    r = requests.get(alice.url(), params={"api-version": "7.1-preview.1"}, headers=basic(alice.token), timeout=10)
    assert r.status_code == 200, r.text


# -- the JWT negative matrix (docs/security.md item 10) ----------------------------------------

@pytest.fixture(scope="module")
def forge(oidc_provider, user_jwt):
    """Helpers to forge variants of a real alice access token of the session provider."""
    real = user_jwt("alice")["access_token"]
    header, claims = decode_unverified(real)
    jwk = oidc_provider.signing_key
    now = int(time.time())
    base = {**claims, "iat": now - 10, "exp": now + 600}
    base.pop("nbf", None)

    def signed(changes: dict | None = None, header_changes: dict | None = None, key: dict | None = None) -> str:
        c = dict(base)
        for k, v in (changes or {}).items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        tok = sign_rs256(c, key or jwk, header_changes)
        remember(tok)
        return tok

    return type("Forge", (), {"real": real, "claims": base, "jwk": jwk, "kid": header["kid"], "now": now,
                              "signed": staticmethod(signed)})


def test_forged_control_tokens_are_accepted(srv, forge):
    """Controls: the forging machinery makes tokens Patrol accepts, so every refusal below is
    about the one property each case changes."""
    for tok in (forge.signed(),
                forge.signed({"exp": int(time.time()) - 30}),                # 30 s late: within the leeway
                forge.signed(header_changes={"typ": "application/at+JWT"})):  # RFC 9068 long form
        r = requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats", params={"api-version": "7.1-preview.1"},
                         headers=bearer(tok), timeout=10)
        assert r.status_code == 200, r.text


NEGATIVE_CASES = [
    "alg_none", "alg_none_capitalised", "hs256_with_rsa_public_key", "bad_signature", "signature_stripped",
    "unknown_kid", "missing_kid", "other_key_same_kid", "wrong_iss", "iss_with_trailing_slash", "wrong_aud",
    "aud_is_client_id", "id_token", "typ_jwt", "typ_missing", "expired_beyond_leeway", "nbf_in_future",
    "missing_exp", "missing_sub", "empty_sub", "wrong_tenant", "oversized_token", "exp_as_string",
    "not_base64_payload",
]


def _negative_token(case: str, forge, user_jwt) -> str:
    now = int(time.time())
    c = forge.claims
    h = {"kid": forge.kid}
    if case == "alg_none":
        return unsigned(c, h)
    if case == "alg_none_capitalised":
        return unsigned(c, {**h, "alg": "None"})
    if case == "hs256_with_rsa_public_key":
        return sign_hs256(c, public_pem(forge.jwk), h)
    if case == "bad_signature":
        return tamper(forge.real)
    if case == "signature_stripped":
        return forge.real.rsplit(".", 1)[0] + "."
    if case == "unknown_kid":
        return forge.signed(header_changes={"kid": "no-such-kid-" + uuid.uuid4().hex})
    if case == "missing_kid":
        return forge.signed(header_changes={"kid": None})
    if case == "other_key_same_kid":
        return forge.signed(key={**gen_key(), "kid": forge.kid})
    if case == "wrong_iss":
        return forge.signed({"iss": "http://127.0.0.1:9/not-the-issuer"})
    if case == "iss_with_trailing_slash":
        return forge.signed({"iss": c["iss"] + "/"})
    if case == "wrong_aud":
        return forge.signed({"aud": "api://someone-else"})
    if case == "aud_is_client_id":
        return forge.signed({"aud": "patrol-e2e"})
    if case == "id_token":
        return user_jwt("alice")["id_token"]
    if case == "typ_jwt":
        return forge.signed(header_changes={"typ": "JWT"})
    if case == "typ_missing":
        return forge.signed(header_changes={"typ": None})
    if case == "expired_beyond_leeway":
        return forge.signed({"exp": now - 62, "iat": now - 3662})  # leeway is at most 60 s
    if case == "nbf_in_future":
        return forge.signed({"nbf": now + 300})
    if case == "missing_exp":
        return forge.signed({"exp": None})
    if case == "missing_sub":
        return forge.signed({"sub": None})
    if case == "empty_sub":
        return forge.signed({"sub": ""})
    if case == "wrong_tenant":
        return forge.signed({"tid": str(uuid.uuid4())})
    if case == "oversized_token":
        tok = forge.signed({"pad": "x" * (17 * 1024)})
        assert len(tok) > 16 * 1024
        return tok
    if case == "exp_as_string":
        return forge.signed({"exp": str(now + 600)})
    if case == "not_base64_payload":
        head, _, sig = forge.real.split(".")
        return f"{head}.%%%%.{sig}"
    raise AssertionError(case)


@pytest.mark.parametrize("case", NEGATIVE_CASES)
def test_jwt_negative_matrix(srv, forge, user_jwt, case):
    tok = _negative_token(case, forge, user_jwt)
    remember(tok)
    before = {p["displayName"] for p in PatApi(srv.base_url, forge.real).list_all(displayFilterOption="all")}
    for method, body in (("GET", None), ("POST", {"displayName": f"forged-{case}"})):
        r = requests.request(method, f"{srv.base_url}/fabrikam/_apis/tokens/pats",
                             params={"api-version": "7.1-preview.1"}, json=body, headers=bearer(tok), timeout=10)
        assert r.status_code == 401, (case, method, r.status_code, r.text[:300])
        assert r.headers["WWW-Authenticate"].startswith(REALM_ONLY)
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    after = {p["displayName"] for p in PatApi(srv.base_url, forge.real).list_all(displayFilterOption="all")}
    assert after == before, "nothing may be created with a refused token"


def test_unknown_kid_flood_refetches_at_most_once(srv, forge, oidc_provider):
    """docs/security.md item 14: a flood of random kids causes at most one JWKS refetch a minute."""
    before = oidc_provider.stats()["jwks"]
    for _ in range(15):
        tok = forge.signed(header_changes={"kid": uuid.uuid4().hex})
        r = requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats", params={"api-version": "7.1-preview.1"},
                         headers=bearer(tok), timeout=10)
        assert r.status_code == 401
    assert oidc_provider.stats()["jwks"] - before <= 1


def test_token_from_another_issuer(patrol_binary, srv, second_oidc_provider):
    """docs/security.md item 13: a second, untrusted provider on another port -> 401, and Patrol never
    even fetches that provider's keys."""
    tok = user_token(second_oidc_provider.issuer, "alice")["access_token"]
    remember(tok)
    second_oidc_provider.reset_stats()
    r = requests.get(f"{srv.base_url}/fabrikam/_apis/tokens/pats", params={"api-version": "7.1-preview.1"},
                     headers=bearer(tok), timeout=10)
    assert_401(r)
    stats = second_oidc_provider.stats()
    assert stats["jwks"] == 0 and stats.get("discovery", 0) == 0, stats


# -- non-human callers, scopes ----------------------------------------------------------------

def test_client_credentials_token_is_403(srv, oidc_provider):
    tok = client_credentials_token(oidc_provider.issuer)["access_token"]
    remember(tok)
    before = audit_count(srv.data_dir)
    calls = [
        ("GET", "", {"api-version": "7.1-preview.1"}, None),
        ("POST", "", {"api-version": "7.1-preview.1"}, {"displayName": "robot"}),
        ("PUT", "", {"api-version": "7.1-preview.1"}, {"authorizationId": str(uuid.uuid4())}),
        ("DELETE", "", {"api-version": "7.1-preview.1", "authorizationId": str(uuid.uuid4())}, None),
        ("POST", "/regenerate", {"api-version": "7.1-preview.1", "authorizationId": str(uuid.uuid4())}, None),
    ]
    for method, suffix, params, body in calls:
        for headers in (bearer(tok), basic(tok)):
            r = requests.request(method, f"{srv.base_url}/fabrikam/_apis/tokens/pats{suffix}", params=params,
                                 json=body, headers=headers, timeout=10)
            assert r.status_code == 403, (method, r.status_code, r.text)
            assert r.json()["message"] == SP_MESSAGE
    rows = new_audit_rows(srv.data_dir, before)
    # Audited flood-proof (docs/security.md item 26): the first identical
    # refusal from an address in the window; the repeats are counted.
    assert len(rows) == 1, rows
    for row in rows:
        assert row["action"] == "auth.reject"
        assert row["outcome"] != "success"
        assert "ci-robot" in row["actor"]
        assert row["actor"].startswith(oidc_provider.issuer)
        assert row["source_ip"] == "127.0.0.1"
        assert row["target_pat"] is None
    assert query_db(srv.data_dir, "SELECT COUNT(*) AS n FROM users WHERE subject = 'ci-robot'")[0]["n"] == 0, \
        "a service principal never becomes a user"


def test_non_human_rules_on_flow_tokens(patrol_binary, make_oidc_provider, tmp_path):
    """docs/security.md §1 ("who counts as a user"): idtyp=app, roles without scp, or
    sub == client_id mark a token as non-human, even when it comes out of the
    authorization-code flow; roles next to scp do not."""
    op = make_oidc_provider(accounts={
        "svc-idtyp": {"oid": str(uuid.uuid4()), "name": "svc", "email": "svc@example.test",
                      "token_claims": {"idtyp": "app"}},
        "svc-roles": {"oid": str(uuid.uuid4()), "name": "roles", "email": "roles@example.test",
                      "token_claims": {"roles": ["Patrol.Robot"], "scp": None}},
        "patrol-e2e": {"oid": str(uuid.uuid4()), "name": "same as client", "email": "client@example.test"},
        "human-roles": {"oid": str(uuid.uuid4()), "name": "human", "email": "human@example.test",
                        "token_claims": {"roles": ["Some.Role"]}},
    })
    srv2 = start_serve(patrol_binary, tmp_path / "nonhuman", [issuer_entry(op.issuer)])
    try:
        for login, expected in (("svc-idtyp", 403), ("svc-roles", 403), ("patrol-e2e", 403), ("human-roles", 200)):
            tok = user_token(op.issuer, login)["access_token"]
            remember(tok)
            claims = decode_unverified(tok)[1]
            if login == "patrol-e2e":
                assert claims["sub"] == claims["client_id"]
            r = PatApi(srv2.base_url, tok).list()
            assert r.status_code == expected, (login, claims, r.text)
            if expected == 403:
                assert r.json()["message"] == SP_MESSAGE
    finally:
        srv2.stop()


def test_read_scope_only(srv, user_jwt):
    """vso.pats without vso.pats_manage: reads work, changes are 403 insufficient_scope."""
    tok = user_jwt("alice", "openid vso.pats")["access_token"]
    api = PatApi(srv.base_url, tok)
    assert api.list().status_code == 200
    some = str(uuid.uuid4())
    before = audit_count(srv.data_dir)
    for r in (api.create(displayName="read-only"), api.update(authorizationId=some, displayName="x"),
              api.revoke(some), api.regenerate(some)):
        assert r.status_code == 403, (r.status_code, r.text)
        www = r.headers.get("WWW-Authenticate", "")
        assert 'error="insufficient_scope"' in www and 'scope="vso.pats_manage"' in www, www
    rows = new_audit_rows(srv.data_dir, before)
    assert len(rows) == 1, "identical refusals are audited once per window: %r" % rows
    assert "missing scope vso.pats_manage" in rows[0]["detail"]


def test_no_api_scope_at_all(srv, user_jwt):
    tok = user_jwt("alice", "openid")["access_token"]
    r = PatApi(srv.base_url, tok).list()
    assert r.status_code == 403
    www = r.headers.get("WWW-Authenticate", "")
    assert 'error="insufficient_scope"' in www and 'scope="vso.pats"' in www, www


def test_user_impersonation_only_when_configured(srv, user_jwt, patrol_binary, oidc_provider, tmp_path):
    tok = user_jwt("alice", "openid user_impersonation")["access_token"]
    assert PatApi(srv.base_url, tok).list().status_code == 403, "not accepted by default"
    other = start_serve(patrol_binary, tmp_path / "impersonation", [issuer_entry(oidc_provider.issuer)],
                        accept_user_impersonation=True)
    try:
        api = PatApi(other.base_url, tok)
        assert api.list().status_code == 200
        pat = api.create_ok(displayName="via-user-impersonation")
        remember(pat["token"])
    finally:
        other.stop()


# -- BOLA (docs/security.md item 17) ---------------------------------------------------------------

VOLATILE_HEADERS = {"date", "x-request-id", "content-length"}


def same_answer(a: requests.Response, b: requests.Response) -> None:
    assert a.status_code == b.status_code, (a.status_code, b.status_code)
    assert a.content == b.content, (a.text, b.text)
    ha = {k.lower(): v for k, v in a.headers.items() if k.lower() not in VOLATILE_HEADERS}
    hb = {k.lower(): v for k, v in b.headers.items() if k.lower() not in VOLATILE_HEADERS}
    assert ha == hb
    assert a.headers.get("Content-Length") == b.headers.get("Content-Length")


def test_bola_another_users_pat_is_indistinguishable(srv, alice, bob):
    pat = create_pat(alice, displayName="alice-private")
    pid, random_id = pat["authorizationId"], str(uuid.uuid4())
    hash_before = query_db(srv.data_dir, "SELECT token_hash FROM pats WHERE authorization_id = ?", (pid,))[0]

    a, b = bob.get(pid), bob.get(random_id)
    assert a.status_code == 200 and a.json() == {"patToken": None, "patTokenError": "tokenNotFound"}
    same_answer(a, b)
    for org in ("fabrikam", "contoso"):
        same_answer(bob.update(org, authorizationId=pid, displayName="stolen", allOrgs=True),
                    bob.update(org, authorizationId=random_id, displayName="stolen", allOrgs=True))
        same_answer(bob.regenerate(pid, org), bob.regenerate(random_id, org))
    a, b = bob.revoke(pid), bob.revoke(random_id)
    assert a.status_code == 404, a.text
    same_answer(a, b)

    assert pid not in {p["authorizationId"] for p in bob.list_all(displayFilterOption="all")}
    assert pid not in {p["authorizationId"] for p in bob.list_all("contoso", displayFilterOption="all")}
    # alice's PAT is untouched
    mine = alice.get(pid).json()["patToken"]
    assert {k: v for k, v in mine.items() if k != "token"} == {k: v for k, v in pat.items() if k != "token"}
    assert pid in {p["authorizationId"] for p in alice.list_all()}
    assert query_db(srv.data_dir, "SELECT token_hash FROM pats WHERE authorization_id = ?", (pid,))[0] == hash_before


# -- users (docs/security.md item 12) ----------------------------------------------------------

def test_same_subject_at_two_issuers_are_two_users(patrol_binary, oidc_provider, second_oidc_provider, tmp_path):
    srv2 = start_serve(patrol_binary, tmp_path / "two-issuers",
                       [issuer_entry(oidc_provider.issuer), issuer_entry(second_oidc_provider.issuer)])
    try:
        t1 = user_token(oidc_provider.issuer, "alice")["access_token"]
        t2 = user_token(second_oidc_provider.issuer, "alice")["access_token"]
        remember(t1, t2)
        assert decode_unverified(t1)[1]["oid"] == decode_unverified(t2)[1]["oid"]
        a1, a2 = PatApi(srv2.base_url, t1), PatApi(srv2.base_url, t2)
        pat = a1.create_ok(displayName="issuer-one")
        remember(pat["token"])
        assert pat["authorizationId"] not in {p["authorizationId"] for p in a2.list_all(displayFilterOption="all")}
        assert a2.get(pat["authorizationId"]).json()["patTokenError"] == "tokenNotFound"
        users = query_db(srv2.data_dir, "SELECT issuer, subject FROM users WHERE subject = ?", (ALICE_OID,))
        assert sorted(u["issuer"] for u in users) == sorted([oidc_provider.issuer, second_oidc_provider.issuer])
    finally:
        srv2.stop()


def test_changed_email_keeps_ownership(patrol_binary, make_oidc_provider, tmp_path):
    op = make_oidc_provider()
    srv2 = start_serve(patrol_binary, tmp_path / "email", [issuer_entry(op.issuer)])
    try:
        t1 = user_token(op.issuer, "alice")["access_token"]
        remember(t1)
        pat = PatApi(srv2.base_url, t1).create_ok(displayName="before-email-change")
        remember(pat["token"])
        # The provider now reports a new name, e-mail and preferred_username for the same oid,
        # and a different login (`sub`) with alice's oid.
        op.restart(accounts={
            "alice": {"name": "Alice Renamed", "email": "alice.new@example.test",
                      "preferred_username": "alice.new@example.test"},
            "alice2": {"oid": ALICE_OID, "name": "Alice Two", "email": "alice2@example.test"},
        })
        t2 = user_token(op.issuer, "alice")["access_token"]
        t3 = user_token(op.issuer, "alice2")["access_token"]
        remember(t2, t3)
        assert decode_unverified(t2)[1]["email"] == "alice.new@example.test"
        for t in (t2, t3):
            assert pat["authorizationId"] in {p["authorizationId"] for p in PatApi(srv2.base_url, t).list_all()}
        users = query_db(srv2.data_dir, "SELECT * FROM users")
        assert len(users) == 1, users
        assert users[0]["subject"] == ALICE_OID
        # display name and e-mail follow the claims of the latest sign-in
        PatApi(srv2.base_url, t2).list()
        users = query_db(srv2.data_dir, "SELECT * FROM users")
        assert (users[0]["email"], users[0]["display_name"]) == ("alice.new@example.test", "Alice Renamed")
    finally:
        srv2.stop()


# -- JWKS outage (docs/security.md item 14, §1 503 row) ------------------------------------------

def test_jwks_down_fails_closed(patrol_binary, make_oidc_provider, tmp_path):
    op = make_oidc_provider()
    tok = user_token(op.issuer, "alice")["access_token"]
    remember(tok)
    op.set_jwks_status(503)
    cold = start_serve(patrol_binary, tmp_path / "cold", [issuer_entry(op.issuer)])
    url = f"{cold.base_url}/fabrikam/_apis/tokens/pats"
    for method, body in (("GET", None), ("POST", {"displayName": "during-outage"}), ("GET", None)):
        r = requests.request(method, url, params={"api-version": "7.1-preview.1"}, json=body,
                             headers=bearer(tok), timeout=10)
        assert r.status_code == 503, (r.status_code, r.text)
    # the provider is back: Patrol recovers without a restart (it retries a key-less issuer
    # every few seconds)
    op.set_jwks_status(200)
    r = wait_until(lambda: (lambda x: x if x.status_code == 200 else None)(
        requests.get(url, params={"api-version": "7.1-preview.1"}, headers=bearer(tok), timeout=10)), timeout=15)
    assert r is not None and r.status_code == 200
    # cached keys keep working through the next outage
    op.set_jwks_status(503)
    r = requests.get(url, params={"api-version": "7.1-preview.1"}, headers=bearer(tok), timeout=10)
    assert r.status_code == 200
    assert "during-outage" not in {p["displayName"] for p in PatApi(cold.base_url, tok).list_all(displayFilterOption="all")}
    cold.stop()


# -- audit (docs/security.md item 26) ---------------------------------------------------------------

def test_each_state_change_writes_exactly_one_audit_record(srv, alice, oidc_provider):
    d = srv.data_dir

    def one(action: str, r: requests.Response, before: int, pid: str | None) -> dict:
        rows = new_audit_rows(d, before)
        assert len(rows) == 1, (action, rows)
        row = rows[0]
        assert row["action"] == action
        assert row["outcome"] == "success"
        assert row["actor"] == f"{oidc_provider.issuer}|{ALICE_OID}"
        assert row["client_id"] == "patrol-e2e"
        assert row["source_ip"] == "127.0.0.1"
        assert row["request_id"] == r.headers["X-Request-Id"]
        assert row["target_pat"] == pid
        assert abs(row["at_us"] / 1e6 - time.time()) < 60
        return row

    n = audit_count(d)
    r = alice.create(displayName="audited", scope="vso.code")
    pid = r.json()["patToken"]["authorizationId"]
    remember(r.json()["patToken"]["token"])
    one("pat.create", r, n, pid)

    n = audit_count(d)
    for read in (alice.list(), alice.get(pid), alice.list("contoso", displayFilterOption="all")):
        assert read.status_code == 200
    assert audit_count(d) == n, "reads write no audit records"

    n = audit_count(d)
    r = alice.update(authorizationId=pid, displayName="audited-2")
    one("pat.update", r, n, pid)
    n = audit_count(d)
    r = alice.regenerate(pid)
    remember(r.json()["patToken"]["token"])
    one("pat.regenerate", r, n, pid)
    n = audit_count(d)
    r = alice.revoke(pid)
    assert r.status_code == 204
    one("pat.revoke", r, n, pid)
    # the audit record never holds a secret
    for row in query_db(d, "SELECT * FROM audit_events"):
        text = " ".join(str(v) for v in row.values())
        assert not any(s in text for s in SECRETS if len(s) > 20)


# -- key rotation, part 2 ------------------------------------------------------------------------

def test_key_rotation_part2_new_key_accepted_without_restart(rotation):
    """docs/security.md item 14: a token signed with the provider's new key is accepted without
    restarting Patrol, at the latest once the one-a-minute refetch limit allows it."""
    if "primed_at" not in rotation:
        pytest.skip("part 1 did not run")
    srv, op = rotation["srv"], rotation["op"]
    pid_before = srv.pid
    remaining = rotation["primed_at"] + 61 - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)
    url = f"{srv.base_url}/fabrikam/_apis/tokens/pats"
    r = requests.get(url, params={"api-version": "7.1-preview.1"}, headers=bearer(rotation["new"]), timeout=10)
    assert r.status_code == 200, r.text
    r = requests.get(url, params={"api-version": "7.1-preview.1"}, headers=bearer(rotation["old"]), timeout=10)
    assert r.status_code == 200, "the old key is still published, so its tokens still work"
    assert srv.pid == pid_before and srv.running
    assert op.stats()["jwks"] <= 2


# -- logs (docs/security.md item 27) ------------------------------------------------------------------

def test_no_secrets_in_logs(srv, run_log_dir):
    """Runs last (after part 2): no PAT, JWT or Authorization value of this module appears in any
    Patrol log of this run (the module's main server logs at RUST_LOG=trace)."""
    assert len(SECRETS) > 20
    logs = {p.name: p.read_text(errors="replace") for p in run_log_dir.glob("patrol*.log")}
    assert any("TRACE" in t or "DEBUG" in t for t in logs.values()), "the trace-level server log is missing"
    for name, text in logs.items():
        for s in SECRETS:
            assert s not in text, f"a secret ({s[:12]}…) appears in {name}"
            # also its Basic encodings
            assert base64.b64encode(f":{s}".encode()).decode() not in text, name
