-- Issue 18: an imported nn~ module answers later than the play's own latency (its buffer
-- and resampling: 150-240 ms for a RAVE export). The performer take of a play started for
-- a model is written that many samples late (the latency the first model loaded reported),
-- so that, as for our own families, output frame t answers performer frame
-- t - plays.latency_samples, and a tag (on both takes at the frame heard) marks on the
-- performer take what the model it heard was answering. 0: the input as it came.
ALTER TABLE plays ADD COLUMN input_delay_samples INTEGER NOT NULL DEFAULT 0;
