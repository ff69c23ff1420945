"""Built-in model family: a causal prior over spectral frames + a band-noise decoder; it
continues what it heard, or runs free."""

from rehearsal.plugins import hookimpl
from rehearsal.training.families.defaults import AUTOREGRESSIVE_DEFAULTS
from rehearsal.training.family import Family


class AutoregressiveFamily(Family):
    name = "autoregressive"
    summary = ("predicts the next spectral frame (GRU prior, sampled at a temperature) -> band-noise "
               "decoder; runs free, continues a prompt or the live input (nn~ generate/forward)")
    model_path = "rehearsal.training.families.autoregressive:AutoregressiveModel"
    default_config = AUTOREGRESSIVE_DEFAULTS


@hookimpl
def register_model_families(register):
    register("autoregressive", AutoregressiveFamily())
