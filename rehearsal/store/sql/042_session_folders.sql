-- issue 12: each session's audio folder is chosen once and kept, unique per session, so two
-- names that sanitise alike ("x/y" and "x_y", "a." and "a", NFC and NFD, "CON") never share
-- a folder. NULL for sessions made before this migration: assigned on their next take.
ALTER TABLE sessions ADD COLUMN folder TEXT;
CREATE UNIQUE INDEX sessions_folder ON sessions (folder COLLATE NOCASE) WHERE folder IS NOT NULL;
