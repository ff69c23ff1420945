"""Load plugins: the built-ins (`rehearsal_plugins`) and the `rehearsal` entry-point group.

A plugin that fails to import, or raises while registering, is reported and skipped: it
never takes the app down. `registry(kind)` returns what the healthy plugins registered.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass, field

import pluggy

from . import hookspecs

log = logging.getLogger(__name__)

KINDS = {
    "curation_steps": "register_curation_steps",
    "training_strategies": "register_training_strategies",
    "model_families": "register_model_families",
    "exporters": "register_exporters",
    "marker_sources": "register_marker_sources",
}


@dataclass
class PluginReport:
    name: str
    version: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


_pm: pluggy.PluginManager | None = None
_reports: dict[str, PluginReport] = {}


def _builtin_modules() -> list[str]:
    try:
        pkg = importlib.import_module("rehearsal_plugins")
    except ImportError:
        return []
    return list(getattr(pkg, "BUILTIN_MODULES", []))


def get_plugin_manager() -> pluggy.PluginManager:
    global _pm
    if _pm is None:
        _pm = load_plugins()
    return _pm


def load_plugins() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("rehearsal")
    pm.add_hookspecs(hookspecs)
    _reports.clear()
    from rehearsal import __version__

    for modname in _builtin_modules():
        _try_register(pm, modname, lambda m=modname: importlib.import_module(m), f"built-in {__version__}")
    for ep in importlib.metadata.entry_points(group="rehearsal"):
        if ep.value == "rehearsal_plugins":
            continue  # the built-ins, loaded above module by module
        version = ep.dist.version if ep.dist else ""
        _try_register(pm, ep.name, ep.load, version)
    return pm


def _try_register(pm, name: str, load, version: str) -> None:
    report = _reports.setdefault(name, PluginReport(name=name, version=version))
    try:
        module = load()
        pm.register(module, name=name)
    except Exception as exc:  # import errors, syntax errors, anything: report and skip
        report.error = f"{type(exc).__name__}: {exc}"
        log.warning("plugin %s failed to load: %s", name, report.error)


def registry(kind: str) -> dict[str, object]:
    """Everything registered for `kind` (a key of KINDS), by name, from plugins that work."""
    pm = get_plugin_manager()
    found: dict[str, object] = {}
    hook_name = KINDS[kind]
    for plugin in list(pm.get_plugins()):
        impl = getattr(plugin, hook_name, None)
        if impl is None:
            continue
        pname = pm.get_name(plugin)
        report = _reports.setdefault(pname, PluginReport(name=pname))
        staged: dict[str, object] = {}

        def register(name: str, obj: object, _staged=staged) -> None:
            if not isinstance(name, str) or not name:
                raise ValueError(f"a registered name must be non-empty text, got {name!r}")
            _staged[name] = obj

        try:
            impl(register=register)
        except Exception as exc:
            report.error = f"{hook_name} raised {type(exc).__name__}: {exc}"
            log.warning("plugin %s: %s", pname, report.error)
            continue
        report.provides[kind] = sorted(staged)
        found.update(staged)
    return found


def reports() -> list[PluginReport]:
    get_plugin_manager()
    for kind in KINDS:
        registry(kind)
    return sorted(_reports.values(), key=lambda r: r.name)
