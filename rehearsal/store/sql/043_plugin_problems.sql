-- issue 13: problems a plugin caused (a failing, hanging or audio-changing curation step),
-- remembered across runs so `rehearsal plugins` shows them after the run that hit them.
CREATE TABLE plugin_problems (
    id INTEGER PRIMARY KEY,
    plugin TEXT NOT NULL,
    message TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    UNIQUE (plugin, message)
);
