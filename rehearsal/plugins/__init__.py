"""The plugin API: pluggy hooks (hookspecs.py) and the loader (manager.py)."""

from .hookspecs import hookimpl
from .manager import PluginReport, get_plugin_manager, load_plugins, registry

__all__ = ["hookimpl", "get_plugin_manager", "load_plugins", "registry", "PluginReport"]
