"""The plugin API: pluggy hooks (hookspecs.py) and the loader (manager.py)."""

from .hookspecs import hookimpl
from .manager import (KINDS, PluginReport, get_plugin_manager, load_plugins, provider, registry,
                      report_problem, reports, reset)

__all__ = ["hookimpl", "get_plugin_manager", "load_plugins", "registry", "reports", "reset", "provider",
           "report_problem", "PluginReport", "KINDS"]
