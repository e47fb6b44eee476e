-- Patrol schema, PostgreSQL: the SQLite schema as of
-- migrations/sqlite/0007_first_use.sql, in one step. The column
-- representation is SQLite's, so both stores share their row types
-- (crates/patrol-store/src/rows.rs): ids are TEXT, times BIGINT
-- microseconds since the Unix epoch (UTC), flags BOOLEAN, digests BYTEA.
-- Every TEXT column is COLLATE "C": compared and ordered byte by byte, and
-- lower() folds ASCII letters only — SQLite's BINARY collation and lower().
-- Never edit an applied migration: add a new file.

CREATE TABLE users (
    id                          TEXT COLLATE "C" PRIMARY KEY,
    issuer                      TEXT COLLATE "C" NOT NULL,
    subject                     TEXT COLLATE "C" NOT NULL,
    display_name                TEXT COLLATE "C" NOT NULL,
    email                       TEXT COLLATE "C",
    -- Whether the issuer vouched for the email at the last sign-in.
    email_verified              BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_us               BIGINT NOT NULL,
    last_sign_in_us             BIGINT NOT NULL,
    -- NULL: never signed in on the web page.
    last_interactive_sign_in_us BIGINT,
    disabled                    BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (issuer, subject)
);

CREATE TABLE organizations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    name          TEXT COLLATE "C" NOT NULL,
    name_lower    TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at_us BIGINT NOT NULL
);

CREATE TABLE memberships (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id  TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_by_org ON memberships (org_id);

CREATE TABLE pats (
    authorization_id TEXT COLLATE "C" PRIMARY KEY,
    owner_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name     TEXT COLLATE "C" NOT NULL,
    scopes           TEXT COLLATE "C" NOT NULL,
    -- NULL: all organizations (a global PAT); else space-separated org ids.
    target_orgs      TEXT COLLATE "C",
    valid_from_us    BIGINT NOT NULL,
    valid_to_us      BIGINT NOT NULL,
    created_at_us    BIGINT NOT NULL,
    revoked_at_us    BIGINT,
    last_used_at_us  BIGINT,
    last_used_ip     TEXT COLLATE "C",
    last_used_agent  TEXT COLLATE "C",
    -- The first accepted use, kept once set (the inactivity rule reads it).
    first_used_at_us BIGINT,
    -- HMAC-SHA256(server key `key_id`, secret). The secret itself is never stored.
    key_id           TEXT COLLATE "C" NOT NULL,
    token_hash       BYTEA NOT NULL
);
CREATE UNIQUE INDEX pats_token_hash ON pats (token_hash);
CREATE INDEX pats_owner ON pats (owner_id, display_name);
CREATE INDEX pats_by_expiry ON pats (valid_to_us) WHERE revoked_at_us IS NULL;

CREATE TABLE audit_events (
    id          TEXT COLLATE "C" PRIMARY KEY,
    at_us       BIGINT NOT NULL,
    action      TEXT COLLATE "C" NOT NULL,
    actor_user  TEXT COLLATE "C",
    actor       TEXT COLLATE "C" NOT NULL,
    client_id   TEXT COLLATE "C",
    target_pat  TEXT COLLATE "C",
    target_user TEXT COLLATE "C",
    source_ip   TEXT COLLATE "C",
    request_id  TEXT COLLATE "C",
    outcome     TEXT COLLATE "C" NOT NULL,
    detail      TEXT COLLATE "C"
);
CREATE INDEX audit_by_pat ON audit_events (target_pat, at_us);
CREATE INDEX audit_by_user ON audit_events (actor_user, at_us);
CREATE INDEX audit_by_time ON audit_events (at_us);
CREATE INDEX audit_by_target_user ON audit_events (target_user, at_us);
CREATE INDEX audit_by_actor ON audit_events (actor, at_us);
CREATE INDEX audit_by_action ON audit_events (action, at_us);

-- Browser sessions of the web UI. Only the SHA-256 of the cookie's session id
-- is stored; the IdP refresh token is sealed (encrypted) by the server.
CREATE TABLE web_sessions (
    id_hash              BYTEA PRIMARY KEY,
    user_id              TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_us        BIGINT NOT NULL,
    expires_at_us        BIGINT NOT NULL,
    last_seen_us         BIGINT NOT NULL,
    access_expires_at_us BIGINT NOT NULL,
    sealed_refresh_token BYTEA
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at_us);

-- Administration (docs/admin.md): the claims role rules and group lists read,
-- as of each user's last sign-in (a JSON object, claim name -> array of strings).
CREATE TABLE user_claims (
    user_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    claims        TEXT COLLATE "C" NOT NULL,
    updated_at_us BIGINT NOT NULL
);

-- Members an administrator removed: auto_join never adds them back.
CREATE TABLE membership_removals (
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    removed_at_us BIGINT NOT NULL,
    PRIMARY KEY (user_id, org_id)
);

-- One policy document (JSON) per scope: 'tenant', or an organization id.
CREATE TABLE policies (
    scope         TEXT COLLATE "C" PRIMARY KEY,
    body          TEXT COLLATE "C" NOT NULL,
    updated_at_us BIGINT NOT NULL,
    updated_by    TEXT COLLATE "C" NOT NULL
);

-- Revocation rules, kept for the record after they acted.
CREATE TABLE revocation_rules (
    id                TEXT COLLATE "C" PRIMARY KEY,
    -- NULL: every organization.
    org_id            TEXT COLLATE "C" REFERENCES organizations (id) ON DELETE CASCADE,
    scopes            TEXT COLLATE "C" NOT NULL,
    created_before_us BIGINT NOT NULL,
    created_at_us     BIGINT NOT NULL,
    created_by        TEXT COLLATE "C" NOT NULL,
    revoked           BIGINT NOT NULL
);
CREATE INDEX revocation_rules_by_time ON revocation_rules (created_at_us);

-- Provisioning (docs/scim.md): users a SCIM client told Patrol about.
CREATE TABLE scim_users (
    id              TEXT COLLATE "C" PRIMARY KEY,
    user_name       TEXT COLLATE "C" NOT NULL,
    -- userName is unique without regard to case (RFC 7643 caseExact false).
    user_name_lower TEXT COLLATE "C" NOT NULL UNIQUE,
    external_id     TEXT COLLATE "C",
    -- NULL: the client never said (counts as active).
    active          BOOLEAN,
    -- Every other attribute kept, a JSON object in the schema's spelling.
    attributes      TEXT COLLATE "C" NOT NULL,
    -- The Patrol user joined to this record, when known.
    user_id         TEXT COLLATE "C" UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at_us   BIGINT NOT NULL,
    updated_at_us   BIGINT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX scim_users_by_external_id ON scim_users (external_id);

-- Lifecycle jobs: one row per notice and channel. `dedupe_key` is unique:
-- enqueueing the same notice twice (two scans, two replicas, a restart)
-- stores it once.
CREATE TABLE outbox (
    id            TEXT COLLATE "C" PRIMARY KEY,
    dedupe_key    TEXT COLLATE "C" NOT NULL UNIQUE,
    -- 'email' or 'webhook'
    channel       TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    user_id       TEXT COLLATE "C" REFERENCES users (id) ON DELETE SET NULL,
    pat_id        TEXT COLLATE "C",
    -- Webhook deliveries: the subscription.
    subscription  TEXT COLLATE "C",
    -- What to send, as JSON; never a token secret.
    payload       TEXT COLLATE "C" NOT NULL,
    created_at_us BIGINT NOT NULL,
    due_at_us     BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    sent_at_us    BIGINT,
    -- Given up after the last attempt.
    failed_at_us  BIGINT,
    last_error    TEXT COLLATE "C"
);
CREATE INDEX outbox_due ON outbox (due_at_us) WHERE sent_at_us IS NULL AND failed_at_us IS NULL;
CREATE INDEX outbox_by_user ON outbox (user_id, created_at_us);

-- A lease: held by one runner (`holder`) until `expires_at_us`, renewed by it.
CREATE TABLE job_leases (
    name          TEXT COLLATE "C" PRIMARY KEY,
    holder        TEXT COLLATE "C" NOT NULL,
    expires_at_us BIGINT NOT NULL
);

-- When each periodic job runs next.
CREATE TABLE job_schedules (
    name        TEXT COLLATE "C" PRIMARY KEY,
    next_run_us BIGINT NOT NULL,
    last_run_us BIGINT
);

-- Notices a user switched off (a missing row: on).
CREATE TABLE notice_prefs (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT COLLATE "C" NOT NULL,
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Webhook subscriptions: a user's own (`owner_id`) or tenant-wide (NULL).
CREATE TABLE webhooks (
    id            TEXT COLLATE "C" PRIMARY KEY,
    owner_id      TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    url           TEXT COLLATE "C" NOT NULL,
    -- The HMAC-SHA256 signing secret, sealed with the server key.
    secret_sealed TEXT COLLATE "C" NOT NULL,
    -- Space-separated event kinds; empty: all.
    events        TEXT COLLATE "C" NOT NULL,
    created_at_us BIGINT NOT NULL
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id);
