-- Issue 12: undo and redo pressed while tags wait in the marker journal (the database
-- locked by another program) are journalled behind those tags and replayed in order with
-- them. A tag's journal id is stored with it (054); an undo or redo changes rows that
-- exist already, so the ids of the journalled edits applied are kept here: a journal
-- stored again after a crash between storing it and deleting it undoes nothing twice.
CREATE TABLE journalled_edits (
    journal_id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    marker_id INTEGER,
    applied_at TEXT NOT NULL
);
