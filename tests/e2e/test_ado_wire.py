"""Raw-HTTP contract tests of the PAT Lifecycle API (docs/ado-wire-contract.md §3-4, §7, §10) against
`patrol serve` trusting the external oidc-provider.

Covers the requests Microsoft's Flask sample sends, the .NET client's habits, api-version
handling, loose client input, organization semantics, and paging / filtering / sorting.
One Patrol server serves the whole module; alice is the general caller, bob the other user,
carol owns the paging data set (and nothing else), so counts are exact.
"""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from datetime import timedelta, timezone

import pytest
import requests

from lib.patrol_api import (
    PATS,
    PATS_LOCATION_ID,
    REGENERATE_LOCATION_ID,
    TOKEN_ADMIN_LOCATIONS,
    TOKENS_AREA_ID,
    PatApi,
    bearer,
    days,
    execute_db,
    iso_z,
    parse_ado_date,
    query_db,
    utcnow,
)

WRAPPED_KEYS = {"$id", "innerException", "message", "typeName", "typeKey", "errorCode", "eventId"}
ON_PREM_OWNERS = {"00000000-0000-0000-0000-000000000000", "87966eaa-cb2a-443f-be3c-47bd3b5bf3cb"}
DEFAULT_LIFETIME = timedelta(days=30)   # docs/patrol.example.toml tokens.default_lifetime_days
MAX_LIFETIME = timedelta(days=365)      # docs/patrol.example.toml tokens.max_lifetime_days


@pytest.fixture(scope="module")
def org_ids(srv) -> dict[str, str]:
    """Organization ids as connectionData reports them (instanceId)."""
    out = {}
    for org in ("fabrikam", "contoso"):
        r = requests.get(f"{srv.base_url}/{org}/_apis/connectionData", headers={"Accept": "application/json"},
                         timeout=10)
        assert r.status_code == 200, r.text
        out[org] = r.json()["instanceId"]
    assert len(set(out.values())) == 2 and uuid.UUID(out["fabrikam"]).int != 0
    return out


def assert_wrapped(r: requests.Response, status: int, type_key: str | None = None) -> dict:
    """An Azure DevOps WrappedException answer."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json", r.headers
    body = r.json()
    assert WRAPPED_KEYS <= set(body), body
    assert isinstance(body["message"], str) and body["message"]
    if type_key:
        assert body["typeKey"] == type_key, body
    return body


def close(a, b, seconds: float = 60.0) -> bool:
    return abs((a - b).total_seconds()) <= seconds


# =============================================================================================
# Discovery (docs/ado-wire-contract.md §3.2, §3.3, §7)
# =============================================================================================

@pytest.mark.parametrize("path", [
    "/_apis", "/_apis/", "/fabrikam/_apis", "/fabrikam/_apis/", "/Fabrikam/_APIS",
    "/fabrikam/_apis/Tokens", "/fabrikam/_apis/tokenadmin", "/fabrikam/_apis?allHostTypes=True",
])
def test_options_lists_every_location(srv, path):
    r = requests.options(srv.url(path), headers={"Accept": "application/json",
                                                 "X-TFS-FedAuthRedirect": "Suppress"}, timeout=10)
    assert r.status_code == 200, r.text
    # .NET needs exactly the media type application/json
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    body = r.json()
    assert body["count"] == len(body["value"])
    by_id = {loc["id"]: loc for loc in body["value"]}
    for loc in body["value"]:
        assert {"id", "area", "resourceName", "routeTemplate", "resourceVersion", "minVersion", "maxVersion",
                "releasedVersion"} <= set(loc), loc
    pats = by_id[PATS_LOCATION_ID]
    assert (pats["area"], pats["resourceName"], pats["routeTemplate"]) == ("Tokens", "Pats", "_apis/{area}/{resource}")
    assert (pats["minVersion"], pats["maxVersion"]) == ("6.1", "7.2")
    assert REGENERATE_LOCATION_ID in by_id
    assert TOKENS_AREA_ID in by_id, "the unmerged Go client uses the area id as location id"
    for loc_id in TOKEN_ADMIN_LOCATIONS:
        assert by_id[loc_id]["area"] == "TokenAdmin"


@pytest.mark.parametrize("path", ["/_apis/ResourceAreas", "/fabrikam/_apis/ResourceAreas",
                                  "/fabrikam/_apis/resourceAreas"])
def test_resource_areas_empty(srv, path):
    r = requests.get(srv.url(path), headers={"Accept": "application/json;api-version=7.1-preview.1"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"count": 0, "value": []}


@pytest.mark.parametrize("path", ["/fabrikam/_apis/connectionData", "/_apis/connectionData"])
def test_dotnet_connection_data(srv, path, org_ids):
    r = requests.get(srv.url(path + "?connectOptions=1&lastChangeId=-1&lastChangeId64=-1"),
                     headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    body = r.json()
    assert body["locationServiceData"]["serviceOwner"] in ON_PREM_OWNERS, \
        "an on-premises service owner keeps the .NET client from traversing to other hosts"
    for key in ("authenticatedUser", "authorizedUser", "instanceId", "deploymentId"):
        assert key in body
    if path.startswith("/fabrikam"):
        assert body["instanceId"] == org_ids["fabrikam"]


# =============================================================================================
# The Flask sample (docs/ado-wire-contract.md §10): plain `requests`, api-version 6.1-preview in the URL
# =============================================================================================

def test_flask_sample_requests(srv, alice, org_ids):
    endpoint = f"{srv.base_url}/fabrikam/_apis/Tokens/Pats?api-version=6.1-preview"
    auth = bearer(alice.token)
    post_headers = {**auth, "Content-type": "application/json"}

    # /pat_post: only the fields the user filled in; allOrgs typed as text -> a JSON string
    r = requests.post(endpoint, headers=post_headers,
                      data=json.dumps({"displayName": "flask-global", "scope": "vso.code", "allOrgs": "true"}))
    assert r.status_code == 200, r.text
    glob = r.json()["patToken"]
    assert r.json()["patTokenError"] == "none"
    assert glob["targetAccounts"] is None, '"allOrgs": "true" (string) makes a global PAT'
    assert glob["token"]

    r = requests.post(endpoint, headers=post_headers, data=json.dumps({"displayName": "flask-minimal"}))
    minimal = r.json()["patToken"]
    assert minimal["scope"] == "app_token", "no scope -> full access"
    assert minimal["targetAccounts"] == [org_ids["fabrikam"]], "allOrgs absent -> this organization"
    assert close(parse_ado_date(minimal["validTo"]), utcnow() + DEFAULT_LIFETIME)

    r = requests.post(endpoint, headers=post_headers, data=json.dumps({"scope": "vso.code", "allOrgs": "false"}))
    unnamed = r.json()["patToken"]
    uuid.UUID(unnamed["displayName"])  # ADO: an absent name becomes a new GUID string
    assert unnamed["targetAccounts"] == [org_ids["fabrikam"]]

    # /pat_get_all: no parameters at all, `requests`' default Accept */*
    r = requests.get(endpoint, headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    listed = {p["authorizationId"] for p in r.json()["patTokens"]}
    assert {glob["authorizationId"], minimal["authorizationId"]} <= listed

    # no Accept header at all
    r = requests.get(endpoint, headers={**auth, "Accept": None})
    assert r.status_code == 200 and "patTokens" in r.json()

    # /pat_get: params appended to the URL that already has ?api-version=
    r = requests.get(endpoint, headers=auth, params={"authorizationId": minimal["authorizationId"]})
    assert r.json()["patToken"]["displayName"] == "flask-minimal"

    # /pat_put: authorizationId always sent, plus what the user typed
    r = requests.put(endpoint, headers=post_headers,
                     data=json.dumps({"authorizationId": minimal["authorizationId"], "displayName": "flask-renamed"}))
    upd = r.json()
    assert upd["patTokenError"] == "none", upd
    assert upd["patToken"]["displayName"] == "flask-renamed"
    assert upd["patToken"]["scope"] == "app_token"
    assert upd["patToken"]["validTo"] == minimal["validTo"]
    assert upd["patToken"]["targetAccounts"] == minimal["targetAccounts"]
    r = requests.put(endpoint, headers=post_headers,
                     data=json.dumps({"authorizationId": minimal["authorizationId"], "allOrgs": "true"}))
    assert r.json()["patToken"]["targetAccounts"] is None

    # /pat_delete: success is shown only for an EMPTY body
    r = requests.delete(endpoint, headers=auth, params={"authorizationId": minimal["authorizationId"]})
    assert r.status_code == 204
    assert r.content == b""
    assert r.raw.data == b""


# =============================================================================================
# .NET client habits (docs/ado-wire-contract.md §7)
# =============================================================================================

DOTNET_ACCEPT = "application/json; api-version=7.2-preview.1"
DOTNET_CT = "application/json; charset=utf-8; api-version=7.2-preview.1"


def test_dotnet_create_get_update(srv, alice, org_ids):
    url = f"{srv.base_url}/fabrikam/_apis/Tokens/Pats"
    h = {**bearer(alice.token), "Accept": DOTNET_ACCEPT, "Content-Type": DOTNET_CT, "X-VSS-E2EID": str(uuid.uuid4())}
    body = {"displayName": "Generated by sample code", "scope": "vso.work vso.graph", "validTo": None,
            "allOrgs": False}
    r = requests.post(url, headers=h, data=json.dumps(body, separators=(",", ":")))
    assert r.status_code == 200, r.text
    pat = r.json()["patToken"]
    assert r.json()["patTokenError"] == "none"
    assert set(pat["scope"].split()) == {"vso.work", "vso.graph"}
    assert pat["targetAccounts"] == [org_ids["fabrikam"]]
    assert close(parse_ado_date(pat["validTo"]), utcnow() + DEFAULT_LIFETIME), "validTo null -> default lifetime"

    # GetPatAsync: lower-case "D" GUID; the api-version only in Accept
    r = requests.get(url, params={"authorizationId": pat["authorizationId"]},
                     headers={**bearer(alice.token), "Accept": DOTNET_ACCEPT})
    assert r.json()["patToken"]["displayName"] == "Generated by sample code"

    # UpdatePatAsync: validTo is default(DateTime) when unset, allOrgs null -> both unchanged
    upd = {"authorizationId": pat["authorizationId"], "displayName": "renamed by .NET", "scope": None,
           "validTo": "0001-01-01T00:00:00", "allOrgs": None}
    r = requests.put(url, headers=h, data=json.dumps(upd))
    assert r.status_code == 200, r.text
    u = r.json()["patToken"]
    assert r.json()["patTokenError"] == "none"
    assert u["displayName"] == "renamed by .NET"
    assert u["validTo"] == pat["validTo"], "0001-01-01T00:00:00 means: no change"
    assert u["targetAccounts"] == pat["targetAccounts"], "allOrgs null means: no change"
    assert u["scope"] == pat["scope"], "scope null means: no change"

    # api-version only in Content-Type (Accept without a version)
    r = requests.post(url, headers={**bearer(alice.token), "Accept": "application/json", "Content-Type": DOTNET_CT},
                      data=json.dumps({"displayName": "ct-version"}))
    assert r.status_code == 200 and r.json()["patTokenError"] == "none", r.text

    # RevokeAsync
    r = requests.delete(url, params={"authorizationId": pat["authorizationId"]}, headers=h)
    assert r.status_code == 204 and r.content == b""


def test_dotnet_list_habits(srv, alice):
    """PascalCase enums, True/False, an empty continuationToken=, a literal $top."""
    for i in range(3):
        alice.create_ok(displayName=f"dotnet-list-{i}", validTo=iso_z(utcnow() + days(40 + i)))
    h = {**bearer(alice.token), "Accept": DOTNET_ACCEPT}
    base = f"{srv.base_url}/fabrikam/_apis/Tokens/Pats"
    seen = {}
    for asc in ("True", "False"):
        q = f"displayFilterOption=Active&sortByOption=DisplayDate&isSortAscending={asc}&continuationToken=&$top=100"
        r = requests.get(f"{base}?{q}", headers=h)
        assert r.status_code == 200, r.text
        dates = [parse_ado_date(p["validTo"]) for p in r.json()["patTokens"]]
        assert dates == sorted(dates, reverse=(asc == "False"))
        seen[asc] = [p["authorizationId"] for p in r.json()["patTokens"]]
    assert seen["False"] == list(reversed(seen["True"]))
    # .NET ordinals (DisplayFilterOptions.All = 4) are read as well
    r = requests.get(f"{base}?displayFilterOption=4&$top=100", headers=h)
    assert r.status_code == 200


# =============================================================================================
# api-version (docs/ado-wire-contract.md §3.4)
# =============================================================================================

@pytest.mark.parametrize("version", ["6.1-preview", "6.1-preview.1", "7.0", "7.0-preview.1", "7.1-preview.1",
                                     "7.1", "7.2-preview.1", "7.2-preview", "7.1-Preview.1"])
@pytest.mark.parametrize("where", ["query", "accept", "content-type"])
def test_api_version_accepted(srv, alice, version, where):
    url = alice.url()
    h = bearer(alice.token)
    if where == "query":
        url += f"?api-version={version}"
    elif where == "accept":
        h["Accept"] = f"application/json;api-version={version}"
    else:
        h["Content-Type"] = f"application/json; charset=utf-8; api-version={version}"
    r = requests.get(url + ("&" if "?" in url else "?") + "$top=1", headers=h, timeout=10)
    assert r.status_code == 200, (version, where, r.text)


def test_api_version_missing(srv, alice):
    for method, body in (("GET", None), ("POST", {"displayName": "x"}), ("PUT", {"authorizationId": str(uuid.uuid4())}),
                         ("DELETE", None)):
        params = {"authorizationId": str(uuid.uuid4())} if method == "DELETE" else None
        r = requests.request(method, alice.url(), headers=bearer(alice.token), json=body, params=params, timeout=10)
        b = assert_wrapped(r, 400, "VssVersionNotSpecifiedException")
        assert "api-version" in b["message"]
    r = requests.post(alice.url("fabrikam", "/regenerate"), params={"authorizationId": str(uuid.uuid4())},
                      headers=bearer(alice.token), timeout=10)
    assert_wrapped(r, 400, "VssVersionNotSpecifiedException")


@pytest.mark.parametrize("version", ["9.0", "5.0", "6.0", "7.3-preview.1"])
def test_api_version_out_of_range(srv, alice, version):
    r = requests.get(alice.url(), params={"api-version": version}, headers=bearer(alice.token), timeout=10)
    assert_wrapped(r, 400, "VssVersionOutOfRangeException")


@pytest.mark.parametrize("version", ["abc", "7.1-beta", "", "7.x"])
def test_api_version_malformed(srv, alice, version):
    r = requests.get(alice.url(), params={"api-version": version}, headers=bearer(alice.token), timeout=10)
    assert_wrapped(r, 400)


def test_content_type_on_get_and_delete(srv, alice):
    """The Python SDK sends Content-Type: application/json on bodiless GET/DELETE: no 415."""
    ct = {"Content-Type": "application/json; charset=utf-8"}
    pat = alice.create_ok(displayName="ct-on-delete")
    r = alice.list(headers=ct, **{"$top": 1})
    assert r.status_code == 200
    r = alice._call("GET", None, params={"authorizationId": pat["authorizationId"]}, headers=ct)
    assert r.status_code == 200 and r.json()["patTokenError"] == "none"
    r = alice._call("DELETE", None, params={"authorizationId": pat["authorizationId"]}, headers=ct)
    assert r.status_code == 204 and r.content == b""


def test_paths_are_case_insensitive(srv, alice):
    for path in ("/fabrikam/_apis/Tokens/Pats", "/Fabrikam/_apis/tokens/pats", "/FABRIKAM/_APIS/TOKENS/PATS",
                 "/fabrikam/_apis/tokens/pats/"):
        r = requests.get(srv.url(path), params={"api-version": "7.1-preview.1", "$top": 1},
                         headers=bearer(alice.token), timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)
        assert "patTokens" in r.json()
    pat = alice.create_ok(displayName="case-regen")
    r = requests.post(srv.url("/Fabrikam/_apis/Tokens/Pats/Regenerate"),
                      params={"api-version": "7.1-preview.1", "authorizationId": pat["authorizationId"]},
                      headers=bearer(alice.token), timeout=10)
    assert r.status_code == 200 and r.json()["patTokenError"] == "none", r.text


# =============================================================================================
# validTo handling (docs/ado-wire-contract.md §3.8, §4.6, §4.7)
# =============================================================================================

def test_valid_to_beyond_max_is_capped(alice):
    pat = alice.create_ok(displayName="five-years", validTo=iso_z(utcnow() + days(5 * 365)))
    v = parse_ado_date(pat["validTo"])
    assert v <= utcnow() + MAX_LIFETIME + timedelta(seconds=1)
    assert close(v, utcnow() + MAX_LIFETIME)
    # the same cap applies on update
    r = alice.update(authorizationId=pat["authorizationId"], validTo="9999-12-31T23:59:59Z")
    assert r.json()["patTokenError"] == "none", r.text
    assert parse_ado_date(r.json()["patToken"]["validTo"]) <= utcnow() + MAX_LIFETIME + timedelta(seconds=1)


def test_valid_to_zones(alice):
    target = (utcnow() + days(10)).replace(microsecond=0)
    naive = target.strftime("%Y-%m-%dT%H:%M:%S")
    pat = alice.create_ok(displayName="no-zone", validTo=naive)
    assert parse_ado_date(pat["validTo"]) == target, "a date without a zone is UTC"

    plus2 = target.astimezone(timezone(timedelta(hours=2))).isoformat()
    pat = alice.create_ok(displayName="offset", validTo=plus2)
    assert parse_ado_date(pat["validTo"]) == target

    # TokenAdmin-example style: 7 fractional digits and a negative offset
    local = (target + timedelta(seconds=1)).astimezone(timezone(timedelta(hours=-7)))
    seven = local.strftime("%Y-%m-%dT%H:%M:%S") + ".5557358-07:00"
    pat = alice.create_ok(displayName="seven-digits", validTo=seven)
    got = parse_ado_date(pat["validTo"])
    assert abs((got - (target + timedelta(seconds=1.5557358))).total_seconds()) < 0.001

    # msrest form
    pat = alice.create_ok(displayName="msrest", validTo=iso_z(target))
    assert parse_ado_date(pat["validTo"]) == target
    # answers: UTC, Z, at most 7 fractional digits, trailing zeros trimmed
    for field in ("validTo", "validFrom"):
        s = pat[field]
        assert s.endswith("Z")
        if "." in s:
            frac = s[:-1].split(".", 1)[1]
            assert 1 <= len(frac) <= 7 and not frac.endswith("0"), s


def test_valid_to_in_the_past_is_refused(alice):
    r = alice.create(displayName="past", validTo=iso_z(utcnow() - days(1)))
    assert r.status_code == 200
    assert r.json() == {"patToken": None, "patTokenError": "invalidValidTo"}
    pat = alice.create_ok(displayName="past-update")
    r = alice.update(authorizationId=pat["authorizationId"], validTo=iso_z(utcnow() - days(1)))
    assert r.json() == {"patToken": None, "patTokenError": "invalidValidTo"}


def test_expired_token_can_be_extended(srv, alice):
    """docs/ado-wire-contract.md §4.7: an expired (not revoked) PAT can be updated, which is how it is extended.
    A PAT cannot be created in the past through the API, so the test moves valid_to_us of a fresh
    PAT into the past directly in the SQLite file (microseconds since the epoch)."""
    pat = alice.create_ok(displayName="to-extend")
    pid = pat["authorizationId"]
    past_us = int((utcnow() - timedelta(hours=1)).timestamp() * 1_000_000)
    assert execute_db(srv.data_dir, "UPDATE pats SET valid_to_us = ? WHERE authorization_id = ?", (past_us, pid)) == 1
    expired = {p["authorizationId"] for p in alice.list_all(displayFilterOption="expired")}
    assert pid in expired
    assert pid not in {p["authorizationId"] for p in alice.list_all()}
    new_to = utcnow() + days(7)
    r = alice.update(authorizationId=pid, validTo=iso_z(new_to))
    assert r.json()["patTokenError"] == "none", r.text
    assert pid in {p["authorizationId"] for p in alice.list_all()}


# =============================================================================================
# Loose and hostile input
# =============================================================================================

MALFORMED = [
    b"{not json", b"", b"   ", b"null", b'"a string"', b"42", b'{"displayName": 5}',
    b'{"allOrgs": "maybe"}', b'{"validTo": "tomorrow"}', b'{"validTo": 12345}', b'{"scope": ["vso.code"]}',
    b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000, b'{"displayName": "x"', b'{"displayName": "\\ud800"}',
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("body", MALFORMED, ids=lambda b: repr(b[:24]))
def test_malformed_body_is_400(alice, method, body):
    r = alice.session.request(method, alice.url(), params={"api-version": "7.1-preview.1"}, data=body,
                              headers={**bearer(alice.token), "Content-Type": "application/json"}, timeout=10)
    assert_wrapped(r, 400)


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("body", [b"[]", b'["from-an-array", "vso.code", null, "true"]',
                                  b'["3d3a4c4e-1c8c-4f5e-9a55-4f6c7d0b9a11", "renamed"]'],
                         ids=["empty-array", "create-fields-as-array", "update-fields-as-array"])
def test_json_array_body_is_400(alice, method, body):
    """Regression (found by this suite, fixed): a JSON *array* was accepted as the request object,
    its items bound to the fields by position (serde's derived struct visitor accepts sequences).
    `POST …/_apis/tokens/pats` with `[]` creates a full-access PAT with a GUID name, and with
    `["from-an-array","vso.code",null,"true"]` creates a *global* PAT named "from-an-array".
    ADO (Newtonsoft) cannot bind an array to PatTokenCreateRequest -> 400. Expected: 400
    WrappedException, nothing created."""
    before = {p["authorizationId"] for p in alice.list_all(displayFilterOption="all")}
    r = alice.session.request(method, alice.url(), params={"api-version": "7.1-preview.1"}, data=body,
                              headers={**bearer(alice.token), "Content-Type": "application/json"}, timeout=10)
    after = {p["authorizationId"] for p in alice.list_all(displayFilterOption="all")}
    assert after == before, f"a PAT was created from a JSON array body: {r.text}"
    assert_wrapped(r, 400)


def test_malformed_authorization_id(alice):
    for bad in ("nope", "00000000-0000-0000-0000-000000000000", "1234"):
        assert_wrapped(alice.get(bad), 400)
        assert_wrapped(alice.revoke(bad), 400)
    r = alice.update(authorizationId="nope")
    assert r.status_code == 400 or r.json()["patTokenError"] == "invalidAuthorizationId", r.text
    r = alice.update(displayName="no id at all")
    assert r.status_code == 400 or r.json()["patTokenError"] == "invalidAuthorizationId", r.text


def test_oversized_body(alice):
    r = alice.session.post(alice.url(), params={"api-version": "7.1-preview.1"},
                           data=json.dumps({"displayName": "x", "pad": "a" * 200_000}),
                           headers={**bearer(alice.token), "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 413, (r.status_code, r.text[:200])


@pytest.mark.parametrize("body, error", [
    ({"displayName": "   "}, "displayNameRequired"),
    ({"displayName": "n" * 257}, "invalidDisplayName"),
    ({"displayName": "ctl\u0007"}, "invalidDisplayName"),
    ({"displayName": "bad scope", "scope": "vso.nonexistent"}, "invalidScope"),
])
def test_create_refusals_are_pat_token_errors(alice, body, error):
    r = alice.create(**body)
    assert r.status_code == 200, r.text
    assert r.json() == {"patToken": None, "patTokenError": error}


def test_update_refusals(alice):
    r = alice.update(authorizationId=str(uuid.uuid4()), displayName="x")
    assert r.json() == {"patToken": None, "patTokenError": "tokenNotFound"}
    pat = alice.create_ok(displayName="upd-refusals")
    r = alice.update(authorizationId=pat["authorizationId"], scope="vso.nonexistent")
    assert r.status_code == 400 or r.json() == {"patToken": None, "patTokenError": "invalidScope"}, r.text
    assert alice.get(pat["authorizationId"]).json()["patToken"]["scope"] == pat["scope"]


def test_update_name_refusals(alice):
    pat = alice.create_ok(displayName="upd-names")
    for name, error in (("   ", "displayNameRequired"), ("n" * 257, "invalidDisplayName")):
        r = alice.update(authorizationId=pat["authorizationId"], displayName=name)
        assert r.status_code == 400 or r.json() == {"patToken": None, "patTokenError": error}, r.text
    assert alice.get(pat["authorizationId"]).json()["patToken"]["displayName"] == "upd-names"


def test_create_with_unset_valid_to_gets_default_lifetime(alice):
    for value in ("0001-01-01T00:00:00", None):
        pat = alice.create_ok(displayName="unset-valid-to", validTo=value)
        assert close(parse_ado_date(pat["validTo"]), utcnow() + DEFAULT_LIFETIME)


def test_guid_case_and_revoke_twice(alice):
    pat = alice.create_ok(displayName="guid-case")
    pid = pat["authorizationId"]
    r = alice.get(pid.upper())
    assert r.json()["patToken"]["authorizationId"] == pid, "GUIDs compare case-insensitively, answers are lower case"
    assert alice.revoke(pid.upper()).status_code == 204
    r = alice.revoke(pid)
    assert r.status_code == 204 and r.content == b"", "revoking a revoked PAT is not an error"


def test_openapi_and_docs(srv):
    r = requests.get(srv.url("/openapi.json"), timeout=10)
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    paths = {p.lower(): v for p, v in doc["paths"].items()}
    pats = paths["/{organization}/_apis/tokens/pats"]
    assert {"get", "post", "put", "delete"} <= set(pats)
    assert "post" in paths["/{organization}/_apis/tokens/pats/regenerate"]
    r = requests.get(srv.url("/docs"), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    html = r.text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the docs page loads its assets"
    for a in assets:
        assert not a.startswith(("http://", "https://", "//")), f"asset from outside the binary: {a}"
        url = requests.compat.urljoin(srv.url("/docs/"), a)
        assert requests.get(url, timeout=10).status_code == 200, url


def test_mass_assignment_on_create_is_ignored(srv, alice, bob, org_ids):
    bob.list()  # bob signs in, so he has a user record
    bob_id = query_db(srv.data_dir, "SELECT id FROM users WHERE subject = ?",
                      ("00000000-0000-4000-a000-000000000b0b",))[0]["id"]
    alice_id = query_db(srv.data_dir, "SELECT id FROM users WHERE subject = ?",
                        ("00000000-0000-4000-a000-00000000a11c",))[0]["id"]
    forced_id = str(uuid.uuid4())
    fake_secret = "A" * 84
    pat = alice.create_ok(
        displayName="mass-assign", scope="vso.code",
        owner=bob_id, ownerId=bob_id, owner_id=bob_id, hash="00" * 32, tokenHash="00" * 32,
        createdAt="2000-01-01T00:00:00Z", validFrom="2000-01-01T00:00:00Z", revoked=True,
        revokedAt="2000-01-02T00:00:00Z", status="revoked", authorizationId=forced_id, id=forced_id,
        token=fake_secret, targetAccounts=[str(uuid.uuid4())], keyId="evil",
    )
    pid = pat["authorizationId"]
    assert pid != forced_id
    assert pat["token"] != fake_secret
    assert close(parse_ado_date(pat["validFrom"]), utcnow())
    assert pat["targetAccounts"] == [org_ids["fabrikam"]]
    row = query_db(srv.data_dir, "SELECT * FROM pats WHERE authorization_id = ?", (pid,))[0]
    assert row["owner_id"] == alice_id
    assert row["revoked_at_us"] is None
    assert query_db(srv.data_dir, "SELECT COUNT(*) AS n FROM pats WHERE authorization_id = ?", (forced_id,))[0]["n"] == 0
    assert pid in {p["authorizationId"] for p in alice.list_all()}
    assert bob.get(pid).json() == {"patToken": None, "patTokenError": "tokenNotFound"}

    # and on update
    r = alice.update(authorizationId=pid, owner=bob_id, ownerId=bob_id, revoked=True, validFrom="2000-01-01T00:00:00Z",
                     createdAt="2000-01-01T00:00:00Z", token=fake_secret, targetAccounts=[str(uuid.uuid4())])
    assert r.json()["patTokenError"] == "none", r.text
    u = r.json()["patToken"]
    assert u["validFrom"] == pat["validFrom"] and u["targetAccounts"] == pat["targetAccounts"]
    assert u["token"] is None
    row = query_db(srv.data_dir, "SELECT * FROM pats WHERE authorization_id = ?", (pid,))[0]
    assert row["owner_id"] == alice_id and row["revoked_at_us"] is None


# =============================================================================================
# Organizations (docs/ado-wire-contract.md §4.6, §4.7; issue 3)
# =============================================================================================

def test_org_scoped_pat_rules(alice, org_ids):
    pat = alice.create_ok("fabrikam", displayName="org-scoped", scope="vso.code")
    pid = pat["authorizationId"]
    assert pat["targetAccounts"] == [org_ids["fabrikam"]]

    # list and get show it through any organization's URL
    assert pid in {p["authorizationId"] for p in alice.list_all("contoso")}
    assert alice.get(pid, "contoso").json()["patToken"]["authorizationId"] == pid

    # update / regenerate only through its own organization
    r = alice.update("contoso", authorizationId=pid, displayName="moved?")
    assert r.status_code == 200 and r.json() == {"patToken": None, "patTokenError": "invalidTargetAccounts"}
    r = alice.regenerate(pid, "contoso")
    assert r.status_code == 200 and r.json() == {"patToken": None, "patTokenError": "invalidTargetAccounts"}
    assert alice.get(pid).json()["patToken"]["displayName"] == "org-scoped", "the refused update changed nothing"
    r = alice.update("fabrikam", authorizationId=pid, displayName="renamed-at-home")
    assert r.json()["patTokenError"] == "none"
    r = alice.regenerate(pid, "fabrikam")
    assert r.json()["patTokenError"] == "none" and r.json()["patToken"]["token"]

    # revoke works through any organization
    r = alice.revoke(pid, "contoso")
    assert r.status_code == 204 and r.content == b""
    assert pid in {p["authorizationId"] for p in alice.list_all(displayFilterOption="revoked")}


def test_global_pat_rules(alice, org_ids):
    pat = alice.create_ok("fabrikam", displayName="global", allOrgs=True)
    pid = pat["authorizationId"]
    assert pat["targetAccounts"] is None
    r = alice.update("contoso", authorizationId=pid, displayName="global-renamed-in-contoso")
    assert r.json()["patTokenError"] == "none"
    assert r.json()["patToken"]["targetAccounts"] is None
    r = alice.regenerate(pid, "contoso")
    assert r.json()["patTokenError"] == "none"
    # allOrgs false through contoso pins it to contoso
    r = alice.update("contoso", authorizationId=pid, allOrgs=False)
    assert r.json()["patToken"]["targetAccounts"] == [org_ids["contoso"]]
    # created through contoso -> contoso
    assert alice.create_ok("contoso", displayName="in-contoso")["targetAccounts"] == [org_ids["contoso"]]


def test_unknown_org_is_404(srv, alice):
    some = str(uuid.uuid4())
    calls = [
        alice.list("no-such-org"),
        alice.get(some, "no-such-org"),
        alice.create("no-such-org", displayName="x"),
        alice.update("no-such-org", authorizationId=some),
        alice.revoke(some, "no-such-org"),
        alice.regenerate(some, "no-such-org"),
    ]
    for r in calls:
        assert_wrapped(r, 404)


# =============================================================================================
# Paging, filters, sorting (docs/ado-wire-contract.md §4.4) over carol's 55 PATs
# =============================================================================================

N_ACTIVE, N_REVOKED, N_EXPIRED = 45, 5, 5
STATUS_RANK = {"active": 0, "expired": 1, "revoked": 2}


def cont(row: int) -> str:
    return base64.b64encode(f"{row}-patapitoken".encode()).decode()


@pytest.fixture(scope="module")
def carol(srv, user_jwt):
    """carol owns 45 active, 5 revoked and 5 expired PATs with distinct names and expiry dates,
    created in an order that matches neither the name order nor the date order."""
    api = PatApi(srv.base_url, user_jwt("carol")["access_token"])
    rng = random.Random(3)
    n = N_ACTIVE + N_REVOKED + N_EXPIRED
    day_slots = list(range(1, n + 1))
    rng.shuffle(day_slots)
    specs = [(f"page-{i:02d}", "active") for i in range(N_ACTIVE)]
    specs += [(f"gone-{i}", "revoked") for i in range(N_REVOKED)]
    specs += [(f"old-{i}", "expired") for i in range(N_EXPIRED)]
    rng.shuffle(specs)
    now = utcnow()
    expected: dict[str, dict] = {}
    for (name, status), slot in zip(specs, day_slots):
        pat = api.create_ok(displayName=name, scope="vso.code", validTo=iso_z(now + days(slot)))
        expected[pat["authorizationId"]] = {"name": name, "status": status}
    for i, (pid, e) in enumerate(expected.items()):
        if e["status"] == "revoked":
            assert api.revoke(pid).status_code == 204
        elif e["status"] == "expired":
            # Expired PATs cannot be made through the API (a past validTo is refused), so their
            # expiry is moved into the past in the SQLite file: valid_to_us, µs since the epoch.
            past_us = int((now - timedelta(hours=i + 1)).timestamp() * 1_000_000)
            assert execute_db(srv.data_dir, "UPDATE pats SET valid_to_us = ? WHERE authorization_id = ?",
                              (past_us, pid)) == 1
    api.expected = expected  # type: ignore[attr-defined]
    return api


def ids_with(carol, status: str | None = None) -> set[str]:
    return {pid for pid, e in carol.expected.items() if status in (None, e["status"])}


def test_paging_defaults(carol):
    """No parameters: active only, displayName ascending, 20 a page, base64 row tokens, "" at the end."""
    pages, token = [], None
    for expected_token in (cont(21), cont(41), ""):
        params = {} if token is None else {"continuationToken": token}
        r = carol.list(**params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["continuationToken"] == expected_token
        pages.append(body["patTokens"])
        token = body["continuationToken"]
    assert [len(p) for p in pages] == [20, 20, 5]
    seen = [p["authorizationId"] for page in pages for p in page]
    assert len(seen) == len(set(seen)) == N_ACTIVE
    assert set(seen) == ids_with(carol, "active")
    names = [p["displayName"] for page in pages for p in page]
    assert names == sorted(names, key=str.lower)
    assert all(p["token"] is None for page in pages for p in page)


def test_paging_all_filter_top20(carol):
    sizes, seen, token = [], [], ""
    while True:
        body = carol.list(displayFilterOption="all", **{"$top": 20, "continuationToken": token}).json()
        sizes.append(len(body["patTokens"]))
        seen += [p["authorizationId"] for p in body["patTokens"]]
        token = body["continuationToken"]
        if token == "":
            break
        assert len(sizes) < 10
    assert sizes == [20, 20, 15]
    assert len(seen) == len(set(seen)) and set(seen) == ids_with(carol)


def test_continuation_token_encodings(carol, srv):
    """'=' raw, '%3D' (msrest), or without padding: all mean row 21."""
    want = [p["authorizationId"] for p in carol.list_all()][20:40]
    for raw in (cont(21), cont(21).replace("=", "%3D"), cont(21).rstrip("=")):
        r = requests.get(f"{carol.url()}?api-version=7.1-preview.1&continuationToken={raw}",
                         headers=bearer(carol.token), timeout=10)
        assert r.status_code == 200, (raw, r.text)
        assert [p["authorizationId"] for p in r.json()["patTokens"]] == want, raw


@pytest.mark.parametrize("bad", ["garbage!", cont(0), base64.b64encode(b"abc-other").decode(), "MjEt", "-1"])
def test_malformed_continuation_token(carol, bad):
    assert_wrapped(carol.list(continuationToken=bad), 400)


def test_top_above_100_is_clamped(carol):
    r = carol.list(displayFilterOption="all", **{"$top": 1000})
    assert r.status_code == 200
    assert len(r.json()["patTokens"]) == N_ACTIVE + N_REVOKED + N_EXPIRED <= 100


@pytest.mark.parametrize("option, status", [
    ("active", "active"), ("Active", "active"), ("revoked", "revoked"), ("Revoked", "revoked"),
    ("expired", "expired"), ("EXPIRED", "expired"), ("all", None), ("All", None),
])
def test_display_filter(carol, option, status):
    got = carol.list_all(displayFilterOption=option)
    ids = [p["authorizationId"] for p in got]
    assert len(ids) == len(set(ids))
    assert set(ids) == ids_with(carol, status)


def _sort_key(sort: str, carol):
    if sort == "displayName":
        return lambda p: p["displayName"].lower()
    if sort == "displayDate":
        return lambda p: parse_ado_date(p["validTo"])
    return lambda p: STATUS_RANK[carol.expected[p["authorizationId"]]["status"]]


@pytest.mark.parametrize("sort", ["displayName", "displayDate", "status", "DisplayName", "DisplayDate", "Status"])
def test_sort_orders(carol, sort):
    key = _sort_key(sort[0].lower() + sort[1:], carol)
    orders = {}
    for asc in ("true", "false"):
        full = carol.list_all(displayFilterOption="all", sortByOption=sort, isSortAscending=asc)
        assert len(full) == N_ACTIVE + N_REVOKED + N_EXPIRED
        keys = [key(p) for p in full]
        assert keys == sorted(keys, reverse=(asc == "false")), f"{sort} {asc}"
        # paging in small pages walks the same order without duplicates or gaps
        paged = carol.list_all(top=7, displayFilterOption="all", sortByOption=sort, isSortAscending=asc)
        assert [p["authorizationId"] for p in paged] == [p["authorizationId"] for p in full]
        orders[asc] = [p["authorizationId"] for p in full]
    assert orders["false"] == list(reversed(orders["true"]))


def test_status_sort_groups_active_expired_revoked(carol):
    full = carol.list_all(displayFilterOption="all", sortByOption="status")
    statuses = [carol.expected[p["authorizationId"]]["status"] for p in full]
    assert statuses == ["active"] * N_ACTIVE + ["expired"] * N_EXPIRED + ["revoked"] * N_REVOKED


def test_list_default_sort_within_active_filter_and_desc(carol):
    full = carol.list_all(isSortAscending="False")
    names = [p["displayName"] for p in full]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert len(full) == N_ACTIVE


@pytest.mark.parametrize("params", [{"displayFilterOption": "bogus"}, {"sortByOption": "size"},
                                    {"isSortAscending": "maybe"}, {"$top": "-1"}, {"$top": "ten"}])
def test_bad_list_parameters_are_400(carol, params):
    assert_wrapped(carol.list(**params), 400)
