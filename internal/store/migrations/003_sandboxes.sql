-- The platform's memory of each sandbox, so a restarted server knows what it
-- owns, when each was last used and how old it is.
CREATE TABLE sandboxes (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lab_id      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'stopped')),
    created_at  DATETIME NOT NULL,
    last_active DATETIME NOT NULL,
    PRIMARY KEY (user_id, lab_id)
);
