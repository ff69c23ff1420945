"""Built-in model family: corpus (concatenative / granular). "Training" is analysis: the
dataset is cut into units with descriptors; playing chooses units by the input's."""

from rehearsal.plugins import hookimpl
from rehearsal.training.families.defaults import CORPUS_DEFAULTS
from rehearsal.training.family import Family

MAX_BANK_SAMPLES = 48000 * 3600     # an hour of audio in one bank (173 MB as float16)


class CorpusFamily(Family):
    name = "corpus"
    summary = ("units of the dataset chosen by weighted nearest neighbour on the input's descriptors, "
               "overlap-added (no gradient training: analysis in seconds; nn~ forward/descriptors)")
    model_path = "rehearsal.training.families.corpus:CorpusModel"
    default_config = CORPUS_DEFAULTS
    trains_by_analysis = True
    # settings a generation made from a parent may change (the bank is the parent's "weights")
    free_with_parent = ("bank", "jitter", "avoid", "sequence", "pitch_match", "level_match", "seed",
                        "w_loudness", "w_pitch", "w_confidence", "w_centroid", "w_flatness", "w_bands")

    def check_sizes(self, config: dict) -> None:
        from rehearsal.training.families.corpus import grain_samples

        grain_samples(float(config.get("grain_ms", 40.0)))
        if config.get("units", "grains") not in ("grains", "onsets"):
            raise ValueError(f"family corpus: units must be 'grains' or 'onsets', not {config.get('units')!r}")
        if config.get("bank", "merge") not in ("merge", "replace"):
            raise ValueError(f"family corpus: bank must be 'merge' or 'replace', not {config.get('bank')!r}")
        for key in ("jitter", "sequence"):
            if not 0.0 <= float(config.get(key, 0.0)) <= 1.0:
                raise ValueError(f"family corpus: {key} must be 0 to 1, got {config.get(key)}")
        if not 0 <= int(config.get("avoid", 4)) <= 64:
            raise ValueError(f"family corpus: avoid must be 0 to 64 units, got {config.get('avoid')}")
        n, samples = int(config.get("n_units", 0)), int(config.get("n_samples", 0))
        if not 0 <= samples <= MAX_BANK_SAMPLES or not 0 <= n <= samples:
            raise ValueError(f"family corpus: a bank of {n} units over {samples} samples; at most "
                             f"{MAX_BANK_SAMPLES} samples (an hour) and no more units than samples")

    def analyse(self, data, spec, parent=None, onsets=None):
        """"Training": the training clips cut into units and described; merged with the
        parent's bank (bank=merge, the default) or replacing it. Returns the model."""
        from rehearsal.training import corpus

        config = {**self.defaults(), **(parent.config if parent is not None else {}), **spec.family_params}
        bank = corpus.analyse_corpus([c.audio for c in data.train],
                                     corpus.CorpusParams(float(config["grain_ms"]), str(config["units"])),
                                     onsets=[(onsets or {}).get(c.name) for c in data.train])
        if parent is not None and config["bank"] == "merge":
            bank = corpus.bank_of(parent).merged(bank)
        keep = {k: v for k, v in config.items() if k not in ("n_units", "n_samples", "grain_ms")}
        return corpus.model_of(bank, keep)


@hookimpl
def register_model_families(register):
    register("corpus", CorpusFamily())
