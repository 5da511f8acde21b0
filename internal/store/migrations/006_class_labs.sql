-- The labs a class works on, chosen by its instructor; a class with none
-- chosen works on every lab.
CREATE TABLE class_labs (
    class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    lab_id   TEXT NOT NULL,
    PRIMARY KEY (class_id, lab_id)
);
