-- Users log in with a password; role leaves room for instructors and admins.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'instructor', 'admin')),
    created_at    DATETIME NOT NULL
);

-- Only a hash of the session token is stored, so a leaked database does not
-- hand out live sessions.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Every press of Check is kept, with the script's output as evidence.
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lab_id      TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    passed      INTEGER NOT NULL CHECK (passed IN (0, 1)),
    exit_code   INTEGER NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    output      TEXT NOT NULL DEFAULT '',
    duration_ms INTEGER NOT NULL,
    created_at  DATETIME NOT NULL
);
CREATE INDEX attempts_user_lab ON attempts (user_id, lab_id, step_id, id);
