-- Patrol schema, SQLite. Times are INTEGER microseconds since the Unix epoch (UTC).
-- Never edit an applied migration: add a new file.

CREATE TABLE users (
    id              TEXT PRIMARY KEY NOT NULL,
    issuer          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    email           TEXT,
    created_at_us   INTEGER NOT NULL,
    last_sign_in_us INTEGER NOT NULL,
    disabled        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (issuer, subject)
);

CREATE TABLE organizations (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    name_lower    TEXT NOT NULL UNIQUE,
    created_at_us INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, org_id)
);

CREATE TABLE pats (
    authorization_id   TEXT PRIMARY KEY NOT NULL,
    owner_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name       TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    -- NULL: all organizations (a global PAT); else space-separated org ids.
    target_orgs        TEXT,
    valid_from_us      INTEGER NOT NULL,
    valid_to_us        INTEGER NOT NULL,
    created_at_us      INTEGER NOT NULL,
    revoked_at_us      INTEGER,
    last_used_at_us    INTEGER,
    last_used_ip       TEXT,
    last_used_agent    TEXT,
    -- HMAC-SHA256(server key `key_id`, secret). The secret itself is never stored.
    key_id             TEXT NOT NULL,
    token_hash         BLOB NOT NULL
);
CREATE UNIQUE INDEX pats_token_hash ON pats (token_hash);
CREATE INDEX pats_owner ON pats (owner_id, display_name);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY NOT NULL,
    at_us       INTEGER NOT NULL,
    action      TEXT NOT NULL,
    actor_user  TEXT,
    actor       TEXT NOT NULL,
    client_id   TEXT,
    target_pat  TEXT,
    target_user TEXT,
    source_ip   TEXT,
    request_id  TEXT,
    outcome     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_by_pat ON audit_events (target_pat, at_us);
CREATE INDEX audit_by_user ON audit_events (actor_user, at_us);
CREATE INDEX audit_by_time ON audit_events (at_us);
