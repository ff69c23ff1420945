"""Default configurations of the built-in families, readable without torch."""

PITCH_DEFAULTS: dict = {
    "sample_rate": 48000,
    "hop": 256,                # samples per block: the algorithmic latency
    "n_harmonics": 64,
    "n_noise_bands": 24,
    "noise_table": 65536,      # samples per band-noise loop (1.37 s)
    "width": 128,
    "hidden": 192,
    "yin_window": 2048,        # periods up to 1024 samples: 47 Hz at 48 kHz
    "loudness_window": 1024,
    "gain_range": 5.0,         # the decoder's gain around the input loudness: exp(+-5)
}

LATENT_DEFAULTS: dict = {
    "sample_rate": 48000,
    "hop": 256,
    "fft": 1024,               # analysis window (causal: it ends where the block ends)
    "n_analysis_bands": 32,
    "latent": 4,               # learned latent dimensions, after the 3 descriptors
    "n_noise_bands": 48,
    "noise_table": 65536,
    "width": 128,
    "hidden": 192,
    "loudness_window": 512,
    "gain_range": 5.0,
    "condition": "none",       # "symbols": steered by the notation (an embedding per symbol)
    "symbols": [],             # with condition=symbols: the symbol ids learned (the dataset's)
    "symbol_dims": 8,          # size of each symbol's embedding
}

AUTOREGRESSIVE_DEFAULTS: dict = {
    "sample_rate": 48000,
    "hop": 256,                # one frame per block: the prior predicts 187.5 frames a second
    "fft": 1024,               # the latent family's causal analysis
    "n_analysis_bands": 32,    # a frame: loudness, centroid, flatness + 32 log band energies
    "n_noise_bands": 48,
    "noise_table": 65536,
    "width": 128,
    "hidden": 192,             # the decoder's GRU
    "prior_hidden": 192,       # the prior's GRU
    "loudness_window": 512,
    "gain_range": 5.0,
    "temperature": 1.0,        # spread of the draws: 1 = as learned (nn~ attribute `temperature`)
    "stride": 4,               # blocks per prior frame: 1024 samples, the analysis window (no overlap)
    "gate_db": -55.0,          # forward: input frames under this level are replaced by the model's own
    "seed": 0,                 # the noise of sampling, per frame: same seed, same output
}

CORPUS_DEFAULTS: dict = {
    "sample_rate": 48000,
    "hop": 256,                # samples per block; a choice every half grain (whole blocks)
    "grain_ms": 40.0,          # 20 to 250 ms, rounded to whole pairs of blocks (40 -> 42.7 ms)
    "units": "grains",         # "grains" (fixed, half-overlapping) or "onsets" (cut at onsets)
    "jitter": 0.0,             # 0: the nearest unit; 1: any of the 16 nearest (nn~ attribute)
    "avoid": 4,                # the last N units chosen are not chosen again
    "sequence": 0.0,           # chance of playing the last unit's successor instead (1: the corpus plays itself)
    "pitch_match": False,      # transpose units toward the input's pitch (+-12 semitones)
    "level_match": True,       # level units toward the input's loudness (+-24 dB)
    "seed": 0,                 # the choice noise: same seed, same output
    "w_loudness": 1.0, "w_pitch": 1.0, "w_confidence": 1.0, "w_centroid": 1.0, "w_flatness": 1.0,
    "w_bands": 0.25,           # weight of each of the 8 band energies
    "bank": "merge",           # from a parent: "merge" this dataset's units with its bank, or "replace" it
    "n_units": 0,              # sizes of the bank (set by the analysis, read by checkpoints)
    "n_samples": 0,
}
