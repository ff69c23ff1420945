"""Built-in plugins, installed as `rehearsal_plugins`.

They register through the same hooks a third-party package uses. Add a module name to
BUILTIN_MODULES to load it.
"""

BUILTIN_MODULES: list[str] = [
    "rehearsal_plugins.curation",   # curation steps and dataset exporters
    # model families, training strategies and model exporters (rehearsal.training)
    "rehearsal_plugins.family_pitch",
    "rehearsal_plugins.family_latent",
    "rehearsal_plugins.family_autoregressive",
    "rehearsal_plugins.family_corpus",
    "rehearsal_plugins.strategy_convergent",
    "rehearsal_plugins.strategy_oneshot",
    "rehearsal_plugins.strategy_specialise",
    "rehearsal_plugins.strategy_rave",      # acids-rave 2.3.1 driven as a separate program
    "rehearsal_plugins.export_nn_tilde",
    "rehearsal_plugins.play_curation",   # select-stream: the performer's or the model's takes of a play
]
