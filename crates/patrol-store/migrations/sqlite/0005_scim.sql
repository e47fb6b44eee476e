-- Provisioning (docs/scim.md): users a SCIM client (Entra ID, Okta) told Patrol about,
-- and each user's last interactive (web page) sign-in for the periodic sign-in rule.

CREATE TABLE scim_users (
    id              TEXT PRIMARY KEY NOT NULL,
    user_name       TEXT NOT NULL,
    -- userName is unique without regard to case (RFC 7643 caseExact false).
    user_name_lower TEXT NOT NULL UNIQUE,
    external_id     TEXT,
    -- NULL: the client never said (counts as active).
    active          INTEGER,
    -- Every other attribute kept, a JSON object in the schema's spelling.
    attributes      TEXT NOT NULL,
    -- The Patrol user joined to this record, when known.
    user_id         TEXT UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    created_at_us   INTEGER NOT NULL,
    updated_at_us   INTEGER NOT NULL,
    version         INTEGER NOT NULL
);
CREATE INDEX scim_users_by_external_id ON scim_users (external_id);

-- NULL: never signed in on the web page since this column exists.
ALTER TABLE users ADD COLUMN last_interactive_sign_in_us INTEGER;
