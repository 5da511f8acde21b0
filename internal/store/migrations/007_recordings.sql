-- Terminal recordings: a class can ask for them, and each attempt names
-- the recordings running when it was made, as evidence.
ALTER TABLE classes ADD COLUMN record INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN recordings TEXT NOT NULL DEFAULT '';
