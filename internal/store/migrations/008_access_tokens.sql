-- Access tokens for `docker login` to the classroom registry, like Docker
-- Hub's personal access tokens: shown once, only a hash is kept, revocable.
CREATE TABLE access_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    expires_at   DATETIME
);
CREATE INDEX access_tokens_user ON access_tokens (user_id, id);
