-- Issue 22: frames of stream cycles the audio client missed (found from JACK's cycle
-- counter, rehearsal/audio/core.CycleCounter), written into the take as silence so that
-- everything after the gap stays on the stream's timeline. 0: none missed.
ALTER TABLE takes ADD COLUMN gap_frames INTEGER NOT NULL DEFAULT 0;
