"""The web page (issue 5) in a real browser: headless Debian Chromium driven by playwright-core.

The browser steps are tests/e2e/browser/ui.mjs actions (see its header); each run prints one
JSON report that lib/web_ui.py turns into Python values, so this module does the asserting and
calls the verify path itself. Screenshots of every page go to test-output/browser/ at the repo
root ($PATROL_TEST_OUTPUT/browser when set); a failed browser step also leaves
FAILED-<step>.png there and shows the page HTML and the browser console in the failure.

Against `patrol dev` (built-in issuer, user picker page) and `patrol serve` with the reference
provider (tests/e2e/oidc-provider): client_secret_basic (secret from an env var) and
private_key_jwt (PKCS#8 PEM file; the provider knows the public JWK), and silent refresh with
a 5-second access-token lifetime.
"""

from __future__ import annotations

import http.server
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lib.html_forms import form_by_id, hidden_fields
from lib.oidc_provider import ACCOUNTS
from lib.patrol import PatrolServer
from lib.patrol_api import PatApi, dev_token, start_dev
from lib.procs import free_port
from lib.web_ui import (
    PKJWT_CLIENT_ID,
    SECRET_CLIENT_ID,
    WebClient,
    browser_available,
    cookie_attrs,
    dev_signin_http,
    gen_client_key,
    location,
    output_dir,
    run_scenario,
    run_ui,
    session_cookie,
    start_web_serve,
    verify_status,
    web_clients,
    web_section,
)

_missing = browser_available()
if _missing and os.environ.get("PATROL_REQUIRE_BROWSER"):
    # scripts/test.sh (and so CI) installs the browser: never skip there.
    raise RuntimeError(f"browser tests cannot run: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")

DEV_USER_NAME = "Alice Example"  # crates/patrol-auth/src/dev_issuer: alice


@pytest.fixture(scope="module")
def shots() -> Path:
    """The screenshot folder, emptied of this module's old pictures."""
    path = output_dir()
    for old in path.glob("*.png"):
        old.unlink()
    return path


@pytest.fixture(scope="module")
def dev_ui(patrol_binary, module_tmp) -> Iterator[PatrolServer]:
    srv = start_dev(patrol_binary, module_tmp / "dev", name="patrol-dev-web")
    yield srv
    srv.stop()


def _by_name(rows: list[dict], name: str) -> dict:
    found = [r for r in rows if r["name"] == name]
    assert len(found) == 1, f"expected one row named {name!r}; rows: {[(r['name'], r['status']) for r in rows]}"
    return found[0]


def _verify(base: str, pat: str, expected: int, **params: str) -> None:
    """The verify path answers `expected` for this PAT (the secret stays out of the message)."""
    got = verify_status(base, pat, **params)
    assert got == expected, f"GET /patrol/v1/verify {params or ''}: expected {expected}, got {got}"


def _secret_ok(token: str) -> None:
    assert isinstance(token, str) and len(token) >= 52, "no token value read from #new-token-value"


# -- the browser itself ------------------------------------------------------------------------

class _CookieProbe(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        if self.path.startswith("/set"):
            for c in ("plain=1; Path=/; HttpOnly; SameSite=Lax",
                      "sec=1; Path=/; Secure; HttpOnly; SameSite=Lax",
                      "__Host-host=1; Path=/; Secure; HttpOnly; SameSite=Lax",
                      "__Host-nosecure=1; Path=/; HttpOnly; SameSite=Lax"):
                self.send_header("Set-Cookie", c)
        body = f"<title>probe</title><pre id=c>{self.headers.get('Cookie') or ''}</pre>".encode()
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_chromium_runs_and_keeps_secure_cookies_on_loopback_http(shots):
    """Chromium + playwright-core work here, and Chromium treats http://127.0.0.1 and
    http://localhost as secure contexts: `Secure` and `__Host-` cookies set over plain HTTP are
    kept (a `__Host-` cookie without `Secure` is not)."""
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _CookieProbe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        report = run_scenario("smoke.mjs", {
            "screenshot_dir": str(shots),
            "urls": [f"http://127.0.0.1:{port}/set", f"http://localhost:{port}/set"],
        }, timeout=30)
    finally:
        server.shutdown()
    assert report["heading"] == "Hello from Chromium"
    assert (shots / "smoke.png").stat().st_size > 1000
    for host in ("127.0.0.1", "localhost"):
        names = {c["name"]: c for c in report["cookies"] if c["domain"] == host}
        assert set(names) == {"plain", "sec", "__Host-host"}, (host, report["cookies"])
        assert names["__Host-host"]["secure"] and names["__Host-host"]["httpOnly"]


# -- patrol dev: the built-in issuer -----------------------------------------------------------

def test_dev_sign_in_create_use_revoke(dev_ui, shots, tmp_path):
    base = dev_ui.base_url
    state = tmp_path / "state.json"
    name = "e2e-ui-deploy"
    signin, listed, created = run_ui(base, [
        {"do": "signin", "user": "alice", "shot": "01-signin"},
        {"do": "list", "shot": "02-token-list"},
        {"do": "create", "name": name, "org": "fabrikam", "expiry": "30", "scopes": ["vso.code"], "copy": True,
         "shot_form": "03-new-token", "shot_created": "04-token-created"},
    ], screenshot_dir=shots, state_out=state)

    assert signin["path"] == "/tokens" and signin["user_name"] == DEV_USER_NAME, signin
    assert any("/oidc/" in h for h in signin["hops"]), signin["hops"]  # went through the issuer's page
    assert listed["has_new_token"] and listed["current_tab"] == "active", listed
    assert {t["status"] for t in listed["tabs"]} >= {"active", "expired", "revoked", "all"}, listed["tabs"]

    form = created["blank"]
    assert form["csrf"], "the new-token form has no hidden csrf field"
    assert {"fabrikam", "contoso", "__all__"} <= set(form["org_options"]), form["org_options"]
    assert {"7", "30", "60", "90", "custom"} <= set(form["expiry_options"]), form["expiry_options"]
    assert form["scope_areas"] > 0 and form["has_all_scopes"], form

    assert "error" not in created or not created.get("error"), created
    pat = created["token"]
    _secret_ok(pat)
    assert created["readonly"] and created["has_copy"] and created["has_done"], created
    assert created["copy_visible"] is True, "the script did not reveal the Copy button"
    assert created["shown_once"], "no #shown-once warning on the created page"
    assert created["copied_matches"] is True, f"the copy button did not copy the token: {created['copied_matches']}"
    row = created["row"]
    assert row and created["token_id"], "the new token is not in the list after 'done'"
    assert row["status"].lower() == "active" and "fabrikam" in row["orgs"], row
    assert row["scopes"] and row["expires"], row
    assert not row["expires_soon"], row  # 30 days

    # The token read from the page works on the verify path.
    _verify(base, pat, 200)
    _verify(base, pat, 200, org="fabrikam", scope="vso.code")
    _verify(base, pat, 403, org="contoso")

    listed_with, revoked, revoked_tab, _, narrow = run_ui(base, [
        {"do": "list", "shot": "02-token-list-with-token"},
        {"do": "revoke", "id": created["token_id"], "shot_confirm": "08-revoke-confirm",
         "shot_after": "09-list-after-revoke"},
        {"do": "list", "query": "?status=revoked"},
        {"do": "viewport", "width": 390, "height": 844},
        {"do": "list", "query": "?status=all", "shot": "10-token-list-narrow"},
    ], screenshot_dir=shots, state_in=state)
    assert listed_with["current_tab"] == "active", listed_with
    assert revoked["confirm"]["has_form"], revoked["confirm"]
    assert revoked["path"].startswith("/tokens") and revoked["notice"], revoked
    assert created["token_id"] not in {r["id"] for r in revoked["rows"] if r["status"].lower() == "active"}
    gone = _by_name(revoked_tab["rows"], name)
    assert gone["status"].lower() == "revoked", gone
    assert not (gone["edit"] or gone["regenerate"] or gone["revoke"]), f"actions on a revoked token: {gone}"
    assert revoked_tab["current_tab"] == "revoked", revoked_tab["tabs"]
    assert {s["sort"] for s in revoked_tab["sorts"]} == {"name", "expires", "status"}, revoked_tab["sorts"]

    # ... and is refused after the revoke in the page.
    _verify(base, pat, 401)

    # A narrow phone screen: the list does not scroll sideways.
    assert narrow["scroll_width"] <= narrow["client_width"] + 1, (narrow["scroll_width"], narrow["client_width"])


def test_dev_edit_and_regenerate(dev_ui, shots, tmp_path):
    base = dev_ui.base_url
    state = tmp_path / "state.json"
    _, created = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "create", "name": "e2e-ui-edit", "org": "contoso", "expiry": "7", "scopes": ["vso.code"]},
    ], state_out=state)
    old = created["token"]
    _secret_ok(old)
    token_id = created["token_id"]
    assert created["row"]["expires_soon"], f"a 7-day token has no 'expires soon' marker: {created['row']}"
    _verify(base, old, 200, org="contoso", scope="vso.code")
    _verify(base, old, 403, org="contoso", scope="vso.packaging")

    edited, regenerated = run_ui(base, [
        {"do": "edit", "id": token_id, "name": "e2e-ui-edited", "expiry": "60",
         "scopes": ["vso.code", "vso.packaging"], "shot": "05-edit"},
        {"do": "regenerate", "id": token_id, "shot_confirm": "06-regenerate-confirm",
         "shot_created": "07-token-regenerated"},
    ], screenshot_dir=shots, state_in=state)

    prefill = edited["prefill"]
    assert prefill and prefill["name"] == "e2e-ui-edit", prefill
    assert prefill["org"] == ["contoso"], prefill
    assert prefill["expiry"] == "keep" and "keep" in prefill["expiry_options"], prefill
    assert prefill["scope_mode"] == "custom" and prefill["scopes"] == ["vso.code"], prefill
    assert edited["path"].startswith("/tokens") and edited["notice"], edited
    assert not edited["error"], edited
    row = _by_name(edited["rows"], "e2e-ui-edited")
    assert not row["expires_soon"], row  # now 60 days

    new = regenerated["token"]
    _secret_ok(new)
    assert new != old
    assert regenerated["shown_once"], regenerated
    _verify(base, old, 401)
    _verify(base, new, 200, org="contoso", scope="vso.packaging")


def test_dev_cross_site_and_csrf_less_posts_are_refused(dev_ui, patrol_binary, tmp_path):
    base = dev_ui.base_url
    api = PatApi(base, dev_token(patrol_binary, dev_ui.data_dir, "alice"))
    pat = api.create_ok(displayName="e2e-ui-csrf-target", scope="vso.code")
    token_id = pat["authorizationId"]
    state = tmp_path / "state.json"
    _, revoke_attempt, create_attempt = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "cross_site_post", "action_path": f"/tokens/{token_id}/revoke", "fields": {"confirm": "yes"}},
        {"do": "cross_site_post", "action_path": "/tokens/new",
         "fields": {"name": "e2e-ui-evil", "org": "fabrikam", "expiry": "90", "scope_mode": "full"}},
    ], state_out=state)
    for attempt in (revoke_attempt, create_attempt):
        assert attempt["status"] == 403, attempt
    # nothing changed
    _verify(base, pat["token"], 200)
    names = [p["displayName"] for p in api.list_all()]
    assert "e2e-ui-evil" not in names and "e2e-ui-csrf-target" in names, names

    # Same site, with the session cookie, but no / a wrong csrf field.
    client = WebClient(base)
    name, value = session_cookie(state)
    client.cookies[name] = value
    page = client.get(f"/tokens/{token_id}/revoke")  # GET only asks
    assert page.status_code == 200, (page.status_code, page.text[:500])
    form = form_by_id(page.text, "confirm-revoke")
    _verify(base, pat["token"], 200)
    good = hidden_fields(form)
    assert good.get("csrf"), form
    for data in ({k: v for k, v in good.items() if k != "csrf"}, {**good, "csrf": "A" * len(good["csrf"])},
                 {**good, "csrf": ""}):
        r = client.post(f"/tokens/{token_id}/revoke", data=data, headers=client.same_origin_headers())
        assert r.status_code == 403, (r.status_code, r.headers.get("Location"), r.text[:300])
    r = client.post("/tokens/new", headers=client.same_origin_headers(),
                    data={"name": "e2e-ui-evil", "org": "fabrikam", "expiry": "30", "scope_mode": "full"})
    assert r.status_code == 403, (r.status_code, r.text[:300])
    _verify(base, pat["token"], 200)
    assert "e2e-ui-evil" not in [p["displayName"] for p in api.list_all()]
    # The right csrf field does it (the refusals above were about the field).
    r = client.post(form["action"] or f"/tokens/{token_id}/revoke", data=good, headers=client.same_origin_headers())
    assert r.status_code == 303, (r.status_code, r.text[:300])
    _verify(base, pat["token"], 401)


def test_dev_security_headers_and_session_cookie(dev_ui):
    """No browser: headers and cookies as `requests` sees them."""
    base = dev_ui.base_url
    anon = WebClient(base)
    r = anon.get("/")
    assert r.status_code == 303 and location(r) == "/tokens", (r.status_code, r.headers)

    client = WebClient(base)
    hops = dev_signin_http(client, "alice")
    start = location(hops["start"])
    assert urlsplit(start).path == "/signin" and parse_qs(urlsplit(start).query) == {"return_to": ["/tokens"]}, start
    p = hops["authorize_params"]
    assert urlsplit(hops["authorize_url"]).path == "/oidc/authorize", hops["authorize_url"]
    assert p["response_type"] == "code" and p["client_id"] == "patrol-dev-cli", p
    assert p["redirect_uri"] == base + "/signin/callback", p
    assert p["code_challenge_method"] == "S256" and len(p["code_challenge"]) == 43, p
    assert len(p.get("state", "")) >= 16 and len(p.get("nonce", "")) >= 16, p
    assert "openid" in p["scope"].split(), p
    assert hops["landing"] == "/tokens", hops["landing"]

    sessions = [cookie_attrs(h) for path, h in client.set_cookies if path == "/signin/callback"]
    session = [a for n, a in sessions if n == "patrol_session"]
    assert session, f"no patrol_session cookie set by /signin/callback: {[n for n, _ in sessions]}"
    attrs = session[0]
    assert "httponly" in attrs, attrs
    assert attrs.get("samesite", "").lower() == "lax", attrs
    assert attrs.get("path") == "/", attrs
    logins = [a for n, a in (cookie_attrs(h) for _, h in client.set_cookies) if n == "patrol_login"]
    assert logins and all("httponly" in a for a in logins), logins

    for path in ("/tokens", "/tokens/new", "/tokens?status=all"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.headers.get("Location"))
        h = r.headers
        assert "frame-ancestors 'none'" in h.get("Content-Security-Policy", ""), (path, h)
        assert h.get("X-Content-Type-Options") == "nosniff", (path, h)
        assert h.get("Referrer-Policy"), (path, h)
        assert h.get("Strict-Transport-Security"), (path, h)

    # The created page is never cached.
    form = form_by_id(client.get("/tokens/new").text, "token-form")
    data = {**hidden_fields(form), "name": "e2e-ui-headers", "org": "fabrikam", "expiry": "7",
            "scope_mode": "custom", "scope": "vso.code"}
    r = client.post("/tokens/new", data=data, headers=client.same_origin_headers())
    assert r.status_code == 200, (r.status_code, r.headers.get("Location"), r.text[:500])
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    assert 'id="new-token-value"' in r.text
    listing = client.get("/tokens").text
    marker = 'data-token-name="e2e-ui-headers"'
    assert marker in listing
    head = listing[: listing.index(marker)]
    token_id = head[head.rindex('data-token-id="') + len('data-token-id="'):].split('"', 1)[0]

    # No state change on GET: confirmation pages only.
    for action, form_id in (("revoke", "confirm-revoke"), ("regenerate", "confirm-regenerate")):
        r = client.get(f"/tokens/{token_id}/{action}")
        assert r.status_code == 200, (action, r.status_code)
        form_by_id(r.text, form_id)
    r = client.get("/tokens?status=active")
    assert marker in r.text and "revoked" not in r.text.split(marker, 1)[1].split("</tr>", 1)[0].lower()
    r = client.get("/signout")
    assert r.status_code in (404, 405), r.status_code
    assert client.get("/tokens").status_code == 200  # still signed in


def test_dev_sign_out_ends_the_session(dev_ui, shots, tmp_path):
    base = dev_ui.base_url
    state = tmp_path / "state.json"
    run_ui(base, [{"do": "signin", "user": "alice"}], state_out=state)
    name, old_value = session_cookie(state)
    (out,) = run_ui(base, [{"do": "signout", "shot": "11-signed-out", "back": True}],
                    screenshot_dir=shots, state_in=state)
    assert out["path"] == "/signed-out" and not out["user_name"], out
    back = out["back"]
    assert not back["user_name"], f"back navigation after sign-out shows a signed-in page: {back}"
    revisit = out["revisit"]
    assert not revisit["user_name"], revisit
    assert revisit["has_signin_button"] or revisit["path"].startswith("/signin"), revisit
    # The old cookie value is dead on the server too.
    client = WebClient(base)
    client.cookies[name] = old_value
    r = client.get("/tokens")
    assert r.status_code == 303 and location(r).startswith("/signin"), (r.status_code, r.headers.get("Location"))


# -- keyboard, accessibility, narrow screens, no JavaScript (patrol dev) ---------------------

def test_dev_keyboard_only_create_and_revoke(dev_ui, shots, tmp_path):
    """Sign in, create, copy and revoke with page.keyboard only (Tab / Shift+Tab / Enter / Space /
    arrows / typing; no mouse, no element click/fill). Each search for an element gives up after
    150 Tabs; the focus order seen is in the failure message."""
    base = dev_ui.base_url
    state = tmp_path / "state.json"
    name = "e2e-ui-keyboard"
    signin, created = run_ui(base, [
        {"do": "keyboard_signin", "user": "alice"},
        {"do": "keyboard_create", "name": name, "org": "fabrikam", "expiry": "7", "scope": "vso.code",
         "copy": True, "shot_focus": "14-skip-link-focused"},
    ], screenshot_dir=shots, state_out=state, timeout=30)
    order = f"focus order: {created.get('focus')}"
    assert signin["path"] == "/tokens" and signin["user_name"] == DEV_USER_NAME, signin
    assert signin["issuer_page"].startswith("/oidc/"), signin

    skip = created["skip"]
    for page in ("list", "form", "created"):
        assert skip[page]["is_skip"], f"first Tab on the {page} page went to {skip[page]['first']}, not a.skip; {order}"
        assert skip[page]["box"]["on_screen"], f"focused skip link is not on screen ({page}): {skip[page]['box']}"
    assert skip["form"]["target"] == "main#main", f"Enter on the skip link focused {skip['form']['target']}; {order}"
    assert created["tabs_to_name"] == 1, f"after the skip link, {created['tabs_to_name']} Tabs to #name; {order}"
    assert created["org"] == "fabrikam" and created["expiry"] == "7", created
    first, *moves = created["radios"]
    assert first["focused"] == "scopes-" + first["checked"], f"Tab into the scope radios: {first}; {order}"
    if first["checked"] == "custom":
        assert moves[0] == {"focused": "scopes-full", "checked": "full", "boxes_disabled": True}, moves
    assert moves[-1] == {"focused": "scopes-custom", "checked": "custom", "boxes_disabled": False}, moves
    assert created["scopes"] == ["vso.code"], f"Space ticked {created['scopes']}; {order}"
    assert created["path"] == "/tokens" and created["token_id"], f"no row {name!r} after Enter on Done; {order}"
    assert created["copied_matches"] is True, f"Enter on Copy: {created['copied_matches']} ({created['copy_status']!r})"
    assert created["tabs"] <= 150, created["tabs"]
    pat = created["token"]
    _secret_ok(pat)
    _verify(base, pat, 200, org="fabrikam", scope="vso.code")
    _verify(base, pat, 403, org="contoso")

    (revoked,) = run_ui(base, [{"do": "keyboard_revoke", "id": created["token_id"]}], state_in=state, timeout=30)
    assert revoked["autofocus"] == "button#confirm", f"the revoke confirmation focused {revoked['autofocus']} on load"
    assert revoked["tabs_to_confirm"] == 0, revoked["focus"]
    assert revoked["path"].startswith("/tokens") and revoked["notice"] and not revoked["error"], revoked
    assert created["token_id"] not in {r["id"] for r in revoked["rows"]}, revoked["rows"]
    _verify(base, pat, 401)


def test_dev_accessibility_basics(dev_ui):
    """List (with a token), new-token form, created page, edit form, both confirmations:
    every visible control has a label, every button / link a name, html[lang], one h1,
    unique ids, images with alt."""
    base = dev_ui.base_url
    name = "e2e-ui-a11y"
    results = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "create", "name": name, "org": "contoso", "expiry": "30", "scopes": ["vso.code"], "stay": True},
        {"do": "audit"},
        {"do": "audit", "path": "/tokens"},
        {"do": "audit", "path": "/tokens/new"},
        {"do": "open", "name": name, "action": "edit"},
        {"do": "audit"},
        {"do": "open", "name": name, "action": "regenerate"},
        {"do": "audit"},
        {"do": "open", "name": name, "action": "revoke"},
        {"do": "audit"},
    ], timeout=30)
    audits = {r["path"].split("?")[0]: r for r in results if r["do"] == "audit"}
    token_id = next(r["id"] for r in results if r["do"] == "open")
    expected = {"/tokens/new", "/tokens", f"/tokens/{token_id}/edit", f"/tokens/{token_id}/regenerate",
                f"/tokens/{token_id}/revoke"}
    assert expected <= set(audits), sorted(audits)
    created = next(r for r in results if r["do"] == "create")
    assert created["token"] and created["path"] == "/tokens/new", created["path"]  # the created page (POST result)
    created_audit = results[results.index(created) + 1]
    pages = {"created page": created_audit, **audits}
    problems = {page: {k: v for k, v in a["issues"].items() if v} for page, a in pages.items()}
    problems = {page: p for page, p in problems.items() if p}
    assert not problems, f"accessibility offenders: {problems}"
    assert audits["/tokens"]["counts"]["links"] >= 4 and audits["/tokens/new"]["counts"]["controls"] >= 5, \
        {p: a["counts"] for p, a in audits.items()}


def test_dev_narrow_screen(dev_ui, shots):
    """390x844: no horizontal scrolling, primary buttons inside the viewport width."""
    base = dev_ui.base_url
    name = "e2e-ui-narrow"
    results = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "layout", "path": "/tokens/new", "selectors": ["#submit"]},
        {"do": "create", "name": name, "org": "fabrikam", "expiry": "7", "scopes": ["vso.code"], "stay": True,
         "shot_form": "12-new-token-narrow", "shot_created": "13-created-narrow"},
        {"do": "layout", "selectors": ["#copy-token"]},
        {"do": "layout", "path": "/tokens", "selectors": ["#new-token"]},
        {"do": "open", "name": name, "action": "edit"},
        {"do": "layout", "selectors": ["#submit"]},
        {"do": "open", "name": name, "action": "revoke"},
        {"do": "layout", "selectors": ["#confirm"]},
    ], screenshot_dir=shots, viewport={"width": 390, "height": 844}, timeout=30)
    layouts = [(r["path"], r) for r in results if r["do"] == "layout"]
    assert len(layouts) == 5
    bad = []
    for (path, lay), want in zip(layouts, ["#submit", "#copy-token", "#new-token", "#submit", "#confirm"]):
        assert lay["inner_width"] == 390, lay
        if lay["scroll_width"] > lay["inner_width"] + 1:
            bad.append(f"{path}: scrollWidth {lay['scroll_width']} > innerWidth {lay['inner_width']}")
        box = lay["boxes"].get(want)
        if not box or not box["inside"]:
            bad.append(f"{path}: {want} not inside the viewport width: {box}")
    assert not bad, bad
    for shot in ("12-new-token-narrow.png", "13-created-narrow.png"):
        assert (shots / shot).stat().st_size > 1000, shot


def test_dev_without_javascript(dev_ui, tmp_path):
    """JavaScript off: create (custom date through the date input, full access) and revoke
    through the confirmation page still work; the token is shown."""
    base = dev_ui.base_url
    name = "e2e-ui-nojs"
    date = (datetime.now(timezone.utc).date() + timedelta(days=12)).isoformat()
    state = tmp_path / "state.json"
    signin, created = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "create", "name": name, "org": "fabrikam", "expiry": "custom", "expiry_date": date, "scopes": "full"},
    ], javascript=False, state_out=state, timeout=30)
    assert signin["user_name"] == DEV_USER_NAME, signin
    assert created["blank"]["expiry_date_hidden"] is False, \
        f"the date field is hidden on a blank form: JavaScript ran? {created['blank']}"
    pat = created["token"]
    _secret_ok(pat)
    assert created["readonly"] and created["shown_once"], created
    assert created["copy_visible"] is False, "a Copy button that cannot work is shown without JavaScript"
    row = created["row"]
    assert row and created["token_id"], "the new token is not in the list"
    assert (row["expires_iso"] or "").startswith(date), f"custom date {date}: the row says {row['expires_iso']} / {row['expires']}"
    _verify(base, pat, 200, org="fabrikam", scope="vso.code")

    (revoked,) = run_ui(base, [{"do": "revoke", "id": created["token_id"]}], javascript=False, state_in=state, timeout=30)
    assert revoked["confirm"]["has_form"], revoked["confirm"]
    assert revoked["path"].startswith("/tokens") and revoked["notice"] and not revoked["error"], revoked
    _verify(base, pat, 401)


# -- patrol serve + the reference provider -----------------------------------------------------

def _web_serve(request, patrol_binary, make_oidc_provider, tmp_path, client_auth: str, **op_kw):
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    secret = secrets.token_urlsafe(32)
    key = gen_client_key(tmp_path / "keys")
    op = make_oidc_provider(clients=web_clients(public_url, secret=secret, key=key), **op_kw)
    client_id = PKJWT_CLIENT_ID if client_auth == "private_key_jwt" else SECRET_CLIENT_ID
    web = web_section(op, client_auth, client_id=client_id, key=key)
    srv = start_web_serve(patrol_binary, tmp_path / "patrol", op, port, web=web,
                          secret=secret if client_auth != "private_key_jwt" else None)
    request.addfinalizer(srv.stop)
    assert secret not in (tmp_path / "patrol" / "patrol.toml").read_text()
    return srv, op, client_id


@pytest.mark.parametrize("client_auth", ["client_secret_basic", "private_key_jwt"])
def test_serve_sign_in_with_oidc_provider(request, patrol_binary, make_oidc_provider, shots, tmp_path, client_auth):
    srv, op, client_id = _web_serve(request, patrol_binary, make_oidc_provider, tmp_path, client_auth)
    base = srv.base_url
    signin, created = run_ui(base, [
        {"do": "signin", "user": "alice", "shot": f"op-{client_auth}-login", "shot_consent": f"op-{client_auth}-consent"},
        {"do": "create", "name": f"e2e-ui-{client_auth}", "org": "__all__", "expiry": "30", "scopes": "full"},
    ], screenshot_dir=shots)
    assert signin["user_name"] == ACCOUNTS["alice"]["name"], signin
    assert any(h.startswith(op.issuer) for h in signin["hops"]), signin["hops"]
    grants = op.stats()["grants"]
    assert grants.get(f"{client_id} authorization_code") == 1, grants
    pat = created["token"]
    _secret_ok(pat)
    _verify(base, pat, 200, org="fabrikam", scope="vso.code")
    _verify(base, pat, 200, org="contoso")


def test_serve_sign_out_of_the_provider_too(request, patrol_binary, make_oidc_provider, shots, tmp_path):
    """Sign-out ends Patrol's session; the signed-out page offers the provider's RP-initiated
    logout (client_id + post_logout_redirect_uri, no token in the URL), which comes back to
    Patrol, after which signing in asks for the password again."""
    srv, op, client_id = _web_serve(request, patrol_binary, make_oidc_provider, tmp_path, "client_secret_basic")
    base = srv.base_url
    _, out, provider = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "signout", "back": False, "revisit": False},
        {"do": "provider_signout", "shot": "op-logout"},
    ], screenshot_dir=shots)
    assert out["path"].startswith("/signed-out"), out
    assert provider["offered"], "no 'sign out of the identity provider too' link with oidc-provider"
    href = provider["href"]
    assert href.startswith(op.issuer) and f"client_id={client_id}" in href, href
    assert "id_token_hint" not in href and "eyJ" not in href, "no token in the logout link"
    assert provider["confirmed"], provider
    assert provider["back"]["path"].startswith("/signed-out") and "identity provider" in (provider["back"]["notice"] or ""), provider
    assert provider["revisit"]["asks_login"], f"the provider signed alice in again without asking: {provider['revisit']}"


def test_serve_silent_refresh(request, patrol_binary, make_oidc_provider, tmp_path):
    srv, op, client_id = _web_serve(request, patrol_binary, make_oidc_provider, tmp_path, "client_secret_basic",
                                    access_token_ttl=5)
    base = srv.base_url
    signin, _, listed, created = run_ui(base, [
        {"do": "signin", "user": "alice"},
        {"do": "wait", "ms": 6500},  # past the access token's 5 s (Patrol may allow a little skew)
        {"do": "list"},
        {"do": "create", "name": "e2e-ui-after-refresh", "org": "fabrikam", "expiry": "7", "scopes": ["vso.code"]},
    ])
    assert listed["path"] == "/tokens" and listed["user_name"] == ACCOUNTS["alice"]["name"], listed
    stats = op.stats()
    assert stats["requests"].get("GET /auth") == 1, f"a new sign-in happened: {stats['requests']}"
    assert stats["grants"].get(f"{client_id} refresh_token", 0) >= 1, f"no refresh_token grant: {stats['grants']}"
    _secret_ok(created["token"])
    _verify(base, created["token"], 200, org="fabrikam", scope="vso.code")
