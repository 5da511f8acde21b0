-- Values the installation keeps for its lifetime, such as its instance id.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
