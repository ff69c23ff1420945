-- Consent (issue 11): a performer withdraws; the tags they made leave every future dataset
-- version. Rows are never deleted: an undo is recorded beside the withdrawal (who and when).
CREATE TABLE person_withdrawals (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    withdrawn_at TEXT NOT NULL,
    withdrawn_by TEXT NOT NULL,
    undone_at TEXT,
    undone_by TEXT
);
CREATE INDEX person_withdrawals_person ON person_withdrawals (person);
