"""Issue 4 end to end: git over HTTP behind a real nginx that asks Patrol about every request.

    git ──► nginx (auth_request) ──► Patrol GET /patrol/v1/verify?scope=…&org=…   (`patrol dev`)
              └──► fcgiwrap ──► git http-backend ──► bare repos fabrikam/repo.git, contoso/repo.git

The nginx configuration is tests/e2e/nginx/git-http-backend.conf.template (the documented
example): clone/fetch needs vso.code, push needs vso.code_write, the organization is the
one in the URL (/{org}/_git/{repo}). PATs are made through Patrol's Azure DevOps PAT API
with a `patrol dev token` JWT for alice. Every test gets its own Patrol, nginx, fcgiwrap
and repositories (Patrol's failure limits count per source address, and behind nginx
every request comes from 127.0.0.1). The last test runs `patrol serve --config` with nginx
in `[server] trusted_proxies` (the session reference OP as issuer), which `patrol dev`
cannot, to show per-client limits and last-use addresses behind the proxy.

The real `git` client runs with GIT_TERMINAL_PROMPT=0, an empty HOME and no system config.
PATs travel in the clone URL (`http://anyuser:PAT@…`, git's usual way: it sends them after
the 401 challenge) or as an `http.extraHeader` given through GIT_CONFIG_* variables (never
on a command line); they are redacted from every assertion message.
"""

from __future__ import annotations

import base64
import http.client
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from lib.nginx_git import NginxGit
from lib.oidc_flow import user_token
from lib.patrol import PatrolServer
from lib.patrol_api import (
    PatApi,
    dev_token,
    execute_db,
    issuer_entry,
    query_db,
    serve_config,
    start_serve,
    wait_until,
)
from lib.procs import free_port

TIMEOUT = 15
CHALLENGE = 'Basic realm="patrol"'


@dataclass
class Stack:
    patrol: PatrolServer
    api: PatApi
    ng: NginxGit
    tmp: Path
    secrets: list[str] = field(default_factory=list)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "<PAT>")
        return text

    def new_pat(self, scope: str, org: str = "fabrikam", name: str = "git") -> dict:
        """A PAT made through the API for `org` only (allOrgs false); the secret is `token`."""
        pat = self.api.create_ok(org, displayName=name, scope=scope, allOrgs=False)
        self.secrets.append(pat["token"])
        return pat


@pytest.fixture
def stack(make_patrol, patrol_binary, tmp_path) -> Stack:
    srv = make_patrol(["dev", "--port", "{port}", "--data-dir", "{data_dir}"], name="patrol-dev")
    api = PatApi(srv.base_url, dev_token(patrol_binary, srv.data_dir, "alice"))
    (tmp_path / "home").mkdir()
    with NginxGit(srv.base_url, tmp_path / "ng") as ng:
        yield Stack(srv, api, ng, tmp_path)


# -- git and HTTP helpers --------------------------------------------------------------------------

def git(st: Stack, *args: str, cwd: Path | None = None, header: str | None = None) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(st.tmp / "home"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com",
    }
    if header is not None:
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header})
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def show(st: Stack, r: subprocess.CompletedProcess) -> str:
    return st.redact(f"git {' '.join(r.args[1:])} -> {r.returncode}\n{r.stdout}{r.stderr}\n{st.ng.logs_text()}")


_clones = iter(range(10**6))


def clone(st: Stack, secret: str | None, org: str = "fabrikam", *, header: str | None = None
          ) -> tuple[subprocess.CompletedProcess, Path]:
    dest = st.tmp / f"clone-{next(_clones)}"
    url = st.ng.repo_url(org, "repo", secret=None if header else secret)
    return git(st, "clone", "-q", url, str(dest), header=header), dest


def clone_ok(st: Stack, secret: str | None, org: str = "fabrikam", *, header: str | None = None) -> Path:
    r, dest = clone(st, secret, org, header=header)
    assert r.returncode == 0, show(st, r)
    assert (dest / "README.md").read_text().startswith("Served by git http-backend"), show(st, r)
    return dest


# What git says for each answer (git 2.x, LC_ALL=C).
GIT_SAYS = {
    401: "Authentication failed",                    # credentials were sent and refused
    403: "The requested URL returned error: 403",
    "prompt": "terminal prompts disabled",           # a challenge, and no credentials to send
}


def clone_fails(st: Stack, secret: str | None, expect: int | str, org: str = "fabrikam", *,
                header: str | None = None) -> None:
    r, dest = clone(st, secret, org, header=header)
    assert r.returncode != 0, show(st, r)
    assert GIT_SAYS[expect] in r.stderr, show(st, r)
    assert not (dest / "README.md").exists()


def basic(secret: str, user: str = "anyuser") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def info_refs(st: Stack, secret: str | None, org: str = "fabrikam", service: str = "git-upload-pack",
              *, query: str | None = None) -> requests.Response:
    """GET …/info/refs straight through nginx, Basic auth (or none)."""
    url = st.ng.info_refs_url(org, "repo", service)
    if query is not None:
        url = url.split("?", 1)[0] + "?" + query
    headers = {"Authorization": basic(secret)} if secret is not None else {}
    return requests.get(url, headers=headers, timeout=TIMEOUT)


def expect_status(st: Stack, r: requests.Response, status: int) -> None:
    assert r.status_code == status, st.redact(f"{r.request.method} {r.url} -> {r.status_code} {r.text[:300]}\n"
                                              f"{st.ng.logs_text()}")
    if status == 401:
        # exactly one challenge, Patrol's, so git and browsers ask for credentials
        assert r.raw.headers.getlist("WWW-Authenticate") == [CHALLENGE], r.headers
    if status == 200:
        assert r.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"


def patrol_identity(st: Stack, secret: str) -> requests.structures.CaseInsensitiveDict:
    """Patrol's own forward-auth answer for `secret` (the headers nginx reads)."""
    r = requests.get(f"{st.patrol.base_url}/patrol/v1/verify", headers={"Authorization": basic(secret)},
                     timeout=TIMEOUT)
    assert r.status_code == 200, r.status_code
    return r.headers


def bare_head(st: Stack, org: str = "fabrikam") -> str:
    return git(st, "--git-dir", str(st.ng.bare_repo(org)), "rev-parse", "main").stdout.strip()


def commit(st: Stack, work: Path, name: str) -> str:
    (work / name).write_text(f"{name}\n")
    assert git(st, "add", name, cwd=work).returncode == 0
    r = git(st, "commit", "-q", "-m", f"add {name}", cwd=work)
    assert r.returncode == 0, show(st, r)
    return git(st, "rev-parse", "HEAD", cwd=work).stdout.strip()


# -- tests ---------------------------------------------------------------------------------------

def test_clone_needs_vso_code_and_push_needs_vso_code_write(stack: Stack) -> None:
    st = stack
    read = st.new_pat("vso.code")
    original = bare_head(st)

    # Credentials in the URL: git asks without them, gets nginx's 401 with Patrol's
    # challenge, and retries with Basic anyuser:PAT.
    work = clone_ok(st, read["token"])
    # The same PAT as a preemptive header, Basic or Bearer.
    clone_ok(st, None, header=f"Authorization: {basic(read['token'], 'someone-else')}")
    clone_ok(st, None, header=f"Authorization: Bearer {read['token']}")

    new = commit(st, work, "pushed.txt")
    r = git(st, "push", "-q", "origin", "main", cwd=work)   # origin holds the vso.code PAT
    assert r.returncode != 0, show(st, r)
    assert GIT_SAYS[403] in r.stderr, show(st, r)
    assert bare_head(st) == original

    write = st.new_pat("vso.code_write", name="git push")
    r = git(st, "push", "-q", st.ng.repo_url(secret=write["token"]), "main", cwd=work)
    assert r.returncode == 0, show(st, r)
    assert bare_head(st) == new
    # vso.code_write includes vso.code: it clones too, and sees the pushed commit.
    assert (clone_ok(st, write["token"]) / "pushed.txt").exists()

    # git http-backend got Patrol's stable user id as REMOTE_USER: it is the reflog's committer.
    user_id = patrol_identity(st, write["token"])["X-Patrol-User-Id"]
    reflog = git(st, "--git-dir", str(st.ng.bare_repo()), "log", "-g", "-1", "--format=%gn", "main")
    assert reflog.stdout.strip() == user_id, show(st, reflog)

    # nginx asked for the right scope on each request of the protocol.
    lines = st.ng.access_log_text().splitlines()
    pushes = [ln for ln in lines if "git-receive-pack" in ln and '" 200 ' in ln]
    assert pushes and all("scope=vso.code_write org=fabrikam" in ln for ln in pushes), lines
    assert all(f"pat={write['authorizationId']}" in ln and f'user_id={user_id} user="Alice Example"' in ln
               for ln in pushes), lines
    fetches = [ln for ln in lines if "git-upload-pack" in ln]
    assert fetches and all("scope=vso.code org=fabrikam" in ln for ln in fetches), lines
    refused = [ln for ln in lines if "git-receive-pack" in ln and '" 403 ' in ln]
    assert refused and all("verify=403" in ln for ln in refused), lines

    # No PAT in any log: nginx's, Patrol's.
    for text in (st.ng.access_log_text(), st.ng.error_log.read_text(), st.patrol.log_text()):
        for s in st.secrets:
            assert s not in text


def test_scope_map_is_fail_safe(stack: Stack) -> None:
    """Only the exact smart-HTTP read requests get vso.code; any variant needs vso.code_write."""
    st = stack
    read = st.new_pat("vso.code")
    expect_status(st, info_refs(st, read["token"]), 200)
    for query in ("service=git-receive-pack",
                  "service=git-upload-pack&service=git-receive-pack",  # http-backend reads the last
                  "service=git-recei%76e-pack",                       # http-backend decodes
                  "service=git-upload-pack&x=1",
                  ""):                                                 # dumb protocol
        expect_status(st, info_refs(st, read["token"], query=query), 403)
    r = requests.post(st.ng.repo_url() + "/git-receive-pack", headers={"Authorization": basic(read["token"])},
                      data=b"0000", timeout=TIMEOUT)
    expect_status(st, r, 403)
    # Paths outside the smart protocol never reach git.
    r = requests.get(st.ng.repo_url() + "/HEAD", headers={"Authorization": basic(read["token"])}, timeout=TIMEOUT)
    expect_status(st, r, 404)


def test_no_credentials_get_a_basic_challenge(stack: Stack) -> None:
    st = stack
    for service in ("git-upload-pack", "git-receive-pack"):
        r = info_refs(st, None, service=service)
        expect_status(st, r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert r.headers.get("Cache-Control") == "no-store"
    # git sees the challenge and would prompt for a user name and password.
    clone_fails(st, None, "prompt")


def test_bad_checksum_pat_is_refused(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.code")["token"]
    i = 20  # in the random part: the checksum no longer matches
    bad = pat[:i] + ("A" if pat[i] != "A" else "B") + pat[i + 1:]
    st.secrets.append(bad)
    expect_status(st, info_refs(st, bad), 401)
    clone_fails(st, bad, 401)
    expect_status(st, info_refs(st, pat), 200)


def test_revoked_pat_fails_at_once(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.code")
    clone_ok(st, pat["token"])  # now in Patrol's verify cache
    r = st.api.revoke(pat["authorizationId"])
    assert r.status_code == 204, r.text
    # No waiting: a revoke through this Patrol empties its cache entry.
    expect_status(st, info_refs(st, pat["token"]), 401)
    clone_fails(st, pat["token"], 401)


def test_expired_pat_fails(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.code")
    clone_ok(st, pat["token"])
    # The API refuses a validTo in the past, so expire the PAT in the database behind
    # Patrol's back. Patrol trusts a cached verify answer for cache_ttl_secs (5 s) and a
    # write it did not make itself does not invalidate it: restart Patrol (the cache lives
    # in memory) instead of sleeping more than 5 s. Same port, same data directory.
    past_us = int((time.time() - 60) * 1_000_000)
    n = execute_db(st.patrol.data_dir, "UPDATE pats SET valid_to_us = ? WHERE authorization_id = ?",
                   (past_us, pat["authorizationId"]))
    assert n == 1, query_db(st.patrol.data_dir, "SELECT authorization_id FROM pats")
    st.patrol.restart()
    expect_status(st, info_refs(st, pat["token"]), 401)
    clone_fails(st, pat["token"], 401)


def test_pat_for_another_organization_fails(stack: Stack) -> None:
    st = stack
    contoso = st.new_pat("vso.code", org="contoso")  # made through /contoso/_apis, allOrgs false
    clone_ok(st, contoso["token"], org="contoso")
    expect_status(st, info_refs(st, contoso["token"], org="fabrikam"), 403)
    clone_fails(st, contoso["token"], 403, org="fabrikam")


def test_pat_without_a_code_scope_fails_until_updated(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.packaging")
    expect_status(st, info_refs(st, pat["token"]), 403)
    clone_fails(st, pat["token"], 403)
    # Granting vso.code through the API is seen by the very next request.
    r = st.api.update(authorizationId=pat["authorizationId"], scope="vso.code")
    assert r.status_code == 200, r.text
    clone_ok(st, pat["token"])


def test_regenerated_secret_replaces_the_old_one(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.code")
    old = pat["token"]
    clone_ok(st, old)
    r = st.api.regenerate(pat["authorizationId"])
    assert r.status_code == 200, r.text
    new = r.json()["patToken"]["token"]
    st.secrets.append(new)
    assert new != old
    clone_ok(st, new)
    expect_status(st, info_refs(st, old), 401)
    clone_fails(st, old, 401)


def test_patrol_down_fails_closed(stack: Stack) -> None:
    st = stack
    pat = st.new_pat("vso.code")["token"]
    expect_status(st, info_refs(st, pat), 200)
    st.patrol.stop()
    r = info_refs(st, pat)
    assert r.status_code == 503, (r.status_code, r.text)
    assert "WWW-Authenticate" not in r.headers
    r, dest = clone(st, pat)
    assert r.returncode != 0 and "503" in r.stderr, show(st, r)


def test_failure_limit_reaches_the_client_as_429(stack: Stack) -> None:
    """Patrol's 429 comes through nginx as 429 with Retry-After (auth_request alone gives 500)."""
    st = stack
    pat = st.new_pat("vso.code")["token"]
    bad = pat[:20] + ("A" if pat[20] != "A" else "B") + pat[21:]
    st.secrets.append(bad)
    statuses = [info_refs(st, bad).status_code for _ in range(10)]
    assert statuses == [401] * 10, statuses
    r = info_refs(st, bad)
    assert r.status_code == 429, (r.status_code, r.text)
    assert int(r.headers["Retry-After"]) > 0
    # Behind nginx every client is 127.0.0.1 unless Patrol trusts nginx's X-Forwarded-For
    # ([server] trusted_proxies); `patrol dev` trusts no proxy, so even a good PAT waits.
    assert info_refs(st, pat).status_code == 429


def _get_from(ng: NginxGit, source_ip: str, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """A request to nginx from another loopback address (a different client as nginx sees it)."""
    conn = http.client.HTTPConnection(ng.host, ng.port, timeout=TIMEOUT, source_address=(source_ip, 0))
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def test_trusted_nginx_forwards_the_client_address(make_patrol, oidc_provider, alice_tokens, tmp_path) -> None:
    """With nginx in [server] trusted_proxies, Patrol counts failures and records last use per
    real client (nginx's X-Forwarded-For, which it overwrites: a client cannot forge it).
    `patrol dev` trusts no proxy, so this one is `patrol serve --config`."""
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    port = free_port()
    config = serve_config(port, data_dir, [issuer_entry(oidc_provider.issuer)])
    config = config.replace("[server]\n", '[server]\ntrusted_proxies = ["127.0.0.1"]\n', 1)
    assert "trusted_proxies" in config
    (data_dir / "patrol.toml").write_text(config)
    srv = make_patrol(["serve", "--config", str(data_dir / "patrol.toml")],
                      env={"PATROL_SERVER_KEY": secrets.token_hex(32)}, data_dir=data_dir, port=port,
                      name="patrol-serve")
    api = PatApi(srv.base_url, alice_tokens["access_token"])
    pat = api.create_ok("fabrikam", displayName="git", scope="vso.code", allOrgs=False)
    good = pat["token"]
    bad = good[:20] + ("A" if good[20] != "A" else "B") + good[21:]
    path = "/fabrikam/_git/repo/info/refs?service=git-upload-pack"
    with NginxGit(srv.base_url, tmp_path / "ng") as ng:
        def status(ip: str, secret: str, **extra: str) -> int:
            return _get_from(ng, ip, path, {"Authorization": basic(secret), **extra}).status

        # One client fails until it is limited; the limit comes through nginx as 429 …
        assert [status("127.0.0.2", bad) for _ in range(10)] == [401] * 10
        limited = _get_from(ng, "127.0.0.2", path, {"Authorization": basic(bad)})
        assert limited.status == 429 and int(limited.getheader("Retry-After")) > 0
        assert status("127.0.0.2", good) == 429
        # … and another client behind the same nginx is not affected.
        assert status("127.0.0.3", good) == 200
        # The last use is the client's address, not nginx's, and not one the client claims.
        # (Patrol records a PAT's last use at most once a second: step past that first.)
        time.sleep(1.2)
        assert status("127.0.0.4", good, **{"X-Forwarded-For": "203.0.113.9"}) == 200

        def last_ip():
            rows = query_db(data_dir, "SELECT last_used_ip FROM pats WHERE authorization_id = ?",
                            (pat["authorizationId"],))
            return rows and rows[0]["last_used_ip"] == "127.0.0.4" and rows[0]["last_used_ip"]
        assert wait_until(last_ip, timeout=10), query_db(data_dir, "SELECT last_used_ip, last_used_at_us FROM pats")


def test_a_renamed_user_pushes_as_the_same_remote_user(make_oidc_provider, patrol_binary, tmp_path) -> None:
    """docs/verification.md: nginx hands git X-Patrol-User-Id as REMOTE_USER, the identity
    that a user cannot move. Alice renames herself at the provider and takes Bob's address,
    unverified: her pushes still carry the same REMOTE_USER, the new name shows only as the
    display name, and no email is handed on. `patrol serve` with the reference provider
    (Entra-shaped, so keyed by oid, emails trusted unless `email_verified: false`)."""
    op = make_oidc_provider()
    srv = start_serve(patrol_binary, tmp_path / "serve", [issuer_entry(op.issuer)],
                      # Each verify reads the owner as stored now (no 5 s cache to wait out).
                      sections={"verify": {"cache_capacity": 0}})
    try:
        alice = user_token(op.issuer, "alice")["access_token"]
        api = PatApi(srv.base_url, alice)
        pat = api.create_ok("fabrikam", displayName="git push", scope="vso.code_write", allOrgs=False)
        with NginxGit(srv.base_url, tmp_path / "ng") as ng:
            st = Stack(srv, api, ng, tmp_path, secrets=[pat["token"], alice])
            before = patrol_identity(st, pat["token"])
            user_id = before["X-Patrol-User-Id"]
            assert before["X-Patrol-User"] == "Alice Example"
            assert before["X-Patrol-User-Email"] == "alice@example.test"
            work = clone_ok(st, pat["token"])
            commit(st, work, "before-rename.txt")
            r = git(st, "push", "-q", "origin", "main", cwd=work)
            assert r.returncode == 0, show(st, r)

            op.restart(accounts={"alice": {
                "name": "Bob Example", "email": "bob@example.test", "preferred_username": "bob@example.test",
                "token_claims": {"email_verified": False},
            }})
            renamed = user_token(op.issuer, "alice")["access_token"]
            st.secrets.append(renamed)
            assert PatApi(srv.base_url, renamed).list().status_code == 200   # Patrol learns the new claims
            after = patrol_identity(st, pat["token"])
            assert after["X-Patrol-User"] == "Bob Example"
            assert "X-Patrol-User-Email" not in after, after
            for h in ("X-Patrol-User-Id", "X-Patrol-User-Issuer", "X-Patrol-User-Subject"):
                assert after[h] == before[h], h
            commit(st, work, "after-rename.txt")
            r = git(st, "push", "-q", "origin", "main", cwd=work)
            assert r.returncode == 0, show(st, r)

            reflog = git(st, "--git-dir", str(ng.bare_repo()), "log", "-g", "-2", "--format=%gn", "main")
            assert reflog.stdout.split() == [user_id, user_id], show(st, reflog)
            pushes = [ln for ln in ng.access_log_text().splitlines() if "git-receive-pack" in ln and '" 200 ' in ln]
            assert any('user="Alice Example"' in ln for ln in pushes), pushes
            assert any('user="Bob Example"' in ln for ln in pushes), pushes
            assert all(f"user_id={user_id} " in ln for ln in pushes), pushes
    finally:
        srv.stop()
