"""Hook specifications: what a plugin can add to rehearsal.

Each `register_*` hook receives a `register` callable; a plugin calls it once per thing it
provides, with a name that pipelines, configs and the command line refer to:

    from rehearsal.plugins import hookimpl

    @hookimpl
    def register_curation_steps(register):
        register("loudness-gate", LoudnessGate)

Built-ins in `rehearsal_plugins` (plugins/ in the source tree) use exactly these hooks, as a
third-party package does through the `rehearsal` entry-point group. Hook functions are
called once per process (results are cached) and should only register: do no work, open no
devices and import nothing heavy (torch) at module level or inside the hook. See
docs/plugins.md for a complete example.
"""

import pluggy

hookspec = pluggy.HookspecMarker("rehearsal")
hookimpl = pluggy.HookimplMarker("rehearsal")


@hookspec
def register_curation_steps(register):
    """Curation steps: register(name, step_class).

    `step_class` subclasses `rehearsal.curation.Step` (or its helpers `Filter` and
    `Transform`) and is a dataclass whose fields are the parameters a pipeline file may set.
    A step turns a list of clips into fewer or other clips and says why it removed each one.
    """


@hookspec
def register_dataset_exporters(register):
    """Dataset export formats: register(name, exporter).

    `exporter(folder, records, dest)` gets the materialised dataset folder (clips +
    metadata.jsonl), its metadata records (list of dicts) and an empty destination folder.
    """


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
    """Add click commands to the `rehearsal` command group: `cli` is that group."""
