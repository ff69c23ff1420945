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


@hookimpl
def register_model_families(register):
    register("latent", LatentFamily())
