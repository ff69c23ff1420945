-- Issue 12: a tag journalled while the database was locked carries a unique id, stored
-- with it, so a journal stored again after a crash between storing it and deleting it
-- (the markers committed, the journal file still there) adds nothing twice. NULL for
-- tags that were never journalled.
ALTER TABLE markers ADD COLUMN journal_id TEXT;
CREATE UNIQUE INDEX markers_by_journal_id ON markers (journal_id) WHERE journal_id IS NOT NULL;
