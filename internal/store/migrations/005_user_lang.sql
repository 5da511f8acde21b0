-- The UI language a user chose; empty follows the browser.
ALTER TABLE users ADD COLUMN lang TEXT NOT NULL DEFAULT '';
