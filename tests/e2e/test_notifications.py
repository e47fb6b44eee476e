"""Notifications end to end: the real binary sends its emails to a real SMTP server.

`patrol dev --smtp-url smtp://127.0.0.1:<port>` against aiosmtpd (started in-process by the
`smtp_server` fixture): creating a PAT through the REST API delivers a creation email to the
owner's address, in text and HTML, naming the token — and never containing its secret.
Without `--smtp-url`, `patrol dev` writes the email to <data dir>/outbox/ as an .eml file.

Time-based behaviour (expiry warnings at 7 and 3 days, never twice and across a restart;
retention hiding and purging; webhook retries after backoff) needs the clock moved: the
binary has no way to inject time, so those tests are Rust integration tests that run the real
server code on a ManualClock (crates/patrol-server/tests/api/notifications.rs).
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller

from lib.patrol import PatrolServer
from lib.patrol_api import PatApi, dev_token
from lib.procs import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"

    def wait(self, n: int, timeout: float = 20.0) -> list[tuple[list[str], bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.1)
        with self._lock:
            return list(self.messages)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    port = free_port("127.0.0.1")
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


def start_dev_server(make_patrol, extra: list[str]) -> PatrolServer:
    return make_patrol(
        ["dev", "--port", "{port}", "--data-dir", "{data_dir}", *extra],
        # The job runner wakes every second instead of every 30.
        env={"PATROL_NOTIFICATIONS__TICK_SECS": "1"},
        name="patrol-dev-notify",
    )


def parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    return msg, text, html


def test_creation_email_arrives_over_smtp_without_the_secret(patrol_binary, make_patrol, smtp_server):
    inbox, url = smtp_server
    srv = start_dev_server(make_patrol, ["--smtp-url", url])
    api = PatApi(srv.base_url, dev_token(patrol_binary, srv.data_dir, "alice"))
    created = api.create_ok(displayName="git: https://host/fabrikam on BUILD-01", scope="vso.code", allOrgs=False)
    secret = created["token"]
    got = inbox.wait(1)
    assert len(got) == 1, f"one email, got {len(got)}; log {srv.log_path}"
    rcpt, raw = got[0]
    msg, text, html = parts(raw)
    assert rcpt == ["alice@example.com"]
    assert msg["Subject"] == "New personal access token: git: https://host/fabrikam on BUILD-01"
    for body in (text, html):
        assert "git: https://host/fabrikam on BUILD-01" in body
        assert created["authorizationId"] in body
        assert "fabrikam" in body
        assert "If you did not create this token" in body
    assert secret not in raw.decode("utf-8", "replace"), "the token secret is never emailed"
    assert secret not in srv.log_text()
    # Sent once: nothing more arrives on the next ticks.
    time.sleep(2.5)
    assert len(inbox.messages) == 1
    assert not (srv.data_dir / "outbox").exists(), "with --smtp-url nothing goes to the folder"


def test_without_smtp_dev_writes_the_email_to_its_outbox_folder(patrol_binary, make_patrol):
    srv = start_dev_server(make_patrol, [])
    api = PatApi(srv.base_url, dev_token(patrol_binary, srv.data_dir, "bob"))
    created = api.create_ok(displayName="nightly", scope="vso.code", allOrgs=False)
    outbox = srv.data_dir / "outbox"
    deadline = time.monotonic() + 20
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = sorted(outbox.glob("*.eml")) if outbox.exists() else []
        time.sleep(0.2)
    assert len(files) == 1, f"one .eml in {outbox}; log {srv.log_path}"
    raw = files[0].read_bytes()
    msg, text, _ = parts(raw)
    assert msg["Subject"] == "New personal access token: nightly"
    assert created["token"] not in raw.decode("utf-8", "replace")
    log = srv.log_text()
    assert "email written to the dev outbox" in log
    assert created["token"] not in log
    r = requests.get(srv.url("/metrics"), timeout=5)
    assert 'patrol_notifications_sent_total{channel="email"}' in r.text
