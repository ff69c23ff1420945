-- Issue 11: what a dataset clip holds beyond its region.
-- channels_json: the take's input channels the clip keeps ([0, 2]); NULL = all of them. A
--   channel played by a person who withdrew (a source 'audio:<device>/ch<N>' or
--   'take:<session>/<N>/ch<N>' mapped to them, store/people.py) is left out of every later version.
-- augment_json: an augmentation step made this clip from the take's audio
--   ({"step": "augment", "gain_db": .., "pitch_semitones": .., "stretch": .., "noise_db": ..,
--   "seed": .., "of": [start, end]}); NULL = the take's samples as recorded.
ALTER TABLE dataset_clips ADD COLUMN channels_json TEXT;
ALTER TABLE dataset_clips ADD COLUMN augment_json TEXT;
