-- Dashboard logins: the cookie holds a random id; only its SHA-256 is stored, so a
-- copy of the database cannot be replayed as a cookie. `token_fingerprint` ties a login
-- to the API token it was made with: changing the token ends every login.
CREATE TABLE auth_sessions (
    id_hash           TEXT PRIMARY KEY,
    token_fingerprint TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL
);

CREATE INDEX auth_sessions_expiry ON auth_sessions (expires_at);
