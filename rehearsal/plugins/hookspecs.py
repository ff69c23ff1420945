"""Hook specifications: what a plugin can add to rehearsal.

Each hook receives a `register` callable; a plugin calls it once per thing it provides:

    from rehearsal.plugins import hookimpl

    @hookimpl
    def register_curation_steps(register):
        register("loudness-gate", LoudnessGate)

Built-ins in `rehearsal_plugins` use exactly these hooks, as a third-party package would
through the `rehearsal` entry-point group.
"""

import pluggy

hookspec = pluggy.HookspecMarker("rehearsal")
hookimpl = pluggy.HookimplMarker("rehearsal")


@hookspec
def register_curation_steps(register):
    """Curation steps: register(name, step_class). A step turns clips into fewer/other clips."""


@hookspec
def register_training_strategies(register):
    """Training strategies: register(name, strategy_class) (convergent, one-shot, ...)."""


@hookspec
def register_model_families(register):
    """Model families: register(name, family_class). Import torch inside the class, not at module level."""


@hookspec
def register_exporters(register):
    """Model exporters: register(format_name, exporter_callable)."""


@hookspec
def register_marker_sources(register):
    """Extra marker sources: register(name, source_factory)."""


@hookspec
def register_commands(cli):
    """Add click commands to the `rehearsal` command group."""
