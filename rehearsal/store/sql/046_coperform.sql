-- Issue 16: a play where the model co-performs (answers instead of transforming) records
-- the mode and follow in force, as JSON {"mode": "call-response"|"accompany", "follow": x,
-- "pause_s", "answer_s"}; NULL: the model transformed the input. Tags made during the play
-- (play_reception) are then credited to the generation and to these settings.
ALTER TABLE plays ADD COLUMN coperform TEXT;
