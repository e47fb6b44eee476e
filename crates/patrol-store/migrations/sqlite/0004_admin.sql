-- Administration (docs/admin.md): remembered role claims, membership removals,
-- policies, revocation rules, and indexes for reading the audit log.

-- The claims role rules and group lists read, as of each user's last sign-in:
-- a JSON object, claim name -> array of strings.
CREATE TABLE user_claims (
    user_id       TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    claims        TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL
);

-- Members an administrator removed: auto_join never adds them back.
CREATE TABLE membership_removals (
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    removed_at_us INTEGER NOT NULL,
    PRIMARY KEY (user_id, org_id)
);

-- One policy document (JSON) per scope: 'tenant', or an organization id.
CREATE TABLE policies (
    scope         TEXT PRIMARY KEY NOT NULL,
    body          TEXT NOT NULL,
    updated_at_us INTEGER NOT NULL,
    updated_by    TEXT NOT NULL
);

-- Revocation rules, kept for the record after they acted.
CREATE TABLE revocation_rules (
    id                TEXT PRIMARY KEY NOT NULL,
    -- NULL: every organization.
    org_id            TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    scopes            TEXT NOT NULL,
    created_before_us INTEGER NOT NULL,
    created_at_us     INTEGER NOT NULL,
    created_by        TEXT NOT NULL,
    revoked           INTEGER NOT NULL
);
CREATE INDEX revocation_rules_by_time ON revocation_rules (created_at_us);

CREATE INDEX audit_by_target_user ON audit_events (target_user, at_us);
CREATE INDEX audit_by_actor ON audit_events (actor, at_us);
CREATE INDEX audit_by_action ON audit_events (action, at_us);
