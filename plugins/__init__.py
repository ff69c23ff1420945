"""Built-in plugins, installed as `rehearsal_plugins`.

They register through the same hooks a third-party package uses. Add a module name to
BUILTIN_MODULES to load it.
"""

BUILTIN_MODULES: list[str] = [
    "rehearsal_plugins.curation",   # curation steps and dataset exporters
]
