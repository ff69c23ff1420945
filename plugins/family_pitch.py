"""Built-in model family: pitch-conditioned harmonic + noise synthesis (DDSP tradition)."""

from rehearsal.plugins import hookimpl
from rehearsal.training.families.defaults import PITCH_DEFAULTS
from rehearsal.training.family import Family


class PitchFamily(Family):
    name = "pitch"
    summary = ("pitch + loudness (aubio yin) -> GRU -> harmonics + filtered noise; for monophonic "
               "instruments and voices")
    model_path = "rehearsal.training.families.pitch:PitchModel"
    default_config = PITCH_DEFAULTS


@hookimpl
def register_model_families(register):
    register("pitch", PitchFamily())
