-- Lifecycle jobs: the outbox of notices (emails, webhook deliveries), the
-- lease one runner holds at a time, durable schedules, notice preferences
-- and webhook subscriptions.

-- One row per notice and channel. `dedupe_key` is unique: enqueueing the
-- same notice twice (e.g. an expiry warning found by two scans, or by a
-- runner after a restart) stores it once.
CREATE TABLE outbox (
    id            TEXT PRIMARY KEY NOT NULL,
    dedupe_key    TEXT NOT NULL UNIQUE,
    -- 'email' or 'webhook'
    channel       TEXT NOT NULL,
    -- created, updated, regenerated, revoked, expiring, expired, leaked
    kind          TEXT NOT NULL,
    user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    pat_id        TEXT,
    -- Webhook deliveries: the subscription.
    subscription  TEXT,
    -- What to send, as JSON; never a token secret.
    payload       TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    due_at_us     INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    sent_at_us    INTEGER,
    -- Given up after the last attempt.
    failed_at_us  INTEGER,
    last_error    TEXT
);
CREATE INDEX outbox_due ON outbox (due_at_us) WHERE sent_at_us IS NULL AND failed_at_us IS NULL;
CREATE INDEX outbox_by_user ON outbox (user_id, created_at_us);

-- A lease: held by one runner (`holder`) until `expires_at_us`, renewed by it.
CREATE TABLE job_leases (
    name          TEXT PRIMARY KEY NOT NULL,
    holder        TEXT NOT NULL,
    expires_at_us INTEGER NOT NULL
);

-- When each periodic job runs next.
CREATE TABLE job_schedules (
    name        TEXT PRIMARY KEY NOT NULL,
    next_run_us INTEGER NOT NULL,
    last_run_us INTEGER
);

-- Notices a user switched off (a missing row: on).
CREATE TABLE notice_prefs (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Webhook subscriptions: a user's own (`owner_id`) or tenant-wide (NULL).
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY NOT NULL,
    owner_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    -- The HMAC-SHA256 signing secret, sealed with the server key.
    secret_sealed TEXT NOT NULL,
    -- Space-separated event kinds; empty: all.
    events        TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id);
