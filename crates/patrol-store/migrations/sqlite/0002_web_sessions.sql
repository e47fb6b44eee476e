-- Browser sessions of the web UI. Only the SHA-256 of the cookie's session id
-- is stored; the IdP refresh token is sealed (encrypted) by the server.
CREATE TABLE web_sessions (
    id_hash              BLOB PRIMARY KEY NOT NULL,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_us        INTEGER NOT NULL,
    expires_at_us        INTEGER NOT NULL,
    last_seen_us         INTEGER NOT NULL,
    access_expires_at_us INTEGER NOT NULL,
    sealed_refresh_token BLOB
);

CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at_us);
