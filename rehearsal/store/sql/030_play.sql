-- Tables for play: which two takes a play recorded, what was heard when, what went wrong.
--
-- A play records two takes in the same session, written from the same frame counter so
-- frame t of one is frame t of the other:
--
--     plays.input_take_id    the performer's input, as the interface delivered it
--     plays.output_take_id   the model's output, as it was heard: frame t holds what the
--                            model played at t, which answers the input at t - latency_samples
--
-- Every frame in these tables is a frame of both takes (the timeline of the room, as heard).
-- Markers land on the input take through the marker bus and are mirrored onto the output
-- take (`play_marker_mirrors`), so curation, which reads takes and their markers, selects
-- from either stream; `plays` tells which is which.
--
-- `play_models` has one row per change of what plays: a generation fading in (its fade
-- begins at start_frame and lasts fade_frames), or dry (generation_id NULL: no model yet, or
-- the model failed and was bypassed). `play_segments` cuts the take at each fade's middle;
-- `play_reception` joins the performer-take markers with the generation heard when they
-- were tapped: how each generation was received in play.

CREATE TABLE plays (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    input_take_id INTEGER NOT NULL UNIQUE REFERENCES takes(id),
    output_take_id INTEGER NOT NULL UNIQUE REFERENCES takes(id),
    latency_samples INTEGER NOT NULL,     -- output frame t answers input frame t - latency_samples
    block_samples INTEGER NOT NULL,       -- the audio callback's block
    fade_ms REAL NOT NULL,
    fade_curve TEXT NOT NULL,
    dry_wet REAL NOT NULL,                -- at the start (changes are play_events)
    input_gain REAL NOT NULL,             -- linear, applied to the model's input only
    device TEXT NOT NULL,
    engine_pid INTEGER,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    glitches INTEGER NOT NULL DEFAULT 0,  -- blocks the model was not ready for (played dry)
    model_errors INTEGER NOT NULL DEFAULT 0,
    stats_json TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE play_models (
    id INTEGER PRIMARY KEY,
    play_id INTEGER NOT NULL REFERENCES plays(id),
    generation_id INTEGER REFERENCES generations(id),   -- NULL: dry
    start_frame INTEGER NOT NULL,         -- take frame (as heard) where the change began
    fade_frames INTEGER NOT NULL DEFAULT 0,
    warm_frame INTEGER,                   -- where the incoming model began to hear the input
    reason TEXT NOT NULL CHECK (reason IN ('start', 'switch', 'bypass')),
    created_at TEXT NOT NULL
);
CREATE INDEX play_models_by_play ON play_models (play_id, start_frame);

CREATE TABLE play_events (
    id INTEGER PRIMARY KEY,
    play_id INTEGER NOT NULL REFERENCES plays(id),
    frame INTEGER,                        -- take frame, when the event has one
    kind TEXT NOT NULL,                   -- model-error, non-finite, load-failed, glitches, mix, gain
    generation_id INTEGER REFERENCES generations(id),
    detail TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX play_events_by_play ON play_events (play_id, frame);

-- a marker of the input take and its copy on the output take
CREATE TABLE play_marker_mirrors (
    marker_id INTEGER PRIMARY KEY REFERENCES markers(id),
    mirror_id INTEGER NOT NULL UNIQUE REFERENCES markers(id)
);

CREATE VIEW play_segments AS
SELECT pm.play_id, pm.generation_id, pm.reason,
       pm.start_frame + pm.fade_frames / 2 AS from_frame,
       LEAD(pm.start_frame + pm.fade_frames / 2)
           OVER (PARTITION BY pm.play_id ORDER BY pm.start_frame, pm.id) AS to_frame
FROM play_models pm;

CREATE VIEW play_reception AS
SELECT s.generation_id, 'g' || s.generation_id AS generation, p.id AS play_id, p.session_id,
       m.id AS marker_id, m.symbol, m.glyph, m.who, m.tap_sample,
       round(m.tap_sample * 1.0 / t.sample_rate, 3) AS tap_s, m.created_at
FROM plays p
JOIN takes t ON t.id = p.input_take_id
JOIN markers m ON m.take_id = p.input_take_id AND m.deleted_at IS NULL
JOIN play_segments s ON s.play_id = p.id AND m.tap_sample >= s.from_frame
                     AND (s.to_frame IS NULL OR m.tap_sample < s.to_frame)
WHERE s.generation_id IS NOT NULL;
