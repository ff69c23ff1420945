"""Built-in model family: pitch-free, descriptors + a learned latent -> band noises."""

from rehearsal.plugins import hookimpl
from rehearsal.training.families.defaults import LATENT_DEFAULTS
from rehearsal.training.family import Family


class LatentFamily(Family):
    name = "latent"
    summary = ("no pitch: loudness, centroid, flatness + a learned latent -> GRU -> 48 band noises; "
               "for sound poetry, noise, percussion, textures (encode/decode exposed)")
    model_path = "rehearsal.training.families.latent:LatentModel"
    default_config = LATENT_DEFAULTS
    conditions = ("none", "symbols")

    def plan_params(self, params: dict, dataset, symbols) -> dict:
        if params.get("condition", "none") != "symbols" or params.get("symbols"):
            return params
        clips = dataset.with_symbols(symbols) if symbols else list(dataset.clips)
        learned = list(dict.fromkeys(s for c in clips for s in c.symbols))
        if not learned:
            raise ValueError(f"--condition symbols: no clip of {dataset.ref} carries a symbol (tag the takes, "
                             "or record them from a score), so there is nothing to steer by")
        return {**params, "symbols": learned}


@hookimpl
def register_model_families(register):
    register("latent", LatentFamily())
