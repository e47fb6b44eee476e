"""Shared fixtures for Patrol's end-to-end tests.

Provider fixtures:
    oidc_provider           session-wide reference OP (issuer http://127.0.0.1:<port>,
                            aud api://patrol). Do not restart it; use make_oidc_provider.
    make_oidc_provider      factory: make_oidc_provider(**OidcProvider kwargs) -> started
                            OidcProvider, stopped at the end of the test.
    second_oidc_provider    another OP on another port (other issuer, other key) for
                            issuer allow-list / same-`sub` tests.
Token fixtures (fresh per test, from the session OP):
    alice_tokens, bob_tokens, carol_tokens   user_token() responses (access/refresh/id token)
    robot_tokens                              client_credentials_token() response (ci-robot)
Logs:
    run_log_dir             this run's log directory (.e2e/logs/run-*/): <name>-<n>.log per process
Patrol fixtures:
    patrol_binary           Path of the patrol binary ($PATROL_BIN or target/{debug,release}/patrol);
                            the test is skipped if there is none.
    make_patrol             factory: make_patrol(args, env=None, **kw) -> started PatrolServer
                            (data_dir defaults to a per-test tmp dir), stopped at teardown.
PAT API fixtures (lib/patrol_api.py; one server per test module, shared by its tests):
    module_tmp              a tmp dir for the current module
    serve_patrol            `patrol serve --config` trusting the session `oidc_provider`
                            (orgs fabrikam + contoso, PATROL_SERVER_KEY in `.server_key`)
    user_jwt                cached per module: user_jwt("alice"[, scope]) -> token response of
                            the session provider (authorization code + PKCE)
    srv                     the server the module's PAT API clients talk to: serve_patrol
                            unless the module defines its own `srv`
    alice, bob              PatApi clients of `srv` with user_jwt("alice") / user_jwt("bob")
                            (a module that overrides `user_jwt` changes where they come from)
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib.procs import DEFAULT_LOG_DIR  # noqa: E402

from lib.oidc_flow import client_credentials_token, user_token  # noqa: E402
from lib.oidc_provider import OidcProvider  # noqa: E402
from lib.patrol import PatrolServer, find_binary  # noqa: E402
from lib.patrol_api import PatApi, issuer_entry, start_serve  # noqa: E402


KEEP_LOG_RUNS = 5


def pytest_configure(config) -> None:
    """One log directory per run: .e2e/logs/run-<time>-<pid>/ (the last few runs are kept).

    Set PATROL_E2E_LOG_DIR to choose the directory yourself (it is then not pruned).
    `run_log_dir` (fixture) / os.environ["PATROL_E2E_LOG_DIR"] tell tests where logs go.
    """
    if os.environ.get("PATROL_E2E_LOG_DIR"):
        return
    DEFAULT_LOG_DIR.mkdir(parents=True, exist_ok=True)
    runs = sorted(p for p in DEFAULT_LOG_DIR.glob("run-*") if p.is_dir())
    for old in runs[: max(0, len(runs) - (KEEP_LOG_RUNS - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    run_dir = DEFAULT_LOG_DIR / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run_dir.mkdir()
    os.environ["PATROL_E2E_LOG_DIR"] = str(run_dir)


@pytest.fixture(scope="session")
def run_log_dir() -> Path:
    """Directory holding every provider/patrol log of this run."""
    return Path(os.environ["PATROL_E2E_LOG_DIR"])


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    with OidcProvider() as op:
        yield op


@pytest.fixture
def make_oidc_provider():
    started: list[OidcProvider] = []

    def make(**kwargs) -> OidcProvider:
        op = OidcProvider(**kwargs)
        started.append(op)
        return op

    yield make
    for op in started:
        op.close()


@pytest.fixture
def second_oidc_provider(make_oidc_provider) -> OidcProvider:
    return make_oidc_provider()


@pytest.fixture
def alice_tokens(oidc_provider) -> dict:
    return user_token(oidc_provider.issuer, "alice")


@pytest.fixture
def bob_tokens(oidc_provider) -> dict:
    return user_token(oidc_provider.issuer, "bob")


@pytest.fixture
def carol_tokens(oidc_provider) -> dict:
    return user_token(oidc_provider.issuer, "carol")


@pytest.fixture
def robot_tokens(oidc_provider) -> dict:
    return client_credentials_token(oidc_provider.issuer)


@pytest.fixture(scope="session")
def patrol_binary() -> Path:
    path = find_binary()
    if path is None:
        pytest.skip("no patrol binary: build it (cargo build -p patrol) or set PATROL_BIN")
    return path


@pytest.fixture
def make_patrol(patrol_binary, tmp_path):
    started: list[PatrolServer] = []

    def make(args, env=None, **kwargs) -> PatrolServer:
        kwargs.setdefault("data_dir", tmp_path / f"patrol-data-{len(started)}")
        srv = PatrolServer(patrol_binary, args, env, **kwargs)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory, request) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def serve_patrol(patrol_binary, oidc_provider, module_tmp) -> Iterator[PatrolServer]:
    srv = start_serve(patrol_binary, module_tmp / "serve", [issuer_entry(oidc_provider.issuer)])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def user_jwt(oidc_provider):
    cache: dict[tuple[str, str | None], dict] = {}

    def get(user: str = "alice", scope: str | None = None) -> dict:
        key = (user, scope)
        if key not in cache:
            cache[key] = user_token(oidc_provider.issuer, user, *([scope] if scope else []))
        return cache[key]

    return get


@pytest.fixture(scope="module")
def srv(serve_patrol) -> PatrolServer:
    return serve_patrol


@pytest.fixture(scope="module")
def alice(srv, user_jwt) -> PatApi:
    return PatApi(srv.base_url, user_jwt("alice")["access_token"])


@pytest.fixture(scope="module")
def bob(srv, user_jwt) -> PatApi:
    return PatApi(srv.base_url, user_jwt("bob")["access_token"])
