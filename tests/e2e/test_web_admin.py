"""The admin pages (issue 11) in a real browser, keyboard only: headless Debian Chromium driven
by playwright-core through tests/e2e/browser/admin.mjs (see its header for the actions).

Against `patrol dev`, whose `admin` user is a tenant administrator and alice and bob are not.
An administrator walks the policies (dry run, then save), an organization's members (remove,
add back), a user's tokens (find, revoke with the confirmation), a revocation rule and the
audit log's filters — each control reached with Tab and submitted with Enter — and the
changes are checked from outside the browser (the verify path, the PAT API). A non-admin sees
no admin link and gets 403 on every admin page. Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lib.patrol import PatrolServer
from lib.patrol_api import PatApi, dev_token, iso_z, start_dev, utcnow
from lib.web_ui import browser_available, output_dir, run_scenario, verify_status

_missing = browser_available()
if _missing and os.environ.get("PATROL_REQUIRE_BROWSER"):
    raise RuntimeError(f"browser tests cannot run: {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")

ALICE = "Alice Example"  # crates/patrol-auth/src/dev_issuer: alice
ADMIN_PAGES = ["/admin", "/admin/policies", "/admin/members", "/admin/users", "/admin/revocation-rules",
               "/admin/audit", "/admin/audit/export"]


@pytest.fixture(scope="module")
def dev_admin(patrol_binary, module_tmp) -> Iterator[PatrolServer]:
    srv = start_dev(patrol_binary, module_tmp / "dev", name="patrol-dev-admin")
    yield srv
    srv.stop()


def _admin(base: str, actions: list[dict], **kw) -> list[dict]:
    args = {"base_url": base, "actions": actions, "screenshot_dir": str(output_dir()), **kw}
    return run_scenario("admin.mjs", args, timeout=90)["results"]


def test_admin_walks_every_page_by_keyboard(dev_admin, patrol_binary):
    base = dev_admin.base_url
    alice = PatApi(base, dev_token(patrol_binary, dev_admin.data_dir, "alice"))
    soon = iso_z(utcnow() + timedelta(days=7))
    long = alice.create_ok(displayName="e2e-admin-long", scope="vso.code", validTo=iso_z(utcnow() + timedelta(days=60)))
    doomed = alice.create_ok(displayName="e2e-admin-revoke", scope="vso.code", validTo=soon)
    packages = alice.create_ok(displayName="e2e-admin-packages", scope="vso.packaging", validTo=soon)
    keep = alice.create_ok(displayName="e2e-admin-keep", scope="vso.build", validTo=soon)
    for t in (long, doomed, packages, keep):
        assert verify_status(base, t["token"]) == 200

    signin, nav, policies, members, revoke, rule, audit = _admin(base, [
        {"do": "signin", "user": "admin"},
        {"do": "admin_link"},
        {"do": "policies", "lifespan_days": 30, "shot_dry": "admin-01-dry-run", "shot_saved": "admin-02-saved"},
        {"do": "members", "org": "fabrikam", "remove": ALICE, "shot": "admin-03-member-removed"},
        {"do": "user_revoke", "query": "alice", "user": ALICE, "token": "e2e-admin-revoke",
         "shot_confirm": "admin-04-revoke-confirm"},
        {"do": "rule", "scopes": "vso.packaging", "org": "fabrikam"},
        {"do": "audit", "action": "pat.revoke", "token": doomed["authorizationId"], "shot": "admin-05-audit"},
    ])
    assert signin["admin_link"], signin
    assert nav["path"] == "/admin/policies", nav
    assert set(nav["nav"]) == {"/admin/policies", "/admin/members", "/admin/users", "/admin/revocation-rules",
                               "/admin/audit"}, nav

    # Dry run: exactly the 60-day token; nothing saved until Save.
    dry = policies["dry_run"]
    assert dry["shown"] and not dry["error"], dry
    assert [r["id"] for r in dry["rows"]] == [long["authorizationId"]], dry["rows"]
    assert "lifespan" in dry["rows"][0]["policy"], dry["rows"]
    assert dry["days_kept"] == "30", dry
    saved = policies["saved"]
    assert "notice=tenant" in saved["path"] and saved["notice"] and saved["days"] == "30", saved
    # Enforcement agrees with the dry run: the long token cannot be regenerated, a short one can.
    r = alice.regenerate(long["authorizationId"])
    assert r.status_code == 200 and r.json()["patTokenError"] == "patLifespanPolicyViolation", r.text
    r = alice.regenerate(keep["authorizationId"])
    assert r.status_code == 200 and r.json()["patTokenError"] == "none", r.text
    keep = r.json()["patToken"]

    # Members: removed (her fabrikam tokens stop there), then added back.
    assert ALICE in members["before"], members
    assert ALICE not in members["removed"]["members"] and members["removed"]["notice"], members["removed"]
    assert ALICE in members["added"]["members"] and members["added"]["notice"], members["added"]
    assert verify_status(base, keep["token"], org="fabrikam") == 200

    # A user's tokens: found, revoked after the confirmation; the very next verify fails.
    assert ALICE in revoke["found"], revoke
    assert "e2e-admin-revoke" in {t["name"] for t in revoke["tokens_before"]}, revoke
    assert revoke["confirm"]["autofocus"].startswith("button#confirm"), revoke["confirm"]
    after = revoke["after"]
    assert after["notice"] and "e2e-admin-revoke" not in {t["name"] for t in after["tokens"]}, after
    assert verify_status(base, doomed["token"]) == 401

    # The revocation rule revoked the packaging token only.
    assert "revoked 1 token" in rule["notice"], rule
    assert rule["rules"] and rule["rules"][0]["scopes"] == "vso.packaging", rule["rules"]
    assert verify_status(base, packages["token"]) == 401
    assert verify_status(base, keep["token"]) == 200

    # The audit log, filtered by action and token.
    assert audit["actions"] == ["pat.revoke"], audit
    assert audit["tokens"] == [doomed["authorizationId"]], audit
    assert audit["export"].startswith("/admin/audit/export?") and "action=pat.revoke" in audit["export"], audit


def test_non_admin_sees_no_admin_link_and_gets_403(dev_admin):
    base = dev_admin.base_url
    signin, status = _admin(base, [
        {"do": "signin", "user": "bob"},
        {"do": "status", "paths": ADMIN_PAGES},
    ])
    assert not signin["admin_link"], signin
    for page in status["pages"]:
        assert page["status"] == 403, page
        assert page["path"] == page["asked"], f"redirected: {page}"
        assert "administrators" in page["error"], page
