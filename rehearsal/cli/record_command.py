from . import main  # placeholder until the recorder lands
