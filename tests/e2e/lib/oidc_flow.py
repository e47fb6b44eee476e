"""Get real tokens from the reference provider over HTTP (requests only).

    user_token(issuer, "alice")            # authorization code + PKCE S256 via the login form
    refresh(issuer, tokens["refresh_token"])
    client_credentials_token(issuer)       # ci-robot / ci-robot-secret

Every function returns the token endpoint's JSON (access_token, token_type, expires_in,
scope, and refresh_token / id_token where issued) and raises FlowError on failure;
FlowError.response holds the last HTTP response.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from .html_forms import forms, input_values

PUBLIC_CLIENT_ID = "patrol-e2e"
REDIRECT_URI = "http://127.0.0.1/callback"
ROBOT_CLIENT_ID = "ci-robot"
ROBOT_SECRET = "ci-robot-secret"
DEFAULT_USER_SCOPE = "openid offline_access vso.pats vso.pats_manage"
# provider.mjs accepts any password; this is what the helpers type.
DEFAULT_PASSWORD = "patrol-e2e-password"
TIMEOUT = 15


class FlowError(RuntimeError):
    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        if response is not None:
            message = f"{message} [HTTP {response.status_code} {response.request.method} {response.url}] {response.text[:500]}"
        super().__init__(message)
        self.response = response


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def discovery(issuer: str) -> dict[str, Any]:
    r = requests.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=TIMEOUT)
    if r.status_code != 200:
        raise FlowError("discovery failed", r)
    return r.json()


def _interaction_form(response: requests.Response) -> tuple[str, dict[str, str]]:
    """(absolute action URL, fields) of the provider's login or consent form."""
    for form in forms(response.text):
        fields = input_values(form)
        if "prompt" in fields:
            return urljoin(response.url, form["action"]), fields
    raise FlowError("no interaction form on page", response)


def _token_request(token_endpoint: str, data: dict[str, str], auth: tuple[str, str] | None = None) -> dict[str, Any]:
    r = requests.post(token_endpoint, data=data, auth=auth, timeout=TIMEOUT)
    if r.status_code != 200:
        raise FlowError(f"token request ({data.get('grant_type')}) failed", r)
    return r.json()


def authorize(
    issuer: str,
    username: str,
    scope: str = DEFAULT_USER_SCOPE,
    *,
    password: str = DEFAULT_PASSWORD,
    client_id: str = PUBLIC_CLIENT_ID,
    redirect_uri: str = REDIRECT_URI,
    resource: str | None = None,
    extra_params: dict[str, str] | None = None,
    session: requests.Session | None = None,
    max_hops: int = 20,
) -> dict[str, str]:
    """Drive /auth -> login form -> consent form -> redirect; return the callback's query.

    Returns {"code", "state", "iss", "code_verifier", "nonce", "redirect_uri", "client_id"}
    (and "resource" when one was sent): what the token request needs. The final redirect to
    redirect_uri is not followed: its Location header is parsed.
    """
    disc = discovery(issuer)
    sess = session or requests.Session()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    # Note: oidc-provider drops offline_access (no refresh token) when a `prompt`
    # parameter without "consent" is sent, e.g. extra_params={"prompt": "login"}.
    if resource:
        params["resource"] = resource
    params.update(extra_params or {})

    r = sess.get(disc["authorization_endpoint"], params=params, allow_redirects=False, timeout=TIMEOUT)
    logins = 0
    for _ in range(max_hops):
        if r.is_redirect:
            location = urljoin(r.url, r.headers["Location"])
            if location.split("?", 1)[0] == redirect_uri:
                query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                if "error" in query:
                    raise FlowError(f"authorization error: {query['error']}: {query.get('error_description', '')}", r)
                if query.get("state") != state:
                    raise FlowError("state mismatch in authorization response", r)
                if "iss" in query and query["iss"] != disc["issuer"]:
                    raise FlowError("iss mismatch in authorization response", r)
                if "code" not in query:
                    raise FlowError("no code in authorization response", r)
                request = {"code_verifier": verifier, "nonce": nonce, "redirect_uri": redirect_uri,
                           "client_id": client_id, **({"resource": resource} if resource else {})}
                return {**query, **request}
            r = sess.get(location, allow_redirects=False, timeout=TIMEOUT)
            continue
        if r.status_code != 200:
            raise FlowError("unexpected response during authorization", r)
        action, fields = _interaction_form(r)
        prompt = fields["prompt"]
        if prompt == "login":
            logins += 1
            if logins > 1:
                raise FlowError(f"login as {username!r} was not accepted (unknown account?)", r)
            data = {**fields, "login": username, "password": password}
        elif prompt == "consent":
            data = fields
        else:
            raise FlowError(f"unknown interaction prompt {prompt!r}", r)
        r = sess.post(action, data=data, allow_redirects=False, timeout=TIMEOUT)
    raise FlowError("too many redirects/interactions", r)


def user_token(issuer: str, username: str, scope: str = DEFAULT_USER_SCOPE, **options: Any) -> dict[str, Any]:
    """Authorization code + PKCE as `username`; returns the token response
    (access_token, refresh_token if offline_access, id_token if openid, expires_in, scope).

    `options` are authorize()'s keyword arguments (password, client_id, redirect_uri,
    resource, extra_params, ...); the code is redeemed for the same client and resource."""
    result = authorize(issuer, username, scope, **options)
    data = {
        "grant_type": "authorization_code",
        "code": result["code"],
        "redirect_uri": result["redirect_uri"],
        "client_id": result["client_id"],
        "code_verifier": result["code_verifier"],
    }
    if result.get("resource"):
        data["resource"] = result["resource"]
    return _token_request(discovery(issuer)["token_endpoint"], data)


def refresh(
    issuer: str,
    refresh_token: str,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    scope: str | None = None,
    resource: str | None = None,
) -> dict[str, Any]:
    """refresh_token grant; the response carries a NEW refresh_token (rotation is on)."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if scope:
        data["scope"] = scope
    if resource:
        data["resource"] = resource
    return _token_request(discovery(issuer)["token_endpoint"], data)


def client_credentials_token(
    issuer: str,
    client_id: str = ROBOT_CLIENT_ID,
    secret: str = ROBOT_SECRET,
    scope: str | None = None,
    *,
    resource: str | None = None,
) -> dict[str, Any]:
    """client_credentials grant with HTTP Basic client authentication."""
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    if resource:
        data["resource"] = resource
    return _token_request(discovery(issuer)["token_endpoint"], data, auth=(client_id, secret))
