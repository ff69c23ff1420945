-- issue 19: scores that drive recording. A take recorded from a score keeps the score it was
-- recorded with (one row per distinct text, like notations) and the sample where the score's
-- first event was meant to start (the end of the count-in); its events become markers
-- (source 'score', who = the score's author), aligned to the performance.
CREATE TABLE scores (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    source TEXT NOT NULL,             -- the file it was read from
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE takes ADD COLUMN score_id INTEGER REFERENCES scores(id);
ALTER TABLE takes ADD COLUMN score_origin_sample INTEGER;
