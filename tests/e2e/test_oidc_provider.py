"""The reference OpenID provider issues the tokens Patrol's e2e tests rely on."""

from __future__ import annotations

import json
import time

import pytest
import requests

from lib import jwt_tools
from lib.oidc_flow import FlowError, client_credentials_token, refresh, user_token
from lib.oidc_provider import ACCOUNTS, DEFAULT_AUDIENCE, DEFAULT_TENANT_ID, gen_key


def test_discovery_and_jwks(oidc_provider):
    disc = oidc_provider.discovery()
    assert disc["issuer"] == oidc_provider.issuer
    assert disc["jwks_uri"].startswith(oidc_provider.issuer)
    assert "S256" in disc["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(disc["grant_types_supported"])
    kids = [k["kid"] for k in oidc_provider.jwks()["keys"]]
    assert kids == [oidc_provider.signing_key["kid"]]
    # the JWKS publishes public keys only
    assert all("d" not in k for k in oidc_provider.jwks()["keys"])


def test_user_access_token_shape(oidc_provider, alice_tokens):
    assert {"access_token", "refresh_token", "id_token"} <= alice_tokens.keys()
    header, claims = jwt_tools.decode_unverified(alice_tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"] == oidc_provider.signing_key["kid"]

    alice = ACCOUNTS["alice"]
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["sub"] == "alice"
    assert claims["oid"] == alice["oid"]
    assert claims["tid"] == DEFAULT_TENANT_ID
    assert claims["scp"] == "vso.pats vso.pats_manage"
    assert claims["idtyp"] == "user"
    assert claims["name"] == alice["name"]
    assert claims["email"] == alice["email"]
    assert claims["preferred_username"] == alice["email"]
    assert claims["client_id"] == claims["azp"] == "patrol-e2e"
    assert "roles" not in claims
    assert claims["exp"] > time.time() > claims["iat"] - 5
    # the signature verifies against the published JWKS
    assert jwt_tools.verify_rs256(alice_tokens["access_token"], oidc_provider.jwks())["sub"] == "alice"
    with pytest.raises(ValueError):
        jwt_tools.verify_rs256(jwt_tools.tamper(alice_tokens["access_token"]), oidc_provider.jwks())


def test_id_token_is_not_an_access_token(oidc_provider, alice_tokens):
    header, claims = jwt_tools.decode_unverified(alice_tokens["id_token"])
    assert header.get("typ") != "at+jwt"
    assert claims["aud"] == "patrol-e2e"
    assert claims["iss"] == oidc_provider.issuer


def test_oid_is_stable_and_distinct_per_user(oidc_provider, alice_tokens, bob_tokens):
    again = user_token(oidc_provider.issuer, "alice")
    a1 = jwt_tools.decode_unverified(alice_tokens["access_token"])[1]
    a2 = jwt_tools.decode_unverified(again["access_token"])[1]
    b = jwt_tools.decode_unverified(bob_tokens["access_token"])[1]
    assert a1["oid"] == a2["oid"] != b["oid"]
    assert b["sub"] == "bob" and b["oid"] == ACCOUNTS["bob"]["oid"]


def test_requested_scopes_become_scp(oidc_provider):
    tok = user_token(oidc_provider.issuer, "carol", scope="openid vso.code user_impersonation")
    claims = jwt_tools.decode_unverified(tok["access_token"])[1]
    assert claims["scp"] == "vso.code user_impersonation"
    assert "refresh_token" not in tok  # no offline_access requested
    only_openid = user_token(oidc_provider.issuer, "carol", scope="openid")
    assert "scp" not in jwt_tools.decode_unverified(only_openid["access_token"])[1]


def test_refresh_rotates_and_old_refresh_token_dies(oidc_provider, alice_tokens):
    new = refresh(oidc_provider.issuer, alice_tokens["refresh_token"])
    assert new["refresh_token"] != alice_tokens["refresh_token"]
    assert new["access_token"] != alice_tokens["access_token"]
    header, claims = jwt_tools.decode_unverified(new["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == "alice" and claims["scp"] == "vso.pats vso.pats_manage"
    # a rotated-out refresh token is refused
    with pytest.raises(FlowError) as err:
        refresh(oidc_provider.issuer, alice_tokens["refresh_token"])
    assert err.value.response.status_code == 400
    assert err.value.response.json()["error"] == "invalid_grant"


def test_client_credentials_token_is_an_app_token(oidc_provider, robot_tokens):
    assert "refresh_token" not in robot_tokens
    header, claims = jwt_tools.decode_unverified(robot_tokens["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert header["kid"] == oidc_provider.signing_key["kid"]
    assert claims["idtyp"] == "app"
    assert claims["roles"] == ["Patrol.Robot"]
    assert "scp" not in claims
    assert "oid" not in claims
    assert claims["sub"] == claims["client_id"] == "ci-robot"
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["tid"] == DEFAULT_TENANT_ID
    assert claims["iss"] == oidc_provider.issuer
    jwt_tools.verify_rs256(robot_tokens["access_token"], oidc_provider.jwks())


def test_client_credentials_rejects_bad_secret(oidc_provider):
    with pytest.raises(FlowError) as err:
        client_credentials_token(oidc_provider.issuer, secret="wrong")
    assert err.value.response.status_code == 401


def test_pkce_is_required_for_public_client(oidc_provider):
    disc = oidc_provider.discovery()
    r = requests.get(
        disc["authorization_endpoint"],
        params={
            "client_id": "patrol-e2e",
            "response_type": "code",
            "redirect_uri": "http://127.0.0.1/callback",
            "scope": "openid vso.pats",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code in (302, 303)
    assert "error=invalid_request" in r.headers["Location"]
    assert "PKCE" in requests.utils.unquote(r.headers["Location"]).replace("+", " ")


def test_unknown_user_cannot_log_in(oidc_provider):
    with pytest.raises(FlowError):
        user_token(oidc_provider.issuer, "mallory")


def test_key_rotation(make_oidc_provider):
    old = gen_key()
    op = make_oidc_provider(keys=[old])
    issuer = op.issuer
    before = user_token(op.issuer, "alice")
    assert jwt_tools.decode_unverified(before["access_token"])[0]["kid"] == old["kid"]

    new = gen_key()
    assert new["kid"] != old["kid"]
    op.restart(keys=[new, old])
    assert op.issuer == issuer

    jwks = requests.get(op.discovery()["jwks_uri"], timeout=10).json()
    assert {k["kid"] for k in jwks["keys"]} == {new["kid"], old["kid"]}
    after = user_token(op.issuer, "alice")
    robot = client_credentials_token(op.issuer)
    assert jwt_tools.decode_unverified(after["access_token"])[0]["kid"] == new["kid"]
    assert jwt_tools.decode_unverified(after["id_token"])[0]["kid"] == new["kid"]
    assert jwt_tools.decode_unverified(robot["access_token"])[0]["kid"] == new["kid"]
    # tokens signed before the rotation still verify against the new JWKS
    jwt_tools.verify_rs256(before["access_token"], jwks)
    jwt_tools.verify_rs256(after["access_token"], jwks)

    # dropping the old key: it disappears from the JWKS
    op.restart(keys=[new])
    assert [k["kid"] for k in op.jwks()["keys"]] == [new["kid"]]
    with pytest.raises(ValueError, match="no key"):
        jwt_tools.verify_rs256(before["access_token"], op.jwks())


def test_provider_options(make_oidc_provider):
    op = make_oidc_provider(
        audience="api://patrol-other",
        tenant_id="11111111-2222-4333-8444-555555555555",
        access_token_ttl=5,
        accounts={"dave": {"oid": "00000000-0000-4000-a000-00000000da7e", "name": "Dave", "email": "dave@example.test",
                           "token_claims": {"amr": ["pwd", "mfa"]}}},
    )
    tok = user_token(op.issuer, "dave")
    claims = jwt_tools.decode_unverified(tok["access_token"])[1]
    assert claims["aud"] == "api://patrol-other"
    assert claims["tid"] == "11111111-2222-4333-8444-555555555555"
    assert claims["oid"] == "00000000-0000-4000-a000-00000000da7e"
    assert claims["amr"] == ["pwd", "mfa"]
    assert claims["exp"] - claims["iat"] == 5


def test_two_providers_have_distinct_issuers_and_keys(oidc_provider, second_oidc_provider):
    a = jwt_tools.decode_unverified(user_token(oidc_provider.issuer, "alice")["access_token"])
    b = jwt_tools.decode_unverified(user_token(second_oidc_provider.issuer, "alice")["access_token"])
    assert a[1]["sub"] == b[1]["sub"] == "alice"
    assert a[1]["iss"] != b[1]["iss"]
    assert a[0]["kid"] != b[0]["kid"]


def test_stats_and_jwks_fault_injection(make_oidc_provider):
    op = make_oidc_provider()
    op.reset_stats()
    op.jwks()
    op.jwks()
    assert op.stats()["jwks"] == 2
    op.set_jwks_status(503)
    assert requests.get(f"{op.issuer}/jwks", timeout=10).status_code == 503
    op.set_jwks_status(200)
    assert requests.get(f"{op.issuer}/jwks", timeout=10).status_code == 200
    assert op.stats()["jwks"] == 4


def test_clean_shutdown_on_sigterm(make_oidc_provider):
    op = make_oidc_provider()
    assert op.stop() == 0
    assert "SIGTERM received" in op.log_text()


def test_forged_tokens_helpers(oidc_provider, alice_tokens):
    """jwt_tools can forge the negative-matrix tokens of docs/security.md item 10."""
    _, claims = jwt_tools.decode_unverified(alice_tokens["access_token"])
    key = oidc_provider.signing_key
    # re-signed with the real key: verifies; same claims with another key: does not
    resigned = jwt_tools.sign_rs256({**claims, "aud": "api://wrong"}, key)
    assert jwt_tools.verify_rs256(resigned, oidc_provider.jwks())["aud"] == "api://wrong"
    other = gen_key()
    # another key's signature may even exceed this modulus: both are refusals
    with pytest.raises(ValueError, match="bad signature|signature out of range"):
        jwt_tools.verify_rs256(jwt_tools.sign_rs256(claims, other, header={"kid": key["kid"]}), oidc_provider.jwks())
    none_token = jwt_tools.unsigned(claims)
    assert jwt_tools.decode_unverified(none_token)[0]["alg"] == "none"
    hs = jwt_tools.sign_hs256(claims, jwt_tools.public_pem(key), header={"kid": key["kid"]})
    assert jwt_tools.decode_unverified(hs)[0]["alg"] == "HS256"
    assert jwt_tools.public_pem(key).startswith(b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")


# -- the web UI's confidential clients (lib/web_ui.py: web_clients) -------------------------------

def _web_code(op, client_id: str, redirect_base: str):
    from lib.oidc_flow import authorize
    from lib.web_ui import WEB_RESOURCE, WEB_SCOPES
    return authorize(op.issuer, "alice", WEB_SCOPES, client_id=client_id,
                     redirect_uri=f"{redirect_base}/signin/callback", resource=WEB_RESOURCE)


def _check_web_tokens(op, tokens: dict) -> None:
    assert {"access_token", "refresh_token", "id_token"} <= tokens.keys()
    header, claims = jwt_tools.decode_unverified(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["scp"] == "vso.pats vso.pats_manage"
    assert claims["oid"] == ACCOUNTS["alice"]["oid"]
    assert claims["name"] == ACCOUNTS["alice"]["name"]
    assert claims["tid"] == DEFAULT_TENANT_ID


def test_web_client_secret_basic(make_oidc_provider):
    """The web UI client with client_secret_basic gets JWT access + refresh tokens."""
    from lib.web_ui import SECRET_CLIENT_ID, web_clients
    base = "http://127.0.0.1:9"
    op = make_oidc_provider(clients=web_clients(base, secret="web-secret-for-test"))
    token_endpoint = op.discovery()["token_endpoint"]
    code = _web_code(op, SECRET_CLIENT_ID, base)
    data = {"grant_type": "authorization_code", "code": code["code"], "redirect_uri": code["redirect_uri"],
            "code_verifier": code["code_verifier"]}
    r = requests.post(token_endpoint, data=data, auth=(SECRET_CLIENT_ID, "wrong-secret"), timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    # (oidc-provider also takes the secret as client_secret_post: both are "client secret" auth)
    r = requests.post(token_endpoint, data=data, auth=(SECRET_CLIENT_ID, "web-secret-for-test"), timeout=10)
    assert r.status_code == 200, r.text
    _check_web_tokens(op, r.json())
    r = requests.post(token_endpoint, data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]},
                      auth=(SECRET_CLIENT_ID, "web-secret-for-test"), timeout=10)
    assert r.status_code == 200, r.text
    _check_web_tokens(op, r.json())
    assert op.stats()["grants"] == {f"{SECRET_CLIENT_ID} authorization_code": 1, f"{SECRET_CLIENT_ID} refresh_token": 1}


@pytest.mark.parametrize("ec", [False, True], ids=["RS256", "ES256"])
def test_web_client_private_key_jwt(make_oidc_provider, tmp_path, ec):
    """The private_key_jwt web client: the provider knows the public JWK; the PEM signs."""
    import secrets as _secrets
    import subprocess

    from lib.web_ui import PKJWT_CLIENT_ID, gen_client_key, web_clients
    base = "http://127.0.0.1:9"
    key = gen_client_key(tmp_path, ec=ec)
    assert key.pem_path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key.pem_path.stat().st_mode & 0o777) == "0o600"
    op = make_oidc_provider(clients=web_clients(base, key=key))
    token_endpoint = op.discovery()["token_endpoint"]

    def assertion() -> str:
        # Signed with the PEM file (as Patrol will), by node's crypto.
        claims = {"iss": PKJWT_CLIENT_ID, "sub": PKJWT_CLIENT_ID, "aud": token_endpoint,
                  "jti": _secrets.token_urlsafe(16), "iat": int(time.time()), "exp": int(time.time()) + 60}
        script = (
            "const c=require('crypto'),fs=require('fs');const [pem,kid,alg,claims]=process.argv.slice(1);"
            "const b=(o)=>Buffer.from(JSON.stringify(o)).toString('base64url');"
            "const input=b({alg,kid,typ:'JWT'})+'.'+b(JSON.parse(claims));"
            "const key=c.createPrivateKey(fs.readFileSync(pem));"
            "const sig=c.sign('sha256',Buffer.from(input),alg==='ES256'?{key,dsaEncoding:'ieee-p1363'}:key);"
            "process.stdout.write(input+'.'+sig.toString('base64url'));"
        )
        return subprocess.run(["node", "-e", script, str(key.pem_path), key.kid, key.public_jwk["alg"],
                               json.dumps(claims)], check=True, capture_output=True, text=True, timeout=30).stdout

    code = _web_code(op, PKJWT_CLIENT_ID, base)
    data = {"grant_type": "authorization_code", "code": code["code"], "redirect_uri": code["redirect_uri"],
            "code_verifier": code["code_verifier"], "client_id": PKJWT_CLIENT_ID,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    r = requests.post(token_endpoint, data={k: v for k, v in data.items() if not k.startswith("client_assertion")},
                      timeout=10)
    assert r.status_code in (400, 401), r.text
    code = _web_code(op, PKJWT_CLIENT_ID, base)
    data.update(code=code["code"], code_verifier=code["code_verifier"], client_assertion=assertion())
    r = requests.post(token_endpoint, data=data, timeout=10)
    assert r.status_code == 200, r.text
    _check_web_tokens(op, r.json())
    r = requests.post(token_endpoint, data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"],
                                            "client_id": PKJWT_CLIENT_ID,
                                            "client_assertion_type": data["client_assertion_type"],
                                            "client_assertion": assertion()}, timeout=10)
    assert r.status_code == 200, r.text
